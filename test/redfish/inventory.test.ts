import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RedfishClient } from '../../src/redfish/client.js';
import { scrapeInventory, type ScrapeResult } from '../../src/redfish/inventory.js';
import { EXPECTED, type ExpectedSystem } from './expected.js';
import { startMockup } from '../../lab/redfish-mockup.js';

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

function check(result: ScrapeResult, expected: ExpectedSystem[]): void {
  assert.deepEqual(
    result.systems.map((system) => ({
      path: system.systemPath,
      serial: system.system.serial,
      model: system.system.model,
      cpu: [system.cpu.count, system.cpu.cores],
      memoryGiB: system.memory.totalGiB,
      macs: system.nics.map((nic) => nic.mac).sort(),
      drives: system.drives.length,
    })),
    expected.map((system) => ({ ...system, macs: [...system.macs].sort() })),
  );
}

test('DMTF Interface Emulator: the NIC with only the legacy MacAddress keys is found', async () => {
  const result = await scrape('dmtf-interface-emulator-static');
  check(result, EXPECTED['dmtf-interface-emulator-static']!);
  assert.equal(result.bmc.model, 'Joo Janta 200');
  assert.deepEqual(result.systems[0]!.bootTargets?.includes('Pxe'), true);
});

test('DMTF public-rackmount1: SimpleStorage only, and the host-to-manager interface', async () => {
  check(await scrape('dmtf-public-rackmount1'), EXPECTED['dmtf-public-rackmount1']!);
});

test('DMTF public-bladed: four blades behind one service, summaries only, no host NICs', async () => {
  check(await scrape('dmtf-public-bladed'), EXPECTED['dmtf-public-bladed']!);
});

test('DMTF public-tower: GPUs are not CPUs; drives from Storage', async () => {
  check(await scrape('dmtf-public-tower'), EXPECTED['dmtf-public-tower']!);
});

test('DMTF public-localstorage and public-smartnic: the SmartNIC ports belong to the host', async () => {
  check(await scrape('dmtf-public-localstorage'), EXPECTED['dmtf-public-localstorage']!);
  check(await scrape('dmtf-public-smartnic'), EXPECTED['dmtf-public-smartnic']!);
});

test('Gigabyte (AMI MegaRAC): the same MAC listed twice counts once; odd DIMM sizes', async () => {
  const result = await scrape('gigabyte-ami-megarac');
  check(result, EXPECTED['gigabyte-ami-megarac']!);
  assert.equal(result.systems[0]!.cpu.model, 'AMD EPYC 7702 64-Core Processor', 'trailing spaces trimmed');
});

test('HPE iLO 5: NICs from EthernetInterfaces, adapter functions and port associations; FC WWNs are not MACs', async () => {
  const result = await scrape('hpe-ilo5-proliant-dl325-gen10plus-fc');
  check(result, EXPECTED['hpe-ilo5-proliant-dl325-gen10plus-fc']!);
  assert.deepEqual(result.bmc, { model: 'iLO 5', firmware: 'iLO 5 v2.46', mac: '94:40:c9:37:d3:fc' });
  assert.deepEqual(result.systems[0]!.drives[0], {
    name: '480GB 6G SATA SSD',
    model: 'MK000480GWSSC',
    serial: 'S521NA0T605357',
    capacityBytes: 480103981056,
    mediaType: 'SSD',
    protocol: 'SATA',
  });
});

test('Supermicro X10 (Redfish 1.0.1): Disabled NICs kept, blank serial is unknown, the dead Storage link noted', async () => {
  const result = await scrape('supermicro-x10sdv-ast2400-redfish-1.0.1');
  check(result, EXPECTED['supermicro-x10sdv-ast2400-redfish-1.0.1']!);
  assert.match(result.notes.join('\n'), /\/redfish\/v1\/Systems\/1\/Storage: HTTP 404/);
});

test("this project's dual-system fixture: no service root, empty bays, a drive listed twice, backplanes, a SmartNIC SoC with its own ports and manager", async () => {
  const result = await scrape('metalbox-dual-system-quirks');
  check(result, EXPECTED['metalbox-dual-system-quirks']!);
  assert.deepEqual(result.notes, [
    'the service root /redfish/v1/ answered 404: read through the standard paths /redfish/v1/Systems, Managers and Chassis',
  ]);
  // The service is the BMC of the host (Managers/BMC), though the SoC's manager is listed first.
  assert.deepEqual(result.bmc, { model: 'Contoso BMC 9', firmware: '7.10.30', mac: 'b8:59:9f:00:aa:01' });
  const [dpu, host] = result.systems;
  assert.deepEqual([dpu!.bmc, dpu!.manager], [null, { path: '/redfish/v1/Managers/DPU_BMC', model: 'DPU BMC', firmware: '24.04-1' }]);
  assert.deepEqual(
    [host!.bmc?.firmware, host!.manager],
    ['7.10.30', { path: '/redfish/v1/Managers/BMC', model: 'Contoso BMC 9', firmware: '7.10.30' }],
  );
  assert.deepEqual(
    host!.drives.map((drive) => drive.serial),
    ['S6KRNA0001', 'S6KRNA0002'],
  );
  assert.deepEqual(
    dpu!.drives.map((drive) => [drive.name, drive.capacityBytes]),
    [['eMMC 64GB', 62537072640]],
  );
});
