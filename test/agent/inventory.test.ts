import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type AgentInventory, type Facts, parseFacts } from '../../src/agent/inventory.js';
import { tempDir } from '../helpers.js';

// dist/test/agent → the repository: the agent program and the fixtures are not compiled.
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const AGENT = join(REPO, 'agent/metalbox-agent');
const FIXTURES = join(REPO, 'test/agent/fixtures');

/** The agent program run by the busybox the agent image ships, on a tree instead of the machine. */
function agent(root: string, ...args: string[]): string {
  return execFileSync('busybox', ['sh', AGENT, ...args], { env: { MBX_ROOT: root, PATH: process.env.PATH }, encoding: 'utf8' });
}

const collect = (root: string) => (JSON.parse(agent(root, 'collect')) as { facts: Facts }).facts;

function r650(t: Parameters<typeof tempDir>[0]): string {
  const root = tempDir(t);
  execFileSync('sh', [join(FIXTURES, 'poweredge-r650.sh'), root]);
  return root;
}

test('a PowerEdge R650 tree: DMI, CPUs, memory, disks with stable paths, ports, PCI functions', (t) => {
  const inventory = parseFacts(collect(r650(t)));
  const expected: AgentInventory = {
    system: {
      manufacturer: 'Dell Inc.',
      model: 'PowerEdge R650',
      serial: '7XQ2K93',
      uuid: '4c4c4544-0058-5110-8032-b7c04f4b3933',
      sku: 'SKU=090E;ModelName=PowerEdge R650',
      biosVersion: '1.10.2',
    },
    // fw_platform_size is there, and SecureBoot's data byte is 1.
    firmware: { mode: 'uefi', secureBoot: true },
    // 8 processor entries, physical ids 0 and 1, "cpu cores: 2" in each.
    cpu: { count: 2, cores: 4, threads: 8, model: 'Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz' },
    // 263617180 kB / 1048576 = 251.41 GiB.
    memory: { totalGiB: 251.4, dimms: null },
    drives: [
      {
        device: 'nvme0n1',
        name: 'nvme0n1',
        model: 'Dell Ent NVMe P5600 MU U.2 1.6TB',
        serial: 'PHAB1234002T1P6BGN',
        capacityBytes: 3125627568 * 512,
        mediaType: 'SSD',
        protocol: 'NVMe',
        byPath: 'pci-0000:31:00.0-nvme-1',
        rotational: false,
        removable: false,
        wwn: 'eui.01000000010000005cd2e4e359325051',
        logicalBlockSize: 512,
        discard: true,
      },
      {
        device: 'sda',
        name: 'sda',
        model: 'MTFDDAV240TDU',
        // From VPD page 0x80: the header bytes 00 80 00 0c are not text.
        serial: '203528FB1234',
        capacityBytes: 468862128 * 512,
        mediaType: 'SSD',
        protocol: 'SATA',
        byPath: 'pci-0000:00:17.0-ata-3',
        rotational: false,
        removable: false,
        wwn: null,
        logicalBlockSize: 512,
        discard: true,
      },
      {
        device: 'sdb',
        name: 'sdb',
        model: 'PERC H755 Front',
        serial: null,
        capacityBytes: 7812499456 * 512,
        mediaType: 'HDD',
        protocol: 'SCSI',
        byPath: 'pci-0000:b1:00.0-scsi-0:2:0:0',
        rotational: true,
        removable: false,
        wwn: 'naa.6f4ee0806a0c2e002a9d5e1c4b1f0e2d',
        logicalBlockSize: 512,
        discard: false,
      },
    ],
    // bond0 and lo are virtual; the Mellanox MAC is lowercased.
    nics: [
      {
        mac: 'b0:26:28:aa:bb:c0',
        name: 'eno12399np0',
        speedMbps: 25000,
        linkStatus: 'LinkUp',
        driver: 'bnxt_en',
        pciAddress: '0000:04:00.0',
        lldp: {
          chassisId: '00:1c:73:aa:bb:cc',
          chassisIdSubtype: 'mac',
          portId: 'Ethernet7',
          portIdSubtype: 'interface-name',
          portDescription: 'rack12-u07',
          systemName: 'leaf-r12a',
          systemDescription: 'Arista EOS',
          managementAddresses: ['10.0.12.2'],
          vlan: 200,
        },
      },
      {
        mac: 'b0:26:28:aa:bb:c1',
        name: 'eno12409np1',
        speedMbps: null,
        linkStatus: 'LinkDown',
        driver: 'bnxt_en',
        pciAddress: '0000:04:00.1',
        // Down: no listener, no frame.
        lldp: null,
      },
      {
        mac: '0c:42:a1:11:22:33',
        name: 'ens3f0np0',
        speedMbps: 100000,
        linkStatus: 'LinkUp',
        driver: 'mlx5_core',
        pciAddress: '0000:98:00.0',
        // The tag skipped; the BEL byte gone from the name; no VLAN TLV, so no VLAN (the tag's is not the port's).
        lldp: {
          chassisId: 'SSI1234ABCD',
          chassisIdSubtype: 'local',
          portId: '00:de:fb:11:22:40',
          portIdSubtype: 'mac',
          portDescription: null,
          systemName: 'core-sw',
          systemDescription: null,
          managementAddresses: [],
          vlan: null,
        },
      },
    ],
    pci: [
      { address: '0000:00:17.0', vendor: '0x8086', device: '0xa182', class: '0x010601', driver: 'ahci' },
      { address: '0000:04:00.0', vendor: '0x14e4', device: '0x16d7', class: '0x020000', driver: 'bnxt_en' },
      { address: '0000:04:00.1', vendor: '0x14e4', device: '0x16d7', class: '0x020000', driver: 'bnxt_en' },
      { address: '0000:31:00.0', vendor: '0x8086', device: '0x0b60', class: '0x010802', driver: 'nvme' },
      { address: '0000:98:00.0', vendor: '0x15b3', device: '0x101d', class: '0x020000', driver: 'mlx5_core' },
      { address: '0000:b1:00.0', vendor: '0x1000', device: '0x10e2', class: '0x010400', driver: 'megaraid_sas' },
    ],
  };
  assert.deepEqual(inventory, expected);
});

