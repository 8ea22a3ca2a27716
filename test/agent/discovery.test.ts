import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { prepareDataDir, Store, type MachineEventJson } from '../../src/store/index.js';
import { claimAddress, eventsOf, startServe, tempDir } from '../helpers.js';
import { call, discovering, MACHINE_HOST, machines, NIC, OTHER_HOST, r650Facts, standInImage } from './kit.js';

test('PXE discovery: an unknown machine gets a record, boots the agent, and its report makes it ready; its token works only for it', async (t) => {
  const { serve, key } = await discovering(t);
  await claimAddress(serve, MACHINE_HOST, NIC);

  const script = await call(MACHINE_HOST, `${serve.url}/boot.ipxe?mac=${NIC}`);
  assert.equal(script.status, 200);
  const [found] = await machines(serve);
  assert.equal(found?.state, 'discovered');
  assert.deepEqual(
    found?.nics.map((nic) => nic.mac),
    [NIC],
  );
  const agentUrl = /mbx\.url=(\S+)/.exec(script.text)?.[1];
  assert.match(agentUrl ?? '', new RegExp(`^${serve.url}/agent/v1/${found!.id}/[\\w-]{43}$`));
  assert.match(script.text, new RegExp(`kernel ${serve.url}/agent/${key}/vmlinuz initrd=initrd\\.gz .*mbx\\.url=`));
  assert.match(script.text, new RegExp(`initrd --name initrd\\.gz ${serve.url}/agent/${key}/initrd\\.gz`));
  assert.equal(await (await fetch(`${serve.url}/agent/${key}/vmlinuz`)).text(), 'stand-in kernel', 'the image is served from memory');
  // The agent's kernel is a boot milestone of the machine that fetched it, as an installer's is.
  const milestones = (await eventsOf(serve, found!.id, (list) => list.some((event) => event.type === 'boot.kernel'))).filter(
    (event) => event.type === 'boot.kernel',
  );
  assert.deepEqual(
    milestones.map((event) => event.message),
    [`HTTP sent agent kernel ${key}/vmlinuz`],
  );

  await t.test('refused alike: from another host, a wrong token, a forged machine; nothing changes', async () => {
    const wrongToken = agentUrl!.replace(/[\w-]{43}$/, 'x'.repeat(43));
    const otherMachine = agentUrl!.replace(found!.id, 'm-000000000000');
    for (const [from, url] of [
      [OTHER_HOST, `${agentUrl}/task`],
      [MACHINE_HOST, `${wrongToken}/task`],
      [MACHINE_HOST, `${otherMachine}/task`],
      [OTHER_HOST, `${agentUrl}/facts`],
    ] as const) {
      const answer = await call(from, url, url.endsWith('/facts') ? '{"facts":{}}' : undefined);
      assert.equal(answer.status, 403, `${from} ${url}`);
    }
    assert.equal((await machines(serve))[0]?.state, 'discovered');
    assert.ok(!serve.log().includes(agentUrl!.split('/').at(-1)!), 'the token is never logged');
  });

  await t.test('bounded input: a value past 64 KiB is refused whole', async () => {
    const tooLong = await call(MACHINE_HOST, `${agentUrl}/facts`, JSON.stringify({ facts: { 'sys/x': 'a'.repeat(70_000) } }));
    assert.equal(tooLong.status, 400);
    assert.equal((await machines(serve))[0]?.state, 'discovered');
  });

  const task = await call(MACHINE_HOST, `${agentUrl}/task`);
  assert.deepEqual([task.status, JSON.parse(task.text)], [200, { task: 'inventory' }]);
  const report = await call(MACHINE_HOST, `${agentUrl}/facts`, r650Facts(t));
  // No BMC: metalbox could not power it on again, so its agent stays up and asks, holding the machine for a deploy.
  assert.deepEqual([report.status, JSON.parse(report.text)], [200, { state: 'ready', task: 'wait', seconds: 15 }]);

  const [machine] = await machines(serve);
  assert.equal(machine?.state, 'ready');
  assert.equal(machine?.system.serial, '7XQ2K93');
  assert.deepEqual(machine?.cpu, { count: 2, cores: 4, threads: 8, model: 'Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz' });
  assert.deepEqual(
    machine?.drives.map((drive) => drive.capacityBytes),
    [3125627568 * 512, 468862128 * 512, 7812499456 * 512],
  );
  assert.deepEqual(
    machine?.nics.map((nic) => nic.mac),
    [NIC, 'b0:26:28:aa:bb:c1', '0c:42:a1:11:22:33'],
  );
  const events = (await (await serve.fetch(`/api/v1/machines/${machine!.id}/events`)).json()) as MachineEventJson[];
  assert.deepEqual(
    events.filter((event) => event.fromState !== event.toState).map((event) => `${event.fromState ?? '-'}→${event.toState}`),
    ['-→discovered', 'discovered→inspecting', 'inspecting→classifying', 'classifying→ready'],
  );
  const held = await call(MACHINE_HOST, `${agentUrl}/task`);
  assert.deepEqual([held.status, JSON.parse(held.text)], [200, { task: 'wait', seconds: 15 }]);
  // Ready, the machine no longer boots the agent: a script asked for now is the local-boot answer.
  assert.doesNotMatch((await call(MACHINE_HOST, `${serve.url}/boot.ipxe?mac=${NIC}`)).text, /mbx\.url=/);
  assert.equal(await serve.stop(), 0);
});

