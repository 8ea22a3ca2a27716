import type { BmcLocator } from '../bmc-locator/locator.js';
import { MetalboxError, isMetalboxError } from '../lib/errors.js';
import type { MachineRef } from '../lib/machine-ref.js';
import { RedfishError, type RedfishBody, type RedfishClient } from '../redfish/client.js';
import { IpmiError, type IpmiClient } from '../ipmi/client.js';
import { formatCode } from '../ipmi/power.js';
import { scrapeInventory, type SystemScrape } from '../redfish/inventory.js';
import type { BmcRecord, JobJson, MachineJson, MachineState, Store } from '../store/index.js';
import type { ServerTypes } from '../profiles/server-types.js';
import { BUSY, ONBOARDING_STEP_STATES } from '../lifecycle/lifecycle.js';
import { BmcSessionError, type BmcSessions } from '../bmc/sessions.js';
import { StepFailure, type JobEngine, type JobHandler, type StepSuccess } from '../jobs/engine.js';
import { cleanText } from '../lib/text.js';
import { classifyMachine } from '../profiles/classify.js';

export const ONBOARDING = 'onboarding';

/** How to talk to the BMC: Redfish, IPMI, or auto (Redfish when its service root answers, else IPMI). */
export type OnboardingProtocol = 'redfish' | 'ipmi' | 'auto';

/** What `metalbox onboard` asks for. Connection settings given here are kept for the BMC. */
export interface OnboardingRequest {
  bmcMac: string;
  /** Default: the protocol the BMC was onboarded with before, else Redfish. */
  protocol?: OnboardingProtocol;
  ip?: string;
  port?: number;
  scheme?: 'https' | 'http';
  username?: string;
  password?: string;
  insecure?: boolean;
  tlsFingerprint?: string;
}

export interface OnboardingTicket {
  job: JobJson;
  machine: MachineJson;
  /** False when the BMC was being onboarded already: that job is returned, no second one is made. */
  created: boolean;
}

type Step = 'resolve' | 'connect' | 'inspect' | 'classify';

/** The state a machine is in while each step runs. */
const STATE_OF: Record<Step, MachineState> = ONBOARDING_STEP_STATES;

const TIMEOUT_MS: Record<Step, number> = { resolve: 120_000, connect: 120_000, inspect: 900_000, classify: 30_000 };

export interface OnboardingDependencies {
  store: Store;
  locator: BmcLocator;
  sessions: BmcSessions;
  engine: JobEngine;
  serverTypes: ServerTypes;
}

/**
 * The onboarding state machine: enrolled → resolving → connecting → inspecting →
 * classifying → ready, one job step per transient state. Each step reads the world (MAC
 * → IP, a Redfish login, the scrape) without writing; its result, the machine's next
 * state and the event are then committed together by the engine.
 */
export class Onboarding implements JobHandler {
  readonly kind = ONBOARDING;

  constructor(private readonly deps: OnboardingDependencies) {}

