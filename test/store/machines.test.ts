import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetalboxError } from '../../src/lib/errors.js';
import { Store, type MachineJson } from '../../src/store/index.js';
import { dl360Inventory, moveTo, tempDir } from '../helpers.js';

function openStore(t: Parameters<typeof tempDir>[0]): Store {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  return store;
}

test('enroll creates a BMC and a machine once, whatever the MAC spelling', (t) => {
  const store = openStore(t);
  const first = store.machines.enroll({ bmcMac: 'AA-BB-CC-00-00-01', bmcIp: '192.0.2.10', ipSource: 'explicit' });
  const second = store.machines.enroll({ bmcMac: 'aabb.cc00.0001' });
  assert.equal(second.id, first.id);
  assert.equal(first.state, 'enrolled');
  assert.deepEqual(first.bmc, {
    mac: 'aa:bb:cc:00:00:01',
    protocol: 'redfish',
    ip: '192.0.2.10',
    model: null,
    firmware: null,
    redfishVersion: null,
    ipSource: 'explicit',
  });
  assert.equal(store.machines.list().length, 1);
  assert.equal(store.db.prepare('SELECT count(*) FROM bmcs').pluck().get(), 1);
  const events = store.machines.events(first.id);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.toState, 'enrolled');
  assert.throws(
    () => store.machines.enroll({ bmcMac: 'not-a-mac' }),
    (e: unknown) => e instanceof MetalboxError && e.code === 'E_BAD_REF',
  );
});

test('an inspected machine reads back as the machine JSON of the contract', (t) => {
  const store = openStore(t);
  const enrolled = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01', bmcIp: '192.0.2.5', ipSource: 'dhcp-snoop' });
  store.machines.recordInventory(enrolled.id, dl360Inventory(), { type: 'inventory', message: 'inspected' });
  moveTo(store, enrolled.id, 'ready', { message: 'classified' });

  const machine = store.machines.get(enrolled.id)!;
  const expected: MachineJson = {
    id: enrolled.id,
    state: 'ready',
    stateReason: null,
    power: 'On',
    bmc: {
      mac: '94:40:c9:00:00:01',
      protocol: 'redfish',
      ip: '192.0.2.5',
      model: 'iLO 5',
      firmware: '2.55',
      redfishVersion: '1.6.0',
      ipSource: 'dhcp-snoop',
    },
    system: {
      manufacturer: 'HPE',
      model: 'ProLiant DL360 Gen10 Plus',
      serial: 'CZJ1234ABC',
      uuid: '30363150-3530-584d-5131-303130303132',
      sku: 'P39999-B21',
      biosVersion: 'U46',
      powerState: 'On',
    },
    cpu: { count: 2, cores: 64, threads: 128, model: 'Intel(R) Xeon(R) Gold 6338' },
    memory: { totalGiB: 512, dimms: 16 },
    drives: [
      { name: 'NVMe 1', model: 'MZXL5960HBLA', serial: 'S6EXNA0T100001', capacityBytes: 960197124096, mediaType: 'SSD', protocol: 'NVMe' },
    ],
    nics: [
      { mac: 'b4:7a:f1:00:11:22', name: 'NIC.1.1', speedMbps: 25000, linkStatus: 'LinkUp' },
      { mac: 'b4:7a:f1:00:11:23', name: 'NIC.1.2', speedMbps: 25000, linkStatus: 'LinkDown' },
    ],
    serverType: null,
    profile: null,
    maintenance: false,
    warnings: [],
    createdAt: enrolled.createdAt,
    updatedAt: machine.updatedAt,
  };
  assert.deepEqual(machine, expected);
  assert.ok(machine.updatedAt >= machine.createdAt);
  assert.deepEqual(
    store.machines.events(enrolled.id).map((e) => [e.type, e.fromState, e.toState]),
    // moveTo walks the lifecycle's moves: another system's inspection is the shortest way from enrolled.
    [
      ['state', null, 'enrolled'],
      ['inventory', 'enrolled', 'enrolled'],
      ['state', 'enrolled', 'inspecting'],
      ['state', 'inspecting', 'classifying'],
      ['state', 'classifying', 'ready'],
    ],
  );
});

