import { Batcher, type BatcherOptions } from '../lib/batcher.js';
import type { ObservationJson } from '../store/index.js';
import { clientArchitectures, clientMac, hostname, MessageType, messageType, requestedIp, vendorClass, type DhcpPacket } from './codec.js';

const TYPE_NAMES = new Map<number, string>(Object.entries(MessageType).map(([name, code]) => [code, name]));

export interface SnoopingOptions extends BatcherOptions<ObservationJson> {
  /** The clock, in milliseconds since the epoch. */
  now?: () => number;
  /** Observations stored, shown beside the drops in its stats. */
  stored?: () => number;
}

/**
 * DHCP snooping: every client packet the ProxyDHCP sockets receive, PXE or not, becomes
 * an observation (this is how a BMC's address is found from its MAC). The packet path
 * only updates a map; a timer writes the map to the store in one transaction.
 */
export class SnoopRecorder extends Batcher<ObservationJson> {
  readonly #now: () => number;
  readonly #stored: () => number;
  /** The last timestamp made and its millisecond: at 10,000 packets a second most share one, and formatting a Date is a microsecond. */
  #stamp = { ms: Number.NaN, iso: '' };

  constructor(options: SnoopingOptions) {
    super(options);
    this.#now = options.now ?? Date.now;
    this.#stored = options.stored ?? (() => 0);
  }

  #timestamp(): string {
    const ms = this.#now();
    if (ms !== this.#stamp.ms) this.#stamp = { ms, iso: new Date(ms).toISOString() };
    return this.#stamp.iso;
  }

  override stats(): { dropped: number; observations: number } {
    return { ...super.stats(), observations: this.#stored() };
  }

  /** Records a client packet; returns the client's MAC and the IP it asked for or holds, when it has one. */
  readonly observe = (packet: DhcpPacket): { mac: string; ip: string | null } | null => {
    if (packet.op !== 1) return null;
    const mac = clientMac(packet);
    const type = messageType(packet);
    if (mac === null || type === null) return null;
    const messageTypeName = TYPE_NAMES.get(type) ?? String(type);
    const ip = requestedIp(packet) ?? (packet.ciaddr === '0.0.0.0' ? null : packet.ciaddr);
    const at = this.#timestamp();
    this.add(
      mac,
      `${messageTypeName}|${ip ?? ''}`,
      () => ({
        mac,
        messageType: messageTypeName,
        ip,
        vendorClass: vendorClass(packet),
        arch: clientArchitectures(packet)[0] ?? null,
        hostname: hostname(packet),
        relay: packet.giaddr === '0.0.0.0' ? null : packet.giaddr,
        firstSeen: at,
        lastSeen: at,
        count: 1,
      }),
      (seen) => {
        seen.lastSeen = at;
        seen.count++;
      },
    );
    return { mac, ip };
  };
}
