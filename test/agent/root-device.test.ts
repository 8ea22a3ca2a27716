import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentDrive } from '../../src/agent/inventory.js';
import { chooseRootDevice } from '../../src/agent/root-device.js';

const GIB = 1024 ** 3;

function drive(device: string, gib: number, extra: Partial<AgentDrive> = {}): AgentDrive {
  return {
    name: device,
    device,
    model: null,
    serial: null,
    capacityBytes: gib * GIB,
    mediaType: null,
    protocol: null,
    byPath: `pci-0000:00:1f.2-ata-${device}`,
    rotational: false,
    removable: false,
    wwn: null,
    logicalBlockSize: 512,
    discard: false,
    ...extra,
  } as AgentDrive;
}

/** A server like the R650 fixture's, plus a USB stick and a 2 GiB SATADOM. */
const DRIVES = [
  drive('nvme0n1', 1490, { model: 'Dell Ent NVMe P5600', serial: 'PHAB1', byPath: 'pci-0000:31:00.0-nvme-1' }),
  drive('sda', 223, { model: 'MTFDDAV240TDU', serial: '2035', wwn: '0x500a0751' }),
  drive('sdb', 3725, { model: 'PERC H755 Front', rotational: true, byPath: 'pci-0000:b1:00.0-scsi-0:2:0:0' }),
  drive('sdc', 14, { model: 'USB Flash', removable: true }),
  drive('sdd', 2, { model: 'SATADOM' }),
];

const chosen = (hints: Parameters<typeof chooseRootDevice>[1], imageBytes: number | null = null) => {
  const choice = chooseRootDevice(DRIVES, hints, imageBytes);
  return 'drive' in choice ? choice.drive.device : choice.reason;
};

test('root device: the hints that fit, then the pick', () => {
  // No hints: the smallest of at least 4 GiB that is not removable (sdd is 2 GiB, sdc removable).
  assert.equal(chosen({}), 'sda');
  assert.equal(chosen({ pick: 'largest' }), 'sdb');
  // First by stable path: pci-0000:00:1f.2-ata-sda < pci-0000:31:00.0-nvme-1 < pci-0000:b1:...
  assert.equal(chosen({ pick: 'first' }), 'sda');
  assert.equal(chosen({ rotational: true }), 'sdb');
  assert.equal(chosen({ model: 'p5600' }), 'nvme0n1', 'model: a substring, any case');
  assert.equal(chosen({ serial: 'PHAB1' }), 'nvme0n1');
  assert.equal(chosen({ wwn: '0x500a0751' }), 'sda');
  assert.equal(chosen({ byPath: '/dev/disk/by-path/pci-0000:b1:00.0-scsi-0:2:0:0' }), 'sdb');
  assert.equal(chosen({ minSizeGiB: 1000 }), 'nvme0n1');
  assert.equal(chosen({ minSizeGiB: 1, maxSizeGiB: 3 }), 'sdd', 'a small disk when the hints ask for one');
  assert.equal(chosen({ rotational: false, minSizeGiB: 500 }), 'nvme0n1', 'every hint must hold');
  // An image larger than sda (223 GiB) goes to the next smallest.
  assert.equal(chosen({}, 300 * GIB), 'nvme0n1');
});

test('root device: none fits, and the reason names what was asked and every disk seen', () => {
  assert.equal(
    chosen({ serial: 'NOPE', pick: 'largest' }),
    'no disk fits the root device hints (serial "NOPE", at least 4 GiB, not removable): the agent saw ' +
      'nvme0n1 1490 GiB "Dell Ent NVMe P5600" serial PHAB1 pci-0000:31:00.0-nvme-1; ' +
      'sda 223 GiB "MTFDDAV240TDU" serial 2035 pci-0000:00:1f.2-ata-sda; ' +
      'sdb 3725 GiB "PERC H755 Front" pci-0000:b1:00.0-scsi-0:2:0:0; ' +
      'sdc 14 GiB "USB Flash" pci-0000:00:1f.2-ata-sdc removable; ' +
      'sdd 2 GiB "SATADOM" pci-0000:00:1f.2-ata-sdd',
  );
  const none = chooseRootDevice([], {});
  assert.deepEqual(none, { reason: 'no disk fits the root device hints (at least 4 GiB, not removable): the agent saw no disk' });
});
