import { MetalboxError } from '../lib/errors.js';

/** What the dynamic loader needs to run an ELF binary: its interpreter and the libraries it names. */
export interface ElfLinking {
  /** PT_INTERP: the loader's path (/lib64/ld-linux-x86-64.so.2), null for a static binary. */
  interpreter: string | null;
  /** DT_NEEDED entries, in order: sonames such as libc.so.6. */
  needed: string[];
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;

/**
 * Reads the linking of a 64-bit little-endian ELF file (every binary the amd64 agent
 * carries): enough to copy a dynamic tool with the closure of its libraries into the
 * initramfs without running anything of the host (no ldd, no readelf on the build host).
 */
export function elfLinking(file: Buffer, name = 'file'): ElfLinking {
  const fail = (what: string) => new MetalboxError('E_AGENT_BUILD', `${name}: ${what}`);
  if (file.length < 64 || file.readUInt32BE(0) !== 0x7f454c46) throw fail('not an ELF file');
  if (file[4] !== 2 || file[5] !== 1) throw fail('not a 64-bit little-endian ELF file');
  const phoff = Number(file.readBigUInt64LE(32));
  const phentsize = file.readUInt16LE(54);
  const phnum = file.readUInt16LE(56);
  if (phoff + phentsize * phnum > file.length) throw fail('program headers past the end of the file');
  const loads: Array<{ vaddr: bigint; offset: bigint; size: bigint }> = [];
  let interpreter: string | null = null;
  let dynamic: { offset: number; size: number } | null = null;
  for (let index = 0; index < phnum; index++) {
    const at = phoff + index * phentsize;
    const type = file.readUInt32LE(at);
    const offset = file.readBigUInt64LE(at + 8);
    const vaddr = file.readBigUInt64LE(at + 16);
    const size = file.readBigUInt64LE(at + 32);
    if (type === PT_LOAD) loads.push({ vaddr, offset, size });
    else if (type === PT_INTERP) interpreter = cString(file, Number(offset), fail);
    else if (type === PT_DYNAMIC) dynamic = { offset: Number(offset), size: Number(size) };
  }
  if (dynamic === null) return { interpreter, needed: [] };
  const entries: Array<[bigint, bigint]> = [];
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size && at + 16 <= file.length; at += 16) {
    const tag = file.readBigInt64LE(at);
    if (tag === DT_NULL) break;
    entries.push([tag, file.readBigUInt64LE(at + 8)]);
  }
  const strtab = entries.find(([tag]) => tag === DT_STRTAB)?.[1];
  if (strtab === undefined) throw fail('a dynamic section without a string table');
  // DT_STRTAB is an address in memory: the PT_LOAD segment holding it maps it back to the file.
  const segment = loads.find((load) => strtab >= load.vaddr && strtab < load.vaddr + load.size);
  if (segment === undefined) throw fail('the string table is in no loaded segment');
  const strings = Number(strtab - segment.vaddr + segment.offset);
  const needed = entries.filter(([tag]) => tag === DT_NEEDED).map(([, value]) => cString(file, strings + Number(value), fail));
  return { interpreter, needed };
}

function cString(file: Buffer, offset: number, fail: (what: string) => Error): string {
  const end = file.indexOf(0, offset);
  if (offset >= file.length || end === -1) throw fail('a string past the end of the file');
  return file.toString('latin1', offset, end);
}
