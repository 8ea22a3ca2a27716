import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MetalboxError } from '../lib/errors.js';

export const IPXE_BINARIES = ['undionly.kpxe', 'ipxe.efi', 'snponly.efi'] as const;
export type IpxeBinary = (typeof IPXE_BINARIES)[number];

/** Where the binaries are looked for, in order: --ipxe-dir, the checkout's assets, Debian's ipxe package. */
export function ipxeSearchPath(ipxeDir: string | undefined): string[] {
  return [...(ipxeDir ? [ipxeDir] : []), resolve('assets/ipxe'), '/usr/lib/ipxe', '/usr/share/ipxe'];
}

/**
 * Reads every iPXE binary into memory from the first directory of the search path that
 * has it: TFTP and HTTP serve them from memory, so a boot storm never touches the disk.
 * A missing binary stops the start with the command that fixes it.
 */
export function loadIpxeBinaries(searchPath: string[]): Map<IpxeBinary, { bytes: Buffer; path: string }> {
  const binaries = new Map<IpxeBinary, { bytes: Buffer; path: string }>();
  for (const name of IPXE_BINARIES) {
    for (const dir of searchPath) {
      try {
        const path = join(dir, name);
        binaries.set(name, { bytes: readFileSync(path), path });
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new MetalboxError('E_IPXE', `cannot read ${join(dir, name)}: ${code}`);
      }
    }
    if (!binaries.has(name)) {
      throw new MetalboxError(
        'E_IPXE',
        `iPXE binary ${name} not found in ${searchPath.join(', ')}: run scripts/fetch-ipxe (fills assets/ipxe from Debian's ipxe package), ` +
          'or apt-get install ipxe, or point --ipxe-dir at a directory holding it (or run with --no-tftp --no-dhcp-proxy)',
      );
    }
  }
  return binaries;
}
