import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../lib/log.js';
import { normalizeMac } from '../lib/mac.js';
import type { LogLimiter } from '../lib/log-limiter.js';
import type { MachineJson, MachineState } from '../store/index.js';
import type { BootAnswer, BootDecisions } from '../netboot/boot-decisions.js';
import type { BootEventRecorder } from '../netboot/boot-events.js';
import { machineUrls } from '../netboot/callback-tokens.js';
import type { MachineTrust } from '../netboot/machine-trust.js';
import {
  BOOT_SCRIPT_PATH,
  chainScript,
  chooseLoader,
  failureScript,
  localBootScript,
  type Loader,
  type LoaderChoice,
  type Profile,
} from '../profiles/profiles.js';
import { GRUB_MACHINE_DIR, grubFailure, grubLocalBoot } from '../profiles/grub.js';
import { TemplateError } from '../profiles/template.js';
import { MetalboxError } from '../lib/errors.js';
import { AGENT_BOOTS, INSTALLING } from '../lifecycle/lifecycle.js';

export interface BootScriptOptions {
  decisions: BootDecisions;
  profiles: ReadonlyMap<string, Profile>;
  /** The machine JSON a template reads: one primary-key read, only for machines that install. */
  machine: (machineId: string) => MachineJson | null;
  events: BootEventRecorder;
  /** Gives an operation's callback token only to the machine's own address. */
  trust: MachineTrust;
  localBoot: 'exit' | 'sanboot' | '404';
  /** The loader of machines whose profile names none, and of the agent of machines without a profile (netboot.loader). */
  loader: Loader;
  discoveryProfile?: string | undefined;
  /** metalbox's own agent, booted by machines PXE discovery found when no discoveryProfile is set. */
  agentProfile?: Profile | undefined;
  /** Makes the record of an unknown NIC that asked for its script (when the boot decisions say discover); null past boot.maxDiscovered. */
  discover?: ((mac: string, from: string) => { machineId: string } | null) | undefined;
  /** http://advertise:port, the base of every URL a script names, given the request's Host header. */
  serverUrl: (host: string | undefined) => string;
  /** The base of a machine's /assets/ URLs given serverUrl (a file thread's port); serverUrl when absent. */
  filesUrl?: ((serverUrl: string) => string) | undefined;
  log: Logger;
  /** Warnings about clients, at most one per client and kind per minute. */
  complaints: LogLimiter;
}

/** The query iPXE sends (chainScript writes it): the booting NIC, and what the firmware is. */
interface BootScriptQuery {
  mac?: string;
  arch?: string;
  platform?: string;
}

interface BootScriptAnswer {
  status: number;
  text: string;
}

/** How each loader's configuration is written: iPXE scripts, or GRUB's grub.cfg (profiles/grub.ts). */
interface Dialect {
  /** What the machine's timeline calls it. */
  label: string;
  local(mode: 'exit' | 'sanboot', platform: string | undefined): string;
  failure(reason: string): string;
  render(profile: Profile, variables: Parameters<Profile['script']>[0]): string;
}

const DIALECTS: Readonly<Record<Loader, Dialect>> = {
  ipxe: { label: 'iPXE script', local: localBootScript, failure: failureScript, render: (profile, variables) => profile.script(variables) },
  // GRUB's exit returns to the firmware on every platform: there is no BIOS drive to sanboot.
  grub: { label: 'GRUB config', local: grubLocalBoot, failure: grubFailure, render: (profile, variables) => profile.grub(variables) },
};

/** A GRUB bootstrap's TFTP request: grub/machines/<mac>.cfg (grubBootstrap writes it). */
const GRUB_MACHINE_FILE = new RegExp(`^${GRUB_MACHINE_DIR}/([^/]{1,32})\\.cfg$`);

/** Limits of each query key; any other key, or one given twice, is refused. */
const QUERY_KEYS: Record<keyof BootScriptQuery, RegExp> = {
  mac: /^.{0,32}$/su,
  arch: /^[A-Za-z0-9_-]{0,16}$/,
  platform: /^[A-Za-z0-9_-]{0,16}$/,
};