  /** Queues an onboarding of the BMC (enrolling it when new), or returns the one under way. */
  request(input: OnboardingRequest): OnboardingTicket {
    const { store } = this.deps;
    if ((input.username === undefined) !== (input.password === undefined)) {
      throw new MetalboxError('E_BAD_REF', 'give the BMC username and password together (or neither, to use the stored or default ones)');
    }
    const ticket = store.transaction(() => {
      const enrolled = store.machines.enroll({ bmcMac: input.bmcMac });
      const bmc = store.bmcs.ofMachine(enrolled.id)!;
      const primary = store.machines.ofBmc(bmc.id)[0]!;
      const active = store.jobs.active(ONBOARDING, primary.id);
      if (active) {
        // Joining the running job is right for the same request; other settings would be dropped silently.
        const differences = this.#differences(input, bmc, active);
        if (differences.length > 0) {
          throw new MetalboxError(
            'E_CONFLICT',
            `BMC ${bmc.mac} is being onboarded already (job ${active.id}) with ${differences.map((d) => `${d.key} ${d.running}`).join(', ')}, ` +
              `not ${differences.map((d) => `${d.key} ${d.given}`).join(', ')}: wait for it to end (metalbox onboard --retry ${bmc.mac} --wait), then onboard again with these`,
          );
        }
        return { job: active, machineId: primary.id, created: false };
      }
      if (BUSY.includes(primary.state)) {
        throw new MetalboxError(
          'E_CONFLICT',
          `machine ${primary.id} is ${primary.state}: onboarding it again now would disrupt its provisioning; deprovision it first`,
        );
      }
      const credentialId =
        input.username === undefined ? undefined : store.credentials.save({ username: input.username, password: input.password! });
      store.bmcs.setConnection(bmc.id, {
        protocol: input.protocol === 'auto' ? undefined : input.protocol,
        scheme: input.scheme,
        port: input.port,
        insecure: input.insecure,
        // --insecure again drops the pin, so a renewed certificate is pinned afresh.
        tlsFingerprint: input.tlsFingerprint ?? (input.insecure ? null : undefined),
        credentialId,
      });
      const { job } = store.jobs.enqueue({
        kind: ONBOARDING,
        machineId: primary.id,
        step: 'resolve',
        input: { ...(input.ip ? { ip: input.ip } : {}), ...(input.protocol ? { protocol: input.protocol } : {}) },
      });
      const message = `onboarding queued (job ${job.id})${input.ip ? ` with BMC address ${input.ip}` : ''}`;
      if (primary.state === 'enrolled')
        store.machines.appendEvents([{ machineId: primary.id, type: 'onboarding', message, data: { job: job.id } }]);
      else store.machines.transition(primary.id, 'enrolled', null, { type: 'onboarding', message, data: { job: job.id } });
      return { job, machineId: primary.id, created: true };
    });
    if (ticket.created) this.deps.engine.wake();
    return { job: ticket.job, machine: store.machines.get(ticket.machineId)!, created: ticket.created };
  }

