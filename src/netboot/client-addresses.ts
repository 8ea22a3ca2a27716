/**
 * Which MAC an IPv4 address belongs to, and which addresses a MAC was seen using, as the
 * DHCP traffic shows it: a TFTP or HTTP request carries only its source address, and boot
 * events and callback tokens belong to a machine, so the DHCP packets (requested IP,
 * ciaddr, the source of a PXE request on 4011) teach it. Never the script's ?mac=, which
 * any host can write. Both maps are bounded: past `capacity` the address or MAC learnt
 * longest ago is forgotten, and a MAC keeps its last few addresses.
 */
export class ClientAddresses {
  readonly #macByIp = new Map<string, string>();
  readonly #ipsByMac = new Map<string, string[]>();

  constructor(private readonly capacity = 65_536) {}

  learn(address: string, mac: string): void {
    const ip = ipv4(address);
    if (ip === '0.0.0.0') return;
    this.#macByIp.delete(ip); // re-inserting moves it to the young end
    this.#macByIp.set(ip, mac);
    if (this.#macByIp.size > this.capacity) this.#macByIp.delete(this.#macByIp.keys().next().value!);
    const ips = (this.#ipsByMac.get(mac) ?? []).filter((known) => known !== ip);
    ips.push(ip);
    if (ips.length > ADDRESSES_PER_MAC) ips.shift();
    this.#ipsByMac.delete(mac);
    this.#ipsByMac.set(mac, ips);
    if (this.#ipsByMac.size > this.capacity) this.#ipsByMac.delete(this.#ipsByMac.keys().next().value!);
  }

  /** The MAC last seen at `address` (the machine a TFTP or HTTP request comes from). */
  macOf(address: string): string | undefined {
    return this.#macByIp.get(ipv4(address));
  }

  /** Whether `mac` was seen using `address`; several MACs may share one (a NAT, a relay's test fleet). */
  hasSeen(mac: string, address: string): boolean {
    return this.#ipsByMac.get(mac)?.includes(ipv4(address)) ?? false;
  }

  get size(): number {
    return this.#macByIp.size;
  }

  /** For GET /api/v1/stats: addresses remembered. */
  stats(): { addresses: number } {
    return { addresses: this.size };
  }
}

/** A NIC's recent addresses: PXE firmware, then iPXE, then the installer may each lease another. */
const ADDRESSES_PER_MAC = 4;

/** A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; DHCP speaks plain a.b.c.d. */
export function ipv4(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