test('PXE discovery is bounded: past boot.maxDiscovered waiting machines, an unknown client is told to try later', async (t) => {
  const { serve } = await discovering(t, ['--max-discovered', '2']);
  const macs = ['52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:03'];
  const statuses = [];
  for (const mac of macs) statuses.push((await call(MACHINE_HOST, `${serve.url}/boot.ipxe?mac=${mac}`)).status);
  // 403 for the two recorded: no DHCP was seen from them, so no token; the third is not even recorded.
  assert.deepEqual(statuses, [403, 403, 503]);
  assert.equal((await machines(serve)).length, 2);
});

test('a discovered machine whose agent never reports is removed with its events; others stay', (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const waiting = store.machines.discover('52:54:00:00:00:01', '10.0.0.1', 10)!;
  const enrolled = store.machines.enroll({ bmcMac: '02:00:00:00:00:01' });
  assert.deepEqual(store.machines.discover('52:54:00:00:00:01', '10.0.0.1', 10), { machineId: waiting.machineId, created: false });
  assert.deepEqual(store.machines.expireDiscovered(new Date(Date.now() - 60_000).toISOString()), [], 'not yet overdue');
  assert.deepEqual(store.machines.expireDiscovered(new Date(Date.now() + 1000).toISOString()), [waiting.machineId]);
  assert.equal(store.machines.get(waiting.machineId), null);
  assert.equal(store.db.prepare('SELECT count(*) FROM events WHERE machine_id = ?').pluck().get(waiting.machineId), 0);
  assert.equal(store.db.prepare('SELECT count(*) FROM nics').pluck().get(), 0);
  assert.equal(store.machines.get(enrolled.id)?.state, 'enrolled');
});

