import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SECRET_KEY_FILE, Store } from '../../src/store/index.js';
import { tempDir } from '../helpers.js';

test('BMC passwords are sealed at rest and open only with the data dir key', (t) => {
  const dir = tempDir(t);
  const store = Store.open(dir);
  const id = store.credentials.save({ username: 'admin', password: 'hunter2-very-secret' });
  assert.deepEqual(store.credentials.read(id), { username: 'admin', password: 'hunter2-very-secret' });
  store.close();
  assert.equal(statSync(join(dir, SECRET_KEY_FILE)).mode & 0o777, 0o600);
  assert.ok(!readFileSync(join(dir, 'metalbox.db')).includes('hunter2'), 'no plaintext password in the database file');

  const reopened = Store.open(dir);
  assert.equal(reopened.credentials.read(id)?.password, 'hunter2-very-secret', 'the key survives restarts');
  reopened.db.prepare("UPDATE credentials SET username = 'root' WHERE id = ?").run(id);
  assert.throws(() => reopened.credentials.read(id), /does not open/, 'the seal binds the username');
  reopened.close();

  writeFileSync(join(dir, SECRET_KEY_FILE), `${Buffer.alloc(32, 7).toString('base64url')}\n`);
  const rekeyed = Store.open(dir);
  rekeyed.db.prepare("UPDATE credentials SET username = 'admin' WHERE id = ?").run(id);
  assert.throws(() => rekeyed.credentials.read(id), /was the key file replaced/);
  rekeyed.close();
});
