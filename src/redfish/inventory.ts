import { normalizeMac } from '../lib/mac.js';
import type { DriveJson, InventoryInput, NicJson } from '../store/index.js';
import { link, normalizePath, RedfishError, type RedfishBody, type RedfishClient } from './client.js';

/** What one scrape of a BMC found: each system's inventory, the BMC itself, and what was missing. */
export interface ScrapeResult {
  service: { vendor: string | null; redfishVersion: string | null; uuid: string | null };
  bmc: { model: string | null; firmware: string | null; mac: string | null };
  systems: SystemScrape[];
  /** Advertised links that were dead (404, HTML 500s) or malformed: tolerated, reported. */
  notes: string[];
}

export interface SystemScrape extends InventoryInput {
  /** Boot override targets and reset types the BMC allows (null: it does not say). */
  bootTargets: string[] | null;
  resetTypes: string[] | null;
  /** Where each NIC MAC was found (EthernetInterfaces, NetworkDeviceFunctions, Ports). */
  macSources: Record<string, string[]>;
}

/**
 * Reads the inventory through links only (never guessed ids), per DESIGN §7: service
 * root, managers, chassis network adapters, then each system's processors, memory,
 * storage and NICs. A dead link is noted and skipped; only an unreachable service root or
 * systems collection fails the scrape.
 */
