import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MetalboxError } from '../lib/errors.js';
import { GRUB_FILES, type GrubCpu } from '../profiles/grub.js';

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
      const path = join(dir, name);
      const bytes = readIfThere(path, 'E_IPXE');
      if (bytes === null) continue;
      binaries.set(name, { bytes, path });
      break;
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

/**
 * Debian's signed shim and GRUB netboot images, by the names TFTP and /grub/ serve them
 * under, and where Debian's packages install them. shim loads the GRUB beside it by that
 * name (grubx64.efi, grubaa64.efi), so these names are fixed; the GRUB is the netboot image
 * (grubnet*), whose prefix is /grub.
 */
const GRUB_BINARIES: Readonly<Record<GrubCpu, ReadonlyArray<{ name: string; debian: string }>>> = {
  x64: [
    { name: GRUB_FILES.x64.shim, debian: '/usr/lib/shim/shimx64.efi.signed' },
    { name: GRUB_FILES.x64.grub, debian: '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed' },
  ],
  arm64: [
    { name: GRUB_FILES.arm64.shim, debian: '/usr/lib/shim/shimaa64.efi.signed' },
    { name: GRUB_FILES.arm64.grub, debian: '/usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed' },
  ],
};

/** Where the GRUB path's binaries are looked for, in order: --ipxe-dir, the checkout's assets/grub (scripts/fetch-grub), then Debian's install paths. */
export function grubSearchPath(ipxeDir: string | undefined): string[] {
  return [...(ipxeDir ? [ipxeDir] : []), resolve('assets/grub')];
}

/**
 * Reads the signed shim and GRUB of every CPU family that has both into memory. Unlike
 * iPXE's, they are optional: a family without them has no GRUB path (serve refuses a
 * profile that asks for it, and arm64 machines get no answer).
 */
export function loadGrubBinaries(searchPath: string[]): { files: Map<string, { bytes: Buffer; path: string }>; cpus: Set<GrubCpu> } {
  const files = new Map<string, { bytes: Buffer; path: string }>();
  const cpus = new Set<GrubCpu>();
  for (const cpu of Object.keys(GRUB_BINARIES) as GrubCpu[]) {
    const found = GRUB_BINARIES[cpu].map(({ name, debian }) => {
      for (const path of [...searchPath.map((dir) => join(dir, name)), debian]) {
        const bytes = readIfThere(path, 'E_GRUB');
        if (bytes !== null) return { name, bytes, path };
      }
      return null;
    });
    if (found.some((file) => file === null)) continue;
    for (const file of found) files.set(file!.name, { bytes: file!.bytes, path: file!.path });
    cpus.add(cpu);
  }
  return { files, cpus };
}

/** A loader's bytes, or null when the search path's directory does not have it; any other failure stops the start. */
function readIfThere(path: string, code: 'E_IPXE' | 'E_GRUB'): Buffer | null {
  try {
    return readFileSync(path);
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT' || errno === 'ENOTDIR') return null;
    throw new MetalboxError(code, `cannot read ${path}: ${errno}`);
  }
}
