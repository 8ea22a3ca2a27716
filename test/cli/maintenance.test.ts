import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MachineEventJson, MachineJson } from '../../src/store/index.js';
import { prepareDataDir, Store } from '../../src/store/index.js';
import { runCli, seedMachine, startServe, tempDir } from '../helpers.js';

const NIC = '52:54:00:77:02:01';

test('maintenance on: the machine gets no boot answer, ls and show say so, one event per change; off: it boots again', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  const id = seedMachine(store, '94:40:c9:00:02:01', NIC, { state: 'ready' });
  store.close();
  const serve = await startServe(t, ['--data-dir', dataDir]);
  const cli = (...args: string[]) => runCli([...args, '--server', serve.url], { METALBOX_DATA_DIR: dataDir });
  const script = async () => {
    const response = await fetch(`${serve.url}/boot.ipxe?mac=${NIC}`);
    return { status: response.status, text: await response.text() };
  };

  assert.deepEqual(
    await script(),
    { status: 200, text: '#!ipxe\necho metalbox: booting from local disk\nexit\n' },
    'a ready machine boots from its disk',
  );
  const on = await cli('maintenance', 'on', NIC);
  assert.equal(on.code, 0, on.stderr);
  assert.equal(on.stdout, `Machine ${id} is in maintenance: metalbox gives it no boot answer until 'metalbox maintenance off ${id}'.\n`);
  // The boot decisions follow the commit: no answer at all, the reason in the 404.
  assert.deepEqual(await script(), { status: 404, text: `metalbox does not boot ${NIC} (maintenance)\n` });
  assert.equal((await cli('maintenance', 'on', id)).code, 0, 'again: nothing changes, no error');

  const ls = await cli('ls');
  assert.match(ls.stdout, /ready \(maintenance\)/);
  assert.match((await cli('show', id)).stdout, /Maintenance:\s+on: no boot answers until metalbox maintenance off/);
  const json = await cli('show', id, '-o', 'json');
  assert.equal((JSON.parse(json.stdout) as MachineJson).maintenance, true);

  const off = await cli('maintenance', 'off', id, '-o', 'json');
  assert.equal(off.code, 0, off.stderr);
  assert.equal((JSON.parse(off.stdout) as MachineJson).maintenance, false);
  assert.deepEqual(await script(), { status: 200, text: '#!ipxe\necho metalbox: booting from local disk\nexit\n' });

  const events = (await (await serve.fetch(`/api/v1/machines/${id}/events`)).json()) as MachineEventJson[];
  assert.deepEqual(
    events.filter((event) => event.type === 'maintenance').map((event) => event.message),
    ['maintenance on: no boot answers until it is taken out', 'maintenance off: boot answers again'],
    'one event per change: the repeated on added none',
  );

  const bad = await cli('maintenance', 'maybe', id);
  assert.equal(bad.code, 2, 'on or off only');
  const unknown = await cli('maintenance', 'on', '52:54:00:77:02:99');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no machine/);
  const body = await serve.fetch(`/api/v1/machines/${id}/maintenance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ on: 'yes' }),
  });
  assert.equal(body.status, 400, 'on must be a boolean');
});