export async function scrapeInventory(client: RedfishClient, root: RedfishBody): Promise<ScrapeResult> {
  const notes: string[] = [];
  const optional = async <T>(what: string, read: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await read();
    } catch (error) {
      if (error instanceof RedfishError && (error.failure === 'http' || error.failure === 'bad-json')) {
        notes.push(`${what}: ${error.message}`);
        return fallback;
      }
      throw error;
    }
  };
  const expand = async (members: RedfishBody[], what: string) => {
    const bodies: RedfishBody[] = [];
    for (const member of members) {
      const path = link(member);
      // Some services embed whole members; a stub needs its own GET.
      if (path === null || Object.keys(member).some((key) => !key.startsWith('@odata'))) bodies.push(member);
      else {
        const body = await optional(`${what} ${path}`, () => client.get(path), null);
        if (body) bodies.push(body);
      }
    }
    return bodies;
  };
  const collection = async (value: unknown, what: string) => {
    const path = link(value);
    if (path === null) return [];
    return expand(await optional(what, () => client.members(path), []), what);
  };

  const systemsPath = link(root.Systems);
  if (systemsPath === null) throw new RedfishError('http', 'the service root has no Systems link');
  const systems = await expand(await client.members(systemsPath), 'system');

  const managers = await collection(root.Managers, 'managers');
  const manager = managers.find((body) => text(body.ManagerType) === 'BMC') ?? managers[0];
  let bmcMac: string | null = null;
  if (manager) {
    for (const nic of await collection(manager.EthernetInterfaces, 'manager NICs')) {
      bmcMac ??= macOf(nic.PermanentMACAddress) ?? macOf(nic.MACAddress) ?? macOf(nic.MacAddress);
    }
  }

  // NIC MACs of the network adapters, per adapter, with the chassis holding it.
  const adapters = new Map<string, { chassis: string; macs: Map<string, Set<string>> }>();
  for (const body of await collection(root.Chassis, 'chassis')) {
    for (const adapter of await collection(body.NetworkAdapters, 'network adapters')) {
      const macs = new Map<string, Set<string>>();
      const add = (value: unknown, source: string) => {
        const mac = macOf(value);
        if (mac) (macs.get(mac) ?? macs.set(mac, new Set()).get(mac)!).add(source);
      };
      for (const fn of await collection(adapter.NetworkDeviceFunctions, 'network device functions')) {
        const ethernet = (fn.Ethernet ?? {}) as RedfishBody;
        add(ethernet.PermanentMACAddress, 'NetworkDeviceFunctions');
        add(ethernet.MACAddress, 'NetworkDeviceFunctions');
      }
      for (const port of [...(await collection(adapter.Ports, 'ports')), ...(await collection(adapter.NetworkPorts, 'network ports'))]) {
        const ethernet = (port.Ethernet ?? {}) as RedfishBody;
        for (const value of [...list(ethernet.AssociatedMACAddresses), ...list(port.AssociatedNetworkAddresses)]) add(value, 'Ports');
      }
      adapters.set(link(adapter) ?? '', { chassis: link(body) ?? '', macs });
    }
  }
  // A system names its adapters through NetworkInterfaces (a SmartNIC's adapter belongs to
  // the host, not to the SoC system in the card's chassis); other adapters go by chassis.
  const claims = new Map<RedfishBody, string[]>();
  for (const system of systems) {
    const claimed: string[] = [];
    for (const nic of await collection(system.NetworkInterfaces, 'network interfaces')) {
      const adapter = link((nic.Links as RedfishBody | undefined)?.NetworkAdapter);
      if (adapter !== null) claimed.push(normalizePath(adapter));
    }
    claims.set(system, claimed);
  }
  const claimedByAny = new Set([...claims.values()].flat());

  const results: SystemScrape[] = [];
  for (const system of systems) {
    const systemPath = link(system);
    // A system's adapters sit in its chassis; with no link, every chassis (single-system BMCs).
    const linked = list((system.Links as RedfishBody | undefined)?.Chassis).map(link).filter((path): path is string => path !== null);
    const macSources = new Map<string, Set<string>>();
    const nics = new Map<string, NicJson>();
    const addNic = (mac: string, source: string, nic: Partial<NicJson>) => {
      (macSources.get(mac) ?? macSources.set(mac, new Set()).get(mac)!).add(source);
      const known = nics.get(mac);
      nics.set(mac, {
        mac,
        name: known?.name ?? nic.name ?? null,
        speedMbps: known?.speedMbps ?? nic.speedMbps ?? null,
        linkStatus: known?.linkStatus ?? nic.linkStatus ?? null,
      });
    };
    for (const nic of await collection(system.EthernetInterfaces, 'ethernet interfaces')) {
      // Never filtered on Status: Supermicro X10 marks every real NIC Disabled. Legacy
      // MacAddress/FactoryMacAddress come from early Redfish (DMTF's emulator still has them).
      for (const value of [nic.PermanentMACAddress, nic.MACAddress, nic.FactoryMacAddress, nic.MacAddress]) {
        const mac = macOf(value);
        if (mac) addNic(mac, 'EthernetInterfaces', { name: text(nic.Id) ?? text(nic.Name), speedMbps: number(nic.SpeedMbps), linkStatus: text(nic.LinkStatus) });
      }
    }
    const claimed = claims.get(system) ?? [];
    for (const [adapterPath, adapter] of adapters) {
      const mine = claimed.length > 0 ? claimed.includes(normalizePath(adapterPath))
        : !claimedByAny.has(normalizePath(adapterPath)) && (linked.length === 0 || linked.includes(adapter.chassis));
      if (!mine) continue;
      for (const [mac, sources] of adapter.macs) for (const source of sources) addNic(mac, source, {});
    }

    const processors = (await collection(system.Processors, 'processors')).filter(
      (cpu) => (text(cpu.ProcessorType) ?? 'CPU') === 'CPU' && text((cpu.Status as RedfishBody | undefined)?.State) !== 'Absent',
    );
    const summary = (system.ProcessorSummary ?? {}) as RedfishBody;
    const cpu = processors.length > 0
      ? {
          count: processors.length,
          cores: sum(processors.map((p) => number(p.TotalCores))),
          threads: sum(processors.map((p) => number(p.TotalThreads))),
          model: text(processors[0]!.Model),
        }
      : { count: number(summary.Count), cores: null, threads: null, model: text(summary.Model) };

    const dimms = (await collection(system.Memory, 'memory')).filter(
      (dimm) => text((dimm.Status as RedfishBody | undefined)?.State) !== 'Absent' && (number(dimm.CapacityMiB) ?? 0) > 0,
    );
    const memory = dimms.length > 0
      ? { totalGiB: Math.round((sum(dimms.map((dimm) => number(dimm.CapacityMiB)))! / 1024) * 100) / 100, dimms: dimms.length }
      : { totalGiB: number(((system.MemorySummary ?? {}) as RedfishBody).TotalSystemMemoryGiB), dimms: null };

    const drives: DriveJson[] = [];
    for (const storage of await collection(system.Storage, 'storage')) {
      for (const stub of list(storage.Drives)) {
        const path = link(stub);
        const drive = path === null ? null : await optional(`drive ${path}`, () => client.get(path), null);
        if (drive) {
          drives.push({
            name: text(drive.Name), model: text(drive.Model), serial: text(drive.SerialNumber), capacityBytes: number(drive.CapacityBytes),
            mediaType: text(drive.MediaType), protocol: text(drive.Protocol),
          });
        }
      }
    }
    if (drives.length === 0) {
      for (const storage of await collection(system.SimpleStorage, 'simple storage')) {
        for (const device of list(storage.Devices)) {
          const body = (device ?? {}) as RedfishBody;
          if (text((body.Status as RedfishBody | undefined)?.State) === 'Absent') continue;
          drives.push({ name: text(body.Name), model: text(body.Model), serial: null, capacityBytes: number(body.CapacityBytes), mediaType: null, protocol: null });
        }
      }
    }

    const boot = (system.Boot ?? {}) as RedfishBody;
    const reset = ((system.Actions as RedfishBody | undefined)?.['#ComputerSystem.Reset'] ?? {}) as RedfishBody;
    results.push({
      systemPath,
      bmc: { model: text(manager?.Model), firmware: text(manager?.FirmwareVersion), redfishVersion: text(root.RedfishVersion), vendor: text(root.Vendor) },
      power: text(system.PowerState),
      system: {
        manufacturer: text(system.Manufacturer), model: text(system.Model), serial: text(system.SerialNumber), uuid: text(system.UUID)?.toLowerCase() ?? null,
        sku: text(system.SKU), biosVersion: text(system.BiosVersion), powerState: text(system.PowerState),
      },
      cpu,
      memory,
      drives,
      nics: [...nics.values()],
      bootTargets: Array.isArray(boot['BootSourceOverrideTarget@Redfish.AllowableValues']) ? list(boot['BootSourceOverrideTarget@Redfish.AllowableValues']).map(String) : null,
      resetTypes: Array.isArray(reset['ResetType@Redfish.AllowableValues']) ? list(reset['ResetType@Redfish.AllowableValues']).map(String) : null,
      macSources: Object.fromEntries([...macSources].map(([mac, sources]) => [mac, [...sources]])),
    });
  }
  return {
    service: { vendor: text(root.Vendor), redfishVersion: text(root.RedfishVersion), uuid: text(root.UUID)?.toLowerCase() ?? null },
    bmc: { model: text(manager?.Model), firmware: text(manager?.FirmwareVersion), mac: bmcMac },
    systems: results,
    notes,
  };
}

/** A trimmed, non-empty string without control characters (BMCs pad and decorate), else null. */
function text(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return trimmed === '' ? null : trimmed;
}

function number(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function sum(values: Array<number | null>): number | null {
  const known = values.filter((value): value is number => value !== null);
  return known.length === 0 ? null : known.reduce((total, value) => total + value, 0);
}

/** A NIC MAC in canonical form; empty, malformed and all-zero addresses are no MAC. */
function macOf(value: unknown): string | null {
  const mac = typeof value === 'string' ? normalizeMac(value.trim()) : null;
  return mac === null || mac === '00:00:00:00:00:00' ? null : mac;
}
