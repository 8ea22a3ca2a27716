import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MachineJson } from '../../src/store/index.js';
import { prepareDataDir, Store } from '../../src/store/index.js';
import { runCli, seedMachine, startServe, tempDir } from '../helpers.js';

test('delete: a machine is forgotten with its timeline, NICs and unshared BMC; a busy one only with --force; events stay append-only', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  const ready = seedMachine(store, '94:40:c9:00:03:01', '52:54:00:77:03:01', { state: 'ready' });
  const installed = seedMachine(store, '94:40:c9:00:03:02', '52:54:00:77:03:02', { state: 'provisioned' });
  // A second system of the first machine's BMC (a multi-node box): the BMC stays while it does.
  const sharedBmc = seedMachine(store, '94:40:c9:00:03:03', '52:54:00:77:03:03', { state: 'ready' });
  const bmcId = store.db.prepare('SELECT bmc_id FROM machines WHERE id = ?').pluck().get(sharedBmc) as number;
  const sibling = store.machines.addSystem(bmcId, '/redfish/v1/Systems/2', 'inspecting', { type: 'state', message: 'second system' });
  store.close();

  const serve = await startServe(t, ['--data-dir', dataDir]);
  const cli = (...args: string[]) => runCli([...args, '--server', serve.url], { METALBOX_DATA_DIR: dataDir });

  const deleted = await cli('delete', '52:54:00:77:03:01');
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(deleted.stdout, `Deleted machine ${ready} (ready, BMC 94:40:c9:00:03:01): its MACs may be onboarded again.\n`);
  assert.equal((await serve.fetch(`/api/v1/machines/${ready}`)).status, 404);
  assert.equal((await serve.fetch(`/api/v1/machines/${ready}/events`)).status, 404);
  const script = await fetch(`${serve.url}/boot.ipxe?mac=52:54:00:77:03:01`);
  assert.equal(script.status, 404, 'its NIC is unknown again: no boot answer');
  assert.match(await script.text(), /\(unknown\)/);

  const refused = await cli('delete', installed);
  assert.equal(refused.code, 2, 'a conflict with the machine state: the input, not the server, is wrong');
  assert.match(refused.stderr, new RegExp(`machine ${installed} is provisioned: in use or under an operation; --force deletes it anyway`));
  assert.equal((await serve.fetch(`/api/v1/machines/${installed}`)).status, 200, 'refused: nothing changed');
  const forced = await cli('delete', installed, '--force', '-o', 'json');
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal((JSON.parse(forced.stdout) as MachineJson).id, installed);

  assert.equal((await cli('delete', sharedBmc)).code, 0);
  const remaining = (await (await serve.fetch('/api/v1/machines')).json()) as MachineJson[];
  assert.deepEqual(
    remaining.map((machine) => [machine.id, machine.bmc?.mac]),
    [[sibling, '94:40:c9:00:03:03']],
    'the shared BMC stays with the machine still on it',
  );
  assert.equal((await cli('delete', 'not-a-ref')).code, 2);
  const unknown = await cli('delete', '52:54:00:77:03:99');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no machine/);
  assert.equal(await serve.stop(), 0);
  assert.match(serve.log(), new RegExp(`"machineId":"${installed}".*machine deleted`));

  const after = Store.open(dataDir);
  t.after(() => after.close());
  const count = (sql: string, ...params: unknown[]) =>
    after.db
      .prepare(sql)
      .pluck()
      .get(...params) as number;
  for (const id of [ready, installed, sharedBmc]) {
    assert.equal(count('SELECT COUNT(*) FROM events WHERE machine_id = ?', id), 0, `${id}: its events went with it`);
    assert.equal(count('SELECT COUNT(*) FROM nics WHERE machine_id = ?', id), 0);
  }
  assert.equal(count("SELECT COUNT(*) FROM bmcs WHERE mac IN ('94:40:c9:00:03:01', '94:40:c9:00:03:02')"), 0, 'unshared BMCs are gone');
  assert.equal(count('SELECT COUNT(*) FROM bmcs WHERE id = ?', bmcId), 1);
  assert.equal(count('SELECT COUNT(*) FROM machine_deletions'), 0);
  // Outside a deletion, a machine's events still cannot be removed or changed.
  assert.throws(() => after.db.prepare('DELETE FROM events WHERE machine_id = ?').run(sibling), /events are append-only/);
});

