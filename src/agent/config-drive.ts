import { createHash } from 'node:crypto';
import { MetalboxError } from '../lib/errors.js';

/**
 * The config drive an image boots with: a FAT12 filesystem labelled CIDATA holding a
 * machine's metadata files at its root, which cloud-init's NoCloud source (and the lab's
 * tiny init) finds by its label. metalbox makes it whole, here, in memory; the agent only
 * appends a partition to the disk it wrote and copies these bytes into it (no mkfs, mount
 * or mtools in the agent, and the bytes are the same for the same files).
 *
 * The layout is fixed: 2 MiB, 512-byte sectors, one sector a cluster, two FATs and 128
 * root entries. 4,063 clusters keep it FAT12 (under 4,085), what every FAT reader takes.
 */
export const CONFIG_DRIVE_BYTES = 2 * 1024 * 1024;
export const CONFIG_DRIVE_LABEL = 'CIDATA';

const SECTOR = 512;
const TOTAL_SECTORS = CONFIG_DRIVE_BYTES / SECTOR;
const RESERVED_SECTORS = 1;
const FATS = 2;
const FAT_SECTORS = 12;
const ROOT_ENTRIES = 128;
const ROOT_SECTORS = (ROOT_ENTRIES * 32) / SECTOR;
const DATA_START = RESERVED_SECTORS + FATS * FAT_SECTORS + ROOT_SECTORS;
const CLUSTERS = TOTAL_SECTORS - DATA_START;
const END_OF_CHAIN = 0xfff;
/** Every entry's date: 2000-01-01 (DOS dates count from 1980), so the bytes depend on the files alone. */
const DOS_DATE = ((2000 - 1980) << 9) | (1 << 5) | 1;
/** Characters a short (8.3) name may hold besides letters and digits. */
const SHORT_NAME_EXTRA = new Set("!#$%&'()-@^_`{}~");

/** A FAT12 image labelled CIDATA with `files` at its root (names of letters, digits and ._-, as metadata names are). */
export function configDrive(files: ReadonlyArray<readonly [string, Buffer]>): Buffer {
  const image = Buffer.alloc(CONFIG_DRIVE_BYTES);
  const needed = files.reduce((sum, [, data]) => sum + Math.ceil(data.length / SECTOR), 0);
  if (needed > CLUSTERS)
    throw new MetalboxError('E_DEPLOY', `the metadata files need ${needed * SECTOR} bytes; a config drive holds ${CLUSTERS * SECTOR}`);
  const entries = 1 + files.reduce((sum, [name]) => sum + 1 + Math.ceil(name.length / 13), 0);
  if (entries > ROOT_ENTRIES) throw new MetalboxError('E_DEPLOY', `too many metadata files for a config drive (${files.length})`);

  const volumeId = createHash('sha256');
  for (const [name, data] of files) volumeId.update(name).update('\0').update(data);
  bootSector(image, volumeId.digest().readUInt32LE(0));

  const fat = Buffer.alloc(FAT_SECTORS * SECTOR);
  setFat12(fat, 0, 0xff8); // the media byte (0xF8, fixed disk) in entry 0
  setFat12(fat, 1, END_OF_CHAIN);
  const root = image.subarray((RESERVED_SECTORS + FATS * FAT_SECTORS) * SECTOR, DATA_START * SECTOR);
  let slot = 0;
  const directoryEntry = () => root.subarray(slot * 32, ++slot * 32);
  // The volume label is read from the root directory first (blkid does), then the boot sector.
  const label = directoryEntry();
  label.write(CONFIG_DRIVE_LABEL.padEnd(11), 0, 'latin1');
  label[11] = 0x08;
  stamp(label);

  let cluster = 2;
  const shortNames = new Set<string>();
  for (const [name, data] of files) {
    const short = shortName(name, shortNames);
    for (const entry of longNameEntries(name, short)) entry.copy(directoryEntry());
    const entry = directoryEntry();
    entry.write(short, 0, 'latin1');
    entry[11] = 0x20; // archive: a plain file
    stamp(entry);
    const clusters = Math.ceil(data.length / SECTOR);
    entry.writeUInt16LE(clusters === 0 ? 0 : cluster, 26);
    entry.writeUInt32LE(data.length, 28);
    for (let index = 0; index < clusters; index++) {
      setFat12(fat, cluster + index, index === clusters - 1 ? END_OF_CHAIN : cluster + index + 1);
    }
    data.copy(image, (DATA_START + cluster - 2) * SECTOR);
    cluster += clusters;
  }
  for (let copy = 0; copy < FATS; copy++) fat.copy(image, (RESERVED_SECTORS + copy * FAT_SECTORS) * SECTOR);
  return image;
}

