/**
 * DHCPv4 / BOOTP packets (RFC 2131, 2132) as pure functions over Buffers: no sockets, no
 * clock. Everything read from the wire is bounds-checked; a packet that is not a
 * well-formed BOOTP message is rejected with a reason (counted by the responder), never
 * half-parsed.
 *
 * Options are kept as raw bytes in wire order, unknown ones included, so a packet
 * re-encodes to the bytes it came from; the typed readers below decode the few options a
 * PXE responder decides on.
 */

import { macFromBytes } from '../lib/mac.js';

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;

/** RFC 2132 §9.6 message types. */
export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

export const Option = {
  PAD: 0,
  HOSTNAME: 12,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_REQUEST_LIST: 55,
  MAX_MESSAGE_SIZE: 57,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER: 66,
  BOOTFILE: 67,
  USER_CLASS: 77,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  CLIENT_UUID: 97,
  IPXE: 175,
  END: 255,
} as const;

const HEADER_LENGTH = 236;
const MAGIC_COOKIE = 0x63825363;
const OPTIONS_OFFSET = HEADER_LENGTH + 4;
/** RFC 1542 §3.1.1: relays and some clients drop BOOTP messages shorter than 300 bytes. */
export const MIN_PACKET_LENGTH = 300;
/** Larger than any DHCP message a PXE client sends; anything bigger is not one of ours. */
export const MAX_PACKET_LENGTH = 4096;

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The 16 bytes of the header field; the MAC is the first hlen of them. */
  chaddr: Buffer;
  sname: string;
  file: string;
  /** Option code → data, in wire order; repeated options are concatenated (RFC 3396). */
  options: Map<number, Buffer>;
}

export type DecodeFailure = 'too-short' | 'too-long' | 'bad-op' | 'bad-hlen' | 'bad-cookie' | 'option-overrun' | 'bad-overload';

export class DhcpDecodeError extends Error {
  constructor(readonly reason: DecodeFailure) {
    super(`malformed DHCP packet: ${reason}`);
  }
}

/**
 * Decodes a datagram, or throws DhcpDecodeError with the reason. chaddr and the options
 * are views of `bytes` (copying them was a tenth of a packet's time): the caller hands the
 * datagram over and does not write to it.
 */
