import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RedfishClient } from '../../src/redfish/client.js';
import { scrapeInventory, type ScrapeResult } from '../../src/redfish/inventory.js';
import { startMockup } from './mockup-server.js';

/**
 * Each mockup tree (test/redfish/mockups, pruned from ../shared/redfish-mockups), scraped through the mockup server. The expected
 * facts were read by hand from the trees' JSON (comments say where), not produced by the
 * scraper.
 */
async function scrape(tree: string): Promise<ScrapeResult> {
  const mockup = await startMockup({ tree });
  const client = new RedfishClient({ host: '127.0.0.1', port: mockup.port, scheme: 'http' }, { retries: 0 });
  try {
    return await scrapeInventory(client, await client.login('admin', 'password'));
  } finally {
    await client.close();
    assert.equal(mockup.sessions.size, 0, `${tree}: the session was deleted`);
    await mockup.close();
  }
}

interface Expected {
  path: string;
  serial: string | null;
  model: string | null;
  cpu: [count: number | null, cores: number | null];
  memoryGiB: number | null;
  macs: string[];
  drives: number;
}

function check(result: ScrapeResult, expected: Expected[]): void {
  assert.deepEqual(
    result.systems.map((system) => ({
      path: system.systemPath, serial: system.system.serial, model: system.system.model, cpu: [system.cpu.count, system.cpu.cores],
      memoryGiB: system.memory.totalGiB, macs: system.nics.map((nic) => nic.mac).sort(), drives: system.drives.length,
    })),
    expected.map((system) => ({ ...system, macs: [...system.macs].sort() })),
  );
}

test('DMTF Interface Emulator: the NIC with only the legacy MacAddress keys is found', async () => {
  const result = await scrape('dmtf-interface-emulator-static');
  check(result, [{
    path: '/redfish/v1/Systems/437XR1138R2', serial: '437XR1138R2', model: '3500RX',
    cpu: [1, 8], // CPU1: 8 cores; CPU2 is Status.State Absent (ProcessorSummary.Count says 2)
    memoryGiB: 96, // DIMM1-3 at 32768 MiB, DIMM4 Absent
    macs: ['12:44:6a:3b:04:11', '12:44:6a:3b:88:90', 'aa:bb:cc:dd:ee:00'], // NIC 1 legacy keys; NIC 2 permanent + current
    drives: 2, // SimpleStorage/1: bays 1 and 2; 3 and 4 Absent
  }]);
  assert.equal(result.bmc.model, 'Joo Janta 200');
  assert.deepEqual(result.systems[0]!.bootTargets?.includes('Pxe'), true);
});

test('DMTF public-rackmount1: SimpleStorage only, and the host-to-manager interface', async () => {
  check(await scrape('dmtf-public-rackmount1'), [{
    path: '/redfish/v1/Systems/437XR1138R2', serial: '437XR1138R2', model: '3500', cpu: [1, 8], memoryGiB: 96,
    // EthernetInterfaces 12446A3B0411, 12446A3B8890 (permanent ≠ current), VLAN1 (repeats the parent), ToManager
    macs: ['12:44:6a:3b:04:11', '12:44:6a:3b:88:90', 'aa:bb:cc:dd:ee:00', 'aa:bb:cc:dd:ee:fe'],
    drives: 2,
  }]);
});

test('DMTF public-bladed: four blades behind one service, summaries only, no host NICs', async () => {
  check(await scrape('dmtf-public-bladed'), ['529QB9450R6', '529QB9451R6', '529QB9452R6', '529QB9453R6'].map((serial) => ({
    path: `/redfish/v1/Systems/${serial}`, serial, model: 'SX1000', cpu: [1, 4], memoryGiB: 64, macs: [], drives: 2,
  })));
});

test('DMTF public-tower: GPUs are not CPUs; drives from Storage', async () => {
  check(await scrape('dmtf-public-tower'), [{
    path: '/redfish/v1/Systems/437XR1238R2', serial: '437XR1238R2', model: '3500',
    cpu: [8, 128], // 10 processors, 2 of them ProcessorType GPU; 16 cores each CPU
    memoryGiB: 1024, // 8 DIMMs of 131072 MiB present, 8 Absent
    macs: ['fb:aa:1d:4e:d0:7a', 'fb:aa:1d:4e:d0:7c', '00:0c:29:9a:98:ed', '00:0c:29:9a:98:ef'], // 2 EthernetInterfaces + NIC1's 2 functions
    drives: 18,
  }]);
});