function bootSector(image: Buffer, volumeId: number): void {
  image.set([0xeb, 0x3c, 0x90], 0); // a jump over the parameters, as every FAT boot sector starts
  image.write('METALBOX', 3, 'latin1');
  image.writeUInt16LE(SECTOR, 11);
  image[13] = 1; // sectors a cluster
  image.writeUInt16LE(RESERVED_SECTORS, 14);
  image[16] = FATS;
  image.writeUInt16LE(ROOT_ENTRIES, 17);
  image.writeUInt16LE(TOTAL_SECTORS, 19);
  image[21] = 0xf8;
  image.writeUInt16LE(FAT_SECTORS, 22);
  image.writeUInt16LE(32, 24); // sectors a track and heads: nothing reads them on a partition
  image.writeUInt16LE(64, 26);
  image[36] = 0x80;
  image[38] = 0x29; // the extended boot signature: the serial, label and type follow
  image.writeUInt32LE(volumeId, 39);
  image.write(CONFIG_DRIVE_LABEL.padEnd(11), 43, 'latin1');
  image.write('FAT12   ', 54, 'latin1');
  image[510] = 0x55;
  image[511] = 0xaa;
}

/** Entry `index` of a FAT12 table: 12 bits, two entries in three bytes. */
function setFat12(fat: Buffer, index: number, value: number): void {
  const at = Math.floor((index * 3) / 2);
  if (index % 2 === 0) {
    fat[at] = value & 0xff;
    fat[at + 1] = (fat[at + 1]! & 0xf0) | ((value >> 8) & 0x0f);
  } else {
    fat[at] = (fat[at]! & 0x0f) | ((value & 0x0f) << 4);
    fat[at + 1] = (value >> 4) & 0xff;
  }
}

function stamp(entry: Buffer): void {
  for (const offset of [16, 18, 24]) entry.writeUInt16LE(DOS_DATE, offset); // created, accessed, modified
}

/**
 * The 8.3 name stored beside the long one: up to six characters of the name, ~N, and up
 * to three of its extension, unique in the directory (user-data → USER-D~1).
 */
export function shortName(name: string, taken: Set<string>): string {
  const dot = name.lastIndexOf('.');
  const clean = (text: string) => [...text.toUpperCase()].filter((char) => /[A-Z0-9]/.test(char) || SHORT_NAME_EXTRA.has(char)).join('');
  const base = clean(dot > 0 ? name.slice(0, dot) : name) || 'FILE';
  const extension = clean(dot > 0 ? name.slice(dot + 1) : '').slice(0, 3);
  for (let number = 1; ; number++) {
    const tail = `~${number}`;
    const short = (base.slice(0, 8 - tail.length) + tail).padEnd(8) + extension.padEnd(3);
    if (!taken.has(short)) {
      taken.add(short);
      return short;
    }
  }
}

/** The long-name (VFAT) entries of `name`, last part first as they are stored, each with the short name's checksum. */
function longNameEntries(name: string, short: string): Buffer[] {
  let checksum = 0;
  for (const byte of Buffer.from(short, 'latin1')) checksum = ((((checksum & 1) << 7) | (checksum >> 1)) + byte) & 0xff;
  const units = [...name].map((char) => char.charCodeAt(0));
  const count = Math.ceil(units.length / 13);
  // A name that does not fill its last entry ends with 0x0000, the rest is 0xFFFF.
  if (units.length % 13 !== 0) units.push(0);
  while (units.length < count * 13) units.push(0xffff);
  const entries: Buffer[] = [];
  for (let part = count; part >= 1; part--) {
    const entry = Buffer.alloc(32);
    entry[0] = part | (part === count ? 0x40 : 0);
    entry[11] = 0x0f;
    entry[13] = checksum;
    const chunk = units.slice((part - 1) * 13, part * 13);
    const offsets = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
    chunk.forEach((unit, index) => {
      entry.writeUInt16LE(unit, offsets[index]!);
    });
    entries.push(entry);
  }
  return entries;
}