export function decodePacket(bytes: Buffer): DhcpPacket {
  if (bytes.length < OPTIONS_OFFSET) throw new DhcpDecodeError('too-short');
  if (bytes.length > MAX_PACKET_LENGTH) throw new DhcpDecodeError('too-long');
  const op = bytes[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new DhcpDecodeError('bad-op');
  const hlen = bytes[2]!;
  if (hlen > 16) throw new DhcpDecodeError('bad-hlen');
  if (bytes.readUInt32BE(HEADER_LENGTH) !== MAGIC_COOKIE) throw new DhcpDecodeError('bad-cookie');

  const options = new Map<number, Buffer>();
  readOptions(bytes, OPTIONS_OFFSET, bytes.length, options);
  let sname = bytes.subarray(44, 108);
  let file = bytes.subarray(108, 236);
  // Option 52: the file and sname fields hold more options instead of names (file first).
  const overload = options.get(Option.OVERLOAD);
  if (overload !== undefined) {
    if (overload.length !== 1 || overload[0]! < 1 || overload[0]! > 3) throw new DhcpDecodeError('bad-overload');
    if (overload[0]! & 1) {
      readOptions(bytes, 108, 236, options);
      file = Buffer.alloc(0);
    }
    if (overload[0]! & 2) {
      readOptions(bytes, 44, 108, options);
      sname = Buffer.alloc(0);
    }
  }
  return {
    op,
    htype: bytes[1]!,
    hlen,
    hops: bytes[3]!,
    xid: bytes.readUInt32BE(4),
    secs: bytes.readUInt16BE(8),
    flags: bytes.readUInt16BE(10),
    ciaddr: ipv4At(bytes, 12),
    yiaddr: ipv4At(bytes, 16),
    siaddr: ipv4At(bytes, 20),
    giaddr: ipv4At(bytes, 24),
    chaddr: bytes.subarray(28, 44),
    sname: cString(sname),
    file: cString(file),
    options,
  };
}

/** Reads options up to End; a missing End (some old clients) ends at the area's end. */
function readOptions(bytes: Buffer, start: number, end: number, into: Map<number, Buffer>): void {
  let at = start;
  while (at < end) {
    const code = bytes[at]!;
    if (code === Option.PAD) {
      at += 1;
      continue;
    }
    if (code === Option.END) return;
    if (at + 1 >= end) throw new DhcpDecodeError('option-overrun');
    const length = bytes[at + 1]!;
    if (at + 2 + length > end) throw new DhcpDecodeError('option-overrun');
    const data = bytes.subarray(at + 2, at + 2 + length);
    const previous = into.get(code);
    into.set(code, previous === undefined ? data : Buffer.concat([previous, data]));
    at += 2 + length;
  }
}

/** Encodes a packet; options longer than 255 bytes are split (RFC 3396), padded to 300 bytes. */
export function encodePacket(packet: DhcpPacket, options: { minLength?: number } = {}): Buffer {
  let optionsLength = 1; // End
  for (const data of packet.options.values()) optionsLength += Math.max(1, Math.ceil(data.length / 255)) * 2 + data.length;
  const length = Math.max(OPTIONS_OFFSET + optionsLength, options.minLength ?? MIN_PACKET_LENGTH);
  const bytes = Buffer.alloc(length);
  bytes[0] = packet.op;
  bytes[1] = packet.htype;
  bytes[2] = packet.hlen;
  bytes[3] = packet.hops;
  bytes.writeUInt32BE(packet.xid >>> 0, 4);
  bytes.writeUInt16BE(packet.secs, 8);
  bytes.writeUInt16BE(packet.flags, 10);
  writeIpv4(bytes, 12, packet.ciaddr);
  writeIpv4(bytes, 16, packet.yiaddr);
  writeIpv4(bytes, 20, packet.siaddr);
  writeIpv4(bytes, 24, packet.giaddr);
  packet.chaddr.copy(bytes, 28, 0, 16);
  writeCString(bytes, 44, 64, packet.sname, 'sname');
  writeCString(bytes, 108, 128, packet.file, 'file');
  bytes.writeUInt32BE(MAGIC_COOKIE, HEADER_LENGTH);
  let at = OPTIONS_OFFSET;
  for (const [code, data] of packet.options) {
    if (code === Option.PAD || code === Option.END || code > 255) throw new RangeError(`option code ${code} cannot carry data`);
    let offset = 0;
    do {
      const chunk = data.subarray(offset, offset + 255);
      bytes[at] = code;
      bytes[at + 1] = chunk.length;
      chunk.copy(bytes, at + 2);
      at += 2 + chunk.length;
      offset += 255;
    } while (offset < data.length);
  }
  bytes[at] = Option.END;
  return bytes;
}

/** The client's MAC, when the hardware is Ethernet (htype 1, hlen 6); null otherwise. */
export function clientMac(packet: DhcpPacket): string | null {
  return packet.htype === 1 && packet.hlen === 6 ? macFromBytes(packet.chaddr.subarray(0, 6)) : null;
}

// ---- typed readers of the options a PXE responder and DHCP snooping use ----

export function messageType(packet: DhcpPacket): number | null {
  const data = packet.options.get(Option.MESSAGE_TYPE);
  return data?.length === 1 ? data[0]! : null;
}

/** Option 60, e.g. `PXEClient:Arch:00007:UNDI:003000`. */
export function vendorClass(packet: DhcpPacket): string | null {
  return stringOption(packet, Option.VENDOR_CLASS);
}

export function hostname(packet: DhcpPacket): string | null {
  return stringOption(packet, Option.HOSTNAME);
}

export function requestedIp(packet: DhcpPacket): string | null {
  const data = packet.options.get(Option.REQUESTED_IP);
  return data?.length === 4 ? ipv4At(data, 0) : null;
}

/**
 * Option 77. iPXE sends the bare string `iPXE`; RFC 3004 clients send length-prefixed
 * classes. The RFC form is taken only when the lengths tile the data exactly: `iPXE`
 * starts with 0x69 = 105, far longer than the 3 bytes after it, so the two never clash.
 */
export function userClasses(packet: DhcpPacket): string[] {
  const data = packet.options.get(Option.USER_CLASS);
  if (data === undefined || data.length === 0) return [];
  const classes: string[] = [];
  let at = 0;
  while (at < data.length) {
    const length = data[at]!;
    if (length === 0 || at + 1 + length > data.length) return [data.toString('latin1')];
    classes.push(data.toString('latin1', at + 1, at + 1 + length));
    at += 1 + length;
  }
  return classes;
}

/** Option 93 (RFC 4578): the client's architecture types, first the preferred one. */
export function clientArchitectures(packet: DhcpPacket): number[] {
  const data = packet.options.get(Option.CLIENT_ARCH);
  if (data === undefined || data.length === 0 || data.length % 2 !== 0) return [];
  const types: number[] = [];
  for (let at = 0; at < data.length; at += 2) types.push(data.readUInt16BE(at));
  return types;
}

/** Option 97 (RFC 4578): type 0 then a 16-byte GUID; anything else is not a valid UUID option. */
export function clientUuidOption(packet: DhcpPacket): Buffer | null {
  const data = packet.options.get(Option.CLIENT_UUID);
  return data?.length === 17 && data[0] === 0 ? data : null;
}

/** Sub-options of an encapsulated option (43 for PXE, 175 for iPXE), pad and end handled. */
export function decodeSubOptions(data: Buffer): Map<number, Buffer> | null {
  const options = new Map<number, Buffer>();
  let at = 0;
  while (at < data.length) {
    const code = data[at]!;
    if (code === Option.PAD) {
      at += 1;
      continue;
    }
    if (code === Option.END) break;
    if (at + 1 >= data.length) return null;
    const length = data[at + 1]!;
    if (at + 2 + length > data.length) return null;
    options.set(code, Buffer.from(data.subarray(at + 2, at + 2 + length)));
    at += 2 + length;
  }
  return options;
}

/** Encodes sub-options followed by End, as an encapsulated option's data. */
export function encodeSubOptions(options: ReadonlyArray<readonly [number, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [code, data] of options) {
    if (data.length > 255) throw new RangeError(`sub-option ${code} is longer than 255 bytes`);
    parts.push(Buffer.from([code, data.length]), data);
  }
  parts.push(Buffer.from([Option.END]));
  return Buffer.concat(parts);
}

export function ipv4At(bytes: Buffer, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

export function ipv4Bytes(address: string): Buffer {
  const bytes = Buffer.alloc(4);
  writeIpv4(bytes, 0, address);
  return bytes;
}

/** Writes a dotted quad (four parts of 1–3 digits, each at most 255) at `at`; parsed by hand, since every reply has four. */
function writeIpv4(bytes: Buffer, at: number, address: string): void {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let index = 0; index <= address.length; index++) {
    const code = index < address.length ? address.charCodeAt(index) : 0x2e;
    if (code === 0x2e) {
      if (digits === 0 || value > 255 || part > 3) throw new RangeError(`not an IPv4 address: ${address}`);
      bytes[at + part++] = value;
      value = 0;
      digits = 0;
    } else if (code >= 0x30 && code <= 0x39 && digits < 3) {
      value = value * 10 + (code - 0x30);
      digits++;
    } else throw new RangeError(`not an IPv4 address: ${address}`);
  }
  if (part !== 4) throw new RangeError(`not an IPv4 address: ${address}`);
}

function stringOption(packet: DhcpPacket, code: number): string | null {
  const data = packet.options.get(code);
  if (data === undefined) return null;
  // Some clients NUL-terminate strings; the terminator is not part of the value.
  const end = data.indexOf(0);
  return data.toString('latin1', 0, end === -1 ? data.length : end);
}

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.toString('latin1', 0, end === -1 ? field.length : end);
}

function writeCString(bytes: Buffer, at: number, size: number, text: string, name: string): void {
  const data = Buffer.from(text, 'latin1');
  // One byte stays for the terminating NUL that firmware string handling relies on.
  if (data.length > size - 1) throw new RangeError(`${name} is longer than ${size - 1} bytes: ${text}`);
  data.copy(bytes, at);
}
