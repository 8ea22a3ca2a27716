import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, mkdtempSync, openSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../lab/kit.js';
import { prepareDataDir, Store } from '../../src/store/index.js';
import { claimAddress, dl360Inventory, runCli, startServe } from '../helpers.js';
import { edk2Discover } from '../dhcp-proxy/fixtures.js';

/** Fills the file system holding `dir` to the last byte; returns the filler file. */
function fill(dir: string): string {
  const filler = join(dir, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(4096, 0xaa);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return filler;
}

test('a full disk: /healthz 503 with the reason, the CLI says so, booting machines still answered, and it recovers by itself', {
  skip: process.getuid?.() !== 0 ? 'needs root to mount a small tmpfs' : false,
}, async (t) => {
  const mount = mkdtempSync(join(tmpdir(), 'metalbox-small-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount]);
  t.after(() => {
    execFileSync('umount', ['-l', mount]);
    rmdirSync(mount);
  });
  const dataDir = join(mount, 'data');
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  const { id } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01' });
  store.machines.recordInventory(
    id,
    { ...dl360Inventory(), nics: [{ mac: '52:54:00:77:00:e1', name: 'virtio', speedMbps: null, linkStatus: null }] },
    { type: 'inventory', message: 'inspected' },
  );
  store.close();
  const serve = await startServe(t, ['--data-dir', dataDir]);
  const database = join(dataDir, 'metalbox.db');

  const filler = fill(mount);
  // Writes that need new pages now fail: DHCP snooping of many clients makes them.
  const sender = createSocket('udp4');
  t.after(() => sender.close());
  const packet = Buffer.from(edk2Discover);
  const health = async () =>
    (await fetch(`${serve.url}/healthz`)).json() as Promise<{ status: string; reason?: string; database?: string }>;
  await waitFor(
    'healthz to report the full disk',
    async () => {
      for (let index = 0; index < 500; index++) {
        packet.writeUInt32BE(Math.floor(Math.random() * 0xffffffff), 30);
        sender.send(Buffer.from(packet), serve.dhcpPort, '127.0.0.1');
      }
      return (await health()).status === 'degraded';
    },
    20_000,
  );
  const healthz = await fetch(`${serve.url}/healthz`);
  assert.equal(healthz.status, 503);
  assert.deepEqual(await health(), {
    ...(await health()),
    status: 'degraded',
    reason: 'metalbox cannot write its database: disk full',
    database,
  });

  const onboard = await runCli(['onboard', '02:00:00:00:00:99', '--ip', '127.0.0.1', '--server', serve.url], {
    METALBOX_DATA_DIR: dataDir,
  });
  assert.equal(onboard.code, 1);
  assert.equal(onboard.stderr, `error: metalbox cannot write its database: disk full (${database})\n`);
  // The hot path answers from memory: the machine's PXE request gets its ACK.
  await claimAddress(serve, '127.0.0.1', '52:54:00:77:00:e1');
  const stats = (await (await serve.fetch('/api/v1/stats')).json()) as { dhcp: { answered: number } };
  assert.equal(stats.dhcp.answered, 1);
  assert.equal(serve.log().match(/"msg":"cannot write the database: disk full/g)?.length, 1, 'one line, not one per failed batch');

  rmSync(filler);
  await waitFor('healthz to recover', async () => (await health()).status === 'ok', 15_000);
  const again = await runCli(['onboard', '02:00:00:00:00:99', '--ip', '127.0.0.1', '--server', serve.url], { METALBOX_DATA_DIR: dataDir });
  assert.equal(again.code, 0, again.stderr);
  await sleep(100);
  assert.match(serve.log(), /"msg":"the database can be written again"/);
  assert.equal(await serve.stop(), 0);
});
