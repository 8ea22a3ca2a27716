import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, nobodyCanRunCli, runCli, tempDir } from '../helpers.js';

test('install-service --root: the unit systemd accepts, a config skeleton serve loads and a kept config', async (t) => {
  const root = tempDir(t);
  const first = await runCli(['install-service', '--root', root, '-o', 'json']);
  assert.equal(first.code, 0, first.stderr);
  const unitPath = join(root, 'etc/systemd/system/metalbox.service');
  const configPath = join(root, 'etc/metalbox/metalbox.yaml');
  assert.deepEqual(JSON.parse(first.stdout), {
    unit: unitPath,
    config: configPath,
    configWritten: true,
    dataDir: join(root, 'var/lib/metalbox'),
    user: 'metalbox',
    userCreated: false,
  });
  const unit = readFileSync(unitPath, 'utf8');
  for (const line of [
    'User=metalbox',
    `ExecStart=${process.execPath} ${realpathSync(CLI)} serve --config /etc/metalbox/metalbox.yaml --data-dir /var/lib/metalbox`,
    'AmbientCapabilities=CAP_NET_BIND_SERVICE',
    'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
    'NoNewPrivileges=true',
    'ReadWritePaths=/var/lib/metalbox',
    'Restart=on-failure',
    'WantedBy=multi-user.target',
  ])
    assert.ok(unit.split('\n').includes(line), `${line}\n--- in ---\n${unit}`);
  assert.equal(statSync(join(root, 'var/lib/metalbox')).mode & 0o777, 0o700);
  assert.equal(statSync(configPath).mode & 0o777, 0o640);
  // systemd's own check of the unit (offline: no running systemd needed).
  const verify = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
  assert.equal(verify.status, 0, `systemd-analyze verify: ${verify.stdout}${verify.stderr}`);
  assert.equal(verify.stderr, '', 'no warning either');

  // The skeleton is a config serve loads as it is (all comments: the defaults).
  const printed = await runCli([
    'serve',
    '--print-config',
    '--config',
    configPath,
    '--data-dir',
    join(root, 'data'),
    '--no-dhcp-proxy',
    '--no-tftp',
  ]);
  assert.equal(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /^listen: 0\.0\.0\.0$/m);

  // Run again: the operator's config is kept, the unit rewritten.
  writeFileSync(configPath, 'advertise: 192.0.2.10\n');
  const again = await runCli(['install-service', '--root', root]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /Kept .*metalbox\.yaml as it was/);
  assert.equal(readFileSync(configPath, 'utf8'), 'advertise: 192.0.2.10\n');

  const relative = await runCli(['install-service', '--root', root, '--data-dir', 'var/lib/x']);
  assert.equal(relative.code, 2);
  assert.match(relative.stderr, /--data-dir var\/lib\/x: an absolute path/);
  const badUser = await runCli(['install-service', '--root', root, '--user', 'Robert;rm']);
  assert.equal(badUser.code, 2);
});

test('install-service not as root: refused', {
  skip:
    process.getuid?.() !== 0 ? 'needs root to switch user' : !nobodyCanRunCli() ? 'the checkout is not reachable by user nobody' : false,
}, async () => {
  const notRoot = await runCli(['install-service'], {}, { uid: 65534, gid: 65534 });
  assert.equal(notRoot.code, 2);
  assert.match(notRoot.stderr, /run it as root \(or with --root DIR\)/);
});
