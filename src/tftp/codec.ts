import { hasControlCharacters } from '../lib/text.js';

/**
 * TFTP packets (RFC 1350) and option negotiation (RFC 2347 OACK, 2348 blksize, 2349
 * timeout and tsize, 7440 windowsize) as pure functions over Buffers.
 */

export const Opcode = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

export const ErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  /** RFC 2347: the client refused the OACK (EDK2 does this after its tsize probe). */
  OPTION_REFUSED: 8,
} as const;

export type TftpPacket =
  | { opcode: 1 | 2; filename: string; mode: string; options: Map<string, string> }
  | { opcode: 3; block: number; data: Buffer }
  | { opcode: 4; block: number }
  | { opcode: 5; code: number; message: string }
  | { opcode: 6; options: Map<string, string> };

export type TftpDecodeFailure = 'too-short' | 'bad-opcode' | 'unterminated-string' | 'bad-mode' | 'bad-options' | 'too-long';

export class TftpDecodeError extends Error {
  constructor(readonly reason: TftpDecodeFailure) {
    super(`malformed TFTP packet: ${reason}`);
  }
}

/** The largest datagram a TFTP peer may send: 65,464-byte blocks + 4 header bytes. */
export const MAX_DATAGRAM = 65468;

export function decodeTftp(bytes: Buffer): TftpPacket {
  if (bytes.length < 4) throw new TftpDecodeError('too-short');
  if (bytes.length > MAX_DATAGRAM) throw new TftpDecodeError('too-long');
  const opcode = bytes.readUInt16BE(0);
  switch (opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      const { strings, unterminated } = nulStrings(bytes, 2);
      if (unterminated || strings.length < 2) throw new TftpDecodeError('unterminated-string');
      const mode = strings[1]!.toLowerCase();
      if (mode !== 'octet' && mode !== 'netascii' && mode !== 'mail') throw new TftpDecodeError('bad-mode');
      return { opcode, filename: strings[0]!, mode, options: optionMap(strings.slice(2)) };
    }
    case Opcode.DATA:
      return { opcode, block: bytes.readUInt16BE(2), data: bytes.subarray(4) };
    case Opcode.ACK:
      return { opcode, block: bytes.readUInt16BE(2) };
    case Opcode.ERROR: {
      // Some clients omit the message's NUL; the message is informational only.
      const end = bytes.indexOf(0, 4);
      const message = bytes.toString('latin1', 4, end === -1 ? bytes.length : end);
      return { opcode, code: bytes.readUInt16BE(2), message };
    }
    case Opcode.OACK: {
      const { strings, unterminated } = nulStrings(bytes, 2);
      if (unterminated) throw new TftpDecodeError('unterminated-string');
      return { opcode, options: optionMap(strings) };
    }
    default:
      throw new TftpDecodeError('bad-opcode');
  }
}

export function encodeData(block: number, data: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(4 + data.length);
  bytes.writeUInt16BE(Opcode.DATA, 0);
  bytes.writeUInt16BE(block & 0xffff, 2);
  data.copy(bytes, 4);
  return bytes;
}

export function encodeAck(block: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt16BE(Opcode.ACK, 0);
  bytes.writeUInt16BE(block & 0xffff, 2);
  return bytes;
}

export function encodeError(code: number, message: string): Buffer {
  return Buffer.concat([Buffer.from([0, Opcode.ERROR, code >> 8, code & 0xff]), Buffer.from(message, 'latin1'), Buffer.from([0])]);
}

export function encodeOack(options: ReadonlyMap<string, string>): Buffer {
  const parts: Buffer[] = [Buffer.from([0, Opcode.OACK])];
  for (const [name, value] of options) parts.push(Buffer.from(`${name}\0${value}\0`, 'latin1'));
  return Buffer.concat(parts);
}

