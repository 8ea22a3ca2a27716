import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { MetalboxError } from '../../src/lib/errors.js';
import { openDatabase } from '../../src/store/database.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { MACHINE_STATES, Store } from '../../src/store/index.js';
import { tempDir } from '../helpers.js';

const TABLES = [
  'bmcs',
  'credentials',
  'drives',
  'events',
  'facts',
  'health_probe',
  'jobs',
  'machine_deletions',
  'machine_documents',
  'machines',
  'nics',
  'observations',
  'profiles',
  'raw_resources',
  'server_types',
];

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('an empty data dir gets the whole schema; reopening changes nothing', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'metalbox.db');
  const db = openDatabase(path);
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all();
  assert.deepEqual(tables, TABLES);
  assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
  db.close();
  assert.equal(statSync(path).mode & 0o777, 0o600);

  const again = openDatabase(path);
  assert.equal(again.pragma('user_version', { simple: true }), MIGRATIONS.length);
  assert.equal(
    again.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'").pluck().get(),
    TABLES.length + 1 /* sqlite_sequence */,
  );
  again.close();
});

test('a database written by a newer metalbox is refused and left untouched', (t) => {
  const path = join(tempDir(t), 'metalbox.db');
  const newer = new Database(path);
  newer.pragma(`user_version = ${MIGRATIONS.length + 1}`);
  newer.exec('CREATE TABLE future (x)');
  newer.close();
  const before = sha256(path);
  assert.throws(
    () => openDatabase(path),
    (error: unknown) =>
      error instanceof MetalboxError &&
      error.code === 'E_DB_SCHEMA_NEWER' &&
      error.message.includes(path) &&
      error.message.includes(`version ${MIGRATIONS.length + 1}`),
  );
  assert.equal(sha256(path), before);
});

test('a file that is not SQLite is refused and left untouched', async (t) => {
  const dir = tempDir(t);
  for (const [name, content] of [
    ['text.db', 'hello, this is my shopping list\n'],
    ['short.db', 'SQLite'],
    ['zeros.db', Buffer.alloc(8192)],
  ] as const) {
    await t.test(name, () => {
      const path = join(dir, name);
      writeFileSync(path, content);
      const before = sha256(path);
      assert.throws(
        () => openDatabase(path),
        (error: unknown) => error instanceof MetalboxError && error.code === 'E_DB_NOT_SQLITE' && error.message.includes(path),
        name,
      );
      assert.equal(sha256(path), before, name);
    });
  }
});

test('the state CHECK of the schema accepts the contract states and refuses others', async (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const machine = store.machines.enroll({ bmcMac: '02:00:00:00:00:01' });
  const setState = store.db.prepare('UPDATE machines SET state = ? WHERE id = ?');
  for (const state of MACHINE_STATES) setState.run(state, machine.id);
  for (const state of ['READY', 'booted', 'failed', '']) {
    await t.test(JSON.stringify(state), () => {
      assert.throws(() => setState.run(state, machine.id), /CHECK constraint failed/, state);
    });
  }
});

test('MACs are unique across the inventory and only stored in canonical form', (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const a = store.machines.enroll({ bmcMac: '02:00:00:00:00:01' });
  const b = store.machines.enroll({ bmcMac: '02:00:00:00:00:02' });
  const addNic = store.db.prepare('INSERT INTO nics (machine_id, mac) VALUES (?, ?)');
  addNic.run(a.id, '52:54:00:00:00:01');
  assert.throws(() => addNic.run(b.id, '52:54:00:00:00:01'), /UNIQUE constraint failed: nics.mac/);
  assert.throws(() => addNic.run(b.id, '52:54:00:00:00:0A'), /CHECK constraint failed/);
  assert.throws(() => addNic.run(b.id, '52-54-00-00-00-02'), /CHECK constraint failed/);
});

