/**
 * Which MAC an IPv4 address belongs to, as the DHCP traffic shows it: a TFTP or HTTP
 * request carries only its source address, and boot events and callback tokens belong to
 * a machine, so the DHCP packets (requested IP, ciaddr, the source of a PXE request on
 * 4011) teach it. Never the script's ?mac=, which any host can write. The map is
 * bounded: past `capacity` the address learnt longest ago is forgotten.
 */
export class ClientAddresses {
  readonly #macByIp = new Map<string, string>();

  constructor(private readonly capacity = 65_536) {}

  learn(address: string, mac: string): void {
    const ip = ipv4(address);
    if (ip === '0.0.0.0') return;
    this.#macByIp.delete(ip); // re-inserting moves it to the young end
    this.#macByIp.set(ip, mac);
    if (this.#macByIp.size > this.capacity) this.#macByIp.delete(this.#macByIp.keys().next().value!);
  }

  macOf(address: string): string | undefined {
    return this.#macByIp.get(ipv4(address));
  }

  get size(): number {
    return this.#macByIp.size;
  }
}

/** A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; DHCP speaks plain a.b.c.d. */
export function ipv4(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
