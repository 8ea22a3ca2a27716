import type { ObservationJson } from '../store/index.js';
import { clientArchitectures, clientMac, hostname, MessageType, messageType, requestedIp, vendorClass, type DhcpPacket } from './codec.js';

const TYPE_NAMES = new Map<number, string>(Object.entries(MessageType).map(([name, code]) => [code, name]));

export interface SnoopingOptions {
  /** Writes a batch to the store; called off the packet path, at most once per interval. */
  write: (batch: ObservationJson[]) => void;
  flushIntervalMs?: number;
  /** Distinct (MAC, type, IP) keys held between flushes; beyond it new keys are dropped and counted. */
  maxPending?: number;
  /** A failed write: the batch is kept and tried again at the next flush. */
  onError?: (error: unknown) => void;
  now?: () => Date;
}

/**
 * DHCP snooping: every client packet the ProxyDHCP sockets receive, PXE or not, becomes
 * an observation (this is how a BMC's address is found from its MAC). The packet path
 * only updates a map; a timer writes the map to the store in one transaction.
 */
export class SnoopRecorder {
  #pending = new Map<string, ObservationJson>();
  #timer: NodeJS.Timeout | undefined;
  readonly #options: Required<SnoopingOptions>;
  dropped = 0;

  constructor(options: SnoopingOptions) {
    this.#options = { flushIntervalMs: 1000, maxPending: 10_000, now: () => new Date(), onError: () => {}, ...options };
  }

  readonly observe = (packet: DhcpPacket): void => {
    if (packet.op !== 1) return;
    const mac = clientMac(packet);
    const type = messageType(packet);
    if (mac === null || type === null) return;
    const messageTypeName = TYPE_NAMES.get(type) ?? String(type);
    const ip = requestedIp(packet) ?? (packet.ciaddr === '0.0.0.0' ? null : packet.ciaddr);
    const key = `${mac}|${messageTypeName}|${ip ?? ''}`;
    const at = this.#options.now().toISOString();
    const seen = this.#pending.get(key);
    if (seen) {
      seen.lastSeen = at;
      seen.count++;
      return;
    }
    if (this.#pending.size >= this.#options.maxPending) {
      this.dropped++;
      return;
    }
    this.#pending.set(key, {
      mac,
      messageType: messageTypeName,
      ip,
      vendorClass: vendorClass(packet),
      arch: clientArchitectures(packet)[0] ?? null,
      hostname: hostname(packet),
      firstSeen: at,
      lastSeen: at,
      count: 1,
    });
  };

  start(): void {
    this.#timer ??= setInterval(() => this.flush(), this.#options.flushIntervalMs);
    this.#timer.unref();
  }

  /** Writes what is pending; on failure the batch is kept for the next try and reported. */
  flush(): void {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      this.#options.write([...batch.values()]);
    } catch (error) {
      for (const [key, observation] of batch) if (!this.#pending.has(key)) this.#pending.set(key, observation);
      this.#options.onError(error);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.flush();
  }
}
