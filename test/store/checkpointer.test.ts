import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import pino from 'pino';
import { Store, WalCheckpointer } from '../../src/store/index.js';
import { tempDir } from '../helpers.js';

const until = async (what: string, condition: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

function logTo(lines: Array<Record<string, unknown>>) {
  return pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
}

/** 3,000 observations of ~1 KB each: far past the 1,000 pages at which SQLite would checkpoint inside a commit. */
function fillWal(store: Store): void {
  const at = new Date().toISOString();
  const observations = Array.from({ length: 3000 }, (_, index) => ({
    mac: `02:cc:00:00:${(index >> 8).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`,
    messageType: 'DISCOVER',
    ip: null,
    vendorClass: 'x'.repeat(1000),
    arch: 7,
    hostname: null,
    relay: null,
    firstSeen: at,
    lastSeen: at,
    count: 1,
  }));
  for (let start = 0; start < observations.length; start += 500) store.observations.record(observations.slice(start, start + 500));
}

test("the WAL is checkpointed by the thread, never inside the main connection's commits", async (t) => {
  const dataDir = tempDir(t);
  const store = Store.open(dataDir);
  t.after(() => store.close());
  const checkpointer = WalCheckpointer.start(store.db, store.path, logTo([]), 100);
  t.after(() => checkpointer.stop());
  assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 0, "the main connection's automatic checkpoint is off");

  const before = checkpointer.stats().checkpoints;
  fillWal(store);
  await until('a checkpoint after the writes', () => checkpointer.stats().checkpoints >= before + 2);
  assert.ok(checkpointer.stats().lastWalFrames > 1000, `the WAL grew past 1,000 frames: ${checkpointer.stats().lastWalFrames}`);

  // The rows are in the database file itself: a copy of it alone, without its WAL, has them.
  const copy = join(tempDir(t), 'copy.db');
  copyFileSync(store.path, copy);
  const alone = new Database(copy, { readonly: true });
  t.after(() => alone.close());
  assert.equal((alone.prepare('SELECT count(*) AS n FROM observations').get() as { n: number }).n, 3000);

  await checkpointer.stop();
  assert.equal(checkpointer.stats().running, false);
  assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 1000, 'SQLite checkpoints again once the thread stops');
});

test('a thread that cannot open the database gives the checkpoint back to SQLite and says so', async (t) => {
  const dataDir = tempDir(t);
  const store = Store.open(dataDir);
  t.after(() => store.close());
  const lines: Array<Record<string, unknown>> = [];
  const missing = join(tempDir(t), 'gone');
  mkdirSync(missing);
  const checkpointer = WalCheckpointer.start(store.db, join(missing, 'metalbox.db'), logTo(lines), 100);
  t.after(() => checkpointer.stop());
  await until('the fallback', () => !checkpointer.stats().running);
  assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 1000);
  assert.ok(
    lines.some((line) => line.level === 50 && String(line.msg).includes("SQLite's automatic checkpoint is back")),
    JSON.stringify(lines),
  );
  // Writes go on, checkpointed by SQLite itself.
  fillWal(store);
  assert.equal(store.observations.count(), 3000);
});
