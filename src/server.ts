import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { buildApi } from './api/app.js';
import { HttpListener } from './api/listener.js';
import { ensureApiToken, ensureMetricsToken, TOKEN_FILE } from './api/token.js';
import { Metrics, OperationDurations } from './api/metrics.js';
import { explainBoot } from './api/explain-boot.js';
import { uiRoutes } from './ui/routes.js';
import { UiSessions } from './ui/sessions.js';
import { PROVISIONING_TIMEOUTS, type Config } from './config/settings.js';
import { ProxyDhcpHandler } from './dhcp-proxy/responder.js';
import { ProxyDhcpServer } from './dhcp-proxy/server.js';
import { SnoopRecorder } from './dhcp-proxy/snooping.js';
import { MessageType } from './dhcp-proxy/codec.js';
import { BootDecisions } from './netboot/boot-decisions.js';
import { BootEventRecorder, type BootMilestone } from './netboot/boot-events.js';
import { CallbackTokens } from './netboot/callback-tokens.js';
import { MachineTrust } from './netboot/machine-trust.js';
import { LogLimiter } from './lib/log-limiter.js';
import { bootFileRecorder, netbootRoutes } from './ipxe/routes.js';
import { BootScripts } from './ipxe/boot-script.js';
import { FileChunkCache } from './ipxe/file-chunks.js';
import { FileThreads } from './ipxe/file-threads.js';
import { ClientAddresses } from './netboot/client-addresses.js';
import { grubSearchPath, ipxeSearchPath, loadGrubBinaries, loadIpxeBinaries } from './ipxe/binaries.js';
import { findIsoParts } from './ipxe/boot-iso.js';
import { mediaPath, mediaRoute } from './ipxe/media-route.js';
import { mtuOfAddress } from './lib/net.js';
import { TFTP_DEFAULTS, TftpServer } from './tftp/server.js';
import { TFTP_ASSET_CACHE_BYTES, TftpAssetFiles } from './tftp/asset-files.js';
import { isMetalboxError, MetalboxError } from './lib/errors.js';
import type { Logger } from './lib/log.js';
import { VERSION } from './lib/version.js';
import { lockDataDir, prepareDataDir, Store, WalCheckpointer } from './store/index.js';
import { BmcLocator } from './bmc-locator/locator.js';
import { DhcpObservationResolver } from './bmc-locator/dhcp-observations.js';
import { LeaseFileResolver } from './bmc-locator/leases.js';
import { NeighbourTableResolver, readNeighbours } from './bmc-locator/neighbours.js';
import { SweepResolver } from './bmc-locator/sweep.js';
import { DefaultCredentials } from './bmc/default-credentials.js';
import { JobEngine } from './jobs/engine.js';
import { Onboarding } from './onboarding/onboarding.js';
import { BmcSessions } from './bmc/sessions.js';
import { Provisioning } from './provisioning/provisioning.js';
import { StateTimeouts } from './provisioning/state-timeouts.js';
import { Catalog } from './profiles/catalog.js';
import { Limiter } from './redfish/client.js';
import { statSync } from 'node:fs';
import { readUnifiSettings } from './bmc-locator/unifi-settings.js';
import { compileProfiles } from './profiles/profiles.js';
import { GRUB_MACHINE_DIR, grubBootstrap, type GrubCpu } from './profiles/grub.js';
import { agentCacheDir } from './agent/build.js';
import { type LoadedAgentImage, loadAgentImage } from './agent/image.js';
import { AgentTasks } from './agent/tasks.js';
import { agentProfile } from './agent/profile.js';
import { agentRoutes } from './ipxe/agent-routes.js';

export interface RunningServer {
  /** Base URL of the HTTP server, with the port actually bound. */
  url: string;
  close(): Promise<void>;
}

/**
 * The composition root: opens the store, starts every service and wires them together.
 * Each step that can fail does so before the next starts, and undoes what was started.
 */