/**
 * The iPXE script of each booting machine, from the in-memory boot decisions: nothing here
 * awaits the network or a query (only an installing machine whose template reads it costs
 * one primary-key read).
 *
 * It answers on node:http directly, ahead of fastify's router: a boot storm asks for
 * nothing else, and fastify's routing, hooks and validation were a fifth of the CPU of
 * each script served (bench/RESULTS.md). The query is checked here by QUERY_KEYS, as
 * strictly as the route schemas check theirs.
 */
export class BootScripts {
  /** Scripts answered, by HTTP status. */
  readonly answered = new Map<number, number>();

  constructor(private readonly options: BootScriptOptions) {}

  stats(): { answered: Record<number, number> } {
    return { answered: Object.fromEntries(this.answered) };
  }

  /**
   * The loader a booting MAC's machine boots with, for ProxyDHCP's answer (null: no answer):
   * its profile's, else netboot.loader; an agent boot takes its machine's profile's (an
   * image profile names the loader of the agent that writes it), else discovery's. A machine
   * whose agent read Secure Boot on gets GRUB where iPXE was asked, or nothing and why
   * where only iPXE can boot its profile (chooseLoader).
   */
  loaderOf(mac: string): LoaderChoice | null {
    const decision = this.options.decisions.decide(mac);
    const { profiles, discoveryProfile } = this.options;
    const profileOf = (name: string | null | undefined) => (name == null ? undefined : profiles.get(name));
    const wanted = (profile: Profile | undefined) => profile?.loader ?? this.options.loader;
    switch (decision.kind) {
      case 'ignore':
        return null;
      case 'discover':
        return { loader: wanted(profileOf(discoveryProfile)) };
      case 'agent': {
        // A machine discovery found boots the discovery profile itself, when one is set; every other agent boot is metalbox's agent.
        const booted = decision.state === 'discovered' ? profileOf(discoveryProfile) : undefined;
        const named = booted ?? profileOf(decision.profile);
        return chooseLoader(wanted(named), decision.secureBoot, booted ?? null);
      }
      case 'install': {
        const profile = profileOf(decision.profile);
        return chooseLoader(wanted(profile), decision.secureBoot, profile ?? null);
      }
      case 'local':
        return chooseLoader(wanted(profileOf(decision.profile)), decision.secureBoot, null);
    }
  }

  /**
   * A machine's grub.cfg, asked for over TFTP as grub/machines/<mac>.cfg from `clientIp`:
   * what its script would be, written for GRUB; null (file not found) for any other name
   * and for machines that get no configuration, so GRUB's bootstrap hands them back to the firmware.
   */
  grubConfig(path: string, clientIp: string, serverUrl: string): Buffer | null {
    const mac = GRUB_MACHINE_FILE.exec(path)?.[1];
    if (mac === undefined) return null;
    const answer = this.answer({ mac, platform: 'efi' }, clientIp, serverUrl, 'grub');
    return answer.status === 200 ? Buffer.from(answer.text) : null;
  }

