import { classifyMachine } from '../profiles/classify.js';
import type { ServerTypes } from '../profiles/server-types.js';
import type { InventoryInput, MachineJson, Store } from '../store/index.js';
import { type AgentInventory, inventoryInput, inventorySummary } from './inventory.js';

/** Where an agent's report left the machine: its record (another one, when the report was merged into it) and state. */
export interface ReportOutcome {
  machineId: string;
  state: string;
  mergedInto?: string;
}

/**
 * An agent's report, in one transaction. When it names the hardware of another machine (a
 * NIC that machine owns, its system UUID, or its manufacturer and serial), the discovered
 * record is folded into that one: a machine found by PXE and one onboarded by its BMC are
 * the same machine, never two. Otherwise the inventory is stored, with the agent's extras
 * (stable disk paths, drivers, PCI functions) as facts, and the machine is classified.
 */
export function recordAgentReport(
  store: Store,
  serverTypes: ServerTypes,
  machineId: string,
  operationId: string,
  inventory: AgentInventory,
): ReportOutcome {
  const { machines } = store;
  const extras = agentFacts(inventory);
  return store.transaction(() => {
    const same = machines.sameHardware(machineId, {
      macs: inventory.nics.map((nic) => nic.mac),
      uuid: inventory.system.uuid,
      serial: inventory.system.serial,
      manufacturer: inventory.system.manufacturer,
    });
    if (same !== null && machines.stateOf(machineId) === 'discovered') {
      // Asked before the merge: the NIC it brings makes the machine no longer wait.
      const awaitedBefore = machines.awaitingNics(same.id).length > 0;
      const nics = machines.get(machineId)!.nics.map((nic) => nic.mac);
      machines.absorbDiscovered(
        machineId,
        same.id,
        {
          type: 'merged',
          message: `PXE discovery found this machine again (as ${machineId}, same ${same.by}): ${inventorySummary(inventory)}`,
          data: { discovered: machineId, by: same.by, nics },
        },
        `NIC ${nics.join(', ')} joined on its agent's report (same ${same.by}), not its BMC's: check it is this machine's`,
      );
      machines.putFacts(same.id, extras);
      // The machine was under inspection waiting for its NICs (IPMI gives none): this is that reading.
      if (awaitedBefore) {
        const outcome = recordAgentInspection(store, serverTypes, same.id, machines.operationOf(same.id)!, inventory);
        return { ...outcome, mergedInto: same.id };
      }
      return { machineId: same.id, state: machines.stateOf(same.id)!, mergedInto: same.id };
    }
    machines.recordInventory(
      machineId,
      inventoryInput(inventory),
      { type: 'inventory', message: inventorySummary(inventory), operationId, data: { source: 'agent' } },
      'inspecting',
    );
    return classifyAgentReading(store, serverTypes, machineId, operationId, inventory);
  });
}

/** The agent's extras (stable disk paths, drivers, PCI functions) as facts, then the machine classified: the end of both readings. */
function classifyAgentReading(
  store: Store,
  serverTypes: ServerTypes,
  machineId: string,
  operationId: string,
  inventory: AgentInventory,
): ReportOutcome {
  const { machines } = store;
  machines.putFacts(machineId, agentFacts(inventory));
  machines.transition(machineId, 'classifying', null, {
    type: 'state',
    message: "matching the agent's inventory to server types",
    operationId,
  });
  classifyMachine(machines, serverTypes, machineId);
  return { machineId, state: machines.stateOf(machineId)! };
}

/** The agent's reading beyond the inventory, stored as the machine's facts. */
export const agentFacts = (inventory: AgentInventory) => ({
  'agent.firmware': inventory.firmware,
  'agent.drives': inventory.drives,
  'agent.nics': inventory.nics,
  'agent.pci': inventory.pci,
});

/** How far the agent's memory (the kernel's MemTotal, less what firmware and the kernel keep) may fall short of the BMC's installed total. */
const MEMORY_TOLERANCE = 0.1;

/**
 * `metalbox inspect`: what the agent read of a machine the BMC described, in one
 * transaction. What Redfish left unknown is filled from the agent's view (a BMC that lists
 * no disks, no memory total, a NIC it does not show), and every place where the two
 * disagree is listed in one event, so the operator sees it; then the machine is classified
 * again. The agent's extras (stable disk paths, drivers, PCI functions) become facts.
 */
export function recordAgentInspection(
  store: Store,
  serverTypes: ServerTypes,
  machineId: string,
  operationId: string,
  inventory: AgentInventory,
): ReportOutcome {
  const { machines } = store;
  return store.transaction(() => {
    const stored = machines.get(machineId)!;
    // A machine without a BMC was read by the agent before (discovery): the comparison is with that.
    const recorded = stored.bmc === null ? 'stored' : 'BMC';
    const { filled, differences } = compareInventories(stored, inventory, (mac) => ownerOf(store, mac, machineId), recorded);
    machines.recordInventory(machineId, filled.input(machines.systemPathOf(machineId)), {
      type: 'inspect.agent',
      operationId,
      message:
        differences.length === 0
          ? `${inventorySummary(inventory)}; the same as the ${recorded} inventory${filled.what.length > 0 ? `, and filled ${filled.what.join(', ')}` : ''}`
          : `${inventorySummary(inventory)}; differs from the ${recorded} inventory: ${differences.join('; ')}${filled.what.length > 0 ? `; filled ${filled.what.join(', ')}` : ''}`,
      data: { differences, filled: filled.what, source: 'agent' },
    });
    return classifyAgentReading(store, serverTypes, machineId, operationId, inventory);
  });
}

