import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { decodePacket, Option } from '../../src/dhcp-proxy/codec.js';
import { resolveAdvertise } from '../../src/server.js';
import type { Config } from '../../src/config/settings.js';
import { Store } from '../../src/store/index.js';
import { dl360Inventory, startServe, tempDir } from '../helpers.js';
import { edk2Request4011 } from './fixtures.js';

test('serve answers a UEFI REQUEST on its PXE port over real UDP, snoops it, and counts drops', async (t) => {
  const dataDir = tempDir(t);
  const store = Store.open(dataDir);
  const { id } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01' });
  const inventory = dl360Inventory();
  inventory.nics.push({ mac: '52:54:00:77:00:e1', name: 'virtio', speedMbps: null, linkStatus: null });
  store.machines.recordInventory(id, inventory, { type: 'inventory', message: 'inspected' });
  store.close();

  const serve = await startServe(t, ['--data-dir', dataDir, '--log-level', 'debug']);
  assert.ok(serve.pxePort > 0 && serve.dhcpPort > 0, serve.log());
  const client = createSocket('udp4');
  t.after(() => client.close());
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  const replies: Buffer[] = [];
  client.on('message', (message) => replies.push(message));

  client.send(edk2Request4011, serve.pxePort, '127.0.0.1');
  const stranger = Buffer.from(edk2Request4011);
  stranger[33] = 0x99;
  client.send(stranger, serve.pxePort, '127.0.0.1');
  for (let index = 0; index < 10; index++) client.send(Buffer.from('not dhcp at all'), serve.pxePort, '127.0.0.1');

  const deadline = Date.now() + 5000;
  while (replies.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setTimeout(resolve, 300)); // any second reply would be here by now
  assert.equal(replies.length, 1, 'one answer: the known machine; silence for the stranger and the garbage');
  const ack = decodePacket(replies[0]!);
  assert.equal(ack.options.get(Option.MESSAGE_TYPE)![0], 5);
  assert.equal(ack.xid, 0x1c0ffee2);
  assert.equal(ack.file, 'snponly.efi');
  assert.equal(ack.siaddr, '127.0.0.1', 'advertise defaults to --listen');

  const stats = (await (await serve.fetch(`/api/v1/stats`)).json()) as { dhcp: { answered: number; drops: Record<string, number> } };
  assert.equal(stats.dhcp.answered, 1);
  assert.deepEqual(stats.dhcp.drops, { 'no-boot-decision': 1, 'too-short': 10 });
  // Drops are logged once a minute per client and reason, however many come.
  assert.equal(serve.log().match(/"reason":"too-short"[^\n]*"msg":"dhcp: no answer"/g)?.length, 1, serve.log());
  assert.equal(serve.log().match(/"reason":"no-boot-decision"[^\n]*"msg":"dhcp: no answer"/g)?.length, 1);

  let observations: Array<{ mac: string; messageType: string; ip: string }> = [];
  while (observations.length < 2 && Date.now() < deadline + 3000) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    observations = (await (await serve.fetch(`/api/v1/observations`)).json()) as typeof observations;
  }
  assert.deepEqual(observations.map((o) => [o.mac, o.messageType, o.ip]).sort(), [
    ['52:54:00:77:00:99', 'REQUEST', '10.77.0.101'],
    ['52:54:00:77:00:e1', 'REQUEST', '10.77.0.101'],
  ]);
  assert.equal((await serve.fetch(`/api/v1/observations?mac=nonsense`)).status, 400);
  let events: Array<{ type: string; message: string; data: unknown }> = [];
  while (events.at(-1)?.type !== 'boot.dhcp' && Date.now() < deadline + 6000) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    events = (await (await serve.fetch(`/api/v1/machines/${id}/events`)).json()) as typeof events;
  }
  assert.deepEqual(events.at(-1), {
    ...events.at(-1),
    type: 'boot.dhcp',
    message: 'ProxyDHCP ack: snponly.efi',
    data: { firmware: 'uefi', arch: 7, loader: 'ipxe', count: 1 },
  });
  assert.equal(await serve.stop(), 0);
});

test('advertise: explicit, else --listen, else the only non-loopback IPv4 address', () => {
  const base = { listen: '0.0.0.0' } as Config;
  const nic = (address: string, internal = false) => ({
    address,
    family: 'IPv4' as const,
    internal,
    netmask: '255.255.255.0',
    mac: '00:00:00:00:00:00',
    cidr: null,
  });
  assert.equal(resolveAdvertise({ ...base, advertise: '192.0.2.9' }, {}), '192.0.2.9');
  assert.equal(resolveAdvertise({ ...base, listen: '192.0.2.8' }, {}), '192.0.2.8');
  assert.equal(resolveAdvertise(base, { lo: [nic('127.0.0.1', true)], eth0: [nic('192.0.2.7')] }), '192.0.2.7');
  assert.throws(
    () => resolveAdvertise(base, { eth0: [nic('192.0.2.7')], eth1: [nic('198.51.100.7')] }),
    /several IPv4 addresses \(192\.0\.2\.7, 198\.51\.100\.7\): set --advertise/,
  );
  assert.throws(() => resolveAdvertise(base, { lo: [nic('127.0.0.1', true)] }), /no IPv4 address to advertise/);
});