export async function startServer(given: Config, logger: Logger): Promise<RunningServer> {
  const { config, binaries, grub, agentImage } = checkConfig(given);
  prepareDataDir(config.dataDir);
  const unlock = lockDataDir(config.dataDir);
  const cleanups: Array<() => void | Promise<void>> = [unlock];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  };
  try {
    const store = Store.open(config.dataDir);
    cleanups.push(() => store.close());
    const checkpointer = WalCheckpointer.start(store.db, store.path, logger.child({ component: 'store' }));
    cleanups.push(() => checkpointer.stop());
    store.health.onChange = (failure) => {
      if (failure)
        logger.error(
          { database: failure.path, detail: failure.detail },
          `cannot write the database: ${failure.problem}; answering booting machines from memory, keeping their events until it can`,
        );
      else logger.info({ database: store.path }, 'the database can be written again');
    };
    const token = ensureApiToken(config.dataDir);
    // Bound before anything is built on it: the port is known, so every URL below is a plain value.
    const listener = await HttpListener.bind(config.listen, config.http.port);
    cleanups.push(() => listener.close());
    const urlOf = (host: string) => `http://${hostForUrl(host)}:${listener.port}`;
    const url = urlOf(config.listen);
    const advertise = servesNetboot(config) ? config.advertise : undefined;
    // Scripts name URLs the booting machine can reach: the advertised address (resolved when
    // netboot runs, the operator's otherwise). Without one, the address the request came in on.
    const publicUrl = config.advertise === undefined ? undefined : urlOf(config.advertise);
    /** The base of every URL metalbox hands out: the advertised address, else the request's Host, else the listener's. */
    const serverUrl = (host: string | undefined) =>
      publicUrl ?? (host !== undefined && /^[\w.:[\]-]+$/.test(host) ? `http://${host}` : url);
    const binaryBytes = new Map<string, Buffer>([...binaries].map(([name, binary]) => [name, binary.bytes]));
    const grubBytes = new Map<string, Buffer>([...grub.files].map(([name, binary]) => [name, binary.bytes]));
    const catalog = new Catalog(store.catalog, config, {
      assetsDir: config.assetsDir,
      loader: config.netboot.loader,
      discoveryProfile: config.boot.unknown === 'discover' ? config.boot.discoveryProfile : undefined,
      warn: (message) => logger.warn(message),
    });
    const { profiles, serverTypes } = catalog;
    const tokens = CallbackTokens.open(config.dataDir);
    const decisions = new BootDecisions(store.machines, { unknown: config.boot.unknown });
    cleanups.push(decisions.start());
    /** A storage failure is logged once by the store's health, not once per batch a second. */
    const logUnlessStorage = (error: unknown, message: string) => {
      if (!isMetalboxError(error, 'E_STORAGE')) logger.error({ err: error }, message);
    };
    const addresses = new ClientAddresses();
    const trust = new MachineTrust({
      decisions,
      addresses,
      tokens,
      observed: (mac, ip) => store.observations.seen(mac, ip),
      addressTrust: config.boot.addressTrust,
      isMediaOperation: (operationId) => store.machines.operationHas(operationId, 'media.inserted'),
    });
    const bootEvents = new BootEventRecorder({
      write: (batch) => store.health.guard(() => store.machines.appendEvents(batch)),
      onError: (error) => logUnlessStorage(error, 'boot events not written; kept for the next try'),
    });
    bootEvents.start();
    cleanups.push(() => bootEvents.stop());
    /** The boot events of a machine known by a NIC's MAC (its installer's, its agent's or its local boot); unknown and ignored machines have none. */
    const recordBootEvent = (mac: string | undefined, type: BootMilestone, message: string, data: Record<string, unknown>) => {
      const decision = mac === undefined ? undefined : decisions.decide(mac);
      if (decision !== undefined && 'machineId' in decision) bootEvents.record(decision.machineId, type, message, data);
    };
    store.observations.retention = { maxRows: config.snooping.maxObservations, maxAgeMs: config.snooping.maxAgeDays * 86_400_000 };
    const snooping = new SnoopRecorder({
      stored: () => store.observations.count(),
      maxPerFlush: config.snooping.writesPerSecond, // one flush a second
      maxPending: 2 * config.snooping.writesPerSecond, // two seconds of backlog; a flood past it is dropped and counted
      // A transaction of 100 observations holds the event loop ~1 ms, one of 500 (the
      // batcher's default) ~5 ms: with 10,000 DISCOVERs a second from unknown MACs, the
      // largest ProxyDHCP answer time fell from 20–39 ms to 8–18 ms (bench/RESULTS.md).
      maxBatch: 100,
      write: (batch) => store.health.guard(() => store.observations.record(batch)),
      onError: (error) => logUnlessStorage(error, 'DHCP observations not written; kept for the next try'),
    });

    const sweep = new SweepResolver(config.bmc.subnets, () => readNeighbours(), { ratePerSecond: config.bmc.sweepRate });
    // Loaded only when configured: it brings undici, which an idle appliance otherwise never loads.
    const unifi = config.unifi ? new (await import('./bmc-locator/unifi.js')).UnifiResolver(readUnifiSettings(config.unifi)) : null;
    if (unifi) cleanups.push(() => unifi.close());
    // Chosen in this order (docs/contracts.md, Finding a BMC's address); the passive ones are all read so disagreements show.
    const locator = new BmcLocator([
      new DhcpObservationResolver((mac) => store.observations.list({ mac, limit: 20 })),
      new NeighbourTableResolver(),
      sweep,
      new LeaseFileResolver(config.discovery.leaseFiles),
      ...(unifi ? [unifi] : []),
    ]);
    const engine = new JobEngine(store.jobs, (work) => store.transaction(work), logger.child({ component: 'onboarding' }), {
      concurrency: config.onboarding.concurrency,
      attempts: config.onboarding.attempts,
      backoffMs: config.onboarding.backoffMs,
    });
    const sessions = new BmcSessions(store, new DefaultCredentials(config.bmc.credentials), {
      limiter: new Limiter(config.redfish.maxInFlight),
      connectTimeoutMs: config.redfish.connectTimeoutMs,
      requestTimeoutMs: config.redfish.requestTimeoutMs,
    });
    const onboarding = new Onboarding({ store, locator, engine, serverTypes, sessions });
    const provisioning = new Provisioning({
      store,
      engine,
      sessions,
      profiles,
      assetsDir: config.assetsDir,
      agentImage: agentImage !== null,
      control: { pollMs: config.provisioning.powerPollMs },
      mediaUrl: (machineId, operationId) => `${serverUrl(undefined)}${mediaPath(machineId, tokens.tokenFor(machineId, operationId))}`,
    });
    cleanups.push(trust.onMediaBoot((machineId, operationId) => provisioning.queueMediaEject(machineId, operationId)));
    engine.register(onboarding);
    engine.register(provisioning);
    cleanups.push(engine.start());
    const timeouts = new StateTimeouts(
      store.machines,
      { ...PROVISIONING_TIMEOUTS, ...config.provisioning.timeouts },
      logger.child({ component: 'provisioning' }),
    );
    timeouts.check();
    cleanups.push(timeouts.start());

    const httpLog = logger.child({ component: 'http' });
    // The chunk budget is split evenly between the HTTP port and the file threads.
    const fileThreadCount = config.assetsDir === undefined ? 0 : config.http.fileThreads;
    const chunkBytes = Math.floor((config.http.fileCacheMiB * 2 ** 20) / (fileThreadCount + 1));
    const recordAssetSent = bootFileRecorder({ decisions, addresses, profiles, events: bootEvents });
    const fileThreads =
      config.assetsDir === undefined || fileThreadCount === 0
        ? undefined
        : await FileThreads.start({
            threads: fileThreadCount,
            address: config.listen,
            firstPort: config.http.port === 0 ? 0 : listener.port + 1,
            assetsDir: config.assetsDir,
            cacheBytes: chunkBytes,
            sent: (clientIp, name, size) => recordAssetSent(clientIp, 'assets', name, size),
            onThreadFailed: (error) =>
              httpLog.error({ err: error }, 'a file thread failed: its machines are given the HTTP port from now on'),
          });
    if (fileThreads) cleanups.push(() => fileThreads.stop());
    const filesUrl = (serverUrl: string) => fileThreads?.filesUrl(serverUrl) ?? serverUrl;
    const httpComplaints = new LogLimiter(httpLog);
    const scripts = new BootScripts({
      decisions,
      profiles,
      events: bootEvents,
      trust,
      complaints: httpComplaints,
      machine: (machineId) => store.machines.get(machineId),
      localBoot: config.boot.localBoot,
      discoveryProfile: config.boot.discoveryProfile,
      loader: config.netboot.loader,
      agentProfile:
        agentImage === null
          ? undefined
          : agentProfile(agentImage, { lldpSeconds: config.agent.lldpSeconds, loader: config.netboot.loader }),
      // Used when the boot decisions say discover: boot.unknown is discover, or a machine under inspection waits for its NICs.
      discover: (mac, from) => store.machines.discover(mac, from, config.boot.maxDiscovered),
      serverUrl,
      filesUrl,
      log: httpLog,
    });

    function tftpServer(address: string): TftpServer {
      const mtu = mtuOfAddress(address);
      const maxBlksize = Math.min(config.tftp.maxBlksize, mtu === null ? Infinity : mtu - 32);
      // GRUB's path sits beside iPXE's: shim loads grubx64.efi from its own directory, and
      // GRUB reads grub/grub.cfg from the server the site's DHCP named, then its machine's
      // configuration and the files it names, all over TFTP (docs/netboot.md, GRUB).
      const files = new Map([...binaryBytes, ...grubBytes]);
      if (grub.cpus.size > 0) files.set('grub/grub.cfg', Buffer.from(grubBootstrap()));
      const assetFiles = config.assetsDir === undefined ? undefined : new TftpAssetFiles(config.assetsDir, TFTP_ASSET_CACHE_BYTES);
      const dynamic = (path: string, clientIp: string): Buffer | null => {
        if (path.startsWith(`${GRUB_MACHINE_DIR}/`)) return scripts.grubConfig(path, clientIp, urlOf(address));
        if (path.startsWith('agent/')) return agentImage?.files.get(`/${path}`) ?? null;
        if (path.startsWith('assets/')) return assetFiles?.read(path.slice('assets/'.length)) ?? null;
        return null;
      };
      return new TftpServer(
        files,
        {
          address: config.listen,
          port: config.tftp.port,
          maxBlksize,
          ...TFTP_DEFAULTS,
          maxTransfers: config.tftp.maxTransfers,
          threads: config.tftp.threads,
          ...(grub.cpus.size > 0 ? { dynamic } : {}),
        },
        logger.child({ component: 'tftp' }),
        ({ client, file, outcome, bytes }) => {
          if (outcome.result !== 'complete') return;
          // A kernel or initrd GRUB read is the same milestone as one fetched over HTTP.
          if (file.startsWith('assets/')) recordAssetSent(client, 'assets', file.slice('assets/'.length), bytes, 'TFTP');
          else if (file.startsWith('agent/')) recordAssetSent(client, 'agent', file.slice('agent/'.length), bytes, 'TFTP');
          else recordBootEvent(addresses.macOf(client), 'boot.tftp', `TFTP sent ${file}`, { bytes, to: client });
        },
      );
    }
    function proxyDhcpServer(address: string): ProxyDhcpServer {
      const handler = new ProxyDhcpHandler(
        { serverIp: address, httpBase: urlOf(address), uefiBinary: config.netboot.uefiBinary, grub: grub.cpus },
        (mac) => scripts.loaderOf(mac),
        (packet, listener, source) => {
          const client = snooping.observe(packet);
          if (client === null) return;
          if (client.ip) addresses.learn(client.ip, client.mac);
          // EDK2's request on 4011 comes straight from the address it was given (no relay between).
          if (listener === 'pxe' && packet.giaddr === '0.0.0.0') addresses.learn(source.address, client.mac);
        },
      );
      return new ProxyDhcpServer(
        handler,
        { dhcpPort: config.dhcp.port, pxePort: config.dhcp.pxePort, replyAddress: address },
        logger.child({ component: 'dhcp' }),
        (reply) => {
          const answer = reply.client.messageType === MessageType.DISCOVER ? 'offer' : 'ack';
          const instead = reply.insteadOf
            ? ` (${reply.loader}: architecture ${reply.client.arch} has no ${reply.insteadOf} loader)`
            : reply.because
              ? ` (${reply.because})`
              : '';
          recordBootEvent(reply.client.mac, 'boot.dhcp', `ProxyDHCP ${answer}: ${reply.bootFile}${instead}`, {
            firmware: reply.client.firmware,
            arch: reply.client.arch,
            loader: reply.loader,
          });
        },
        ({ client, reason }) => {
          const decision = decisions.decide(client.mac);
          if ('machineId' in decision)
            bootEvents.record(decision.machineId, 'boot.dhcp', `ProxyDHCP: no answer, ${reason}`, {
              firmware: client.firmware,
              arch: client.arch,
            });
        },
      );
    }
    const tftp = config.tftp.enabled && advertise !== undefined ? tftpServer(advertise) : undefined;
    const dhcp = config.dhcp.proxy && advertise !== undefined ? proxyDhcpServer(advertise) : undefined;

    // Each service counts for itself; absent ones (netboot off) show as null.
    const fileChunks = new FileChunkCache(chunkBytes);
    const services = {
      walCheckpoints: checkpointer,
      tftp,
      dhcp,
      snooping,
      bootScripts: scripts,
      fileChunks,
      fileThreads,
      bootEvents,
      clientAddresses: addresses,
      bootDecisions: decisions,
      onboarding: engine,
      sweep,
    };
    const bootSettings = {
      /** How unknown MACs are answered now (the boot decisions' rule). */
      get unknown(): 'ignore' | 'discover' {
        return decisions.unknownAnswer();
      },
      proxyDhcp: dhcp !== undefined,
      tftp: tftp !== undefined,
      uefiBinary: config.netboot.uefiBinary,
      grub: grub.cpus,
    };
    const durations = new OperationDurations();
    cleanups.push(store.machines.onChange((machineId) => durations.changed(machineId, store.machines.stateOf(machineId))));
    const metrics = new Metrics({
      dhcp,
      tftp,
      scripts,
      fileChunks,
      fileThreads,
      snooping,
      bootEvents,
      machinesByState: () => store.machines.countByState(),
      jobs: store.jobs,
      engine,
      storage: store.health,
      durations,
    });
    cleanups.push(() => metrics.stop());
    const api = buildApi({
      store,
      token,
      logger,
      version: VERSION,
      onboarding,
      provisioning,
      catalog,
      serverTypes,
      maxEventStreams: config.api.maxEventStreams,
      listener,
      stats: () => Object.fromEntries(Object.entries(services).map(([name, service]) => [name, service?.stats() ?? null])),
      metrics: { families: () => metrics.families(), token: ensureMetricsToken(config.dataDir) },
      boot: bootSettings,
      ahead: (request, response) => scripts.handle(request, response),
    });
    cleanups.push(() => api.close());
    uiRoutes(api, {
      store,
      catalog,
      sessions: new UiSessions(token),
      provisioning,
      onboarding,
      verdict: (machineId) => explainBoot(store, bootSettings, { kind: 'id', id: machineId }),
    });
    api.register(async (scope) =>
      netbootRoutes(scope, {
        decisions,
        profiles,
        events: bootEvents,
        addresses,
        trust,
        complaints: httpComplaints,
        appendEvents: (events) => store.machines.appendEvents(events),
        binaries: binaryBytes,
        assetsDir: config.assetsDir,
        fileChunks,
        machine: (machineId) => store.machines.get(machineId),
        serverUrl,
        filesUrl,
      }),
    );
    api.register(async (scope) =>
      mediaRoute(scope, {
        trust,
        scripts,
        machine: (machineId) => store.machines.get(machineId),
        serverUrl,
        parts: () => findIsoParts(ipxeSearchPath(config.ipxeDir)),
        complaints: httpComplaints,
      }),
    );
    api.register(async (scope) =>
      agentRoutes(scope, {
        image: agentImage,
        sent: (clientIp, name, size) => recordAssetSent(clientIp, 'agent', name, size),
        trust,
        complaints: httpComplaints,
        tasks: new AgentTasks({
          store,
          serverTypes: () => serverTypes,
          profiles: () => profiles,
          assetsDir: config.assetsDir,
          diskBoot: {
            queue: (machineId, operationId) => provisioning.queueDiskBoot(machineId, operationId),
            pending: (machineId) => provisioning.diskBootPending(machineId),
          },
        }),
        serverUrl,
        filesUrl,
      }),
    );
    await api.ready();
    // Started in the order a booting machine meets them backwards: HTTP above, then TFTP, and
    // last ProxyDHCP, which sends machines to the other two.
    if (tftp) {
      await tftp.start();
      cleanups.push(() => tftp.stop());
    }
    if (dhcp) {
      await dhcp.start();
      cleanups.push(() => dhcp.stop());
      snooping.start();
      cleanups.push(() => snooping.stop());
    }
    logger.info(
      {
        version: VERSION,
        url,
        dataDir: config.dataDir,
        database: store.path,
        tokenFile: join(config.dataDir, TOKEN_FILE),
        proxyDhcp: dhcp ? { advertise, ...dhcp.ports } : 'off',
        tftp: tftp ? { port: tftp.port, files: [...binaries.values(), ...grub.files.values()].map((binary) => binary.path) } : 'off',
        ...(fileThreads && { fileThreads: fileThreads.stats().ports }),
      },
      `metalbox ${VERSION} serving on ${url}`,
    );
    return { url, close };
  } catch (error) {
    await close();
    throw error;
  }
}

