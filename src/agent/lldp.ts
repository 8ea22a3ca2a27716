import { cleanText } from '../lib/text.js';
import { macFromBytes } from '../lib/mac.js';

/**
 * The switch port a NIC is cabled to, from one LLDP frame (IEEE 802.1AB) the agent captured
 * on it: the switch (chassis ID, system name) and its port (port ID, description), which is
 * what an operator cabling a rack checks against the plan.
 */
export interface LldpNeighbour {
  /** The switch's chassis ID: a MAC as aa:bb:cc:dd:ee:ff, an address, or text. */
  chassisId: string;
  chassisIdSubtype: IdSubtype;
  /** The switch's port: a name (Ethernet1/7, ge-0/0/7), a MAC, an address, or text. */
  portId: string;
  portIdSubtype: IdSubtype;
  portDescription: string | null;
  systemName: string | null;
  systemDescription: string | null;
  managementAddresses: string[];
  /** The port's untagged VLAN (IEEE 802.1 organisationally specific TLV, subtype 1), when the switch sends it. */
  vlan: number | null;
}

export type IdSubtype =
  | 'chassis-component'
  | 'interface-alias'
  | 'port-component'
  | 'mac'
  | 'address'
  | 'interface-name'
  | 'circuit-id'
  | 'local';

/** Why a captured frame yields no neighbour; the agent's report keeps the reason. */
export type LldpFault =
  | 'not-hex'
  | 'too-short'
  | 'not-lldp'
  | 'tlv-overruns-frame'
  | 'missing-chassis-id'
  | 'missing-port-id'
  | 'missing-ttl'
  | 'bad-id';

const ETHERTYPE_LLDP = 0x88cc;
const ETHERTYPE_VLAN = 0x8100;
/** A frame larger than a jumbo Ethernet frame is not one the agent captured. */
const MAX_FRAME_BYTES = 9216;
const IEEE_8021_OUI = 0x0080c2;

const TLV = {
  end: 0,
  chassisId: 1,
  portId: 2,
  ttl: 3,
  portDescription: 4,
  systemName: 5,
  systemDescription: 6,
  managementAddress: 8,
  organisational: 127,
};

// 802.1AB §8.5.2.2 and §8.5.3.2: the subtypes of chassis ID and of port ID, by number.
const CHASSIS_SUBTYPES: Record<number, IdSubtype> = {
  1: 'chassis-component',
  2: 'interface-alias',
  3: 'port-component',
  4: 'mac',
  5: 'address',
  6: 'interface-name',
  7: 'local',
};
const PORT_SUBTYPES: Record<number, IdSubtype> = {
  1: 'interface-alias',
  2: 'port-component',
  3: 'mac',
  4: 'address',
  5: 'interface-name',
  6: 'circuit-id',
  7: 'local',
};

/**
 * Decodes the frame the agent captured (hex, from the Ethernet destination on, as
 * `tcpdump -xx` prints it) into the neighbour it announces, or the reason it cannot.
 * Everything in the frame comes from the network: lengths are checked against the frame,
 * text loses control characters, and TLVs metalbox does not use are skipped.
 */