test('DMTF public-localstorage and public-smartnic: the SmartNIC ports belong to the host', async () => {
  check(await scrape('dmtf-public-localstorage'), [{
    path: '/redfish/v1/Systems/437XR1138R2', serial: '437XR1138R2', model: '3500RX', cpu: [1, 8], memoryGiB: 96,
    macs: ['12:44:6a:3b:04:11', '12:44:6a:3b:88:90', 'aa:bb:cc:dd:ee:00'], drives: 4,
  }]);
  check(await scrape('dmtf-public-smartnic'), [
    {
      path: '/redfish/v1/Systems/437XR1138R2', serial: '437XR1138R2', model: '3500', cpu: [1, 8], memoryGiB: 96,
      // NetworkInterfaces → Card1/Slot1 and Card2/Slot2: functions SC2KP1F0/SC2KP2F0, permanent + current
      macs: ['a1:b1:c1:d1:e1:f1', 'aa:bb:cc:dd:ee:f5', 'a0:b0:c0:d0:e0:f0', 'aa:bb:cc:dd:ee:ff'],
      drives: 2,
    },
    { path: '/redfish/v1/Systems/Card1-SoC', serial: '637XR7568R4', model: '9900', cpu: [1, 4], memoryGiB: 8, macs: [], drives: 1 },
  ]);
});

test('Gigabyte (AMI MegaRAC): the same MAC listed twice counts once; odd DIMM sizes', async () => {
  const result = await scrape('gigabyte-ami-megarac');
  check(result, [{
    path: '/redfish/v1/Systems/Self', serial: 'GJG9NF512A000302', model: 'H262-Z63-00',
    cpu: [2, 128], // two AMD EPYC 7702, 64 cores each
    memoryGiB: 244.14, // 16 DIMMs × 15625 MiB = 250000 MiB (MemorySummary rounds to 244)
    macs: ['b4:2e:99:ba:de:15', 'b4:2e:99:ba:de:16'],
    drives: 1,
  }]);
  assert.equal(result.systems[0]!.cpu.model, 'AMD EPYC 7702 64-Core Processor', 'trailing spaces trimmed');
});

test('HPE iLO 5: NICs from EthernetInterfaces, adapter functions and port associations; FC WWNs are not MACs', async () => {
  const result = await scrape('hpe-ilo5-proliant-dl325-gen10plus-fc');
  check(result, [{
    path: '/redfish/v1/Systems/1', serial: 'MXQ019020B', model: 'ProLiant DL325 Gen10 Plus - SIMULATED',
    cpu: [1, 16], memoryGiB: 64, // 4 of 16 slots at 16384 MiB, 12 Absent
    macs: [
      '94:40:c9:5c:86:bc', '94:40:c9:5c:86:bd', '14:02:ec:d9:3a:a0', '14:02:ec:d9:3a:a1', // EthernetInterfaces
      '88:e9:a4:6b:f5:74', '88:e9:a4:6b:f5:75', '88:e9:a4:6b:f5:76', '88:e9:a4:6b:f5:77', // DE080000 functions and ports
    ],
    drives: 2, // Storage/DE00A000 → Chassis/DE00A000/Drives/2556, 2557
  }]);
  assert.deepEqual(result.bmc, { model: 'iLO 5', firmware: 'iLO 5 v2.46', mac: '94:40:c9:37:d3:fc' });
  assert.deepEqual(result.systems[0]!.drives[0], { name: '480GB 6G SATA SSD', model: 'MK000480GWSSC', serial: 'S521NA0T605357', capacityBytes: 480103981056, mediaType: 'SSD', protocol: 'SATA' });
});

test('Supermicro X10 (Redfish 1.0.1): Disabled NICs kept, blank serial is unknown, the dead Storage link noted', async () => {
  const result = await scrape('supermicro-x10sdv-ast2400-redfish-1.0.1');
  check(result, [{
    path: '/redfish/v1/Systems/1', serial: null, model: 'Super Server', cpu: [1, 8], memoryGiB: 64,
    macs: ['ac:1f:6b:18:a4:5a', 'ac:1f:6b:18:a4:5b', 'ac:1f:6b:18:a6:b2', 'ac:1f:6b:18:a6:b3'], // all Status.State Disabled
    drives: 0,
  }]);
  assert.match(result.notes.join('\n'), /\/redfish\/v1\/Systems\/1\/Storage: HTTP 404/);
});