/** The machine another record holds `mac` under, if any: such a NIC is reported, never moved. */
function ownerOf(store: Store, mac: string, machineId: string): string | null {
  try {
    const owner = store.machines.resolve({ kind: 'mac', mac }).id;
    return owner === machineId ? null : owner;
  } catch {
    return null;
  }
}

/**
 * The stored inventory with its unknowns filled from the agent's, and the disagreements in
 * an operator's words. Pure: `ownerOf` says which machine holds a NIC, if another does.
 */
export function compareInventories(
  stored: MachineJson,
  agent: AgentInventory,
  ownerOf: (mac: string) => string | null,
  recorded: 'BMC' | 'stored' = 'BMC',
): { filled: { input: (systemPath: string | null) => InventoryInput; what: string[] }; differences: string[] } {
  const differences: string[] = [];
  const what: string[] = [];
  const pick = <T>(label: string, bmc: T | null, read: T | null, same: (a: T, b: T) => boolean = (a, b) => a === b): T | null => {
    if (bmc === null) {
      if (read !== null) what.push(label);
      return read;
    }
    if (read !== null && !same(bmc, read))
      differences.push(`${label} ${JSON.stringify(bmc)} (${recorded}), ${JSON.stringify(read)} (agent)`);
    return bmc;
  };
  const sameText = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();
  const system = {
    ...stored.system,
    manufacturer: pick('manufacturer', stored.system.manufacturer, agent.system.manufacturer, sameText),
    model: pick('model', stored.system.model, agent.system.model, sameText),
    serial: pick('serial', stored.system.serial, agent.system.serial, sameText),
    uuid: pick('system UUID', stored.system.uuid, agent.system.uuid, sameText),
  };
  const cpu = {
    count: pick('CPU sockets', stored.cpu.count, agent.cpu.count),
    cores: pick('CPU cores', stored.cpu.cores, agent.cpu.cores),
    threads: pick('CPU threads', stored.cpu.threads, agent.cpu.threads),
    model: pick('CPU model', stored.cpu.model, agent.cpu.model, sameText),
  };
  const memory = {
    totalGiB: pick(
      'memory GiB',
      stored.memory.totalGiB,
      agent.memory.totalGiB,
      (installed, usable) => usable <= installed && usable >= installed * (1 - MEMORY_TOLERANCE),
    ),
    dimms: stored.memory.dimms,
  };

  // Disks by serial: a BMC that lists none (no storage inventory) gets the agent's.
  let drives = stored.drives;
  if (stored.drives.length === 0 && agent.drives.length > 0) {
    drives = inventoryInput(agent).drives;
    what.push(`${agent.drives.length} disk${agent.drives.length === 1 ? '' : 's'}`);
  } else {
    const serials = (list: readonly { serial: string | null }[]) =>
      new Set(list.flatMap((drive) => (drive.serial === null ? [] : [drive.serial.trim().toLowerCase()])));
    const bmcSerials = serials(stored.drives);
    const agentSerials = serials(agent.drives);
    for (const drive of agent.drives)
      if (drive.serial !== null && !bmcSerials.has(drive.serial.trim().toLowerCase()))
        differences.push(`disk ${drive.device} (serial ${drive.serial}) seen by the agent only`);
    for (const drive of stored.drives)
      if (drive.serial !== null && !agentSerials.has(drive.serial.trim().toLowerCase()))
        differences.push(`disk ${drive.name ?? '?'} (serial ${drive.serial}) listed by the ${recorded} inventory only`);
    if (stored.drives.length !== agent.drives.length)
      differences.push(`${stored.drives.length} disks (${recorded}), ${agent.drives.length} (agent)`);
  }

  // NICs by MAC: one the BMC did not show is added, unless another machine holds it.
  const nics = [...stored.nics];
  const known = new Set(stored.nics.map((nic) => nic.mac));
  for (const nic of agent.nics) {
    if (known.has(nic.mac)) continue;
    const owner = ownerOf(nic.mac);
    if (owner !== null) {
      differences.push(`NIC ${nic.mac} seen by the agent belongs to machine ${owner}: not added`);
      continue;
    }
    nics.push({ mac: nic.mac, name: nic.name, speedMbps: nic.speedMbps, linkStatus: nic.linkStatus });
    what.push(`NIC ${nic.mac}`);
  }
  const agentMacs = new Set(agent.nics.map((nic) => nic.mac));
  for (const nic of stored.nics) if (!agentMacs.has(nic.mac)) differences.push(`NIC ${nic.mac} listed by the ${recorded} inventory only`);

  return {
    filled: {
      input: (systemPath) => ({ systemPath, bmc: null, power: stored.power, system, cpu, memory, drives, nics }),
      what,
    },
    differences,
  };
}