test('a Firecracker VM captured by the agent (no DMI, a virtio disk and port; loop, zram and ifb devices left out)', () => {
  const inventory = parseFacts(collect(join(FIXTURES, 'firecracker-vm')));
  assert.deepEqual(inventory.system, { manufacturer: null, model: null, serial: null, uuid: null, sku: null, biosVersion: null });
  assert.deepEqual(inventory.cpu, { count: 1, cores: 2, threads: 2, model: 'AMD EPYC' });
  // 24683748 kB / 1048576 = 23.54 GiB.
  assert.deepEqual(inventory.memory, { totalGiB: 23.5, dimms: null });
  assert.deepEqual(
    inventory.drives.map((drive) => [drive.device, drive.capacityBytes, drive.protocol, drive.byPath, drive.rotational]),
    [['vda', 536870912 * 512, 'virtio', 'pci-0000:00:02.0', true]],
  );
  assert.deepEqual(inventory.nics, [
    {
      mac: '02:fc:00:00:00:01',
      name: 'eth0',
      speedMbps: null,
      linkStatus: 'LinkUp',
      driver: 'virtio_net',
      pciAddress: '0000:00:03.0',
      lldp: null,
    },
  ]);
  assert.equal(inventory.pci.length, 6);
});

test('UEFI without Secure Boot, with its variable missing, or with a variable that is not one byte of 0 or 1', async (t) => {
  const uefi = (variable: Buffer | null) => {
    const root = tempDir(t);
    mkdirSync(join(root, 'sys/firmware/efi/efivars'), { recursive: true });
    writeFileSync(join(root, 'sys/firmware/efi/fw_platform_size'), '64\n');
    if (variable !== null) writeFileSync(join(root, 'sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c'), variable);
    return parseFacts(collect(root)).firmware;
  };
  const attributes = Buffer.from([6, 0, 0, 0]);
  await t.test('data byte 0: off', () =>
    assert.deepEqual(uefi(Buffer.concat([attributes, Buffer.from([0])])), { mode: 'uefi', secureBoot: false }),
  );
  await t.test('no variable (efivarfs not mounted): unknown', () => assert.deepEqual(uefi(null), { mode: 'uefi', secureBoot: null }));
  await t.test('two data bytes, "1 1": unknown', () =>
    assert.deepEqual(uefi(Buffer.concat([attributes, Buffer.from([1, 1])])), { mode: 'uefi', secureBoot: null }),
  );
  await t.test('attributes only: unknown', () => assert.deepEqual(uefi(attributes), { mode: 'uefi', secureBoot: null }));
});

