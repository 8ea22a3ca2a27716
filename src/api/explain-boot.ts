import { bootFileFor } from '../dhcp-proxy/pxe.js';
import type { GrubCpu } from '../profiles/grub.js';
import { isMetalboxError } from '../lib/errors.js';
import type { MachineRef } from '../lib/machine-ref.js';
import { bootVerdict, type BootVerdict } from '../netboot/boot-verdict.js';
import type { MachineJson, ObservationJson, Store } from '../store/index.js';

/** What the verdict needs of serve's settings. */
export interface BootSettings {
  unknown: 'ignore' | 'discover';
  proxyDhcp: boolean;
  tftp: boolean;
  uefiBinary: 'snponly.efi' | 'ipxe.efi';
  /** The CPU families whose signed shim and GRUB serve holds. */
  grub: ReadonlySet<GrubCpu>;
}

/**
 * The boot verdict of a machine (by id or any of its MACs) or of a MAC the inventory does
 * not know, from the store: the NIC asked about (for a machine, the one that last sent a
 * PXE request, else its first), its observations and the machine's last 200 events.
 */
export function explainBoot(store: Store, settings: BootSettings, ref: MachineRef): BootVerdict {
  let machine: MachineJson | null = null;
  try {
    machine = store.machines.resolve(ref);
  } catch (error) {
    if (!(ref.kind === 'mac' && isMetalboxError(error, 'E_NOT_FOUND'))) throw error;
  }
  const macs = machine ? machine.nics.map((nic) => nic.mac) : ref.kind === 'mac' ? [ref.mac] : [];
  const seen = new Map<string, ObservationJson[]>(macs.map((mac) => [mac, store.observations.list({ mac, limit: 50 })]));
  const asked =
    ref.kind === 'mac' && macs.includes(ref.mac)
      ? ref.mac
      : (macs
          .map((mac) => ({ mac, last: latestPxe(seen.get(mac)!) }))
          .filter((entry) => entry.last !== null)
          .sort((a, b) => b.last!.localeCompare(a.last!))[0]?.mac ?? macs[0]);
  return bootVerdict({
    mac: asked ?? '(no NIC known)',
    machine: machine && {
      id: machine.id,
      state: machine.state,
      maintenance: machine.maintenance,
      profile: machine.profile,
      nics: macs,
    },
    observations: asked === undefined ? [] : (seen.get(asked) ?? []),
    otherNics: [...seen].filter(([mac]) => mac !== asked).flatMap(([, observations]) => observations),
    events: machine ? store.machines.events(machine.id, { limit: 200 }) : [],
    settings,
    hasLoader: (arch, vendorClass) =>
      'file' in
      bootFileFor(
        {
          mac: asked ?? '',
          firmware: vendorClass.startsWith('HTTPClient') ? 'uefi-http' : arch === 0 ? 'bios' : 'uefi',
          arch,
          messageType: 1,
          vendorClass,
        },
        'ipxe',
        { httpBase: '', uefiBinary: settings.uefiBinary, grub: settings.grub },
      ),
  });
}

function latestPxe(observations: readonly ObservationJson[]): string | null {
  const times = observations.filter((seen) => /^(PXEClient|HTTPClient)/.test(seen.vendorClass ?? '')).map((seen) => seen.lastSeen);
  return times.length === 0 ? null : times.sort().at(-1)!;
}
