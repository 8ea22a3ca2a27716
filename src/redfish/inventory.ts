import { normalizeMac } from '../lib/mac.js';
import type { DriveJson, InventoryInput, NicJson } from '../store/index.js';
import { link, normalizePath, RedfishError, type RedfishBody, type RedfishClient } from './client.js';
import { cleanText } from '../lib/text.js';

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
  /** The manager of this system (Links.ManagedBy, or the one whose ManagerForServers lists it): a SmartNIC's SoC has its own. */
  manager: { path: string | null; model: string | null; firmware: string | null } | null;
}

/**
 * Reads the inventory through links only (never guessed ids), per docs/redfish.md §1–§2: service
 * root, managers, chassis network adapters, then each system's processors, memory,
 * storage and NICs. A dead link is noted and skipped; only an unreachable service root or
 * systems collection fails the scrape.
 */
export async function scrapeInventory(client: RedfishClient, root: RedfishBody): Promise<ScrapeResult> {
  const notes: string[] = [...client.notes];
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
  const managerOf = (system: RedfishBody): RedfishBody | undefined => {
    const managedBy = paths(((system.Links ?? {}) as RedfishBody).ManagedBy);
    const own = normalizePath(link(system) ?? '');
    return (
      managers.find((body) => managedBy.includes(normalizePath(link(body) ?? ''))) ??
      managers.find((body) => paths(((body.Links ?? {}) as RedfishBody).ManagerForServers).includes(own))
    );
  };
  // The BMC this service is: the BMC-type manager of the most host systems, then of the
  // most systems. A SmartNIC's SoC (SystemType DPU) has a manager of its own, which must
  // not lend the service its MAC or firmware, wherever the collection lists it.
  const managed = (body: RedfishBody, hostsOnly: boolean) =>
    systems.filter((system) => managerOf(system) === body && (!hostsOnly || cleanText(system.SystemType) !== 'DPU')).length;
  const manager =
    managers
      .filter((body) => cleanText(body.ManagerType) === 'BMC')
      .sort((a, b) => managed(b, true) - managed(a, true) || managed(b, false) - managed(a, false))[0] ?? managers[0];
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

  // A MAC a system lists among its own EthernetInterfaces is that system's: an adapter that
  // shows it too (a SmartNIC's ports, seen from the host's chassis) does not give it to another.
  const ownMacs = new Map<RedfishBody, Array<{ mac: string; nic: Partial<NicJson> }>>();
  for (const system of systems) {
    const own: Array<{ mac: string; nic: Partial<NicJson> }> = [];
    for (const nic of await collection(system.EthernetInterfaces, 'ethernet interfaces')) {
      // Never filtered on Status: Supermicro X10 marks every real NIC Disabled. Legacy
      // MacAddress/FactoryMacAddress come from early Redfish (DMTF's emulator still has them).
      for (const value of [nic.PermanentMACAddress, nic.MACAddress, nic.FactoryMacAddress, nic.MacAddress]) {
        const mac = macOf(value);
        if (mac)
          own.push({
            mac,
            nic: {
              name: cleanText(nic.Id) ?? cleanText(nic.Name),
              speedMbps: number(nic.SpeedMbps),
              linkStatus: cleanText(nic.LinkStatus),
            },
          });
      }
    }
    ownMacs.set(system, own);
  }

  const results: SystemScrape[] = [];
  for (const system of systems) {
    const systemPath = link(system);
    // A system's adapters sit in its chassis; with no link, every chassis (single-system BMCs).
    const linked = list((system.Links as RedfishBody | undefined)?.Chassis)
      .map(link)
      .filter((path): path is string => path !== null);
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
    for (const { mac, nic } of ownMacs.get(system)!) addNic(mac, 'EthernetInterfaces', nic);
    const elsewhere = new Set(systems.filter((other) => other !== system).flatMap((other) => ownMacs.get(other)!.map((own) => own.mac)));
    const claimed = claims.get(system) ?? [];
    for (const [adapterPath, adapter] of adapters) {
      const mine =
        claimed.length > 0
          ? claimed.includes(normalizePath(adapterPath))
          : !claimedByAny.has(normalizePath(adapterPath)) && (linked.length === 0 || linked.includes(adapter.chassis));
      if (!mine) continue;
      for (const [mac, sources] of adapter.macs) {
        if (elsewhere.has(mac)) continue;
        for (const source of sources) addNic(mac, source, {});
      }
    }

    const processors = (await collection(system.Processors, 'processors')).filter(
      (cpu) => (cleanText(cpu.ProcessorType) ?? 'CPU') === 'CPU' && cleanText((cpu.Status as RedfishBody | undefined)?.State) !== 'Absent',
    );
    const summary = (system.ProcessorSummary ?? {}) as RedfishBody;
    const cpu =
      processors.length > 0
        ? {
            count: processors.length,
            cores: sum(processors.map((p) => number(p.TotalCores))),
            threads: sum(processors.map((p) => number(p.TotalThreads))),
            model: cleanText(processors[0]!.Model),
          }
        : { count: number(summary.Count), cores: null, threads: null, model: cleanText(summary.Model) };

    const dimms = (await collection(system.Memory, 'memory')).filter(
      (dimm) => cleanText((dimm.Status as RedfishBody | undefined)?.State) !== 'Absent' && (number(dimm.CapacityMiB) ?? 0) > 0,
    );
    const memory =
      dimms.length > 0
        ? { totalGiB: Math.round((sum(dimms.map((dimm) => number(dimm.CapacityMiB)))! / 1024) * 100) / 100, dimms: dimms.length }
        : { totalGiB: number(((system.MemorySummary ?? {}) as RedfishBody).TotalSystemMemoryGiB), dimms: null };

    const drives: DriveJson[] = [];
    // Controllers that share a backplane list the same drive each: one drive.
    const drivesSeen = new Set<string>();
    for (const storage of await collection(system.Storage, 'storage')) {
      for (const stub of list(storage.Drives)) {
        const path = link(stub);
        if (path === null || drivesSeen.has(normalizePath(path))) continue;
        drivesSeen.add(normalizePath(path));
        const drive = await optional(`drive ${path}`, () => client.get(path), null);
        // An empty bay: iDRAC and iLO list every slot, Status.State Absent where nothing sits.
        if (drive && cleanText((drive.Status as RedfishBody | undefined)?.State) !== 'Absent') {
          drives.push({
            name: cleanText(drive.Name),
            model: cleanText(drive.Model),
            serial: cleanText(drive.SerialNumber),
            capacityBytes: number(drive.CapacityBytes),
            mediaType: cleanText(drive.MediaType),
            protocol: cleanText(drive.Protocol),
          });
        }
      }
    }
    if (drives.length === 0) {
      for (const storage of await collection(system.SimpleStorage, 'simple storage')) {
        for (const device of list(storage.Devices)) {
          const body = (device ?? {}) as RedfishBody;
          if (cleanText((body.Status as RedfishBody | undefined)?.State) === 'Absent') continue;
          // Backplanes and enclosures (SES processors, expanders) show up as devices on some
          // BMCs (Supermicro, older iDRAC): no capacity, and named for what they are.
          if (number(body.CapacityBytes) === null && /backplane|enclosure|expander|\bSEP\b|\bSES\b/i.test(cleanText(body.Name) ?? ''))
            continue;
          drives.push({
            name: cleanText(body.Name),
            model: cleanText(body.Model),
            serial: null,
            capacityBytes: number(body.CapacityBytes),
            mediaType: null,
            protocol: null,
          });
        }
      }
    }

    const boot = (system.Boot ?? {}) as RedfishBody;
    const reset = ((system.Actions as RedfishBody | undefined)?.['#ComputerSystem.Reset'] ?? {}) as RedfishBody;
    const own = managerOf(system);
    results.push({
      systemPath,
      // The BMC record is the service's: only the systems it manages (or no manager says) write it.
      bmc:
        own === undefined || own === manager
          ? {
              model: cleanText(manager?.Model),
              firmware: cleanText(manager?.FirmwareVersion),
              redfishVersion: cleanText(root.RedfishVersion),
              vendor: cleanText(root.Vendor),
            }
          : null,
      manager: own === undefined ? null : { path: link(own), model: cleanText(own.Model), firmware: cleanText(own.FirmwareVersion) },
      power: cleanText(system.PowerState),
      system: {
        manufacturer: cleanText(system.Manufacturer),
        model: cleanText(system.Model),
        serial: cleanText(system.SerialNumber),
        uuid: cleanText(system.UUID)?.toLowerCase() ?? null,
        sku: cleanText(system.SKU),
        biosVersion: cleanText(system.BiosVersion),
        powerState: cleanText(system.PowerState),
      },
      cpu,
      memory,
      drives,
      nics: [...nics.values()],
      bootTargets: Array.isArray(boot['BootSourceOverrideTarget@Redfish.AllowableValues'])
        ? list(boot['BootSourceOverrideTarget@Redfish.AllowableValues']).map(String)
        : null,
      resetTypes: Array.isArray(reset['ResetType@Redfish.AllowableValues'])
        ? list(reset['ResetType@Redfish.AllowableValues']).map(String)
        : null,
      macSources: Object.fromEntries([...macSources].map(([mac, sources]) => [mac, [...sources]])),
    });
  }
  return {
    service: {
      vendor: cleanText(root.Vendor),
      redfishVersion: cleanText(root.RedfishVersion),
      uuid: cleanText(root.UUID)?.toLowerCase() ?? null,
    },
    bmc: { model: cleanText(manager?.Model), firmware: cleanText(manager?.FirmwareVersion), mac: bmcMac },
    systems: results,
    notes,
  };
}

function number(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The normalised paths of a list of links. */
function paths(value: unknown): string[] {
  return list(value)
    .map(link)
    .filter((path): path is string => path !== null)
    .map(normalizePath);
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
