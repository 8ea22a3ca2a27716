import type { RootDeviceHints } from '../profiles/profiles.js';
import type { AgentDrive } from './inventory.js';

/** Disks smaller than this are never chosen without a minSizeGiB hint: SD cards, SATADOMs of a vendor's tools. */
const DEFAULT_MIN_GIB = 4;
const GIB = 1024 ** 3;

export type RootDeviceChoice = { drive: AgentDrive } | { reason: string };

/**
 * The disk for the image among those the agent saw (RootDeviceHints: every hint given must
 * hold, then `pick` chooses). Without hints: the smallest disk of at least 4 GiB, as Ironic
 * does (a server's operating system disk is usually its smallest, its data disks the large
 * ones). The disk's kernel name is used for this boot only: the agent reported it in the
 * same boot that writes it, so it cannot have moved. When none fits, why (naming every disk
 * seen, so the operator can fix the hints without booting the agent again). Removable
 * disks and disks smaller than the image are never chosen.
 */
export function chooseRootDevice(
  drives: readonly AgentDrive[],
  hints: RootDeviceHints = {},
  imageBytes: number | null = null,
): RootDeviceChoice {
  const byPath = hints.byPath?.replace(/^\/dev\/disk\/by-path\//, '');
  const minBytes = (hints.minSizeGiB ?? DEFAULT_MIN_GIB) * GIB;
  const fits = drives.filter(
    (drive) =>
      !drive.removable &&
      drive.capacityBytes !== null &&
      drive.capacityBytes >= minBytes &&
      (hints.maxSizeGiB === undefined || drive.capacityBytes <= hints.maxSizeGiB * GIB) &&
      (imageBytes === null || drive.capacityBytes >= imageBytes) &&
      (hints.model === undefined || (drive.model ?? '').toLowerCase().includes(hints.model.toLowerCase())) &&
      (hints.serial === undefined || drive.serial === hints.serial) &&
      (hints.wwn === undefined || drive.wwn === hints.wwn) &&
      (byPath === undefined || drive.byPath === byPath) &&
      (hints.rotational === undefined || drive.rotational === hints.rotational),
  );
  const pick = hints.pick ?? 'smallest';
  const ordered = [...fits].sort((a, b) => {
    const bySize = (a.capacityBytes ?? 0) - (b.capacityBytes ?? 0);
    const byName = (a.byPath ?? a.device).localeCompare(b.byPath ?? b.device);
    if (pick === 'first') return byName;
    return (pick === 'largest' ? -bySize : bySize) || byName;
  });
  const drive = ordered[0];
  if (drive !== undefined) return { drive };
  const wanted = [
    ...Object.entries(hints)
      .filter(([key]) => key !== 'pick')
      .map(([key, value]) => `${key} ${JSON.stringify(value)}`),
    ...(hints.minSizeGiB === undefined ? [`at least ${DEFAULT_MIN_GIB} GiB`] : []),
    ...(imageBytes === null ? [] : [`room for the image's ${imageBytes} bytes`]),
    'not removable',
  ].join(', ');
  const seen = drives.length === 0 ? 'the agent saw no disk' : `the agent saw ${drives.map(describeDrive).join('; ')}`;
  return { reason: `no disk fits the root device hints (${wanted}): ${seen}` };
}

/** One disk in an operator's words: vda 8 GiB "QEMU HARDDISK" serial S1 pci-0000:00:04.0. */
export function describeDrive(drive: AgentDrive): string {
  const size = drive.capacityBytes === null ? '? GiB' : `${Math.round((drive.capacityBytes / GIB) * 10) / 10} GiB`;
  return [
    drive.device,
    size,
    drive.model === null ? null : JSON.stringify(drive.model),
    drive.serial === null ? null : `serial ${drive.serial}`,
    drive.byPath,
    drive.removable ? 'removable' : null,
  ]
    .filter((part) => part !== null)
    .join(' ');
}