test('profiles delete and types delete: only what the API applied; the config file wins again; nothing in use is deleted', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  const pinned = seedMachine(store, '94:40:c9:00:04:01', '52:54:00:77:04:01', { profile: 'pinned', state: 'ready' });
  store.close();
  const config = join(dir, 'metalbox.yaml');
  writeFileSync(config, 'profiles:\n  base:\n    kernel: http://mirror.example/base\n');
  const applied = join(dir, 'applied.yaml');
  writeFileSync(
    applied,
    [
      'profiles:',
      '  base: { kernel: http://mirror.example/base-from-api }',
      '  extra: { kernel: http://mirror.example/extra }',
      '  pinned: { kernel: http://mirror.example/pinned }',
      '',
    ].join('\n'),
  );
  const types = join(dir, 'types.yaml');
  writeFileSync(types, 'serverTypes:\n  - { name: big, match: { cpu.cores: ">=64" }, profile: extra }\n');
  const serve = await startServe(t, ['--data-dir', dataDir, '--config', config]);
  const cli = (...args: string[]) => runCli([...args, '--server', serve.url], { METALBOX_DATA_DIR: dataDir });
  assert.equal((await cli('profiles', 'apply', '-f', applied)).code, 0);
  const appliedTypes = await cli('types', 'apply', '-f', types, '-o', 'json');
  assert.deepEqual(JSON.parse(appliedTypes.stdout), { applied: ['big'] });

  const base = await cli('profiles', 'delete', 'base');
  assert.equal(base.code, 0, base.stderr);
  assert.equal(base.stdout, "Deleted profile base; the config file's is in force again.\n");
  const shown = JSON.parse((await cli('profiles', 'show', 'base', '-o', 'json')).stdout) as { source: string; spec: { kernel: string } };
  assert.deepEqual([shown.source, shown.spec.kernel], ['config', 'http://mirror.example/base']);
  const fromConfig = await cli('profiles', 'delete', 'base');
  assert.equal(fromConfig.code, 2);
  assert.match(fromConfig.stderr, /profile base comes from the config file: remove it there/);

  const used = await cli('profiles', 'delete', 'extra');
  assert.equal(used.code, 2);
  assert.match(used.stderr, /profile extra is in use by server type big: change those first/);
  const byMachine = await cli('profiles', 'delete', 'pinned');
  assert.equal(byMachine.code, 2);
  assert.match(byMachine.stderr, new RegExp(`profile pinned is in use by machine ${pinned}`));

  assert.equal((await cli('types', 'delete', 'big')).stdout, 'Deleted server type big.\n');
  assert.equal((await cli('types', 'show', 'big')).code, 1, 'gone');
  const extra = await cli('profiles', 'delete', 'extra', '-o', 'json');
  assert.deepEqual(JSON.parse(extra.stdout), { deleted: 'extra', restored: null });
  assert.equal((await cli('profiles', 'show', 'extra')).code, 1);
  assert.equal((await cli('profiles', 'delete', 'nope')).code, 1);

  // Deleted for good: a restart reads the database and does not bring them back.
  assert.equal(await serve.stop(), 0);
  const again = await startServe(t, ['--data-dir', dataDir, '--config', config]);
  const names = JSON.parse(
    (await runCli(['profiles', 'ls', '-o', 'json', '--server', again.url], { METALBOX_DATA_DIR: dataDir })).stdout,
  ) as Array<{ name: string; source: string }>;
  assert.deepEqual(
    names.map((view) => `${view.name}:${view.source}`),
    ['base:config', 'pinned:api'],
  );
});