test('events are append-only', (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const machine = store.machines.enroll({ bmcMac: '02:00:00:00:00:01' });
  assert.throws(() => store.db.prepare("UPDATE events SET message = 'rewritten'").run(), /append-only/);
  assert.throws(() => store.db.prepare('DELETE FROM events').run(), /append-only/);
  assert.equal(store.machines.events(machine.id).length, 1);
});

test('readers in another process are not blocked by an open write transaction', async (t) => {
  const dir = tempDir(t);
  const store = Store.open(dir);
  t.after(() => store.close());
  store.machines.enroll({ bmcMac: '02:00:00:00:00:01' });

  // A second process opens a write transaction and holds it until told to commit.
  const writer = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    import Database from 'better-sqlite3';
    const db = new Database(${JSON.stringify(store.path)});
    db.exec('BEGIN IMMEDIATE');
    db.prepare("INSERT INTO bmcs (mac, created_at, updated_at) VALUES ('02:00:00:00:00:02', 'x', 'x')").run();
    console.log('locked');
    process.stdin.once('data', () => { db.exec('COMMIT'); db.close(); process.exit(0); });
  `,
    ],
    { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let output = '';
  writer.stdout.on('data', (chunk) => (output += chunk));
  while (!output.includes('locked')) await new Promise((resolve) => setTimeout(resolve, 10));

  const reader = new Database(store.path, { readonly: true, timeout: 0 });
  t.after(() => reader.close());
  const count = reader.prepare('SELECT count(*) FROM bmcs').pluck();
  for (let read = 0; read < 50; read++) {
    assert.equal(count.get(), 1, 'the reader sees the last committed state, not the open transaction');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  writer.stdin.end('commit\n');
  await new Promise((resolve) => writer.on('close', resolve));
  assert.equal(count.get(), 2);
  assert.equal(store.machines.list().length, 1, 'the store itself reads too');
});

test('migration 7 copies the machines table under its new CHECK: every row, NIC, drive, event and job still linked', (t) => {
  const path = join(tempDir(t), 'metalbox.db');
  const old = new Database(path);
  old.pragma('foreign_keys = ON');
  for (const migration of MIGRATIONS.slice(0, 6)) old.exec(migration);
  old.pragma('user_version = 6');
  const now = '2026-12-01T00:00:00.000Z';
  // As metalbox left it: document triggers on bmcs, nics and drives that name machines. (This
  // code's own triggers read columns later migrations add, so these stand in for those of 6.)
  for (const [table, key] of [
    ['machines', 'NEW.id'],
    ['bmcs', '(SELECT id FROM machines WHERE bmc_id = NEW.id)'],
    ['nics', 'NEW.machine_id'],
    ['drives', 'NEW.machine_id'],
  ])
    old.exec(
      `CREATE TRIGGER machine_document_on_${table}_insert AFTER INSERT ON ${table} BEGIN
         INSERT INTO machine_documents (machine_id, document) SELECT id, json_object('id', id) FROM machines WHERE id = ${key}
         ON CONFLICT (machine_id) DO UPDATE SET document = excluded.document; END`,
    );
  old.prepare("INSERT INTO bmcs (mac, scheme, created_at, updated_at) VALUES ('02:00:00:00:00:01', 'https', ?, ?)").run(now, now);
  old
    .prepare(
      `INSERT INTO machines (id, bmc_id, state, state_changed_at, serial, created_at, updated_at, operation_id, profile_pinned, warnings)
       VALUES ('m-000000000001', 1, 'provisioned', ?, 'SN1', ?, ?, 'op-1', 1, '["a warning"]')`,
    )
    .run(now, now, now);
  old.prepare("INSERT INTO nics (machine_id, mac) VALUES ('m-000000000001', '52:54:00:00:00:01')").run();
  old.prepare("INSERT INTO drives (machine_id, name, capacity_bytes) VALUES ('m-000000000001', 'Disk 0', 1000)").run();
  old.prepare("INSERT INTO events (machine_id, at, type, message) VALUES ('m-000000000001', ?, 'state', 'enrolled')").run(now);
  old
    .prepare(
      "INSERT INTO jobs (kind, machine_id, status, run_after, created_at, updated_at) VALUES ('onboarding', 'm-000000000001', 'succeeded', ?, ?, ?)",
    )
    .run(now, now, now);
  old.close();

  const db = openDatabase(path);
  t.after(() => db.close());
  assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  assert.deepEqual(db.pragma('foreign_key_check'), []);
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys are on again');
  const machine = db
    .prepare("SELECT state, serial, operation_id, profile_pinned, warnings FROM machines WHERE id = 'm-000000000001'")
    .get();
  assert.deepEqual(machine, { state: 'provisioned', serial: 'SN1', operation_id: 'op-1', profile_pinned: 1, warnings: '["a warning"]' });
  for (const table of ['nics', 'drives', 'events', 'jobs']) {
    assert.equal(db.prepare(`SELECT count(*) FROM ${table} WHERE machine_id = 'm-000000000001'`).pluck().get(), 1, table);
  }
  // A BMC's change still reaches its machine's document (a trigger on bmcs that names machines).
  db.prepare("UPDATE bmcs SET ip = '192.0.2.9' WHERE id = 1").run();
  assert.match(
    db.prepare("SELECT document FROM machine_documents WHERE machine_id = 'm-000000000001'").pluck().get() as string,
    /192\.0\.2\.9/,
  );
  // The machine's JSON document is written again by triggers the copy had dropped.
  assert.match(db.prepare("SELECT document FROM machine_documents WHERE machine_id = 'm-000000000001'").pluck().get() as string, /SN1/);
  db.prepare("UPDATE machines SET serial = 'SN2' WHERE id = 'm-000000000001'").run();
  assert.match(db.prepare("SELECT document FROM machine_documents WHERE machine_id = 'm-000000000001'").pluck().get() as string, /SN2/);
  db.prepare("UPDATE machines SET state = 'discovered' WHERE id = 'm-000000000001'").run();
  // A NIC still cascades with its machine, and the events of a discovered machine may go first.
  db.prepare("DELETE FROM events WHERE machine_id = 'm-000000000001'").run();
  db.prepare("DELETE FROM jobs WHERE machine_id = 'm-000000000001'").run();
  db.prepare("DELETE FROM machines WHERE id = 'm-000000000001'").run();
  assert.equal(db.prepare('SELECT count(*) FROM nics').pluck().get(), 0);
});

test('a database whose checkpoint kill -9 cut short opens: the pages past its end are in the write-ahead log', (t) => {
  const dir = tempDir(t);
  const live = join(dir, 'live.db');
  const db = new Database(live);
  t.after(() => db.close());
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB)');
  const insert = db.prepare('INSERT INTO filler (body) VALUES (?)');
  for (let i = 0; i < 200; i++) insert.run(Buffer.alloc(4000, i));
  // Every page is in the log; a passive checkpoint copies them all and leaves the log whole.
  db.pragma('wal_checkpoint(PASSIVE)');
  // What kill -9 in the next checkpoint's writes leaves: page 1 (its page count) and one more, the log beside it.
  const crashed = join(dir, 'metalbox.db');
  writeFileSync(crashed, readFileSync(live).subarray(0, 2 * 4096));
  writeFileSync(`${crashed}-wal`, readFileSync(`${live}-wal`));
  const header = readFileSync(crashed).subarray(0, 100);
  assert.ok(header.readUInt32BE(28) > 2, 'the header counts more pages than the file holds');

  const reopened = openDatabase(crashed);
  t.after(() => reopened.close());
  assert.equal(reopened.prepare('SELECT count(*) FROM filler').pluck().get(), 200);
  assert.deepEqual(reopened.prepare('SELECT body FROM filler WHERE id = 200').pluck().get(), Buffer.alloc(4000, 199));
});