export function decodeLldpFrame(hex: string): LldpNeighbour | LldpFault {
  const digits = hex.replace(/\s+/g, '');
  if (digits.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(digits) || digits.length > 2 * MAX_FRAME_BYTES) return 'not-hex';
  const frame = Buffer.from(digits, 'hex');
  if (frame.length < 14) return 'too-short';
  let offset = 12;
  // A switch may tag LLDP with its native VLAN when the capture sees the tag (802.1Q).
  if (frame.readUInt16BE(offset) === ETHERTYPE_VLAN) offset += 4;
  if (frame.length < offset + 2 || frame.readUInt16BE(offset) !== ETHERTYPE_LLDP) return 'not-lldp';
  offset += 2;

  let chassis: { id: string; subtype: IdSubtype } | null = null;
  let port: { id: string; subtype: IdSubtype } | null = null;
  let ttl = false;
  const texts = { portDescription: null as string | null, systemName: null as string | null, systemDescription: null as string | null };
  const managementAddresses: string[] = [];
  let vlan: number | null = null;
  while (offset + 2 <= frame.length) {
    const header = frame.readUInt16BE(offset);
    const type = header >> 9;
    const length = header & 0x1ff;
    const start = offset + 2;
    const value = frame.subarray(start, start + length);
    if (value.length < length) return 'tlv-overruns-frame';
    offset = start + length;
    if (type === TLV.end) break;
    if (type === TLV.chassisId || type === TLV.portId) {
      const decoded = decodeId(value, type === TLV.chassisId ? CHASSIS_SUBTYPES : PORT_SUBTYPES);
      if (decoded === null) return 'bad-id';
      if (type === TLV.chassisId) chassis ??= decoded;
      else port ??= decoded;
    } else if (type === TLV.ttl) ttl = length >= 2;
    else if (type === TLV.portDescription) texts.portDescription ??= textOf(value);
    else if (type === TLV.systemName) texts.systemName ??= textOf(value);
    else if (type === TLV.systemDescription) texts.systemDescription ??= textOf(value);
    else if (type === TLV.managementAddress) {
      const address = managementAddress(value);
      if (address !== null && managementAddresses.length < 4) managementAddresses.push(address);
    } else if (type === TLV.organisational && length >= 6 && value.readUIntBE(0, 3) === IEEE_8021_OUI && value[3] === 1) {
      // 802.1 Port VLAN ID: 0 means the port sends no untagged frames.
      const pvid = value.readUInt16BE(4);
      vlan ??= pvid === 0 ? null : pvid;
    }
  }
  if (chassis === null) return 'missing-chassis-id';
  if (port === null) return 'missing-port-id';
  if (!ttl) return 'missing-ttl';
  return {
    chassisId: chassis.id,
    chassisIdSubtype: chassis.subtype,
    portId: port.id,
    portIdSubtype: port.subtype,
    ...texts,
    managementAddresses,
    vlan,
  };
}

/** A chassis or port ID: a subtype byte, then a MAC, an address (family byte first) or text. */
function decodeId(value: Buffer, subtypes: Record<number, IdSubtype>): { id: string; subtype: IdSubtype } | null {
  const subtype = subtypes[value[0] ?? -1];
  if (subtype === undefined || value.length < 2) return null;
  const body = value.subarray(1);
  if (subtype === 'mac') return body.length === 6 ? { id: macFromBytes(body), subtype } : null;
  if (subtype === 'address') {
    const address = addressOf(body[0]!, body.subarray(1));
    return address === null ? null : { id: address, subtype };
  }
  const id = textOf(body);
  return id === null ? null : { id, subtype };
}

/** Management address TLV: address string length (subtype byte + address), subtype, address, then interface fields. */
function managementAddress(value: Buffer): string | null {
  const length = value[0] ?? 0;
  if (length < 2 || value.length < 1 + length) return null;
  return addressOf(value[1]!, value.subarray(2, 1 + length));
}

/** IANA address families 1 (IPv4) and 2 (IPv6); others are not addresses metalbox shows. */
function addressOf(family: number, bytes: Buffer): string | null {
  if (family === 1 && bytes.length === 4) return [...bytes].join('.');
  if (family === 2 && bytes.length === 16) {
    // The URL parser writes an IPv6 host in its canonical short form (RFC 5952).
    const groups = Array.from({ length: 8 }, (_, index) => bytes.readUInt16BE(2 * index).toString(16));
    return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
  }
  return null;
}

/** Text TLVs are at most 255 octets by the standard; what a switch puts there loses its control characters. */
function textOf(bytes: Buffer): string | null {
  return cleanText(bytes.subarray(0, 255).toString('utf8'));
}
