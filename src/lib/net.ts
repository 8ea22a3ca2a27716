import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

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
