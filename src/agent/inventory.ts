import type { DriveJson, InventoryInput, MachineJson, NicJson, SystemJson } from '../store/index.js';
import { cleanText, withoutControlCharacters } from '../lib/text.js';
import { normalizeMac } from '../lib/mac.js';
import { decodeLldpFrame, type LldpFault, type LldpNeighbour } from './lldp.js';

/**
 * The agent's facts: what `metalbox-agent collect` read from /sys and /proc, by path
 * relative to the root; a symlink as `{ link: target }`. The agent sends them as they are;
 * everything below turns them into an inventory, so the rules live here, in one language,
 * tested against fixture trees.
 */
export type Facts = Record<string, string | { link: string }>;

export interface AgentDrive extends DriveJson {
  /** The kernel's name (sda, nvme0n1, vda): a name that can change between boots. */
  device: string;
  /** A stable name in the form of udev's /dev/disk/by-path (pci-0000:00:1f.2-ata-1, pci-0000:01:00.0-nvme-1). */
  byPath: string | null;
  rotational: boolean | null;
  removable: boolean;
  wwn: string | null;
  logicalBlockSize: number | null;
  /** The disk can discard (TRIM/UNMAP/deallocate): cleaning can use it instead of writing. */
  discard: boolean;
}

export interface AgentNic extends NicJson {
  driver: string | null;
  pciAddress: string | null;
  /** The switch port at the other end, from the LLDP frame the agent heard on this port; null when none came within its wait. */
  lldp: LldpNeighbour | null;
  /** Why the frame the agent heard gives no neighbour (absent when it gave one, or none came). */
  lldpFault?: LldpFault;
}

export interface PciDevice {
  address: string;
  vendor: string | null;
  device: string | null;
  class: string | null;
  driver: string | null;
}

/**
 * How the machine booted the agent: UEFI (the kernel has /sys/firmware/efi) or BIOS, and
 * whether UEFI enforced Secure Boot (its SecureBoot variable; null when efivarfs gave none).
 * What decides whether a machine can boot an unsigned loader such as the 2019 iPXE build.
 */
export interface AgentFirmware {
  mode: 'uefi' | 'bios';
  secureBoot: boolean | null;
}

export interface AgentInventory {
  system: Omit<SystemJson, 'powerState'>;
  firmware: AgentFirmware;
  cpu: MachineJson['cpu'];
  memory: MachineJson['memory'];
  drives: AgentDrive[];
  nics: AgentNic[];
  pci: PciDevice[];
}

/**
 * What firmware writes into DMI fields nobody filled in. A serial like these identifies
 * nothing, and two machines with it must never be merged as one.
 */
const PLACEHOLDERS = new Set(
  [
    'to be filled by o.e.m.',
    'default string',
    'not specified',
    'not applicable',
    'system serial number',
    'system product name',
    'system manufacturer',
    '0123456789',
    'none',
    'n/a',
    'na',
    'unknown',
    'invalid',
    'empty',
    '00000000',
  ].map((text) => text.toLowerCase()),
);

/** EFI_GLOBAL_VARIABLE's SecureBoot (UEFI 2.10, 3.3): 1 when the firmware enforces Secure Boot. */
const SECURE_BOOT_VARIABLE = 'sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c';

const PCI_ADDRESS = /[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]/g;

