import { AGENT_BOOTS as AGENT_BOOT_STATES, INSTALLING as INSTALLING_STATES, type MachineState } from '../lifecycle/lifecycle.js';
import type { BootEntry, MachineStore } from '../store/index.js';

/**
 * What a booting NIC gets (docs/contracts.md, Lifecycle states), decided from memory: the DHCP, TFTP and script
 * paths call decide() per packet and must never wait on the database. The view is loaded
 * once and refreshed per machine when the store reports a committed change.
 */
export type BootAnswer =
  /** No answer at all: unknown machines (unless discovering) and machines in maintenance. */
  | { kind: 'ignore'; reason: 'unknown' | 'maintenance' }
  /** The installer of the machine's profile (preparing, netbooting, installing), under its operation. */
  | { kind: 'install'; machineId: string; profile: string | null; operationId: string | null; secureBoot: boolean }
  /** The metalbox agent, under the machine's operation: to read a machine PXE discovery found (or its discovery profile), or to deploy it. */
  | { kind: 'agent'; machineId: string; state: MachineState; profile: string | null; operationId: string | null; secureBoot: boolean }
  /** Boot from local disk (ready, provisioned, failures, and every other state). */
  | { kind: 'local'; machineId: string; profile: string | null; secureBoot: boolean }
  /** An unknown machine, when `boot.unknown: discover`, or while a machine under inspection waits for its NICs. */
  | { kind: 'discover' };

export interface BootDecisionSettings {
  unknown: 'ignore' | 'discover';
}

/** The lifecycle's INSTALLING and AGENT_BOOTS, as sets: the script path asks them per request. */
const INSTALLING: ReadonlySet<MachineState> = new Set(INSTALLING_STATES);
const AGENT_BOOTS: ReadonlySet<MachineState> = new Set(AGENT_BOOT_STATES);

export class BootDecisions {
  #byMac = new Map<string, BootEntry>();
  #macsOf = new Map<string, string[]>();
  /** Machines under inspection whose NICs metalbox does not know (MachineStore.awaitingNics). */
  #awaitingNics = new Set<string>();

  constructor(
    private readonly machines: MachineStore,
    private readonly settings: BootDecisionSettings,
  ) {}

  /** Loads the whole view and follows the store's changes from now on. */
  start(): () => void {
    this.#byMac = new Map();
    this.#macsOf = new Map();
    this.#awaitingNics = new Set(this.machines.awaitingNics());
    for (const entry of this.machines.bootEntries()) this.#add(entry);
    return this.machines.onChange((machineId) => this.#refresh(machineId));
  }

  decide(mac: string): BootAnswer {
    const entry = this.#byMac.get(mac);
    if (entry === undefined) return this.unknownAnswer() === 'discover' ? { kind: 'discover' } : { kind: 'ignore', reason: 'unknown' };
    if (entry.maintenance) return { kind: 'ignore', reason: 'maintenance' };
    const { machineId, profile, operationId, secureBoot } = entry;
    if (INSTALLING.has(entry.state)) return { kind: 'install', machineId, profile, operationId, secureBoot };
    if (AGENT_BOOTS.has(entry.state)) return { kind: 'agent', machineId, state: entry.state, profile, operationId, secureBoot };
    return { kind: 'local', machineId, profile, secureBoot };
  }

  /**
   * How unknown MACs are answered now: discover under `boot.unknown: discover`, and also
   * while a machine under inspection waits for its NICs: an unknown MAC may be one of them,
   * and the agent's report names the machine (ironic-inspector opens its PXE filter to
   * unknown MACs the same way, and only while it inspects).
   */
  unknownAnswer(): 'ignore' | 'discover' {
    return this.settings.unknown === 'discover' || this.#awaitingNics.size > 0 ? 'discover' : 'ignore';
  }

  /**
   * The operation a machine acts under while it is in one of `states`: what its callback,
   * agent and metadata tokens are bound to. Null in any other state (a late or replayed request).
   */
  operationIn(machineId: string, states: ReadonlySet<MachineState>): string | null {
    const mac = this.#macsOf.get(machineId)?.[0];
    const entry = mac === undefined ? undefined : this.#byMac.get(mac);
    return entry !== undefined && states.has(entry.state) ? entry.operationId : null;
  }

  /** A machine's NIC MACs, whatever its state. */
  macsOf(machineId: string): readonly string[] {
    return this.#macsOf.get(machineId) ?? [];
  }

  get size(): number {
    return this.#byMac.size;
  }

  /** For GET /api/v1/stats: NICs with a boot decision in memory, and machines under inspection waiting for theirs. */
  stats(): { nics: number; awaitingNics: number } {
    return { nics: this.size, awaitingNics: this.#awaitingNics.size };
  }

  #refresh(machineId: string): void {
    for (const mac of this.#macsOf.get(machineId) ?? []) this.#byMac.delete(mac);
    this.#macsOf.delete(machineId);
    const entries = this.machines.bootEntries(machineId);
    for (const entry of entries) this.#add(entry);
    // Only a machine without NICs can be waiting for them: no second query for every other change.
    if (entries.length === 0 && this.machines.awaitingNics(machineId).length > 0) this.#awaitingNics.add(machineId);
    else this.#awaitingNics.delete(machineId);
  }

  #add(entry: BootEntry): void {
    this.#byMac.set(entry.mac, entry);
    const macs = this.#macsOf.get(entry.machineId);
    if (macs) macs.push(entry.mac);
    else this.#macsOf.set(entry.machineId, [entry.mac]);
  }
}
