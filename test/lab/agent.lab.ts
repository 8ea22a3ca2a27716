/**
 * The agent lab: the image `metalbox agent build` makes boots in QEMU (SeaBIOS, the lab's
 * VM with two blank virtio disks), loads the drivers of the devices it finds by their
 * modalias, and reads the machine: the inventory metalbox makes of what it printed has the
 * VM's MAC and disks. The network is QEMU's user network with restrict=on: nothing leaves
 * the VM. Run with `npm run test:lab` (scripts/lab-deps installs QEMU).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildAgentImage } from '../../src/agent/build.js';
import { type Facts, parseFacts } from '../../src/agent/inventory.js';
import { ROOT } from '../../lab/guest.js';
import { tempDir } from '../helpers.js';

test('the agent image boots in the lab VM and reads its NIC and both disks', (t) => {
  const image = buildAgentImage(join(ROOT, '.cache/agent'));
  const tree = join(tempDir(t), 'capture');
  const started = Date.now();
  execFileSync('sh', [join(ROOT, 'test/agent/fixtures/capture-qemu-vm.sh'), image.dir, tree], { stdio: 'ignore' });
  t.diagnostic(`booted, read and powered off in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const facts = (
    JSON.parse(
      execFileSync('busybox', ['sh', join(ROOT, 'agent/metalbox-agent'), 'collect'], {
        env: { MBX_ROOT: tree, PATH: process.env.PATH },
        encoding: 'utf8',
      }),
    ) as { facts: Facts }
  ).facts;
  const inventory = parseFacts(facts);
  assert.deepEqual(
    inventory.nics.map((nic) => [nic.mac, nic.driver]),
    [['52:54:00:12:34:56', 'virtio_net']],
    'virtio_net loaded from the image by modalias',
  );
  assert.deepEqual(
    inventory.drives.map((drive) => [drive.device, drive.capacityBytes]),
    [
      ['vda', 64 * 1024 * 1024],
      ['vdb', 128 * 1024 * 1024],
    ],
    'virtio_blk loaded; the blank disks of the script',
  );
  assert.equal(inventory.system.manufacturer, 'QEMU');
});