export function encodeRequest(opcode: 1 | 2, filename: string, options: ReadonlyMap<string, string> = new Map()): Buffer {
  const parts: Buffer[] = [Buffer.from([0, opcode]), Buffer.from(`${filename}\0octet\0`, 'latin1')];
  for (const [name, value] of options) parts.push(Buffer.from(`${name}\0${value}\0`, 'latin1'));
  return Buffer.concat(parts);
}

export interface NegotiationLimits {
  /** The largest block the path carries unfragmented: MTU − 32 (IP 20 + UDP 8 + TFTP 4). */
  maxBlksize: number;
  maxWindowsize: number;
  fileSize: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** Retransmission timeout in seconds, when the client asked for one. */
  timeout: number | null;
  /** The options to acknowledge in an OACK; empty means no OACK, DATA block 1 directly. */
  accepted: Map<string, string>;
}

/**
 * Answers a read request's options. Values out of range are ignored (not refused), as
 * RFC 2347 allows, so a client with an odd request still gets the file in 512-byte blocks.
 */
export function negotiate(requested: ReadonlyMap<string, string>, limits: NegotiationLimits): Negotiated {
  const accepted = new Map<string, string>();
  let blksize = 512;
  let windowsize = 1;
  let timeout: number | null = null;
  const number = (name: string) => {
    const text = requested.get(name);
    return text !== undefined && /^\d{1,10}$/.test(text) ? Number(text) : null;
  };
  const askedBlksize = number('blksize');
  if (askedBlksize !== null && askedBlksize >= 8 && askedBlksize <= 65464) {
    blksize = Math.min(askedBlksize, limits.maxBlksize);
    accepted.set('blksize', String(blksize));
  }
  const askedTimeout = number('timeout');
  if (askedTimeout !== null && askedTimeout >= 1 && askedTimeout <= 255) {
    timeout = askedTimeout;
    accepted.set('timeout', String(timeout));
  }
  // tsize in a read request is 0: the client asks for the size.
  if (number('tsize') !== null) accepted.set('tsize', String(limits.fileSize));
  const askedWindow = number('windowsize');
  if (askedWindow !== null && askedWindow >= 1 && askedWindow <= 65535) {
    windowsize = Math.min(askedWindow, limits.maxWindowsize);
    accepted.set('windowsize', String(windowsize));
  }
  return { blksize, windowsize, timeout, accepted };
}

export type NameRefusal = 'empty' | 'too-long' | 'parent-segment' | 'backslash' | 'control-character';

/**
 * A requested name as a path relative to the TFTP root, or why it is refused. A leading
 * slash is dropped (many ROMs ask for `/undionly.kpxe`), so absolute paths stay inside
 * the root; `..` segments, backslashes (Windows-style separators some clients send, and
 * traversal on some servers) and control characters are refused outright.
 */
export function confineName(name: string): { path: string } | { refused: NameRefusal } {
  if (name.length > 255) return { refused: 'too-long' };
  if (hasControlCharacters(name)) return { refused: 'control-character' };
  if (name.includes('\\')) return { refused: 'backslash' };
  const segments = name.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) return { refused: 'parent-segment' };
  if (segments.length === 0) return { refused: 'empty' };
  return { path: segments.join('/') };
}

/** The NUL-terminated strings from `from`; `unterminated` when bytes follow the last NUL. */
function nulStrings(bytes: Buffer, from: number): { strings: string[]; unterminated: boolean } {
  const strings: string[] = [];
  let start = from;
  while (start < bytes.length) {
    const end = bytes.indexOf(0, start);
    if (end === -1) return { strings, unterminated: true };
    strings.push(bytes.toString('latin1', start, end));
    start = end + 1;
  }
  return { strings, unterminated: false };
}

function optionMap(strings: string[]): Map<string, string> {
  if (strings.length % 2 !== 0) throw new TftpDecodeError('bad-options');
  const options = new Map<string, string>();
  for (let i = 0; i < strings.length; i += 2) {
    const name = strings[i]!.toLowerCase();
    if (!options.has(name)) options.set(name, strings[i + 1]!);
  }
  return options;
}