  /** The settings of a request that differ from those the running job uses (passwords compared, never shown). */
  #differences(input: OnboardingRequest, bmc: BmcRecord, job: JobJson): Array<{ key: string; running: string; given: string }> {
    const credential = bmc.credentialId === null ? null : this.deps.store.credentials.read(bmc.credentialId);
    const ip = typeof job.input.ip === 'string' ? job.input.ip : bmc.ip;
    const protocol = protocolOf(job, bmc);
    const pairs: Array<[string, unknown, unknown]> = [
      ['protocol', input.protocol, protocol],
      ['ip', input.ip, ip],
      ['port', input.port, bmc.port],
      ['scheme', input.scheme, bmc.scheme],
      ['insecure', input.insecure, bmc.insecure],
      ['tlsFingerprint', input.tlsFingerprint, bmc.tlsFingerprint],
      ['username', input.username, credential?.username ?? null],
    ];
    const differences = pairs
      .filter(([, given, current]) => given !== undefined && given !== current)
      .map(([key, given, current]) => ({ key, running: String(current ?? '(none)'), given: String(given) }));
    if (input.password !== undefined && input.username === credential?.username && input.password !== credential?.password) {
      differences.push({ key: 'password', running: '(stored)', given: '(another)' });
    }
    return differences;
  }

  /** Onboards a known machine's BMC again with its stored settings (`metalbox onboard --retry`). */
  retry(ref: MachineRef): OnboardingTicket {
    const machine = this.deps.store.machines.resolve(ref);
    if (!machine.bmc) throw new MetalboxError('E_CONFLICT', `machine ${machine.id} has no BMC to onboard`);
    return this.request({ bmcMac: machine.bmc.mac });
  }

  timeoutMs(step: string): number {
    return TIMEOUT_MS[step as Step] ?? 60_000;
  }

  begin(job: JobJson): void {
    const machineId = job.machineId!;
    const want = STATE_OF[job.step as Step];
    const state = this.deps.store.machines.stateOf(machineId);
    if (want === undefined || state === null || state === want) return;
    this.deps.store.machines.transition(machineId, want, null, {
      type: 'state',
      message: BEGIN_MESSAGE[job.step as Step],
      data: { job: job.id },
    });
  }

  async run(job: JobJson, signal: AbortSignal): Promise<StepSuccess> {
    const machineId = job.machineId!;
    const bmc = this.deps.store.bmcs.ofMachine(machineId);
    if (!bmc) throw this.#fail(job, 'inspect_failed', `machine ${machineId} has no BMC`, false);
    switch (job.step as Step) {
      case 'resolve':
        return this.#resolve(job, bmc, signal);
      case 'connect':
        return this.#connect(job, bmc, signal);
      case 'inspect':
        return this.#inspect(job, bmc, signal);
      case 'classify':
        return this.#classify(bmc);
      default:
        throw this.#fail(job, 'inspect_failed', `unknown onboarding step ${job.step}`, false);
    }
  }

  retrying(job: JobJson, failure: StepFailure, delayMs: number): void {
    this.deps.store.machines.appendEvents([
      {
        machineId: job.machineId!,
        type: 'onboarding.retry',
        message: `${job.step} try ${job.attempts + 1} failed: ${failure.message}; next try in ${Math.round(delayMs / 1000)} s`,
        data: { job: job.id, attempt: job.attempts + 1, delayMs },
      },
    ]);
  }

  failure(job: JobJson, error: unknown): StepFailure {
    if (error instanceof StepFailure) return error;
    const step = job.step as Step;
    const unreachable: MachineState = step === 'inspect' ? 'inspect_failed' : 'bmc_unreachable';
    if (error instanceof RedfishError) {
      switch (error.failure) {
        case 'auth':
          return this.#fail(job, 'auth_failed', error.message, false);
        case 'unreachable':
        case 'timeout':
          return this.#fail(job, 'bmc_unreachable', error.message, true);
        case 'tls':
          return this.#fail(job, 'bmc_unreachable', error.message, false);
        default:
          return this.#fail(
            job,
            step === 'connect' ? 'bmc_unreachable' : 'inspect_failed',
            step === 'connect' ? `not a usable Redfish service: ${error.message}` : error.message,
            false,
          );
      }
    }
    if (error instanceof IpmiError) {
      const code = error.code === null ? '' : ` (code ${formatCode(error.code)})`;
      switch (error.failure) {
        case 'auth':
          // Not retried: a wrong password tried again locks the account on many BMCs.
          return this.#fail(job, 'auth_failed', `IPMI: ${error.message}${code}`, false);
        case 'unreachable':
          return this.#fail(job, 'bmc_unreachable', `IPMI: ${error.message}`, true);
        case 'missing-tool':
          return this.#fail(job, 'bmc_unreachable', error.message, false);
        default:
          return this.#fail(job, step === 'connect' ? 'bmc_unreachable' : 'inspect_failed', `IPMI: ${error.message}${code}`, false);
      }
    }
    if (isMetalboxError(error)) return this.#fail(job, 'inspect_failed', error.message, false);
    return this.#fail(job, unreachable, (error as Error).message ?? String(error), true);
  }

  #fail(job: JobJson, state: MachineState, reason: string, retryable: boolean): StepFailure {
    const machineId = job.machineId!;
    return new StepFailure(reason, retryable, () => {
      this.deps.store.machines.transition(machineId, state, reason, {
        type: 'onboarding.failed',
        message: `${job.step}: ${reason}`,
        data: { job: job.id },
      });
    });
  }

  async #resolve(job: JobJson, bmc: BmcRecord, signal: AbortSignal): Promise<StepSuccess> {
    const { store } = this.deps;
    // An address the operator gave is kept for the BMC: a retry or a re-onboarding uses it again.
    const explicit = typeof job.input.ip === 'string' ? job.input.ip : bmc.ipSource === 'explicit' ? bmc.ip : null;
    if (explicit !== null) {
      return {
        next: 'connect',
        commit: () => {
          store.bmcs.setAddress(bmc.id, explicit, 'explicit');
          store.machines.transition(job.machineId!, 'connecting', null, {
            type: 'resolved',
            message: `BMC ${bmc.mac} at ${explicit} (given)`,
            data: { ip: explicit, source: 'explicit' },
          });
        },
      };
    }
    const resolution = await this.deps.locator.locate(bmc.mac, signal);
    const chosen = resolution.chosen;
    if (chosen === null) {
      throw this.#fail(
        job,
        'bmc_unreachable',
        `no resolver knows MAC ${bmc.mac}: ${resolution.tried.map((entry) => `${entry.resolver}: ${entry.note}`).join('; ')}`,
        true,
      );
    }
    return {
      next: 'connect',
      commit: () => {
        store.bmcs.setAddress(bmc.id, chosen.ip, chosen.source);
        const message = `BMC ${bmc.mac} at ${chosen.ip} (${chosen.source})${resolution.conflict ? `; ${resolution.conflict}: using the first` : ''}`;
        store.machines.transition(job.machineId!, 'connecting', null, { type: 'resolved', message, data: resolution });
      },
    };
  }

  async #connect(job: JobJson, bmc: BmcRecord, signal: AbortSignal): Promise<StepSuccess> {
    const protocol = protocolOf(job, bmc);
    if (protocol === 'ipmi') return this.#connectIpmi(job, bmc, signal, null);
    if (protocol === 'auto') {
      try {
        return await this.#connectRedfish(job, bmc, signal);
      } catch (error) {
        // No Redfish service there (nothing listens, or it is not Redfish): IPMI is tried. A
        // Redfish service that refused the login or showed another certificate is not.
        if (!(error instanceof RedfishError) || !['unreachable', 'timeout', 'http', 'bad-json'].includes(error.failure)) throw error;
        // A port given with auto is asked over both: TCP for Redfish, UDP for IPMI.
        return this.#connectIpmi(job, bmc, signal, error.message);
      }
    }
    return this.#connectRedfish(job, bmc, signal);
  }

  async #connectRedfish(job: JobJson, bmc: BmcRecord, signal: AbortSignal): Promise<StepSuccess> {
    const { store } = this.deps;
    const session = await this.#withSession(job, bmc, signal, async (client, root) => ({
      root,
      origin: client.origin,
      fingerprint: client.certificateFingerprint,
    }));
    const { root, fingerprint } = session;
    const service = {
      vendor: cleanText(root.Vendor),
      redfishVersion: cleanText(root.RedfishVersion),
      uuid: cleanText(root.UUID)?.toLowerCase() ?? null,
    };
    return {
      next: 'inspect',
      commit: () => {
        store.bmcs.setConnection(bmc.id, { protocol: 'redfish' });
        store.bmcs.setService(bmc.id, service);
        // A certificate accepted without a CA (--insecure) is pinned at first contact.
        const pin = bmc.insecure && bmc.tlsFingerprint === null && fingerprint !== null;
        if (pin) store.bmcs.setConnection(bmc.id, { tlsFingerprint: fingerprint });
        const message = `Redfish ${service.redfishVersion ?? '(version not given)'} at ${session.origin}${service.vendor ? ` (${service.vendor})` : ''}${pin ? `; certificate pinned (SHA-256 ${fingerprint})` : ''}`;
        store.machines.transition(job.machineId!, 'inspecting', null, {
          type: 'connected',
          message,
          data: { origin: session.origin, ...service, tlsFingerprint: fingerprint },
        });
      },
    };
  }

  /** An IPMI session opened (Get Device ID); `redfishNote` says why auto fell back to IPMI. */
  async #connectIpmi(job: JobJson, bmc: BmcRecord, signal: AbortSignal, redfishNote: string | null): Promise<StepSuccess> {
    const { store } = this.deps;
    const { device, cipherSuite } = await this.#withIpmi(job, bmc, signal, async (client) => ({
      device: await client.deviceId(),
      cipherSuite: client.cipherSuite,
    }));
    const vendor = IPMI_VENDORS[device.manufacturerId] ?? `IANA ${device.manufacturerId}`;
    return {
      next: 'inspect',
      commit: () => {
        store.bmcs.setConnection(bmc.id, { protocol: 'ipmi' });
        store.bmcs.setService(bmc.id, { vendor, redfishVersion: null, uuid: null });
        const fallback = redfishNote === null ? '' : ` (no Redfish there: ${redfishNote})`;
        store.machines.transition(job.machineId!, 'inspecting', null, {
          type: 'connected',
          message: `IPMI ${device.ipmiVersion} at ${bmc.ip}:${bmc.port ?? 623} (${vendor}, firmware ${device.firmware}, cipher suite ${cipherSuite})${fallback}`,
          data: { protocol: 'ipmi', ...device, vendor, cipherSuite, redfish: redfishNote },
        });
      },
    };
  }

  /**
   * What IPMI tells of the machine: its identity from FRU 0, the system GUID, the power
   * state and the BMC's MAC. No CPUs, memory, NICs or disks: the agent reads those
   * (metalbox inspect), as Ironic's inspector does for IPMI-only machines.
   */
  async #inspectIpmi(job: JobJson, bmc: BmcRecord, signal: AbortSignal): Promise<StepSuccess> {
    const { store } = this.deps;
    const read = await this.#withIpmi(job, bmc, signal, async (client) => ({
      fru: await client.fru(),
      uuid: await client.systemGuid(),
      power: await client.powerState(),
      mac: await client.mac(),
      device: await client.deviceId(),
    }));
    const warnings =
      read.mac !== null && read.mac !== bmc.mac
        ? [`the BMC at ${bmc.ip} reports its MAC as ${read.mac}, not ${bmc.mac} as onboarded: check that this is the right BMC`]
        : [];
    const notes = ['IPMI gives no CPUs, memory, NICs or disks: run metalbox inspect to have the agent read them', ...warnings];
    const system = {
      manufacturer: read.fru.manufacturer,
      model: read.fru.model,
      serial: read.fru.serial,
      uuid: read.uuid,
      sku: read.fru.partNumber,
      biosVersion: null,
      powerState: read.power,
    };
    const machineId = store.machines.ofBmc(bmc.id)[0]?.id ?? job.machineId!;
    return {
      next: 'classify',
      commit: () => {
        const before = store.machines.get(machineId)!;
        const known = before.nics.length > 0 || before.cpu.count !== null;
        // What the agent read before stays: IPMI has nothing to replace it with.
        const inventory = {
          systemPath: null,
          bmc: { model: null, firmware: read.device.firmware, redfishVersion: null, vendor: bmc.vendor },
          power: read.power,
          system,
          cpu: known ? before.cpu : { count: null, cores: null, threads: null, model: null },
          memory: known ? before.memory : { totalGiB: null, dimms: null },
          drives: known ? before.drives : [],
          nics: known ? before.nics : [],
        };
        store.machines.recordInventory(
          machineId,
          inventory,
          { type: 'inventory', message: summarize(inventory, null, notes), data: { protocol: 'ipmi', notes } },
          'classifying',
        );
        store.machines.setWarnings(machineId, warnings);
        for (const warning of warnings)
          store.machines.appendEvents([{ machineId, type: 'warning', message: warning, data: { job: job.id } }]);
        store.machines.putFacts(machineId, { notes, ipmi: { ...read.device, bmcMac: read.mac } });
      },
    };
  }

  async #inspect(job: JobJson, bmc: BmcRecord, signal: AbortSignal): Promise<StepSuccess> {
    if (bmc.protocol === 'ipmi') return this.#inspectIpmi(job, bmc, signal);
    const { store } = this.deps;
    const { scrape, resources } = await this.#withSession(job, bmc, signal, async (client, root) => ({
      scrape: await scrapeInventory(client, root),
      resources: client.resources,
    }));
    if (scrape.systems.length === 0) {
      throw this.#fail(
        job,
        'inspect_failed',
        `the BMC lists no readable computer system${scrape.notes.length > 0 ? `: ${scrape.notes.join('; ')}` : ''}`,
        false,
      );
    }
    // A BMC that reports another MAC may be another machine's (a stale lease, a mistyped
    // MAC, an address reused): the inventory would then describe the wrong server.
    const warnings =
      scrape.bmc.mac !== null && scrape.bmc.mac !== bmc.mac
        ? [`the BMC at ${bmc.ip} reports its MAC as ${scrape.bmc.mac}, not ${bmc.mac} as onboarded: check that this is the right BMC`]
        : [];
    const notes = [...scrape.notes, ...warnings];
    return {
      next: 'classify',
      commit: () => {
        store.bmcs.saveRawResources(bmc.id, resources);
        store.bmcs.setService(bmc.id, scrape.service);
        for (const [machineId, system] of this.#assign(job, bmc, scrape.systems)) {
          const before = store.machines.get(machineId)!;
          const after: HardwareView = system;
          const changes = before.nics.length > 0 || before.system.serial !== null ? changesBetween(before, after) : null;
          store.machines.recordInventory(
            machineId,
            system,
            { type: 'inventory', message: summarize(after, changes, notes), data: { changes, notes, resources: resources.size } },
            'classifying',
          );
          store.machines.setWarnings(machineId, warnings);
          for (const warning of warnings)
            store.machines.appendEvents([{ machineId, type: 'warning', message: warning, data: { job: job.id } }]);
          store.machines.setFacts(machineId, {
            systemPath: system.systemPath,
            bootTargets: system.bootTargets,
            resetTypes: system.resetTypes,
            macSources: system.macSources,
            manager: system.manager,
            serviceUuid: scrape.service.uuid,
            notes,
          });
        }
      },
    };
  }

  /** Pairs each system with its machine: by system path, else the BMC's machine not yet tied to a system, else a new machine. */
  #assign(job: JobJson, bmc: BmcRecord, systems: SystemScrape[]): Array<[string, SystemScrape]> {
    const { store } = this.deps;
    const machines = store.machines.ofBmc(bmc.id);
    const pairs: Array<[string, SystemScrape]> = [];
    const taken = new Set<string>();
    for (const system of systems) {
      const known =
        machines.find((machine) => machine.systemPath !== null && machine.systemPath === system.systemPath && !taken.has(machine.id)) ??
        machines.find((machine) => machine.systemPath === null && !taken.has(machine.id));
      const machineId =
        known?.id ??
        store.machines.addSystem(bmc.id, system.systemPath ?? `#${pairs.length}`, 'inspecting', {
          type: 'state',
          message: `found as system ${system.systemPath} of BMC ${bmc.mac}`,
          data: { job: job.id },
        });
      if (known && known.state !== 'inspecting')
        store.machines.transition(known.id, 'inspecting', null, {
          type: 'state',
          message: `inspecting as system ${system.systemPath} of BMC ${bmc.mac}`,
          data: { job: job.id },
        });
      taken.add(machineId);
      pairs.push([machineId, system]);
    }
    return pairs;
  }

  async #classify(bmc: BmcRecord): Promise<StepSuccess> {
    const { store, serverTypes } = this.deps;
    return {
      next: null,
      commit: () => {
        for (const { id, state } of store.machines.ofBmc(bmc.id)) {
          if (state === 'classifying') classifyMachine(store.machines, serverTypes, id);
        }
      },
    };
  }

  /** An IPMI client of the BMC (see BmcSessions); a missing address or credential fails the step. */
  #withIpmi<T>(job: JobJson, bmc: BmcRecord, signal: AbortSignal, work: (client: IpmiClient) => Promise<T>): Promise<T> {
    return this.#opened(job, () => this.deps.sessions.ipmi(bmc, signal, work));
  }

  /** A Redfish session with the BMC (see BmcSessions); a missing address or credential fails the step. */
  #withSession<T>(
    job: JobJson,
    bmc: BmcRecord,
    signal: AbortSignal,
    work: (client: RedfishClient, root: RedfishBody) => Promise<T>,
  ): Promise<T> {
    return this.#opened(job, () => this.deps.sessions.with(bmc, signal, work));
  }

  /** `open`'s result; no address is a passing bmc_unreachable, no credentials a final auth_failed. */
  async #opened<T>(job: JobJson, open: () => Promise<T>): Promise<T> {
    try {
      return await open();
    } catch (error) {
      if (!(error instanceof BmcSessionError)) throw error;
      throw error.reason === 'no-address'
        ? this.#fail(job, 'bmc_unreachable', error.message, true)
        : this.#fail(job, 'auth_failed', error.message, false);
    }
  }
}

