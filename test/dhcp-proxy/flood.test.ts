import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Store } from '../../src/store/index.js';
import { dl360Inventory, startServe, tempDir, type Serving } from '../helpers.js';
import { edk2Discover, edk2Request4011 } from './fixtures.js';

const CAP = 5000;

function rssMiB(pid: number): number {
  const kib = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return kib / 1024;
}

/** `count` DISCOVERs, each from a random MAC (EDK2's packet, chaddr rewritten), paced at ~20,000 a second. */
async function flood(socket: Socket, port: number, count: number): Promise<void> {
  const packet = Buffer.from(edk2Discover);
  for (let sent = 0; sent < count; ) {
    for (let burst = 0; burst < 200 && sent < count; burst++, sent++) {
      packet.writeUInt32BE(Math.floor(Math.random() * 0xffffffff), 30);
      packet.writeUInt16BE(0x0200, 28); // locally administered, unicast
      socket.send(Buffer.from(packet), port, '127.0.0.1');
    }
    await sleep(10);
  }
}

/** Whether the machine's PXE request on 4011 is answered, trying as EDK2 does (4 tries, a second apart). */
async function answered(serve: Serving): Promise<boolean> {
  const client = createSocket('udp4');
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  try {
    const reply = new Promise<true>((resolve) => client.once('message', () => resolve(true)));
    for (let attempt = 0; attempt < 4; attempt++) {
      client.send(edk2Request4011, serve.pxePort, '127.0.0.1');
      if (await Promise.race([reply, sleep(1000, false)])) return true;
    }
    return false;
  } finally {
    client.close();
  }
}

test('a flood of 200,000 spoofed DISCOVERs: observations within the cap, memory flat, the PXE client still answered', async (t) => {
  const dataDir = tempDir(t);
  const store = Store.open(dataDir);
  const { id } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01' });
  store.machines.recordInventory(
    id,
    { ...dl360Inventory(), nics: [{ mac: '52:54:00:77:00:e1', name: 'virtio', speedMbps: null, linkStatus: null }] },
    { type: 'inventory', message: 'inspected' },
  );
  store.close();
  const serve = await startServe(t, ['--data-dir', dataDir], { METALBOX_SNOOPING_MAX_OBSERVATIONS: String(CAP) });
  const pid = serve.child.pid!;
  const sender = createSocket('udp4');
  t.after(() => sender.close());
  await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', resolve));

  await sleep(1000); // serving and idle
  const before = rssMiB(pid);

  const flooding = flood(sender, serve.dhcpPort, 200_000);
  await sleep(4000);
  assert.ok(await answered(serve), 'answered during the flood');
  await flooding;
  const peak = rssMiB(pid);
  assert.ok(await answered(serve), 'answered after the flood');
  await sleep(2500); // two more flushes

  const stats = (await (await serve.fetch('/api/v1/stats')).json()) as {
    dhcp: { drops: Record<string, number> };
    snooping: { dropped: number; observations: number };
  };
  t.diagnostic(
    `RSS ${before.toFixed(1)} MiB before, ${peak.toFixed(1)} MiB at the end of the flood; ${stats.dhcp.drops['no-boot-decision']} DISCOVERs read, ${stats.snooping.dropped} observations dropped, ${stats.snooping.observations} rows`,
  );
  assert.ok(stats.snooping.observations <= CAP, `${stats.snooping.observations} rows, cap ${CAP}`);
  assert.ok(stats.snooping.observations >= CAP / 2, 'the flood was recorded up to the cap');
  assert.ok(stats.snooping.dropped > 0, 'past the write budget, observations are dropped and counted');
  assert.ok(peak - before < 30, `RSS grew ${(peak - before).toFixed(1)} MiB`);
  assert.equal(await serve.stop(), 0);
});

test('the flood again with boot.unknown: discover: every spoofed client is offered a boot, none gets a machine record', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'metalbox.yaml');
  writeFileSync(config, ['profiles:', '  rescue:', '    script: |', '      #!ipxe', '      echo rescue', ''].join('\n'));
  const serve = await startServe(t, [
    '--data-dir',
    join(dir, 'data'),
    '--config',
    config,
    '--boot-unknown',
    'discover',
    '--discovery-profile',
    'rescue',
  ]);
  const sender = createSocket('udp4');
  t.after(() => sender.close());
  await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', resolve));
  await flood(sender, serve.dhcpPort, 20_000);
  await sleep(2500); // two flushes
  const stats = (await (await serve.fetch('/api/v1/stats')).json()) as { dhcp: { answered: number } };
  t.diagnostic(`${stats.dhcp.answered} of 20,000 DISCOVERs offered a boot`);
  assert.ok(stats.dhcp.answered > 0, 'unknown clients are offered a boot when discovering');
  // A record needs a script request: a DHCP packet costs the inventory nothing.
  assert.deepEqual(await (await serve.fetch('/api/v1/machines')).json(), []);
  assert.equal(await serve.stop(), 0);
});