  /** Answers GET and HEAD of /boot.ipxe; false, untouched, for every other request. */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    const url = request.url ?? '';
    const queryAt = url.indexOf('?');
    if ((queryAt === -1 ? url : url.slice(0, queryAt)) !== BOOT_SCRIPT_PATH) return false;
    if (request.method !== 'GET' && request.method !== 'HEAD') return false;
    const debug = this.options.log.isLevelEnabled('debug');
    const started = debug ? performance.now() : 0;
    let answer: BootScriptAnswer;
    try {
      const query = parseQuery(queryAt === -1 ? '' : url.slice(queryAt + 1));
      answer =
        typeof query === 'string'
          ? { status: 400, text: `${query}\n` }
          : this.answer(query, request.socket.remoteAddress ?? '', this.options.serverUrl(request.headers.host));
    } catch (error) {
      this.options.complaints.error('failed', { err: error, url: url.slice(0, 256) }, 'boot.ipxe: request failed');
      answer = { status: 500, text: 'internal error\n' };
    }
    this.answered.set(answer.status, (this.answered.get(answer.status) ?? 0) + 1);
    response.writeHead(answer.status, {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(answer.text),
    });
    response.end(answer.text);
    if (debug) {
      this.options.log.debug({ method: request.method, url, status: answer.status, ms: performance.now() - started }, 'http');
    }
    return true;
  }

  /** The script (or grub.cfg) for one request: from the machine's state, its profile and the firmware's platform. */
  answer(query: BootScriptQuery, clientIp: string, serverUrl: string, loader: Loader = 'ipxe'): BootScriptAnswer {
    const { decisions, events, log } = this.options;
    const dialect = DIALECTS[loader];
    if (query.mac === undefined) return { status: 200, text: chainScript(serverUrl) };
    const mac = normalizeMac(query.mac);
    if (mac === null) return { status: 400, text: `not a MAC address: ${query.mac}\n` };
    const decision = decisions.decide(mac);
    switch (decision.kind) {
      case 'ignore':
        log.debug({ mac, reason: decision.reason }, 'boot.ipxe: not serving this machine');
        return { status: 404, text: `metalbox does not boot ${mac} (${decision.reason})\n` };
      case 'local': {
        events.record(decision.machineId, 'boot.script', `${dialect.label}: local boot (${this.options.localBoot})`, {
          mac,
          platform: query.platform,
        });
        if (this.options.localBoot === '404') return { status: 404, text: `${mac} boots from its local disk\n` };
        return { status: 200, text: dialect.local(this.options.localBoot, query.platform) };
      }
      case 'discover': {
        // The client fetched its script: a real machine, not a spoofed DHCP packet. It gets a
        // record now (capped), and from then on its answer is the agent's.
        const found = this.options.discover?.(mac, clientIp) ?? null;
        if (found === null) {
          this.options.complaints.warn(`discover-full|${mac}`, { mac, from: clientIp }, 'boot.ipxe: not discovering more machines now');
          return { status: 503, text: `metalbox is not discovering more machines now (boot.maxDiscovered wait for their agent)\n` };
        }
        const now = decisions.decide(mac);
        if (now.kind === 'agent') return this.#bootProfile(now, mac, query, clientIp, serverUrl, dialect);
        // Its NIC belonged to a machine already (another state), or the view has not caught up.
        return now.kind === 'discover'
          ? { status: 503, text: `${mac} is being discovered: try again\n` }
          : this.answer(query, clientIp, serverUrl, loader);
      }
      case 'agent':
      case 'install':
        return this.#bootProfile(decision, mac, query, clientIp, serverUrl, dialect);
    }
  }

  /**
   * The script of a machine under an operation: its installer; or its agent: metalbox's
   * own to deploy an image, and to read a machine discovery found unless the operator set
   * a discovery profile.
   */
  #bootProfile(
    decision: Extract<BootAnswer, { kind: 'install' | 'agent' }>,
    mac: string,
    query: BootScriptQuery,
    clientIp: string,
    serverUrl: string,
    dialect: Dialect,
  ): BootScriptAnswer {
    const { events } = this.options;
    const { machineId, operationId } = decision;
    const { profileName, profile } = this.#profileOf(decision);
    const note = (message: string, data: Record<string, unknown>) =>
      events.record(machineId, 'boot.script', message, { mac, platform: query.platform, ...data });
    if (profile === undefined) {
      const reason =
        profileName === null
          ? decision.kind === 'agent'
            ? `no agent image (run metalbox agent build)${decision.state === 'discovered' ? ' and no boot.discoveryProfile' : ''}`
            : `${machineId} has no profile`
          : `profile ${profileName} is not defined`;
      this.options.complaints.warn(`no-profile|${mac}`, { mac, machineId }, `boot.ipxe: ${reason}`);
      note(`${dialect.label}: cannot boot, ${reason}`, {});
      return { status: 200, text: dialect.failure(reason) };
    }
    let token: string | null = null;
    if (operationId !== null) {
      token = this.options.trust.issue(machineId, operationId, clientIp);
      if (token === null) {
        // Someone else asking for this machine's script (and its operation's token).
        this.options.complaints.warn(
          `script-foreign|${clientIp}`,
          { mac, machineId, from: clientIp },
          'boot.ipxe refused: the address is not one metalbox saw this MAC use in DHCP',
        );
        note(`${dialect.label} refused: asked from an address this machine was not seen using`, { from: clientIp });
        return {
          status: 403,
          text: `${clientIp} is not an address metalbox saw ${mac} use (its DHCP): no ${decision.kind === 'agent' ? 'agent' : 'installer'} for it\n`,
        };
      }
    }
    try {
      const machine = !profile.readsMachine ? null : this.options.machine(machineId);
      const urls = machineUrls(serverUrl, machineId, token, this.options.filesUrl?.(serverUrl));
      const script = dialect.render(profile, { mac, ...urls, machineId, machine });
      note(`${dialect.label}: ${decision.kind === 'agent' ? 'agent' : 'install'} profile ${profile.name}`, { profile: profile.name });
      return { status: 200, text: script };
    } catch (error) {
      if (!(error instanceof TemplateError)) throw error;
      this.options.complaints.warn(
        `render|${mac}`,
        { mac, machineId, profile: profile.name, err: error },
        'boot.ipxe: profile does not render',
      );
      note(`${dialect.label}: profile ${profile.name} does not render: ${error.message}`, {});
      return { status: 200, text: dialect.failure(`profile ${profile.name}: ${error.message}`) };
    }
  }

  /** The profile a machine under an operation boots: its installer's, or the agent's (discovery's own when set). */
  #profileOf(decision: { kind: 'install'; profile: string | null } | { kind: 'agent'; state: MachineState }): {
    profileName: string | null;
    profile: Profile | undefined;
  } {
    const agentName = this.options.agentProfile?.name ?? null;
    const profileName =
      decision.kind === 'install'
        ? decision.profile
        : decision.state === 'discovered'
          ? (this.options.discoveryProfile ?? agentName)
          : agentName;
    const profile =
      profileName === null
        ? undefined
        : profileName === this.options.agentProfile?.name
          ? this.options.agentProfile
          : this.options.profiles.get(profileName);
    return { profileName, profile };
  }

  /**
   * The script a machine's virtual media ISO embeds (boot-iso.ts): what its PXE request
   * would get under its operation, after a `dhcp` (nothing configured the network before
   * it), with the operation's token. E_CONFLICT when the machine boots nothing now.
   */
  mediaScript(machine: MachineJson, operationId: string, token: string, serverUrl: string): string {
    const kind = (INSTALLING as readonly string[]).includes(machine.state)
      ? 'install'
      : (AGENT_BOOTS as readonly string[]).includes(machine.state)
        ? 'agent'
        : null;
    if (kind === null)
      throw new MetalboxError('E_CONFLICT', `machine ${machine.id} is ${machine.state}: it boots nothing from virtual media now`);
    const { profileName, profile } = this.#profileOf(
      kind === 'install' ? { kind, profile: machine.profile } : { kind, state: machine.state },
    );
    if (profile === undefined)
      throw new MetalboxError(
        'E_CONFLICT',
        `machine ${machine.id}: ${profileName === null ? 'no agent image (run metalbox agent build)' : `profile ${profileName} is not defined`}`,
      );
    const urls = machineUrls(serverUrl, machine.id, token, this.options.filesUrl?.(serverUrl));
    try {
      const script = profile.script({ mac: machine.nics[0]?.mac ?? '', ...urls, machineId: machine.id, machine });
      // The profile's script without its first line (#!ipxe), after the network is up.
      return `#!ipxe\n# metalbox virtual media: machine ${machine.id}, operation ${operationId}\ndhcp || goto failed\n${script.replace(/^#!ipxe[^\n]*\n/, '')}\n:failed\necho metalbox: no DHCP answer; retrying in 10 s\nsleep 10\nreboot\n`;
    } catch (error) {
      if (error instanceof TemplateError)
        throw new MetalboxError('E_CONFLICT', `profile ${profile.name} does not render: ${error.message}`);
      throw error;
    }
  }
}

/** The query by QUERY_KEYS' rules, or what is wrong with it. */
function parseQuery(search: string): BootScriptQuery | string {
  const query: BootScriptQuery = {};
  for (const [key, value] of new URLSearchParams(search)) {
    if (!Object.hasOwn(QUERY_KEYS, key))
      return `unknown query key ${JSON.stringify(key.slice(0, 32))}: boot.ipxe takes mac, arch and platform`;
    const known = key as keyof BootScriptQuery;
    if (query[known] !== undefined) return `${known} is given twice`;
    if (!QUERY_KEYS[known].test(value))
      return `${known} is not valid: ${known === 'mac' ? 'up to 32 characters' : 'up to 16 letters, digits, _ and -'}`;
    query[known] = value;
  }
  return query;
}