/** The protocol an onboarding job asks for, else the one the BMC was onboarded with. */
function protocolOf(job: JobJson, bmc: BmcRecord): OnboardingProtocol {
  return typeof job.input.protocol === 'string' ? (job.input.protocol as OnboardingProtocol) : bmc.protocol;
}

/** IANA enterprise numbers of BMC makers, for the BMC's vendor (IPMI's Get Device ID gives the number only). */
const IPMI_VENDORS: Record<number, string> = {
  2: 'IBM',
  9: 'Cisco',
  11: 'HPE',
  343: 'Intel',
  674: 'Dell',
  2011: 'Huawei',
  4753: 'MontaVista (OpenIPMI)',
  5771: 'Cisco',
  7244: 'Quanta',
  10368: 'Fujitsu',
  10876: 'Supermicro',
  19046: 'Lenovo',
  20974: 'AMI',
  49622: 'OpenBMC',
};

const BEGIN_MESSAGE: Record<Step, string> = {
  resolve: "looking for the BMC's address",
  connect: 'logging in to the BMC',
  inspect: 'reading the inventory',
  classify: 'matching server types',
};

/** The hardware part of the machine JSON, which an inspection replaces. */
type HardwareView = Pick<MachineJson, 'system' | 'cpu' | 'memory' | 'nics' | 'drives'> & {
  bmc: { model: string | null; firmware: string | null; redfishVersion: string | null } | null;
};