export function parseFacts(facts: Facts): AgentInventory {
  const text = (path: string) => {
    const value = facts[path];
    return typeof value === 'string' ? cleanText(value) : null;
  };
  const link = (path: string) => {
    const value = facts[path];
    return typeof value === 'object' && value !== null && typeof value.link === 'string' ? value.link : null;
  };
  const integer = (path: string) => {
    const value = text(path);
    return value !== null && /^-?\d+$/.test(value) ? Number(value) : null;
  };
  const children = (prefix: string) =>
    Object.keys(facts)
      .filter((path) => path.startsWith(prefix) && !path.slice(prefix.length).includes('/'))
      .map((path) => path.slice(prefix.length))
      .sort();
  const dmi = (field: string) => {
    const value = text(`sys/class/dmi/id/${field}`);
    return value === null || PLACEHOLDERS.has(value.toLowerCase()) || /^(0+|f+)$/i.test(value.replace(/-/g, '')) ? null : value;
  };

  const system = {
    manufacturer: dmi('sys_vendor'),
    model: dmi('product_name'),
    serial: dmi('product_serial') ?? dmi('board_serial'),
    uuid: dmi('product_uuid')?.toLowerCase() ?? null,
    sku: dmi('product_sku'),
    biosVersion: dmi('bios_version'),
  };

  const drives: AgentDrive[] = [];
  for (const name of children('sys/block/')) {
    const target = link(`sys/block/${name}`);
    // Loop, RAM, zram and device-mapper disks are the kernel's own, not hardware.
    if (target === null || target.includes('/virtual/')) continue;
    const attribute = (path: string) => text(`sys/block/${name}/${path}`);
    const sectors = integer(`sys/block/${name}/size`);
    if (sectors === null || sectors === 0) continue; // an empty card reader
    // SCSI peripheral type 5: a CD/DVD drive (QEMU's reports 2097151 sectors with no disc in it).
    if (attribute('device/type') === '5') continue;
    const protocol = protocolOf(name, target);
    const rotational = attribute('queue/rotational');
    const discard = Number(attribute('queue/discard_max_bytes') ?? '0') > 0;
    drives.push({
      device: name,
      name,
      model: attribute('device/model'),
      // SCSI VPD page 0x80 as the collector left it: its header's bytes are not text, the serial after them is.
      serial: attribute('device/serial') ?? attribute('device/vpd_pg80'),
      // The kernel counts size in 512-byte sectors whatever the disk's block size.
      capacityBytes: sectors * 512,
      mediaType: rotational === '1' ? 'HDD' : rotational === '0' ? 'SSD' : null,
      protocol,
      byPath: byPath(target, name, integer(`sys/block/${name}/nsid`)),
      rotational: rotational === '1' ? true : rotational === '0' ? false : null,
      removable: attribute('removable') === '1',
      wwn: attribute('wwid') ?? attribute('device/wwid'),
      logicalBlockSize: integer(`sys/block/${name}/queue/logical_block_size`),
      discard,
    });
  }

  const nics: AgentNic[] = [];
  for (const name of children('sys/class/net/')) {
    const target = link(`sys/class/net/${name}`);
    // Bridges, bonds, VLANs, loopback: made by the kernel, not a port on the machine.
    if (target === null || target.includes('/virtual/') || link(`sys/class/net/${name}/device`) === null) continue;
    // ARPHRD_ETHER (1) and ARPHRD_INFINIBAND (32): the ports a machine boots and deploys over.
    const type = integer(`sys/class/net/${name}/type`);
    if (type !== 1 && type !== 32) continue;
    const mac = type === 1 ? normalizeMac(text(`sys/class/net/${name}/address`) ?? '') : null;
    if (mac === null) continue;
    const speed = integer(`sys/class/net/${name}/speed`);
    const operstate = text(`sys/class/net/${name}/operstate`);
    const pciAddresses = target.match(PCI_ADDRESS);
    const frame = facts[`run/lldp/${name}`];
    const heard = typeof frame === 'string' ? decodeLldpFrame(frame) : null;
    nics.push({
      mac,
      name,
      // -1 (or an error) while the link is down: unknown, not a speed.
      speedMbps: speed !== null && speed > 0 ? speed : null,
      linkStatus: operstate === 'up' ? 'LinkUp' : operstate === 'down' || operstate === 'lowerlayerdown' ? 'LinkDown' : null,
      driver: basename(link(`sys/class/net/${name}/device/driver`)),
      pciAddress: pciAddresses?.at(-1) ?? null,
      lldp: typeof heard === 'string' ? null : heard,
      ...(typeof heard === 'string' ? { lldpFault: heard } : {}),
    });
  }

  const pci = children('sys/bus/pci/devices/')
    .filter((address) => /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(address))
    .map((address) => ({
      address,
      vendor: text(`sys/bus/pci/devices/${address}/vendor`),
      device: text(`sys/bus/pci/devices/${address}/device`),
      class: text(`sys/bus/pci/devices/${address}/class`),
      driver: basename(link(`sys/bus/pci/devices/${address}/driver`)),
    }));

  // Line by line: cleanText would join the lines of a file into one.
  const lines = (path: string) => {
    const value = facts[path];
    return typeof value === 'string' ? value.split('\n').map((line) => withoutControlCharacters(line)) : [];
  };
  // The agent writes the variable's data bytes as decimal text: one byte, 0 or 1.
  const secureBoot = text(SECURE_BOOT_VARIABLE);
  const firmware: AgentFirmware =
    facts['sys/firmware/efi/fw_platform_size'] === undefined
      ? { mode: 'bios', secureBoot: false }
      : { mode: 'uefi', secureBoot: secureBoot === '1' ? true : secureBoot === '0' ? false : null };
  return { system, firmware, cpu: cpuOf(lines('proc/cpuinfo')), memory: memoryOf(lines('proc/meminfo')), drives, nics, pci };
}

function basename(path: string | null): string | null {
  return path === null ? null : (path.split('/').at(-1) ?? null) || null;
}

