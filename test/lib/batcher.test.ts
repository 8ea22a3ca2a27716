import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Batcher } from '../../src/lib/batcher.js';

const adder = (batcher: Batcher<{ key: string; count: number }>) => (key: string) =>
  batcher.add(key, () => ({ key, count: 1 }), (pending) => pending.count++);

test('a flush writes one chunk now and the rest on later turns of the event loop, in order', async () => {
  const writes: string[][] = [];
  const batcher = new Batcher<{ key: string; count: number }>({ write: (batch) => writes.push(batch.map((record) => `${record.key}×${record.count}`)), maxBatch: 2 });
  const add = adder(batcher);
  for (const key of ['a', 'b', 'a', 'c', 'd', 'e']) add(key);
  batcher.flush();
  assert.deepEqual(writes, [['a×2', 'b×1']]);
  // Between chunks the hot path goes on adding: a key already written starts a new record.
  add('a');
  await nextTurn();
  await nextTurn();
  await nextTurn();
  assert.deepEqual(writes, [['a×2', 'b×1'], ['c×1', 'd×1'], ['e×1', 'a×1']]);
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
  assert.deepEqual(writes, [['a', 'b'], ['c', 'd']]);
});
