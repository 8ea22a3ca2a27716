import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentDrive, AgentInventory } from '../../src/agent/inventory.js';
import { compareInventories } from '../../src/agent/reports.js';
import type { MachineJson } from '../../src/store/index.js';

/** What a BMC said of a server: no memory total, one disk, one port. */
function fromBmc(): MachineJson {
  return {
    id: 'm-1',
    state: 'inspecting',
    stateReason: null,
    power: 'On',
    bmc: null,
    system: {
      manufacturer: 'Dell Inc.',
      model: 'PowerEdge R650',
      serial: '7XQ2K93',
      uuid: null,
      sku: null,
      biosVersion: '1.9.2',
      powerState: 'On',
    },
    cpu: { count: 2, cores: 8, threads: 16, model: 'Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz' },
    memory: { totalGiB: 256, dimms: 8 },
    drives: [{ name: 'Disk 0', model: 'MTFDDAV240TDU', serial: '203528FB1234', capacityBytes: 240e9, mediaType: 'SSD', protocol: 'SATA' }],
    nics: [{ mac: 'b0:26:28:aa:bb:c0', name: 'NIC.Embedded.1-1-1', speedMbps: 1000, linkStatus: 'LinkUp' }],
    serverType: null,
    profile: null,
    maintenance: false,
    warnings: [],
    createdAt: '2026-12-06T00:00:00.000Z',
    updatedAt: '2026-12-06T00:00:00.000Z',
  };
}

function disk(device: string, serial: string | null): AgentDrive {
  return {
    name: device,
    device,
    model: 'X',
    serial,
    capacityBytes: 1e12,
    mediaType: 'SSD',
    protocol: 'NVMe',
    byPath: null,
    rotational: false,
    removable: false,
    wwn: null,
    logicalBlockSize: 512,
    discard: true,
  };
}

/** What the agent read of it: the same system, memory the kernel can use, the BMC's disk and an NVMe it missed, two more ports. */
function fromAgent(): AgentInventory {
  return {
    system: {
      manufacturer: 'Dell Inc.',
      model: 'PowerEdge R650',
      serial: '7XQ2K93',
      uuid: '4c4c4544-0058-5110-8032-b7c04f4b3933',
      sku: null,
      biosVersion: null,
    },
    firmware: { mode: 'uefi', secureBoot: true },
    cpu: { count: 2, cores: 8, threads: 16, model: 'Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz' },
    // MemTotal: 251.3 GiB of 256 installed, within the 10 % firmware and the kernel keep.
    memory: { totalGiB: 251.3, dimms: null },
    drives: [disk('sda', '203528FB1234'), disk('nvme0n1', 'PHAB1234002T1P6BGN')],
    nics: [
      { mac: 'b0:26:28:aa:bb:c0', name: 'eno1', speedMbps: 1000, linkStatus: 'LinkUp', driver: 'tg3', pciAddress: null, lldp: null },
      { mac: 'b0:26:28:aa:bb:c1', name: 'eno2', speedMbps: null, linkStatus: 'LinkDown', driver: 'tg3', pciAddress: null, lldp: null },
      {
        mac: '0c:42:a1:11:22:33',
        name: 'ens1f0',
        speedMbps: 25000,
        linkStatus: 'LinkUp',
        driver: 'mlx5_core',
        pciAddress: null,
        lldp: null,
      },
    ],
    pci: [],
  };
}

test("inspection: what the BMC left unknown is filled from the agent's reading, what disagrees is listed; another machine's NIC is never taken", () => {
  const owners = new Map([['0c:42:a1:11:22:33', 'm-other']]);
  const { filled, differences } = compareInventories(fromBmc(), fromAgent(), (mac) => owners.get(mac) ?? null);
  assert.deepEqual(differences, [
    'disk nvme0n1 (serial PHAB1234002T1P6BGN) seen by the agent only',
    '1 disks (BMC), 2 (agent)',
    'NIC 0c:42:a1:11:22:33 seen by the agent belongs to machine m-other: not added',
  ]);
  assert.deepEqual(filled.what, ['system UUID', 'NIC b0:26:28:aa:bb:c1']);
  const input = filled.input('/redfish/v1/Systems/System.Embedded.1');
  assert.equal(input.system.uuid, '4c4c4544-0058-5110-8032-b7c04f4b3933');
  assert.equal(input.system.biosVersion, '1.9.2', "the BMC's value stays where it had one");
  assert.equal(input.memory.totalGiB, 256);
  assert.deepEqual(
    input.nics.map((nic) => nic.mac),
    ['b0:26:28:aa:bb:c0', 'b0:26:28:aa:bb:c1'],
  );
  assert.equal(input.drives.length, 1, 'the BMC listed disks: they stay as it listed them');
});

test('inspection: a BMC without storage inventory gets the agent disks; memory far below the installed total and another serial disagree', () => {
  const bmc = { ...fromBmc(), drives: [] };
  const agent = { ...fromAgent(), system: { ...fromAgent().system, serial: '8ZZ9Q11' }, memory: { totalGiB: 125.6, dimms: null } };
  const { filled, differences } = compareInventories(bmc, agent, () => null);
  assert.deepEqual(differences, ['serial "7XQ2K93" (BMC), "8ZZ9Q11" (agent)', 'memory GiB 256 (BMC), 125.6 (agent)']);
  assert.deepEqual(filled.what, ['system UUID', '2 disks', 'NIC b0:26:28:aa:bb:c1', 'NIC 0c:42:a1:11:22:33']);
  assert.deepEqual(
    filled.input(null).drives.map((drive) => drive.serial),
    ['203528FB1234', 'PHAB1234002T1P6BGN'],
  );
});