const servesNetboot = (config: Config) => config.dhcp.proxy || config.tftp.enabled;

/**
 * What `serve` checks of its config before it touches the data dir or opens a socket, and
 * what `serve --print-config` checks too: the effective config, with `advertise` resolved
 * when netboot runs. Profiles and server types applied through the API live in the
 * database; serve checks them with the config's when it loads the catalog.
 */
export function checkConfig(config: Config): {
  config: Config;
  binaries: ReturnType<typeof loadIpxeBinaries>;
  grub: ReturnType<typeof loadGrubBinaries>;
  agentImage: LoadedAgentImage | null;
} {
  // Machines PXE discovery finds boot the agent, unless the operator names another profile;
  // image profiles deploy through it (provision refuses them while there is no image).
  const agentImage = loadAgentImage(agentCacheDir(config.dataDir));
  if (config.boot.unknown === 'discover' && config.boot.discoveryProfile === undefined && agentImage === null) {
    throw new MetalboxError(
      'E_CONFIG',
      `boot.unknown is discover, and there is no agent image in ${agentCacheDir(config.dataDir)}: run metalbox agent build, or set boot.discoveryProfile`,
    );
  }
  for (const [key, dir] of [
    ['ipxeDir', config.ipxeDir],
    ['assetsDir', config.assetsDir],
  ] as const) {
    if (dir !== undefined && !isDirectory(dir))
      throw new MetalboxError('E_CONFIG', `${key} ${dir} is not a directory (set it to one that exists, or leave it out)`);
  }
  const checked = { ...config, ...(servesNetboot(config) ? { advertise: resolveAdvertise(config) } : {}) };
  // Read here once: serve keeps them in memory, --print-config only checks they are there.
  const binaries = servesNetboot(config) ? loadIpxeBinaries(ipxeSearchPath(config.ipxeDir)) : new Map();
  const grub = servesNetboot(config) ? loadGrubBinaries(grubSearchPath(config.ipxeDir)) : { files: new Map(), cpus: new Set<GrubCpu>() };
  const profiles = compileProfiles(config.profiles, {
    assetsDir: config.assetsDir,
    discoveryProfile: config.boot.unknown === 'discover' ? config.boot.discoveryProfile : undefined,
    loader: config.netboot.loader,
  });
  const grubUser =
    config.netboot.loader === 'grub' ? 'netboot.loader' : [...profiles.values()].find((profile) => profile.loader === 'grub')?.name;
  if (servesNetboot(config) && grubUser !== undefined && !grub.cpus.has('x64'))
    throw new MetalboxError(
      'E_GRUB',
      `${grubUser === 'netboot.loader' ? 'netboot.loader' : `profile ${grubUser}`} boots with GRUB, and Debian's signed shimx64.efi and grubx64.efi ` +
        `are not in ${[...grubSearchPath(config.ipxeDir), '/usr/lib/shim', '/usr/lib/grub/x86_64-efi-signed'].join(', ')}: run scripts/fetch-grub ` +
        '(or apt-get install shim-signed grub-efi-amd64-signed)',
    );
  new DefaultCredentials(config.bmc.credentials);
  if (config.unifi) readUnifiSettings(config.unifi);
  return { config: checked, binaries, grub, agentImage };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function hostForUrl(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/**
 * The address booting machines reach metalbox at: --advertise, else --listen when it is
 * one address, else the host's only non-loopback IPv4 address. With several candidates
 * there is no safe guess: a wrong siaddr sends every firmware to a dead end.
 */
export function resolveAdvertise(config: Config, interfaces = networkInterfaces()): string {
  if (config.advertise) return config.advertise;
  if (config.listen !== '0.0.0.0') return config.listen;
  const candidates = Object.values(interfaces)
    .flat()
    .filter((address) => address !== undefined && address.family === 'IPv4' && !address.internal)
    .map((address) => address!.address);
  if (candidates.length === 1) return candidates[0]!;
  throw new MetalboxError(
    'E_CONFIG',
    candidates.length === 0
      ? 'no IPv4 address to advertise to booting machines: set --advertise (or --listen) to the provisioning interface address'
      : `several IPv4 addresses (${candidates.join(', ')}): set --advertise (or --listen) to the provisioning interface address`,
  );
}
