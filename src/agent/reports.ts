import { classifyMachine } from '../profiles/classify.js';
import type { ServerTypes } from '../profiles/server-types.js';
import type { Store } from '../store/index.js';
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
  const extras = { 'agent.drives': inventory.drives, 'agent.nics': inventory.nics, 'agent.pci': inventory.pci };
  return store.transaction(() => {
    const same = machines.sameHardware(machineId, {
      macs: inventory.nics.map((nic) => nic.mac),
      uuid: inventory.system.uuid,
      serial: inventory.system.serial,
      manufacturer: inventory.system.manufacturer,
    });
    if (same !== null && machines.stateOf(machineId) === 'discovered') {
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
      return { machineId: same.id, state: machines.stateOf(same.id)!, mergedInto: same.id };
    }
    machines.recordInventory(
      machineId,
      inventoryInput(inventory),
      { type: 'inventory', message: inventorySummary(inventory), operationId, data: { source: 'agent' } },
      'inspecting',
    );
    machines.putFacts(machineId, extras);
    machines.transition(machineId, 'classifying', null, {
      type: 'state',
      message: "matching the agent's inventory to server types",
      operationId,
    });
    classifyMachine(machines, serverTypes, machineId);
    return { machineId, state: machines.stateOf(machineId)! };
  });
}