test('merge: the agent of a machine found by PXE through an unknown NIC reports a NIC its BMC listed; one machine stays, with both NICs', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  prepareDataDir(dataDir);
  standInImage(dataDir);
  // The R650 onboarded by its BMC: Redfish knew its UUID, serial and its second port only.
  const store = Store.open(dataDir);
  const known = store.machines.enroll({ bmcMac: '02:00:00:00:00:65' });
  store.machines.recordInventory(
    known.id,
    {
      systemPath: '/redfish/v1/Systems/System.Embedded.1',
      bmc: null,
      power: 'Off',
      system: {
        manufacturer: 'Dell Inc.',
        model: 'PowerEdge R650',
        serial: '7XQ2K93',
        uuid: '4c4c4544-0058-5110-8032-b7c04f4b3933',
        sku: null,
        biosVersion: null,
        powerState: 'Off',
      },
      cpu: { count: 2, cores: 56, threads: 112, model: null },
      memory: { totalGiB: 256, dimms: 16 },
      drives: [],
      nics: [{ mac: '0c:42:a1:11:22:33', name: 'NIC.Slot.3-1-1', speedMbps: null, linkStatus: null }],
    },
    { type: 'inventory', message: 'inspected' },
  );
  store.close();
  const serve = await startServe(t, ['--data-dir', dataDir, '--boot-unknown', 'discover', '--advertise', '127.0.0.1']);
  await claimAddress(serve, MACHINE_HOST, NIC);
  const script = await call(MACHINE_HOST, `${serve.url}/boot.ipxe?mac=${NIC}`);
  const agentUrl = /mbx\.url=(\S+)/.exec(script.text)?.[1];
  assert.equal((await machines(serve)).length, 2, 'for now a second record: nothing told metalbox the NIC is the R650s');

  const report = await call(MACHINE_HOST, `${agentUrl}/facts`, r650Facts(t));
  assert.equal(report.status, 200, report.text);
  assert.deepEqual(JSON.parse(report.text), { state: 'enrolled', mergedInto: known.id, task: 'poweroff' });
  const after = await machines(serve);
  assert.deepEqual(
    after.map((machine) => machine.id),
    [known.id],
    'the discovered record is gone',
  );
  assert.deepEqual(after[0]?.nics.map((nic) => nic.mac).sort(), ['0c:42:a1:11:22:33', NIC]);
  assert.deepEqual(after[0]?.warnings, [
    `NIC ${NIC} joined on its agent's report (same NIC 0c:42:a1:11:22:33), not its BMC's: check it is this machine's`,
  ]);
  const events = (await (await serve.fetch(`/api/v1/machines/${known.id}/events`)).json()) as MachineEventJson[];
  assert.match(events.at(-1)?.message ?? '', /^PXE discovery found this machine again \(as m-\w+, same NIC 0c:42:a1:11:22:33\)/);
});

test('same hardware: a NIC first, then the system UUID, then manufacturer and serial; never an empty value', (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const a = store.machines.enroll({ bmcMac: '02:00:00:00:00:0a' });
  const base = {
    systemPath: null,
    bmc: null,
    power: null,
    cpu: { count: null, cores: null, threads: null, model: null },
    memory: { totalGiB: null, dimms: null },
    drives: [],
  };
  const system = { manufacturer: 'Dell Inc.', model: null, serial: 'SN-A', uuid: 'uuid-a', sku: null, biosVersion: null, powerState: null };
  store.machines.recordInventory(
    a.id,
    { ...base, system, nics: [{ mac: '52:54:00:00:0a:01', name: null, speedMbps: null, linkStatus: null }] },
    { type: 'inventory', message: 'x' },
  );
  const b = store.machines.discover('52:54:00:00:0b:01', '10.0.0.2', 10)!.machineId;
  const identity = {
    macs: [] as string[],
    uuid: null as string | null,
    serial: null as string | null,
    manufacturer: null as string | null,
  };
  assert.deepEqual(store.machines.sameHardware(b, { ...identity, macs: ['52:54:00:00:0a:01'] }), { id: a.id, by: 'NIC 52:54:00:00:0a:01' });
  assert.deepEqual(store.machines.sameHardware(b, { ...identity, uuid: 'uuid-a' }), { id: a.id, by: 'system UUID uuid-a' });
  assert.deepEqual(store.machines.sameHardware(b, { ...identity, serial: 'SN-A', manufacturer: 'Dell Inc.' }), {
    id: a.id,
    by: 'serial SN-A',
  });
  assert.equal(
    store.machines.sameHardware(b, { ...identity, serial: 'SN-A', manufacturer: 'HPE' }),
    null,
    'a serial is only unique within a manufacturer',
  );
  assert.equal(store.machines.sameHardware(b, identity), null);
  assert.equal(store.machines.sameHardware(a.id, { ...identity, uuid: 'uuid-a' }), null, 'a machine is not its own duplicate');
});
