import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

/**
 * Connections the kernel holds for each HTTP port (the main one and the file threads') until
 * metalbox accepts them; Linux caps it at net.core.somaxconn, 4096 on current kernels.
 * Node's default, 511, is a quarter of a second of a 10,000-machine storm's requests: when
 * the main thread fell behind that long, the queue filled, the kernel dropped the firmware's
 * handshakes, and their retries (1, 3, 7 s) turned a busy moment into a 30 s tail and
 * resets (bench/RESULTS.md, session 13).
 */
export const LISTEN_BACKLOG = 4096;

/**
 * The MTU of the interface holding `address`, from sysfs; null when the address is not
 * local (0.0.0.0) or sysfs cannot say. TFTP blocks larger than MTU − 32 fragment, and
 * many netboot ROMs cannot reassemble fragments.
 */
export function mtuOfAddress(address: string, interfaces = networkInterfaces()): number | null {
  for (const [name, addresses] of Object.entries(interfaces)) {
    if (!addresses?.some((candidate) => candidate.address === address)) continue;
    try {
      const mtu = Number.parseInt(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8'), 10);
      return Number.isFinite(mtu) ? mtu : null;
    } catch {
      return null;
    }
  }
  return null;
}