test('resolve finds a machine by id, BMC MAC or any NIC MAC, in any spelling', async (t) => {
  const store = openStore(t);
  const { id } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01' });
  store.machines.recordInventory(id, dl360Inventory(), { type: 'inventory', message: 'inspected' });
  for (const ref of [
    { kind: 'id', id },
    { kind: 'mac', mac: '94:40:c9:00:00:01' },
    { kind: 'mac', mac: 'b4:7a:f1:00:11:22' },
    { kind: 'mac', mac: 'b4:7a:f1:00:11:23' },
  ] as const) {
    await t.test(JSON.stringify(ref), () => {
      assert.equal(store.machines.resolve(ref).id, id, JSON.stringify(ref));
    });
  }
  assert.throws(
    () => store.machines.resolve({ kind: 'mac', mac: '00:11:22:33:44:55' }),
    (e: unknown) => e instanceof MetalboxError && e.code === 'E_NOT_FOUND',
  );
  assert.throws(
    () => store.machines.resolve({ kind: 'id', id: 'm-000000000000' }),
    (e: unknown) => e instanceof MetalboxError && e.code === 'E_NOT_FOUND',
  );
});

test('list filters by state and by search text', (t) => {
  const store = openStore(t);
  const a = store.machines.enroll({ bmcMac: '02:00:00:00:00:0a', bmcIp: '192.0.2.10' });
  const b = store.machines.enroll({ bmcMac: '02:00:00:00:00:0b', bmcIp: '192.0.2.11' });
  store.machines.recordInventory(b.id, dl360Inventory(), { type: 'inventory', message: 'inspected' });
  store.machines.transition(b.id, 'inspect_failed', 'Storage: HTTP 500', { type: 'state', message: 'failed' });
  const ids = (filter: Parameters<typeof store.machines.list>[0]) => store.machines.list(filter).map((m) => m.id);

  assert.deepEqual(ids({}), [a.id, b.id]);
  assert.deepEqual(ids({ state: 'enrolled' }), [a.id]);
  assert.deepEqual(ids({ state: 'inspect_failed' }), [b.id]);
  assert.deepEqual(ids({ state: 'ready' }), []);
  assert.deepEqual(ids({ q: 'czj1234' }), [b.id], 'serial, case-insensitive');
  assert.deepEqual(ids({ q: 'B4-7A-F1-00-11-23' }), [b.id], 'a NIC MAC in another spelling');
  assert.deepEqual(ids({ q: '192.0.2.10' }), [a.id], 'BMC IP');
  assert.deepEqual(ids({ q: 'proliant', state: 'enrolled' }), []);
  assert.deepEqual(ids({ q: "'; DROP TABLE machines; --" }), []);
  assert.equal(store.machines.get(b.id)!.stateReason, 'Storage: HTTP 500');
});

test('pages follow insertion order, with the filter, and end with next null', (t) => {
  const store = openStore(t);
  const ids = ['0a', '0b', '0c', '0d', '0e'].map((last) => store.machines.enroll({ bmcMac: `02:00:00:00:00:${last}` }).id);
  store.machines.transition(ids[1]!, 'bmc_unreachable', 'no route', { type: 'state', message: 'failed' });
  store.machines.transition(ids[3]!, 'bmc_unreachable', 'no route', { type: 'state', message: 'failed' });
  const read = (filter: Parameters<typeof store.machines.page>[0], limit: number) => {
    const pages: string[][] = [];
    for (let after: number | null = 0; after !== null; ) {
      const page = store.machines.page(filter, after, limit);
      pages.push(page.documents.map((document) => (JSON.parse(document) as { id: string }).id));
      after = page.next;
    }
    return pages;
  };
  assert.deepEqual(read({}, 2), [[ids[0], ids[1]], [ids[2], ids[3]], [ids[4]]]);
  // A full last page cannot know it was the last: one more, empty, read says so.
  assert.deepEqual(read({ state: 'bmc_unreachable' }, 2), [[ids[1], ids[3]], []]);
  assert.deepEqual(read({ state: 'enrolled' }, 10), [[ids[0], ids[2], ids[4]]]);
  assert.deepEqual(read({ state: 'ready' }, 10), [[]]);
});

test('a NIC already owned by another machine is refused and nothing changes', (t) => {
  const store = openStore(t);
  const a = store.machines.enroll({ bmcMac: '02:00:00:00:00:0a' });
  const b = store.machines.enroll({ bmcMac: '02:00:00:00:00:0b' });
  store.machines.recordInventory(a.id, dl360Inventory(), { type: 'inventory', message: 'inspected' });
  const before = store.machines.get(b.id);
  assert.throws(
    () => store.machines.recordInventory(b.id, dl360Inventory(), { type: 'inventory', message: 'inspected' }),
    (e: unknown) => e instanceof MetalboxError && e.code === 'E_NIC_CONFLICT' && e.message.includes(a.id),
  );
  assert.deepEqual(store.machines.get(b.id), before);
  assert.equal(store.machines.events(b.id).length, 1);
});
