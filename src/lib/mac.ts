/**
 * MAC addresses enter metalbox from operators (CLI, API, config), BMCs (Redfish, in any
 * case and separator style) and the wire (DHCP chaddr). Inside, one form only:
 * lowercase, colon-separated, two digits per octet. Every edge calls normalizeMac.
 */

const SEPARATED = /^([0-9a-f]{1,2})([:-])([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})$/;
const CISCO_DOTTED = /^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$/;
const BARE = /^[0-9a-f]{12}$/;

/**
 * Returns the canonical form of a MAC written as `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF`,
 * `aabb.ccdd.eeff` or `aabbccddeeff` (any case), or null when the input is none of these.
 * Single-digit octets (`a:b:c:d:e:f`, as some arp tools print) are zero-padded.
 */
export function normalizeMac(input: string): string | null {
  const text = input.trim().toLowerCase();
  const separated = SEPARATED.exec(text);
  if (separated) {
    const octets = [separated[1], separated[3], separated[4], separated[5], separated[6], separated[7]];
    return octets.map((octet) => octet!.padStart(2, '0')).join(':');
  }
  const dotted = CISCO_DOTTED.exec(text);
  const hex = dotted ? dotted.slice(1).join('') : BARE.test(text) ? text : null;
  if (hex === null) return null;
  return hex.match(/../g)!.join(':');
}

const HEX_OCTETS = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/** The canonical form of six bytes, e.g. a DHCP chaddr (on every DHCP packet: a table, not a map and a join). */
export function macFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== 6) throw new RangeError(`a MAC is 6 bytes, got ${bytes.length}`);
  return `${HEX_OCTETS[bytes[0]!]}:${HEX_OCTETS[bytes[1]!]}:${HEX_OCTETS[bytes[2]!]}:${HEX_OCTETS[bytes[3]!]}:${HEX_OCTETS[bytes[4]!]}:${HEX_OCTETS[bytes[5]!]}`;
}
