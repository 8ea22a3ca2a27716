import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  canMove,
  INITIAL_STATES,
  MACHINE_STATES,
  MOVES,
  pathBetween,
  sourcesOf,
  TIMED_OUT_STATES,
  TIMEOUTS,
} from '../src/lifecycle/lifecycle.js';
import { prepareDataDir, Store } from '../src/store/index.js';
import { tempDir } from './helpers.js';

test('the lifecycle table: every state reachable from where machines start, and every state can be left', async (t) => {
  for (const state of MACHINE_STATES) {
    assert.ok(
      INITIAL_STATES.some((start) => start === state || pathBetween(start, state) !== null),
      `${state} is reachable`,
    );
    assert.ok(
      MOVES.some((move) => move.from.includes(state) && move.to !== state),
      `${state} can be left`,
    );
  }
  for (const move of MOVES) assert.ok(move.from.length > 0 && move.when.length > 0, `${move.to}: from somewhere, saying when`);
  // The flows of docs/contracts.md, move by move.
  for (const [from, to] of [
    ['enrolled', 'resolving'],
    ['resolving', 'connecting'],
    ['connecting', 'inspecting'],
    ['inspecting', 'classifying'],
    ['classifying', 'ready'],
    ['ready', 'preparing'],
    ['preparing', 'netbooting'],
    ['netbooting', 'installing'],
    ['installing', 'provisioned'],
    ['provisioned', 'deprovisioning'],
    ['deprovisioning', 'ready'],
    ['provision_failed', 'preparing'],
    ['auth_failed', 'enrolled'],
  ] as const) {
    await t.test(`${from} → ${to}: allowed`, () => assert.ok(canMove(from, to)));
  }
  for (const [from, to] of [
    ['enrolled', 'ready'],
    ['ready', 'provisioned'],
    ['provisioned', 'enrolled'],
    ['installing', 'ready'],
    ['netbooting', 'netbooting'],
  ] as const) {
    await t.test(`${from} → ${to}: ${from === to ? 'a repeat, allowed' : 'refused'}`, () => {
      assert.equal(canMove(from, to), from === to, `${from} → ${to}`);
    });
  }
  assert.deepEqual(sourcesOf('installing', 'boot milestone'), ['preparing', 'netbooting']);
  assert.deepEqual(sourcesOf('provisioned', 'callback'), ['preparing', 'netbooting', 'installing']);
  // An installer's states time out to provision_failed; a deploy's (the agent silent, or the OS never up from its disk) to deploy_failed.
  for (const [state, failed] of [
    ['preparing', 'provision_failed'],
    ['netbooting', 'provision_failed'],
    ['installing', 'provision_failed'],
    ['deprovisioning', 'provision_failed'],
    ['deploying', 'deploy_failed'],
    ['booting', 'deploy_failed'],
    ['cleaning', 'clean_failed'],
    ['inspecting', 'inspect_failed'],
  ] as const) {
    assert.ok(state in TIMEOUTS, `${state} is timed`);
    assert.equal(TIMED_OUT_STATES[state], failed);
    assert.ok(canMove(state, failed), `${state} times out to ${failed}`);
  }
  assert.equal(canMove('deploying', 'provision_failed'), false, 'a deploy never ends as a failed installation');
});

test('the store refuses a move the table does not have, in the same transaction: nothing written', (t) => {
  const dataDir = tempDir(t);
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  t.after(() => store.close());
  const { id } = store.machines.enroll({ bmcMac: '02:00:00:00:00:01' });
  const events = store.machines.events(id).length;
  assert.throws(
    () => store.machines.transition(id, 'provisioned', null, { type: 'state', message: 'shortcut' }),
    /cannot move from enrolled to provisioned: the lifecycle has no such move/,
  );
  assert.throws(
    () =>
      store.machines.appendEvents([
        { machineId: id, type: 'callback', message: 'forged', advance: { from: ['enrolled'], to: 'installing', reason: 'x' } },
      ]),
    /cannot move from enrolled to installing/,
  );
  assert.equal(store.machines.stateOf(id), 'enrolled');
  assert.equal(store.machines.events(id).length, events, 'no event either');
});

test("the lifecycle's state sets are spelled in the lifecycle module only", () => {
  const root = new URL('../../src/', import.meta.url);
  // A list of two or more quoted state names in a row is a state set.
  const names = MACHINE_STATES.join('|');
  const set = new RegExp(`'(${names})',\\s*'(${names})'`);
  for (const path of readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'))) {
    if (path === 'lifecycle/lifecycle.ts' || path === 'store/migrations.ts') continue; // the table, and the schema's CHECK of the contract
    assert.doesNotMatch(readFileSync(new URL(path, root), 'utf8'), set, path);
  }
});