function protocolOf(name: string, target: string): string | null {
  if (name.startsWith('nvme')) return 'NVMe';
  if (name.startsWith('vd') || /\/virtio\d+\//.test(target)) return 'virtio';
  if (/\/ata\d+\//.test(target)) return 'SATA';
  if (/\/usb\d+\//.test(target)) return 'USB';
  if (/\/host\d+\/(port-|end_device-|expander-)/.test(target)) return 'SAS';
  if (/\/host\d+\//.test(target)) return 'SCSI';
  return null;
}

/**
 * The disk's path in udev's by-path form, from where it sits in /sys/devices: the last PCI
 * function on the way, then how the disk hangs off it. NVMe: the namespace; SATA: the ATA
 * port (ataN); SCSI and SAS behind a RAID or HBA: host:channel:target:lun; virtio: the PCI
 * function alone.
 */
function byPath(target: string, name: string, nsid: number | null): string | null {
  const pciAddresses = target.match(PCI_ADDRESS);
  const pci = pciAddresses?.at(-1);
  if (pci === undefined) return null;
  if (name.startsWith('nvme')) {
    const namespace = nsid ?? Number(/n(\d+)$/.exec(name)?.[1] ?? Number.NaN);
    return Number.isInteger(namespace) ? `pci-${pci}-nvme-${namespace}` : null;
  }
  const ata = /\/ata(\d+)\//.exec(target);
  if (ata) return `pci-${pci}-ata-${ata[1]}`;
  const lun = /\/(\d+:\d+:\d+:\d+)\/block\//.exec(target);
  if (lun) return `pci-${pci}-scsi-${lun[1]}`;
  return `pci-${pci}`;
}

function cpuOf(cpuinfo: string[]): MachineJson['cpu'] {
  let threads = 0;
  let model: string | null = null;
  let socket = '0';
  const coresBySocket = new Map<string, number>();
  for (const line of cpuinfo) {
    const [key, ...rest] = line.split(':');
    const name = key?.trim();
    const value = rest.join(':').trim();
    if (name === 'processor') {
      threads++;
      socket = '0';
    } else if (name === 'model name') model ??= cleanText(value);
    else if (name === 'physical id') socket = value;
    else if (name === 'cpu cores' && /^\d+$/.test(value)) coresBySocket.set(socket, Number(value));
  }
  if (threads === 0) return { count: null, cores: null, threads: null, model };
  const sockets = Math.max(coresBySocket.size, 1);
  const cores = coresBySocket.size > 0 ? [...coresBySocket.values()].reduce((sum, count) => sum + count, 0) : null;
  return { count: sockets, cores, threads, model };
}

function memoryOf(meminfo: string[]): MachineJson['memory'] {
  const kib = meminfo.map((line) => /^MemTotal:\s*(\d+)\s*kB/.exec(line)?.[1]).find((value) => value !== undefined);
  // What the kernel can use: installed memory less what firmware and the kernel keep.
  return { totalGiB: kib === undefined ? null : Math.round((Number(kib) / 1024 / 1024) * 10) / 10, dimms: null };
}

/** The inventory in the store's terms (what Redfish inspection stores too); the agent's extras go to the machine's facts. */
export function inventoryInput(inventory: AgentInventory): InventoryInput {
  return {
    systemPath: null,
    bmc: null,
    power: null,
    system: { ...inventory.system, powerState: null },
    cpu: inventory.cpu,
    memory: inventory.memory,
    drives: inventory.drives.map(({ name, model, serial, capacityBytes, mediaType, protocol }) => ({
      name,
      model,
      serial,
      capacityBytes,
      mediaType,
      protocol,
    })),
    nics: inventory.nics.map(({ mac, name, speedMbps, linkStatus }) => ({ mac, name, speedMbps, linkStatus })),
  };
}

/** One line for the timeline: what the agent found. */
export function inventorySummary(inventory: AgentInventory): string {
  const { system, firmware, cpu, memory, drives, nics } = inventory;
  const model = [system.manufacturer, system.model].filter(Boolean).join(' ') || 'an unnamed machine';
  return `agent read ${model}: ${cpu.threads ?? '?'} CPU threads, ${memory.totalGiB ?? '?'} GiB, ${drives.length} disk${drives.length === 1 ? '' : 's'}, ${nics.length} port${nics.length === 1 ? '' : 's'}, ${firmwareText(firmware)}`;
}

/** A stored agent.firmware fact read back, or null when it is not one. */
export function agentFirmwareOf(value: unknown): AgentFirmware | null {
  if (typeof value !== 'object' || value === null) return null;
  const { mode, secureBoot } = value as Record<string, unknown>;
  if (mode !== 'uefi' && mode !== 'bios') return null;
  if (secureBoot !== true && secureBoot !== false && secureBoot !== null) return null;
  return { mode, secureBoot };
}

/** "UEFI with Secure Boot", "UEFI", "BIOS": how the machine booted. */
export function firmwareText(firmware: AgentFirmware): string {
  if (firmware.mode === 'bios') return 'BIOS';
  return firmware.secureBoot === true ? 'UEFI with Secure Boot' : firmware.secureBoot === null ? 'UEFI (Secure Boot unknown)' : 'UEFI';
}
