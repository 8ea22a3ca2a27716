import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetalboxError } from '../../src/lib/errors.js';
import { Store } from '../../src/store/index.js';
import { tempDir } from '../helpers.js';

function open(t: { after(fn: () => void): void }) {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const machineId = store.machines.enroll({ bmcMac: '02:00:00:00:00:01' }).id;
  return { store, machineId };
}

const leaseLost = (error: unknown) => error instanceof MetalboxError && error.code === 'E_LEASE_LOST';

test('one unfinished job per machine and kind; a finished one makes room for the next', (t) => {
  const { store, machineId } = open(t);
  const first = store.jobs.enqueue({ kind: 'onboarding', machineId, step: 'resolve', input: { ip: '192.0.2.5' } });
  const second = store.jobs.enqueue({ kind: 'onboarding', machineId, step: 'resolve' });
  assert.equal(first.created, true);
  assert.equal(second.created, false);
  assert.equal(second.job.id, first.job.id);
  assert.deepEqual(second.job.input, { ip: '192.0.2.5' });
  assert.equal(store.jobs.enqueue({ kind: 'provisioning', machineId, step: 'prepare' }).created, true, 'another kind is another job');
  // The partial unique index holds even against a direct insert.
  assert.throws(
    () =>
      store.db
        .prepare(
          `INSERT INTO jobs (kind, machine_id, status, run_after, created_at, updated_at) VALUES ('onboarding', ?, 'queued', '', '', '')`,
        )
        .run(machineId),
    /UNIQUE constraint failed/,
  );

  const [leased] = store.jobs.lease('a', 60_000, 10);
  assert.equal(leased!.id, first.job.id);
  store.jobs.finish(leased!, 'a', 'succeeded');
  assert.equal(store.jobs.enqueue({ kind: 'onboarding', machineId, step: 'resolve' }).created, true);
});

test('a lease is exclusive until it expires; the owner who lost it cannot commit', (t) => {
  const { store, machineId } = open(t);
  store.jobs.enqueue({ kind: 'onboarding', machineId, step: 'resolve' });
  const now = Date.now();
  const [mine] = store.jobs.lease('a', 1000, 10, now);
  assert.equal(mine!.leaseOwner, 'a');
  assert.deepEqual(store.jobs.lease('b', 1000, 10, now + 500), [], 'held by a');
  const [theirs] = store.jobs.lease('b', 1000, 10, now + 1500);
  assert.equal(theirs!.leaseOwner, 'b', 'expired leases are taken over');
  assert.throws(() => store.jobs.advance(mine!, 'a', 'connect'), leaseLost);
  store.jobs.advance(theirs!, 'b', 'connect');
  assert.equal(store.jobs.get(theirs!.id)!.step, 'connect');
  assert.deepEqual(store.jobs.renew([theirs!.id], 'a', 1000), [theirs!.id], 'a holds nothing');
  assert.deepEqual(store.jobs.renew([theirs!.id], 'b', 1000), []);
});

test('retryLater counts the try and waits; releaseAll hands running jobs back after a crash', (t) => {
  const { store, machineId } = open(t);
  store.jobs.enqueue({ kind: 'onboarding', machineId, step: 'connect' });
  const [job] = store.jobs.lease('a', 60_000, 10);
  store.jobs.retryLater(job!, 'a', 'ECONNREFUSED', 60_000);
  const waiting = store.jobs.get(job!.id)!;
  assert.deepEqual([waiting.status, waiting.attempts, waiting.lastError, waiting.leaseOwner], ['queued', 1, 'ECONNREFUSED', null]);
  assert.deepEqual(store.jobs.lease('a', 60_000, 10), [], 'not due for a minute');
  const [due] = store.jobs.lease('a', 60_000, 10, Date.now() + 61_000);
  assert.equal(due!.attempts, 1);
  assert.equal(store.jobs.releaseAll(), 1);
  const released = store.jobs.get(job!.id)!;
  assert.deepEqual([released.status, released.leaseOwner, released.step], ['queued', null, 'connect']);
});
