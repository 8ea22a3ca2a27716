/**
 * The OS image the deploy lab writes (test and demo code): a 40 MiB disk with an MBR and
 * one FAT partition holding Debian's cloud kernel, the lab OS's initramfs and syslinux for
 * both firmwares: SeaBIOS runs the MBR code, then syslinux's boot sector; OVMF finds the
 * removable-media path \EFI\BOOT\BOOTX64.EFI (syslinux.efi) on the FAT partition of an
 * MBR disk as on an ESP. Made from Debian packages without mounting anything:
 * sfdisk writes the table, mkfs.fat and mtools make and fill the filesystem in a file,
 * syslinux installs itself through mtools, and the pieces are copied in at their offsets.
 * Published as raw.zst with its sha256, as a distribution publishes a cloud image.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDiskOsInitramfs, KERNEL_CACHE } from './guest.js';

const MIB = 1024 * 1024;
/** The image: the partition starts at 1 MiB, as sfdisk aligns it; 39 MiB of FAT16 after it. */
const DISK_MIB = 40;
const PARTITION_START_SECTOR = 2048;
/** syslinux's MBR boot code (syslinux-common): it chains to the active partition's boot sector. */
const MBR_BOOT_CODE = '/usr/lib/syslinux/mbr/mbr.bin';
/** syslinux for UEFI (syslinux-efi) and its core module (syslinux-common), which it loads from its own directory. */
const EFI_LOADER = '/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi';
const EFI_CORE = '/usr/lib/syslinux/modules/efi64/ldlinux.e64';

export interface LabDiskImage {
  /** The image as served: raw.zst. */
  path: string;
  sha256: string;
}

export function buildLabDiskImage(dir: string, out: string): LabDiskImage {
  const work = join(dir, 'disk-image');
  mkdirSync(work, { recursive: true });
  const kernel = join(work, 'vmlinuz');
  copyFileSync(join(KERNEL_CACHE, 'vmlinuz'), kernel);
  const initrd = join(work, 'initrd.gz');
  buildDiskOsInitramfs(work, initrd);
  const config = join(work, 'syslinux.cfg');
  writeFileSync(config, 'DEFAULT os\nLABEL os\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.gz console=ttyS0,115200\n');

  const filesystem = join(work, 'fs.img');
  const filesystemKiB = (DISK_MIB - 1) * 1024;
  // -h: the sectors before the filesystem on the disk, which the boot sector adds to every sector it reads.
  execFileSync('mkfs.fat', ['-C', '-F', '16', '-h', String(PARTITION_START_SECTOR), '-n', 'LABOS', filesystem, String(filesystemKiB)], {
    stdio: 'ignore',
  });
  execFileSync('mcopy', ['-i', filesystem, kernel, initrd, config, '::/']);
  // syslinux.efi reads its config from its own directory.
  execFileSync('mmd', ['-i', filesystem, '::/EFI', '::/EFI/BOOT']);
  execFileSync('mcopy', ['-i', filesystem, EFI_LOADER, '::/EFI/BOOT/BOOTX64.EFI']);
  execFileSync('mcopy', ['-i', filesystem, EFI_CORE, config, '::/EFI/BOOT/']);
  // syslinux (the mtools installer) writes ldlinux.sys and ldlinux.c32 and the partition's boot sector.
  execFileSync('syslinux', ['--install', filesystem]);

  const raw = join(work, 'disk.raw');
  writeFileSync(raw, Buffer.alloc(0));
  execFileSync('truncate', ['-s', `${DISK_MIB}M`, raw]);
  // Type 6 (FAT16), active: the MBR code boots the active partition.
  execFileSync('sfdisk', ['-q', raw], { input: `label: dos\nstart=${PARTITION_START_SECTOR}, type=6, bootable\n` });
  execFileSync('dd', [`if=${MBR_BOOT_CODE}`, `of=${raw}`, 'bs=440', 'count=1', 'conv=notrunc'], { stdio: 'ignore' });
  execFileSync('dd', [`if=${filesystem}`, `of=${raw}`, `bs=${MIB}`, 'seek=1', 'conv=notrunc'], { stdio: 'ignore' });

  execFileSync('zstd', ['-q', '-f', '-3', raw, '-o', out]);
  return { path: out, sha256: createHash('sha256').update(readFileSync(out)).digest('hex') };
}