test('capture copies what collect reads into a tree that collects the same, links included', (t) => {
  const source = r650(t);
  const copy = join(tempDir(t), 'capture');
  agent(source, 'capture', copy);
  assert.deepEqual(collect(copy), collect(source));
});

test('hostile text from the hardware: quotes, backslashes, control and non-ASCII bytes, huge files; the JSON holds and the values lose what is not text', async (t) => {
  const root = tempDir(t);
  const device = join(root, 'sys/devices/pci0000:00/0000:00:05.0/virtio3/block/vda');
  mkdirSync(join(device, 'queue'), { recursive: true });
  mkdirSync(join(root, 'sys/block'), { recursive: true });
  symlinkSync('../devices/pci0000:00/0000:00:05.0/virtio3/block/vda', join(root, 'sys/block/vda'));
  mkdirSync(join(root, 'sys/devices/pci0000:00/0000:00:05.0/virtio3'), { recursive: true });
  symlinkSync('../../../virtio3', join(device, 'device'));
  writeFileSync(join(device, 'size'), '2048\n');
  writeFileSync(
    join(root, 'sys/devices/pci0000:00/0000:00:05.0/virtio3/model'),
    Buffer.from('Evil "disk" \\ \x1b[31mred\x07\r\nnext é\xff'),
  );
  writeFileSync(join(root, 'sys/devices/pci0000:00/0000:00:05.0/virtio3/serial'), 'A'.repeat(200_000));
  const facts = collect(root);
  await t.test('control and non-ASCII bytes are gone, quotes and backslashes kept, lines kept apart', () => {
    assert.equal(facts['sys/block/vda/device/model'], 'Evil "disk" \\ [31mred\nnext');
  });
  await t.test('a file is read up to 64 KiB', () => {
    assert.equal(facts['sys/block/vda/device/serial'], 'A'.repeat(65536));
  });
  await t.test('a one-line attribute with a line break in it reads as one line', () => {
    assert.equal(parseFacts(facts).drives[0]?.model, 'Evil "disk" \\ [31mrednext');
  });
});

test('the lab VM captured by the agent in QEMU (SeaBIOS, two virtio disks, an empty DVD drive left out)', () => {
  const inventory = parseFacts(collect(join(FIXTURES, 'qemu-pc-vm')));
  // QEMU leaves serial, SKU and UUID empty without -smbios or -uuid: nothing to match on.
  assert.deepEqual(inventory.system, {
    manufacturer: 'QEMU',
    model: 'Standard PC (i440FX + PIIX, 1996)',
    serial: null,
    uuid: null,
    sku: null,
    biosVersion: '1.16.2-debian-1.16.2-1',
  });
  assert.deepEqual(inventory.cpu, { count: 1, cores: 1, threads: 1, model: 'QEMU Virtual CPU version 2.5+' });
  // 468392 kB / 1048576 = 0.447 GiB of the VM's 512 MiB.
  assert.deepEqual(inventory.memory, { totalGiB: 0.4, dimms: null });
  // SeaBIOS: the kernel has no /sys/firmware/efi.
  assert.deepEqual(inventory.firmware, { mode: 'bios', secureBoot: false });
  // 131072 and 262144 sectors of 512 bytes; sr0 (peripheral type 5) is not a disk.
  assert.deepEqual(
    inventory.drives.map((drive) => [drive.device, drive.capacityBytes, drive.byPath, drive.discard]),
    [
      ['vda', 64 * 1024 * 1024, 'pci-0000:00:04.0', true],
      ['vdb', 128 * 1024 * 1024, 'pci-0000:00:05.0', true],
    ],
  );
  assert.deepEqual(inventory.nics, [
    {
      mac: '52:54:00:12:34:56',
      name: 'eth0',
      speedMbps: null,
      linkStatus: 'LinkUp',
      driver: 'virtio_net',
      pciAddress: '0000:00:03.0',
      lldp: null,
    },
  ]);
  assert.deepEqual(
    inventory.pci.filter((device) => device.driver !== null).map((device) => [device.address, device.driver]),
    [
      ['0000:00:01.1', 'ata_piix'],
      ['0000:00:03.0', 'virtio-pci'],
      ['0000:00:04.0', 'virtio-pci'],
      ['0000:00:05.0', 'virtio-pci'],
    ],
  );
});
