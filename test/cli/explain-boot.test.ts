import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { BootVerdict } from '../../src/netboot/boot-verdict.js';
import { prepareDataDir, Store } from '../../src/store/index.js';
import { claimAddress, runCli, seedMachine, startServe, tempDir } from '../helpers.js';

const KNOWN = '52:54:00:77:05:01';
const STRANGER = '52:54:00:77:05:99';

test('explain boot: from the real observations and events of a PXE request; a stranger is not in the inventory; explain <ref> still explains types', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  const id = seedMachine(store, '94:40:c9:00:05:01', KNOWN, { state: 'ready' });
  store.close();
  const serve = await startServe(t, ['--data-dir', dataDir]);
  const cli = (...args: string[]) => runCli([...args, '--server', serve.url], { METALBOX_DATA_DIR: dataDir });

  const before = JSON.parse((await cli('explain', 'boot', KNOWN, '-o', 'json')).stdout) as BootVerdict;
  assert.equal(before.stoppedAt, 'dhcp', 'nothing seen yet');

  // OVMF's request on the PXE port (arch 7): answered with snponly.efi; then nothing, as a
  // firmware that never fetches its loader. Observations and boot events are written once a second.
  await claimAddress(serve, '127.0.0.1', KNOWN);
  await claimAddress(serve, '127.0.0.1', STRANGER);
  let verdict = before;
  for (let waited = 0; verdict.stoppedAt !== 'loader' && waited < 5000; waited += 250) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    verdict = JSON.parse((await cli('explain', 'boot', id, '-o', 'json')).stdout) as BootVerdict;
  }
  assert.equal(verdict.mac, KNOWN, 'a machine ref explains the NIC that last PXE-booted');
  assert.equal(verdict.stoppedAt, 'loader');
  assert.deepEqual(
    verdict.steps.slice(0, 4).map((step) => [step.step, step.ok]),
    [
      ['dhcp', true],
      ['pxe', true],
      ['answer', true],
      ['loader', false],
    ],
  );
  assert.match(verdict.steps[1]!.detail, /PXE client, architecture 7/);

  const text = await cli('explain', 'boot', KNOWN);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^${KNOWN} \\(machine ${id}\\): ${KNOWN} was answered but never fetched its boot loader\\n`));
  assert.match(text.stdout, /\n {2}✓ DHCP seen +last REQUEST at /);
  assert.match(text.stdout, /\n {2}✗ boot loader +the firmware was answered but never fetched its boot loader\n/);
  assert.match(text.stdout, /\nLikely causes:\n {2}- the site DHCP server hands out its own next-server\/filename/);

  const stranger = await cli('explain', 'boot', STRANGER);
  assert.match(stranger.stdout, new RegExp(`^${STRANGER}: metalbox does not answer ${STRANGER}: it is not in the inventory`));
  assert.equal((await cli('explain', 'boot', 'not-a-mac')).code, 2);

  const types = await cli('explain', id);
  assert.equal(types.code, 0, types.stderr);
  assert.match(types.stdout, new RegExp(`^Machine ${id}`), 'explain <ref> is the server-type explanation, as before');
});
