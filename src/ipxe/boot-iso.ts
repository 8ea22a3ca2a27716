import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MetalboxError } from '../lib/errors.js';

/**
 * The boot ISO of virtual media: ISOLINUX loads Debian's ipxe.lkrn with the machine's iPXE
 * script as its initrd, which iPXE runs as an embedded script (tested in QEMU under
 * SeaBIOS: no rebuilt iPXE needed). The script takes an address by DHCP from the site's
 * server and boots what the machine's operation boots, so metalbox's ProxyDHCP and TFTP
 * play no part: the machine's network need not be one metalbox sees.
 *
 * BIOS only: ISOLINUX has no UEFI loader, and UEFI would need an El Torito EFI image
 * (ipxe.efi with the script in a FAT image); docs/redfish.md says so.
 */

const run = promisify(execFile);

/** Where ISOLINUX's parts are (Debian's isolinux and syslinux-common); ipxe.lkrn is looked for where the other iPXE binaries are. */
const ISOLINUX_PARTS = {
  'isolinux.bin': '/usr/lib/ISOLINUX/isolinux.bin',
  'ldlinux.c32': '/usr/lib/syslinux/modules/bios/ldlinux.c32',
} as const;

export type IsoParts = Record<'ipxe.lkrn' | keyof typeof ISOLINUX_PARTS, string>;

/** The path of each part (ipxe.lkrn from `ipxeSearchPath`, binaries.ts), or E_IPXE naming the one missing and what installs it. */
export function findIsoParts(ipxeSearchPath: readonly string[]): IsoParts {
  const lkrn = ipxeSearchPath.map((dir) => join(dir, 'ipxe.lkrn')).find((path) => existsSync(path));
  if (lkrn === undefined)
    throw new MetalboxError(
      'E_IPXE',
      `virtual media needs ipxe.lkrn (looked in ${ipxeSearchPath.join(', ')}): run scripts/fetch-ipxe, or apt-get install ipxe`,
    );
  for (const [name, path] of Object.entries(ISOLINUX_PARTS))
    if (!existsSync(path))
      throw new MetalboxError(
        'E_IPXE',
        `virtual media needs ${name} (${path}): run scripts/install-deps, or apt-get install isolinux syslinux-common xorriso`,
      );
  return { 'ipxe.lkrn': lkrn, ...ISOLINUX_PARTS };
}

/**
 * The ISO image (bytes) that boots `script`. `script` must be an iPXE script whose first
 * command brings the network up (mediaScript in boot-script.ts adds `dhcp`).
 */
export async function buildBootIso(script: string, parts: IsoParts): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'metalbox-iso-'));
  try {
    const root = join(dir, 'root');
    mkdirSync(root);
    for (const [name, path] of Object.entries(parts)) writeFileSync(join(root, name), readFileSync(path));
    writeFileSync(
      join(root, 'isolinux.cfg'),
      ['SERIAL 0 115200', 'DEFAULT metalbox', 'PROMPT 0', 'LABEL metalbox', '  KERNEL /ipxe.lkrn', '  INITRD /boot.ipxe', ''].join('\n'),
    );
    writeFileSync(join(root, 'boot.ipxe'), script);
    const iso = join(dir, 'boot.iso');
    try {
      await run('xorriso', [
        ...['-as', 'mkisofs', '-quiet', '-o', iso, '-V', 'METALBOX'],
        ...['-b', 'isolinux.bin', '-c', 'boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table'],
        root,
      ]);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new MetalboxError(
        'E_IPXE',
        code === 'ENOENT'
          ? 'virtual media needs xorriso: run scripts/install-deps, or apt-get install xorriso'
          : `xorriso failed: ${String((error as { stderr?: string }).stderr ?? (error as Error).message).slice(0, 300)}`,
      );
    }
    return readFileSync(iso);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
