import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BootDecisions } from '../../src/netboot/boot-decisions.js';
import { Store } from '../../src/store/index.js';
import { dl360Inventory, moveTo, tempDir } from '../helpers.js';

test('boot decisions follow the machine state from memory, refreshed on every change', (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const { id } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01' });
  const decisions = new BootDecisions(store.machines, { unknown: 'ignore' });
  t.after(decisions.start());
  const nic = 'b4:7a:f1:00:11:22';
  assert.deepEqual(decisions.decide(nic), { kind: 'ignore', reason: 'unknown' }, 'no NICs known yet');
  assert.deepEqual(decisions.decide('94:40:c9:00:00:01'), { kind: 'ignore', reason: 'unknown' }, 'a BMC MAC is not a booting NIC');

  store.machines.recordInventory(id, dl360Inventory(), { type: 'inventory', message: 'inspected' });
  assert.deepEqual(decisions.decide(nic), { kind: 'local', machineId: id, profile: null, secureBoot: false }, 'enrolled: local boot');
  assert.equal(decisions.size, 2);
  for (const [state, kind] of [
    ['ready', 'local'],
    ['netbooting', 'install'],
    ['installing', 'install'],
    ['provisioned', 'local'],
    ['provision_failed', 'local'],
  ] as const) {
    moveTo(store, id, state);
    assert.equal(decisions.decide('b4:7a:f1:00:11:23').kind, kind, state);
  }
  store.db.prepare('UPDATE machines SET maintenance = 1 WHERE id = ?').run(id);
  moveTo(store, id, 'netbooting', { message: 'again' });
  assert.deepEqual(decisions.decide(nic), { kind: 'ignore', reason: 'maintenance' });

  // A NIC that disappears from the inventory stops being answered.
  store.db.prepare('UPDATE machines SET maintenance = 0 WHERE id = ?').run(id);
  store.machines.recordInventory(
    id,
    { ...dl360Inventory(), nics: [dl360Inventory().nics[1]!] },
    { type: 'inventory', message: 'one NIC removed' },
  );
  assert.deepEqual(decisions.decide(nic), { kind: 'ignore', reason: 'unknown' });
  assert.equal(decisions.decide('b4:7a:f1:00:11:23').kind, 'install');
  assert.equal(decisions.size, 1);
});

test("a machine's Secure Boot is its agent's agent.firmware fact, in the view from the next change and in a view made later", (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const { id } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01' });
  store.machines.recordInventory(id, dl360Inventory(), { type: 'inventory', message: 'inspected' });
  const decisions = new BootDecisions(store.machines, { unknown: 'ignore' });
  t.after(decisions.start());
  const secureBoot = () => (decisions.decide('b4:7a:f1:00:11:22') as { secureBoot?: boolean }).secureBoot;
  assert.equal(secureBoot(), false, 'no agent has run: unknown, so the profile decides');
  // The agent's report stores the fact and moves the machine in one transaction (reports.ts).
  store.machines.putFacts(id, { 'agent.firmware': { mode: 'uefi', secureBoot: true } });
  moveTo(store, id, 'ready');
  assert.equal(secureBoot(), true);
  const later = new BootDecisions(store.machines, { unknown: 'ignore' });
  t.after(later.start());
  assert.equal((later.decide('b4:7a:f1:00:11:23') as { secureBoot?: boolean }).secureBoot, true, 'both NICs, in a view loaded now');
  for (const firmware of [
    { mode: 'uefi', secureBoot: false },
    { mode: 'uefi', secureBoot: null },
    { mode: 'bios', secureBoot: false },
    'garbage',
  ]) {
    store.machines.putFacts(id, { 'agent.firmware': firmware });
    moveTo(store, id, 'provisioned', { message: JSON.stringify(firmware) });
    assert.equal(secureBoot(), false, JSON.stringify(firmware));
  }
});

test('a new view loads what is already stored; discover mode answers unknown machines', (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const { id } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01' });
  store.machines.recordInventory(id, dl360Inventory(), { type: 'inventory', message: 'inspected' });
  const decisions = new BootDecisions(store.machines, { unknown: 'discover' });
  t.after(decisions.start());
  assert.equal(decisions.decide('b4:7a:f1:00:11:22').kind, 'local');
  assert.deepEqual(decisions.decide('02:00:00:00:00:99'), { kind: 'discover' });
});

test('unknown MACs get discovery while a machine under inspection waits for its NICs, and only then', (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const { id } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01' });
  const decisions = new BootDecisions(store.machines, { unknown: 'ignore' });
  t.after(decisions.start());
  const stranger = '02:00:00:00:00:99';

  // Onboarding's own inspecting step (no inspect operation) opens nothing.
  moveTo(store, id, 'inspecting');
  assert.deepEqual(decisions.decide(stranger), { kind: 'ignore', reason: 'unknown' });

  moveTo(store, id, 'ready');
  store.machines.startOperation(id, 'op-000000000001', ['ready'], 'inspecting', { type: 'inspect', message: 'inspecting with the agent' });
  assert.deepEqual(decisions.decide(stranger), { kind: 'discover' });
  assert.deepEqual(decisions.stats(), { nics: 0, awaitingNics: 1 });
  // A view made now loads it too.
  const fresh = new BootDecisions(store.machines, { unknown: 'ignore' });
  t.after(fresh.start());
  assert.deepEqual(fresh.decide(stranger), { kind: 'discover' });

  // Its NICs known, the window closes.
  store.machines.recordInventory(id, dl360Inventory(), { type: 'inventory', message: 'the agent read it' });
  assert.deepEqual(decisions.decide(stranger), { kind: 'ignore', reason: 'unknown' });
  assert.deepEqual(decisions.stats(), { nics: 2, awaitingNics: 0 });
});
