import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Batcher } from '../../src/lib/batcher.js';

/** Adds records named owner.key ('a' is owner a's record ''); a repeat counts. */
const adder = (batcher: Batcher<{ key: string; count: number }>) => (name: string) => {
  const [owner, key = ''] = name.split('.');
  batcher.add(
    owner!,
    key,
    () => ({ key: name, count: 1 }),
    (pending) => pending.count++,
  );
};

test('a flush writes one chunk now and the rest on later turns of the event loop, in order', async () => {
  const writes: string[][] = [];
  const batcher = new Batcher<{ key: string; count: number }>({
    write: (batch) => writes.push(batch.map((record) => `${record.key}×${record.count}`)),
    maxBatch: 2,
  });
  const add = adder(batcher);
  for (const key of ['a', 'b', 'a', 'c', 'd', 'b.x', 'e']) add(key);
  batcher.flush();
  assert.deepEqual(writes, [['a×2', 'b×1']]);
  // Between chunks the hot path goes on adding: a key already written starts a new record.
  add('a');
  await nextTurn();
  await nextTurn();
  await nextTurn();
  await nextTurn();
  assert.deepEqual(writes, [['a×2', 'b×1'], ['b.x×1', 'c×1'], ['d×1', 'e×1'], ['a×1']], "records by owner, in the owners' order");
});

test('a failed chunk goes back in front and waits for the next flush; stop writes everything at once', async () => {
  const writes: string[][] = [];
  let failing = true;
  const errors: unknown[] = [];
  const batcher = new Batcher<{ key: string; count: number }>({
    write: (batch) => {
      if (failing) throw new Error('database is locked');
      writes.push(batch.map((record) => record.key));
    },
    maxBatch: 2,
    onError: (error) => errors.push(error),
  });
  const add = adder(batcher);
  for (const key of ['a', 'b', 'c']) add(key);
  batcher.flush();
  await nextTurn();
  assert.equal(errors.length, 1);
  assert.deepEqual(writes, []);
  failing = false;
  add('d');
  batcher.stop();
  assert.deepEqual(writes, [
    ['a', 'b'],
    ['c', 'd'],
  ]);
});

test('after a key is written its repeats merge until repeatHoldMs has passed; other keys are not held; stop writes the held', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 0 });
  const writes: string[][] = [];
  const batcher = new Batcher<{ key: string; count: number }>({
    write: (batch) => writes.push(batch.map((record) => `${record.key}×${record.count}`)),
    repeatHoldMs: 10_000,
  });
  const add = adder(batcher);
  add('a');
  batcher.flush();
  assert.deepEqual(writes, [['a×1']], 'the first record of a key is not held');
  t.mock.timers.tick(1_000);
  for (const key of ['a', 'b', 'a']) add(key);
  batcher.flush();
  assert.deepEqual(writes, [['a×1'], ['b×1']], 'a was written 1 s ago: its repeats wait, b does not');
  t.mock.timers.tick(8_999);
  add('a');
  batcher.flush();
  assert.equal(writes.length, 2, 'at 9.999 s a is still held');
  t.mock.timers.tick(1);
  batcher.flush();
  assert.deepEqual(writes.at(-1), ['a×3'], 'at 10 s the three repeats are one record');
  add('a');
  add('b');
  batcher.flush();
  assert.equal(writes.length, 3, 'a was written just now, b 9 s ago: both held');
  t.mock.timers.tick(1_000);
  batcher.flush();
  assert.deepEqual(writes.at(-1), ['b×1'], "b's hold ended at 11 s");
  batcher.stop();
  assert.deepEqual(writes.at(-1), ['a×1'], 'stop writes what is held');
});

test('the write budget: a flush writes maxPerFlush records at most, the rest wait for the next, new ones past maxPending are dropped', async () => {
  const writes: string[][] = [];
  const batcher = new Batcher<{ key: string; count: number }>({
    write: (batch) => writes.push(batch.map((record) => record.key)),
    maxBatch: 2,
    maxPerFlush: 3,
    maxPending: 6,
  });
  const add = adder(batcher);
  for (const key of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) add(key);
  assert.equal(batcher.dropped, 1, 'g: 6 pending already');
  batcher.flush();
  for (let turn = 0; turn < 4; turn++) await nextTurn();
  assert.deepEqual(writes, [['a', 'b'], ['c']], 'two of the chunk size, then one: the budget of 3');
  batcher.flush();
  for (let turn = 0; turn < 4; turn++) await nextTurn();
  assert.deepEqual(writes.slice(2), [['d', 'e'], ['f']]);
});
