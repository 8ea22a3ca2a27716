import { ipv4, type ClientAddresses } from './client-addresses.js';
import type { BootDecisions } from './boot-decisions.js';
import type { CallbackTokens } from './callback-tokens.js';
import { AGENT_BOOTS, AGENT_HOLDS, DISK_BOOTS, INSTALLING, type MachineState } from '../lifecycle/lifecycle.js';

/**
 * Which addresses count as a machine's own:
 * - `dhcp`: those its NICs' DHCP packets claimed (option 50, ciaddr) or came from (the
 *   PXE request on 4011), as snooping saw them, live or stored.
 * - `first-use`: those, and also the first other address that fetches the machine's script
 *   in an operation. For networks where metalbox sees none of the machines' DHCP (a relay
 *   that forwards only to the site server); weaker: whoever asks first with the machine's
 *   MAC gets the operation's token.
 */
export type AddressTrust = 'dhcp' | 'first-use';

export interface MachineTrustOptions {
  decisions: BootDecisions;
  addresses: ClientAddresses;
  tokens: CallbackTokens;
  /** Whether the stored DHCP observations show `mac` at `ip` (snooping outlives a restart; the live maps do not). */
  observed: (mac: string, ip: string) => boolean;
  addressTrust: AddressTrust;
  /** Whether the operation's token went out in a virtual media ISO (its media.inserted event); asked once per operation. */
  isMediaOperation?: (operationId: string) => boolean;
}

export type Admission =
  | { admitted: true; operationId: string }
  | { admitted: false; reason: 'no-operation' | 'wrong-token' | 'foreign-address' };

/**
 * What a token admits, by the states the machine must be in: an installer's callback and
 * the `booted` of an OS the agent wrote; the agent's requests while it boots and while it
 * holds; the per-machine metadata for the installer, the agent's config drive and the first boot.
 */
export const TOKEN_SCOPES = {
  callback: new Set<MachineState>([...INSTALLING, ...DISK_BOOTS]),
  // booting too: an agent whose report's answer was lost sends it again, and is told to reboot.
  agent: new Set<MachineState>([...AGENT_BOOTS, ...AGENT_HOLDS, ...DISK_BOOTS]),
  metadata: new Set<MachineState>([...INSTALLING, ...AGENT_BOOTS, ...DISK_BOOTS]),
} as const;
export type TokenScope = keyof typeof TOKEN_SCOPES;

/** First-use bindings remembered; the oldest is forgotten past it (one per operation under way). */
const FIRST_USE_CAPACITY = 65_536;

/**
 * The trust rule of a machine's requests during an operation (installer callbacks today,
 * the agent's requests next): a per-operation token, given only in a script fetched from
 * the machine's own address, and accepted only with that operation under way and from an
 * address of the same machine. A token read off the wire by another host is useless from
 * that host; a token of an earlier operation or of another machine is refused.
 */
export class MachineTrust {
  readonly #firstUse = new Map<string, string>();
  readonly #mediaBootListeners = new Set<(machineId: string, operationId: string) => void>();
  /**
   * Each operation admitted since start: no virtual media boot (none), or one whose machine
   * has not called in yet (waiting) or has (booted). Its insert commits before its machine
   * can boot from it, so the answer of the first admission holds.
   */
  readonly #media = new Map<string, 'none' | 'waiting' | 'booted'>();

  constructor(private readonly options: MachineTrustOptions) {}

  /**
   * The token for a script that `ip` fetched for `machineId` under `operationId`, or null
   * when `ip` is not the machine's: then the script is refused and the token never leaves.
   */
  issue(machineId: string, operationId: string, ip: string): string | null {
    // The bound first-use address is asked before the stored observations: a machine that
    // fetches its script again from that address is answered from memory, not by a query.
    const bound = this.options.addressTrust === 'first-use' && this.#firstUse.get(operationId) === ipv4(ip);
    if (!bound && !this.#isMachineAddress(machineId, ip) && !this.#firstUseBinds(operationId, ip)) return null;
    return this.options.tokens.tokenFor(machineId, operationId);
  }

  /** Whether a request for `machineId` carrying `token` from `ip` may act, within `scope`, for the machine's current operation. */
  admit(scope: TokenScope, machineId: string, token: string, ip: string): Admission {
    const operationId = this.options.decisions.operationIn(machineId, TOKEN_SCOPES[scope]);
    if (operationId === null) return { admitted: false, reason: 'no-operation' };
    if (!this.options.tokens.verify(machineId, operationId, token)) return { admitted: false, reason: 'wrong-token' };
    const address = ipv4(ip);
    const media = this.#mediaOf(operationId);
    if (!this.#isMachineAddress(machineId, address) && this.#firstUse.get(operationId) !== address) {
      // A token that went out in a virtual media ISO reached the machine through its BMC, and
      // its first request comes from wherever the site's DHCP put it: that address is bound.
      if (media === 'none' || this.#firstUse.has(operationId)) return { admitted: false, reason: 'foreign-address' };
      this.#bind(operationId, address);
    }
    if (media === 'waiting') {
      this.#media.set(operationId, 'booted');
      for (const listener of this.#mediaBootListeners) listener(machineId, operationId);
    }
    return { admitted: true, operationId };
  }

  #mediaOf(operationId: string): 'none' | 'waiting' | 'booted' {
    let media = this.#media.get(operationId);
    if (media === undefined) {
      media = this.options.isMediaOperation?.(operationId) ? 'waiting' : 'none';
      this.#media.set(operationId, media);
      if (this.#media.size > FIRST_USE_CAPACITY) this.#media.delete(this.#media.keys().next().value!);
    }
    return media;
  }

  /** The operation id a virtual media ISO's URL admits (`machineId`'s current operation, its token), or null. */
  admitMedia(machineId: string, token: string): string | null {
    const operationId = this.options.decisions.operationIn(machineId, TOKEN_SCOPES.metadata);
    if (operationId === null || !this.options.tokens.verify(machineId, operationId, token)) return null;
    return operationId;
  }

  /** Calls `listener` when a virtual media operation's machine first calls in (once per operation and run of metalbox). */
  onMediaBoot(listener: (machineId: string, operationId: string) => void): () => void {
    this.#mediaBootListeners.add(listener);
    return () => this.#mediaBootListeners.delete(listener);
  }

  /** Whether snooping saw one of the machine's NICs at `ip`: in memory, else in the stored observations (learnt back). */
  #isMachineAddress(machineId: string, ip: string): boolean {
    const { addresses, decisions } = this.options;
    const macs = decisions.macsOf(machineId);
    if (macs.some((mac) => addresses.hasSeen(mac, ip))) return true;
    const stored = macs.find((mac) => this.options.observed(mac, ipv4(ip)));
    if (stored === undefined) return false;
    addresses.learn(ip, stored);
    return true;
  }

  /** Under `first-use`, binds the operation to `ip` if nothing was bound yet; whether `ip` is the bound one. */
  #firstUseBinds(operationId: string, ip: string): boolean {
    if (this.options.addressTrust !== 'first-use') return false;
    const address = ipv4(ip);
    const bound = this.#firstUse.get(operationId);
    if (bound !== undefined) return bound === address;
    this.#bind(operationId, address);
    return true;
  }

  #bind(operationId: string, address: string): void {
    this.#firstUse.set(operationId, address);
    if (this.#firstUse.size > FIRST_USE_CAPACITY) this.#firstUse.delete(this.#firstUse.keys().next().value!);
  }
}