/** What differs between two inspections of one machine, field by field. */
function changesBetween(before: HardwareView, after: HardwareView): Array<{ field: string; from: unknown; to: unknown }> {
  const changes: Array<{ field: string; from: unknown; to: unknown }> = [];
  const compare = (field: string, from: unknown, to: unknown) => {
    if (JSON.stringify(from) !== JSON.stringify(to)) changes.push({ field, from, to });
  };
  for (const group of ['system', 'cpu', 'memory'] as const) {
    for (const [key, value] of Object.entries(after[group]))
      compare(`${group}.${key}`, (before[group] as Record<string, unknown>)[key], value);
  }
  // A system another manager manages (a SmartNIC's SoC) does not describe the BMC.
  if (after.bmc !== null)
    for (const key of ['model', 'firmware', 'redfishVersion'] as const) compare(`bmc.${key}`, before.bmc?.[key] ?? null, after.bmc[key]);
  const macs = (machine: HardwareView) => machine.nics.map((nic) => nic.mac).sort();
  compare('nics', macs(before), macs(after));
  const drives = (machine: HardwareView) =>
    machine.drives.map((drive) => `${drive.model ?? '?'} ${drive.serial ?? '?'} ${drive.capacityBytes ?? '?'}`).sort();
  compare('drives', drives(before), drives(after));
  return changes;
}

function summarize(machine: HardwareView, changes: ReturnType<typeof changesBetween> | null, notes: string[]): string {
  const parts = [
    [machine.system.manufacturer, machine.system.model].filter(Boolean).join(' ') || 'unknown model',
    `${machine.cpu.count ?? '?'} CPU`,
    `${machine.memory.totalGiB ?? '?'} GiB`,
    `${machine.nics.length} NIC MAC${machine.nics.length === 1 ? '' : 's'}`,
    `${machine.drives.length} drive${machine.drives.length === 1 ? '' : 's'}`,
  ];
  const changed =
    changes === null ? '' : changes.length === 0 ? '; nothing changed' : `; changed: ${changes.map((change) => change.field).join(', ')}`;
  return `inspected: ${parts.join(', ')}${changed}${notes.length > 0 ? ` (${notes.length} note${notes.length === 1 ? '' : 's'})` : ''}`;
}
