import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { DATABASE_FILE, Store } from '../../src/store/index.js';
import { dl360Inventory, moveTo, tempDir } from '../helpers.js';

// The machine documents the API lists are stored and kept by triggers (src/store/documents.ts).
// Each step below writes through a different table; the expected values are the step's input.

test('a stored machine document follows every write to its machine, BMC, NICs and drives', (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const { id } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01', bmcIp: '192.0.2.5', ipSource: 'explicit' });
  const read = () => store.machines.get(id)!;
  const listed = () => store.machines.list().find((machine) => machine.id === id)!;
  assert.deepEqual(
    { state: read().state, bmc: read().bmc, nics: read().nics, drives: read().drives },
    {
      state: 'enrolled',
      bmc: {
        mac: '94:40:c9:00:00:01',
        protocol: 'redfish',
        ip: '192.0.2.5',
        model: null,
        firmware: null,
        redfishVersion: null,
        ipSource: 'explicit',
      },
      nics: [],
      drives: [],
    },
  );

  store.machines.recordInventory(id, dl360Inventory(), { type: 'inventory', message: 'inspected' });
  assert.deepEqual(
    read().nics.map((nic) => nic.mac),
    ['b4:7a:f1:00:11:22', 'b4:7a:f1:00:11:23'],
  );
  assert.deepEqual(
    read().drives.map((drive) => drive.serial),
    ['S6EXNA0T100001'],
  );
  assert.equal(read().bmc!.firmware, '2.55');
  assert.equal(read().system.serial, 'CZJ1234ABC');

  // Another inspection replaces NICs and drives as a whole: deletes, then inserts (the last
  // insert rewrites the document in any case), and deletes alone.
  const inventory = dl360Inventory();
  store.machines.recordInventory(
    id,
    {
      ...inventory,
      bmc: { ...inventory.bmc!, firmware: '3.01' },
      drives: [],
      nics: [{ mac: 'b4:7a:f1:00:11:99', name: 'OCP', speedMbps: 100000, linkStatus: 'LinkUp' }],
    },
    { type: 'inventory', message: 'inspected again' },
  );
  assert.deepEqual(read().nics, [{ mac: 'b4:7a:f1:00:11:99', name: 'OCP', speedMbps: 100000, linkStatus: 'LinkUp' }]);
  assert.deepEqual(read().drives, []);
  assert.equal(read().bmc!.firmware, '3.01');
  store.machines.recordInventory(id, { ...inventory, drives: [], nics: [] }, { type: 'inventory', message: 'no NICs seen' });
  assert.deepEqual(read().nics, []);

  moveTo(store, id, 'ready', { message: 'classified' });
  store.machines.setPower(id, 'Off');
  store.machines.setClassification(id, 'gpu-node', 'ubuntu');
  store.bmcs.setAddress(store.bmcs.ofMachine(id)!.id, '192.0.2.77', 'arp');
  for (const machine of [read(), listed()]) {
    assert.deepEqual(
      {
        state: machine.state,
        power: machine.power,
        serverType: machine.serverType,
        profile: machine.profile,
        ip: machine.bmc!.ip,
        ipSource: machine.bmc!.ipSource,
      },
      { state: 'ready', power: 'Off', serverType: 'gpu-node', profile: 'ubuntu', ip: '192.0.2.77', ipSource: 'arp' },
    );
  }

  // A transaction that fails leaves the document as it was.
  assert.throws(() =>
    store.transaction(() => {
      store.machines.transition(id, 'enrolled', null, { type: 'state', message: 'rolled back' });
      throw new Error('abort');
    }),
  );
  assert.equal(read().state, 'ready');
});

test('every machine of a BMC holding several systems follows a change of that BMC', (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const { id: first } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:02' });
  const bmcId = store.bmcs.ofMachine(first)!.id;
  const second = store.machines.addSystem(bmcId, '/redfish/v1/Systems/2', 'enrolled', { type: 'state', message: 'second system' });
  assert.equal(store.machines.get(second)!.bmc!.mac, '94:40:c9:00:00:02');
  store.bmcs.setAddress(bmcId, '192.0.2.88', 'dhcp-snoop');
  assert.deepEqual(
    [first, second].map((id) => store.machines.get(id)!.bmc!.ip),
    ['192.0.2.88', '192.0.2.88'],
  );
});

test('documents a database holds from other triggers (an older release, or none) are rewritten when it opens', (t) => {
  const dir = tempDir(t);
  const store = Store.open(dir);
  const { id } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:03' });
  store.machines.recordInventory(id, dl360Inventory(), { type: 'inventory', message: 'inspected' });
  store.close();

  // As a database from before the documents were stored: no triggers, and documents that do not match.
  const raw = new Database(`${dir}/${DATABASE_FILE}`);
  for (const name of raw.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'machine_document%'").pluck().all()) {
    raw.exec(`DROP TRIGGER ${String(name)}`);
  }
  raw.prepare("UPDATE machine_documents SET document = '{}'").run();
  raw.prepare("UPDATE machines SET state = 'ready'").run();
  raw.close();

  const reopened = Store.open(dir);
  t.after(() => reopened.close());
  const machine = reopened.machines.get(id)!;
  assert.equal(machine.state, 'ready');
  assert.equal(machine.nics.length, 2);
  moveTo(reopened, id, 'provisioned', { message: 'after reopening' });
  assert.equal(reopened.machines.get(id)!.state, 'provisioned', 'the triggers are installed again');
});
