import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { prepareDataDir, Store } from '../../src/store/index.js';
import { CLI, dl360Inventory, moveTo, nobodyCanRunCli, runCli, startServe, tempDir } from '../helpers.js';

test('serve on an empty data dir: healthz, empty inventory, exit codes, graceful stop', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const started = Date.now();
  const serve = await startServe(t, ['--data-dir', dataDir]);
  t.diagnostic(`serve was answering after ${Date.now() - started} ms`);
  const withToken = { METALBOX_DATA_DIR: dataDir };

  const health = await fetch(`${serve.url}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { status: string }).status, 'ok');

  const server = ['--server', serve.url];
  const ls = await runCli(['ls', '-o', 'json', ...server], withToken);
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(JSON.parse(ls.stdout), []);

  const missing = await runCli(['show', '00:11:22:33:44:55', ...server], withToken);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'error: no machine with MAC 00:11:22:33:44:55\n');

  // Reads need the token too: none (a data dir without one), or another server's.
  const noToken = await runCli(['ls', ...server], { METALBOX_DATA_DIR: join(dataDir, 'elsewhere') });
  assert.equal(noToken.code, 1);
  assert.equal(
    noToken.stderr,
    `error: metalbox at ${serve.url} needs its API token: set METALBOX_TOKEN, or run where the api-token file of its data dir is readable (METALBOX_DATA_DIR, root for /var/lib/metalbox)\n`,
  );
  const wrongToken = await runCli(['show', '00:11:22:33:44:55', ...server], { METALBOX_TOKEN: 'not-the-token' });
  assert.equal(wrongToken.code, 1);
  assert.match(wrongToken.stderr, /refused the API token: it is not this server's/);

  const nonsense = await runCli(['show', 'nonsense', ...server], withToken);
  assert.equal(nonsense.code, 2);
  assert.match(nonsense.stderr, /^error: not a MAC address: nonsense/);
  assert.equal(nonsense.stderr.split('\n').length, 2, 'one line');

  // Files of the data dir: private to the service account.
  assert.equal(statSync(dataDir).mode & 0o777, 0o700);
  for (const file of ['metalbox.db', 'api-token', 'metalbox.pid']) assert.equal(statSync(join(dataDir, file)).mode & 0o777, 0o600, file);
  const token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim();
  assert.match(token, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');

  assert.equal(await serve.stop('SIGTERM'), 0);
  assert.match(serve.log(), /"msg":"stopped"/);
  assert.equal(existsSync(join(dataDir, 'metalbox.pid')), false, 'the lock is released');

  // The token survives a restart: clients configured with it keep working.
  const again = await startServe(t, ['--data-dir', dataDir]);
  assert.equal(readFileSync(join(dataDir, 'api-token'), 'utf8').trim(), token);
  assert.equal(await again.stop('SIGINT'), 0);
});

test('a client with no server to talk to exits 3 naming the URL', async () => {
  const result = await runCli(['ls', '--server', 'http://127.0.0.1:9']);
  assert.equal(result.code, 3);
  assert.match(result.stderr, /^error: cannot reach metalbox at http:\/\/127\.0\.0\.1:9 /);
  const env = await runCli(['show', 'aa:bb:cc:dd:ee:ff'], { METALBOX_SERVER: 'http://127.0.0.1:9' });
  assert.equal(env.code, 3);
  assert.match(env.stderr, /http:\/\/127\.0\.0\.1:9/);
  const bad = await runCli(['ls', '--server', 'ftp://example']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /not a server URL: ftp:\/\/example/);
});

test('serve refuses bad input before anything starts', async (t) => {
  const dir = tempDir(t);
  const serve = (args: string[], env: Record<string, string> = {}) =>
    runCli(['serve', '--listen', '127.0.0.1', '--http-port', '0', ...args], env);

  const blocker = join(dir, 'a-file');
  writeFileSync(blocker, 'x');
  const underFile = await serve(['--data-dir', join(blocker, 'data')]);
  assert.equal(underFile.code, 1);
  assert.match(underFile.stderr, /^error: data dir .*a-file\/data is not usable \(ENOTDIR\)/);

  const notSqlite = join(dir, 'not-sqlite');
  await runCli(['serve', '--data-dir', notSqlite, '--print-config']); // creates nothing
  assert.equal(existsSync(notSqlite), false, '--print-config touches nothing');
  mkdirSync(notSqlite);
  writeFileSync(join(notSqlite, 'metalbox.db'), 'PK\x03\x04 a zip file, not a database');
  const refused = await serve(['--data-dir', notSqlite]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /not-sqlite\/metalbox\.db is not an SQLite database/);
  assert.equal(readFileSync(join(notSqlite, 'metalbox.db'), 'utf8'), 'PK\x03\x04 a zip file, not a database');
  assert.equal(existsSync(join(notSqlite, 'api-token')), false, 'nothing else was started');

  const config = join(dir, 'metalbox.yaml');
  writeFileSync(config, 'http:\n  prot: 80\n');
  const unknownKey = await serve(['--data-dir', join(dir, 'd1'), '--config', config]);
  assert.equal(unknownKey.code, 2);
  assert.equal(unknownKey.stderr, `error: config file ${config}: unknown key http.prot\n`);
  assert.equal(existsSync(join(dir, 'd1')), false);

  writeFileSync(config, 'log:\n  level: 3\n');
  const wrongType = await serve(['--data-dir', join(dir, 'd2'), '--config', config]);
  assert.equal(wrongType.code, 2);
  assert.match(wrongType.stderr, /log\.level must be of type string/);

  const badEnv = await serve(['--data-dir', join(dir, 'd3')], { METALBOX_HTTP_PORT: 'x' });
  assert.equal(badEnv.code, 2);
  assert.match(badEnv.stderr, /environment METALBOX_HTTP_PORT=x/);

  const badFlag = await runCli(['serve', '--log-level']);
  assert.equal(badFlag.code, 2, 'commander usage errors exit 2');
});

test('an unwritable data dir is refused (checked as an unprivileged user)', {
  skip:
    process.getuid?.() !== 0 ? 'needs root to switch user' : !nobodyCanRunCli() ? 'the checkout is not reachable by user nobody' : false,
}, async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o755); // nobody may enter, not write
  const result = await runCli(
    ['serve', '--data-dir', dir, '--listen', '127.0.0.1', '--http-port', '0'],
    { HOME: '/nonexistent' },
    { uid: 65534, gid: 65534 },
  );
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /data dir .* is not usable \(EACCES\)/);
});

test('a second serve on the same data dir is refused while the first runs', async (t) => {
  const dataDir = tempDir(t);
  const first = await startServe(t, ['--data-dir', dataDir]);
  const second = await runCli(['serve', '--data-dir', dataDir, '--listen', '127.0.0.1', '--http-port', '0']);
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`in use by another metalbox serve \\(pid ${first.child.pid}\\)`));
  // A lock left by a process killed with -9 is taken over.
  assert.notEqual(await first.stop('SIGKILL'), 0);
  assert.equal(existsSync(join(dataDir, 'metalbox.pid')), true);
  const third = await startServe(t, ['--data-dir', dataDir]);
  assert.equal(await third.stop(), 0);
});

test('a stale lock whose pid now belongs to another process does not stop a start', async (t) => {
  const dataDir = tempDir(t);
  const unrelated = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => unrelated.kill('SIGKILL'));
  const lock = join(dataDir, 'metalbox.pid');
  // The pid of a live process that is not metalbox: with a start time that is not its own
  // (a pid reused after a crash), and in the pid-only form older releases wrote.
  for (const content of [`${unrelated.pid} 1\n`, `${unrelated.pid}\n`, `${process.pid} 1\n`]) {
    writeFileSync(lock, content);
    const serve = await startServe(t, ['--data-dir', dataDir]);
    assert.match(readFileSync(lock, 'utf8'), new RegExp(`^${serve.child.pid} \\d+\n$`), content);
    assert.equal(await serve.stop(), 0);
  }
});

test('ls, show and events on a populated inventory', async (t) => {
  const dataDir = tempDir(t);
  const store = Store.open(dataDir);
  const ready = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01', bmcIp: '192.0.2.5', ipSource: 'dhcp-snoop' });
  store.machines.recordInventory(ready.id, dl360Inventory(), { type: 'inventory', message: 'inspected: 2 NICs, 1 drive' });
  moveTo(store, ready.id, 'ready', { message: 'no server type matched yet' });
  // What an agent adds: a disk with its stable path (show prints it under the drives).
  store.machines.putFacts(ready.id, {
    'agent.firmware': { mode: 'uefi', secureBoot: true },
    'agent.drives': [
      {
        device: 'nvme0n1',
        byPath: 'pci-0000:31:00.0-nvme-1',
        capacityBytes: 960197124096,
        mediaType: 'SSD',
        serial: 'S6EXNA0T100001',
        discard: true,
      },
    ],
    'agent.nics': [
      {
        mac: 'b4:7a:f1:00:11:22',
        name: 'ens1f0',
        driver: 'ice',
        lldp: { chassisId: '00:1c:73:aa:bb:cc', portId: 'Ethernet7', systemName: 'leaf-r12a', vlan: 200 },
      },
      { mac: 'b4:7a:f1:00:11:23', name: 'ens1f1', driver: 'ice', lldp: null, lldpFault: 'tlv-overruns-frame' },
    ],
  });
  const failed = store.machines.enroll({ bmcMac: '3c:ec:ef:00:00:02', bmcIp: '192.0.2.6', ipSource: 'explicit' });
  moveTo(store, failed.id, 'auth_failed', { reason: 'Redfish answered 401 to the session login for user admin', message: 'login refused' });
  store.close();

  const serve = await startServe(t, ['--data-dir', dataDir]);
  const server = ['--server', serve.url];
  const withToken = { METALBOX_DATA_DIR: dataDir };

  const json = await runCli(['ls', '-o', 'json', ...server], withToken);
  assert.equal(json.code, 0, json.stderr);
  const machines = JSON.parse(json.stdout);
  assert.deepEqual(
    machines.map((m: { id: string }) => m.id),
    [ready.id, failed.id],
  );
  assert.deepEqual(Object.keys(machines[0]), [
    'id',
    'state',
    'stateReason',
    'power',
    'bmc',
    'system',
    'cpu',
    'memory',
    'drives',
    'nics',
    'serverType',
    'profile',
    'maintenance',
    'warnings',
    'createdAt',
    'updatedAt',
  ]);
  assert.deepEqual(machines[1].system, {
    manufacturer: null,
    model: null,
    serial: null,
    uuid: null,
    sku: null,
    biosVersion: null,
    powerState: null,
  });
  const yaml = await runCli(['ls', '-o', 'yaml', ...server], withToken);
  assert.deepEqual(YAML.parse(yaml.stdout), machines);

  const table = await runCli(['ls', ...server], withToken);
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^BMC MAC\s+STATE\s+POWER\s+BMC IP\s+MODEL\s+SERIAL\s+CPUS\s+MEMORY\s+NICS\s+PROFILE\s+AGE\s+ERROR$/);
  assert.match(
    lines[1]!,
    /^94:40:c9:00:00:01\s+ready\s+On\s+192\.0\.2\.5\s+HPE ProLiant DL360 Gen10 Plus\s+CZJ1234ABC\s+2 \(64c\)\s+512 GiB\s+2\s+-\s+\d+s\s*$/,
  );
  assert.match(
    lines[2]!,
    /^3c:ec:ef:00:00:02\s+auth_failed\s+-\s+192\.0\.2\.6\s+-\s+-\s+-\s+-\s+0\s+-\s+\d+s\s+Redfish answered 401 to the session log…$/,
  );
  const wide = await runCli(['ls', '-o', 'wide', ...server], withToken);
  assert.match(wide.stdout, new RegExp(`${ready.id}\\s+94:40:c9:00:00:01`));
  assert.match(wide.stdout, /1 \(960 GB\)/);

  const onlyFailed = await runCli(['ls', '--state', 'auth_failed', '-o', 'json', ...server], withToken);
  assert.deepEqual(
    JSON.parse(onlyFailed.stdout).map((m: { id: string }) => m.id),
    [failed.id],
  );
  const badState = await runCli(['ls', '--state', 'rebooting', ...server], withToken);
  assert.equal(badState.code, 2);
  const query = await runCli(['ls', '-q', 'B4-7A-F1-00-11-23', '-o', 'json', ...server], withToken);
  assert.deepEqual(
    JSON.parse(query.stdout).map((m: { id: string }) => m.id),
    [ready.id],
  );

  const showJson = await runCli(['show', 'B4-7A-F1-00-11-23', '-o', 'json', ...server], withToken);
  assert.equal(showJson.code, 0, showJson.stderr);
  assert.deepEqual(JSON.parse(showJson.stdout), machines[0]);
  const show = await runCli(['show', ready.id, ...server], withToken);
  for (const fragment of [
    /State:\s+ready/,
    /BMC:\s+94:40:c9:00:00:01\s+192\.0\.2\.5 \(from dhcp-snoop\)/,
    /iLO 5, firmware 2\.55, Redfish 1\.6\.0/,
    /System:\s+HPE ProLiant DL360 Gen10 Plus, SKU P39999-B21/,
    /CPU:\s+2 × Intel\(R\) Xeon\(R\) Gold 6338, 64 cores, 128 threads/,
    /Memory:\s+512 GiB in 16 DIMMs/,
    /Boot:\s+UEFI with Secure Boot \(as its agent booted\)/,
    /b4:7a:f1:00:11:23\s+NIC\.1\.2\s+25000 Mb\/s\s+LinkDown/,
    /MZXL5960HBLA\s+S6EXNA0T100001\s+960 GB\s+SSD\s+NVMe/,
    /Disks as its agent saw them \(1\)\n\s+DEVICE\s+BY-PATH\s+CAPACITY\s+MEDIA\s+SERIAL\s+DISCARD\n\s+nvme0n1\s+pci-0000:31:00\.0-nvme-1\s+960 GB\s+SSD\s+S6EXNA0T100001\s+yes/,
    /Ports as its agent saw them \(2\)\n\s+NAME\s+MAC\s+DRIVER\s+SWITCH\s+PORT\s+VLAN\n\s+ens1f0\s+b4:7a:f1:00:11:22\s+ice\s+leaf-r12a\s+Ethernet7\s+200\n\s+ens1f1\s+b4:7a:f1:00:11:23\s+ice\s+\(bad LLDP frame: tlv-overruns-frame\)\s+-\s+-\n/,
    /state\s+classifying → ready\s+no server type matched yet/,
  ])
    assert.match(show.stdout, fragment);

  const events = await runCli(['events', '3c-ec-ef-00-00-02', '-o', 'json', ...server], withToken);
  assert.deepEqual(
    JSON.parse(events.stdout).map((e: { toState: string }) => e.toState),
    ['enrolled', 'auth_failed'],
  );
});

test('ls --watch redraws until interrupted', async (t) => {
  const dataDir = tempDir(t);
  const serve = await startServe(t, ['--data-dir', dataDir]);
  const child = spawn(process.execPath, [CLI, 'ls', '--watch', '--interval', '0.2', '--server', serve.url], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, METALBOX_TOKEN: readFileSync(join(dataDir, 'api-token'), 'utf8').trim() },
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  while ((output.match(/Every 0\.2s: metalbox ls/g) ?? []).length < 3) await new Promise((resolve) => setTimeout(resolve, 50));
  child.kill('SIGINT');
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  assert.match(output, /No machines\./);
});

test('serve --print-config shows the effective config', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'metalbox.yaml');
  writeFileSync(
    config,
    [
      'http:',
      '  port: 8001',
      'log:',
      '  level: debug',
      'bmc:',
      '  subnets: [10.9.0.0/24]',
      '  credentials:',
      '    - {macPrefix: "94:40:c9", username: admin, password: s3cret-factory}',
      'unifi: {url: "https://unifi.example", username: ro, password: s3cret-unifi}',
      '',
    ].join('\n'),
  );
  const result = await runCli(
    ['serve', '--config', config, '--data-dir', join(dir, 'd'), '--http-port', '8003', '--no-dhcp-proxy', '--print-config'],
    { METALBOX_LISTEN: '192.0.2.7', METALBOX_SWEEP_RATE: '50' },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(YAML.parse(result.stdout), {
    dataDir: join(dir, 'd'),
    listen: '192.0.2.7',
    advertise: '192.0.2.7',
    http: { port: 8003, fileCacheMiB: 256, fileThreads: 0 },
    dhcp: { proxy: false, port: 67, pxePort: 4011 },
    tftp: { enabled: true, port: 69, maxBlksize: 1468, maxTransfers: 4096, threads: 0 },
    netboot: { uefiBinary: 'snponly.efi', loader: 'ipxe' },
    api: { maxEventStreams: 100 },
    boot: { unknown: 'ignore', maxDiscovered: 1000, localBoot: 'exit', addressTrust: 'dhcp' },
    profiles: {},
    serverTypes: [],
    agent: { lldpSeconds: 30 },
    bmc: { subnets: ['10.9.0.0/24'], sweepRate: 50, credentials: [{ macPrefix: '94:40:c9', username: 'admin', password: '********' }] },
    snooping: { maxObservations: 50000, maxAgeDays: 30, writesPerSecond: 1000 },
    discovery: { leaseFiles: [] },
    unifi: { url: 'https://unifi.example', username: 'ro', password: '********' },
    onboarding: { concurrency: 100, attempts: 5, backoffMs: 5000 },
    provisioning: {
      timeouts: {
        preparing: 600,
        netbooting: 900,
        installing: 3600,
        deprovisioning: 600,
        deploying: 3600,
        booting: 1800,
        cleaning: 3600,
        inspecting: 1800,
      },
      powerPollMs: 2000,
    },
    redfish: { maxInFlight: 32, connectTimeoutMs: 15000, requestTimeoutMs: 60000 },
    log: { level: 'debug' },
  });
  assert.doesNotMatch(result.stdout, /s3cret/, 'passwords never printed');
});

test('a damaged database is refused in one line, exit 2, before anything starts, and never written', async (t) => {
  const dir = tempDir(t);
  const original = join(dir, 'original');
  prepareDataDir(original);
  const store = Store.open(original);
  for (let index = 0; index < 40; index++) {
    const { id } = store.machines.enroll({ bmcMac: `02:00:00:00:01:${index.toString(16).padStart(2, '0')}` });
    const nics = [{ mac: `52:54:00:00:01:${index.toString(16).padStart(2, '0')}`, name: 'NIC.1', speedMbps: null, linkStatus: null }];
    store.machines.recordInventory(id, { ...dl360Inventory(), nics }, { type: 'inventory', message: 'inspected' });
  }
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();
  const bytes = readFileSync(join(original, 'metalbox.db'));
  assert.ok(bytes.length >= 16 * 4096, `${bytes.length} bytes: enough pages to damage`);

  const damaged: Array<[string, Buffer, RegExp]> = [
    [
      'truncated',
      bytes.subarray(0, Math.floor(bytes.length / 2)),
      /is damaged \(truncated: \d+ bytes, its header says \d+ pages of 4096 bytes\)/,
    ],
    // Pages 4 to 6 overwritten: the b-trees on them no longer parse.
    [
      'overwritten',
      Buffer.concat([bytes.subarray(0, 3 * 4096), Buffer.alloc(3 * 4096, 0xa5), bytes.subarray(6 * 4096)]),
      /is damaged \(database disk image is malformed(: Tree 4 page 4: [^)]+)?\)/,
    ], // SQLite throws, or lists what it found
  ];
  for (const [what, content, reason] of damaged) {
    await t.test(what, async () => {
      const dataDir = join(dir, what);
      mkdirSync(dataDir, { mode: 0o700 });
      const database = join(dataDir, 'metalbox.db');
      writeFileSync(database, content, { mode: 0o600 });
      const result = await runCli([
        'serve',
        '--data-dir',
        dataDir,
        '--listen',
        '127.0.0.1',
        '--http-port',
        '0',
        '--no-dhcp-proxy',
        '--no-tftp',
      ]);
      assert.equal(result.code, 2, `${what}: ${result.stderr}`);
      assert.match(
        result.stderr,
        new RegExp(
          `^error: database ${database.replace(/[.]/g, '\\.')} ${reason.source}; metalbox did not write to it: restore it from a backup, or move it away to start an empty inventory\\n$`,
        ),
        what,
      );
      assert.equal(result.stdout, '', `${what}: nothing served`);
      assert.ok(readFileSync(database).equals(content), `${what}: the file is unchanged`);
      assert.equal(existsSync(join(dataDir, 'api-token')), false, `${what}: nothing after the database was started`);
    });
  }
});

test('serve --print-config checks what serve checks: advertise resolved, a missing ipxeDir refused', async (t) => {
  const dir = tempDir(t);
  const printed = await runCli(['serve', '--print-config', '--data-dir', join(dir, 'd'), '--listen', '127.0.0.1', '--no-dhcp-proxy']);
  assert.equal(printed.code, 0, printed.stderr);
  assert.equal(YAML.parse(printed.stdout).advertise, '127.0.0.1', 'TFTP runs: advertise is --listen');
  for (const [args, message] of [
    [['--ipxe-dir', join(dir, 'nowhere')], `ipxeDir ${join(dir, 'nowhere')} is not a directory`],
    [['--boot-unknown', 'discover'], 'boot.unknown is discover, and there is no agent image in'],
  ] as const) {
    await t.test(args.join(' '), async () => {
      for (const mode of [['--print-config'], []]) {
        const result = await runCli(['serve', ...mode, '--data-dir', join(dir, 'd'), '--listen', '127.0.0.1', '--http-port', '0', ...args]);
        assert.equal(result.code, 2, `${args.join(' ')} ${mode.join(' ')}`);
        assert.ok(result.stderr.startsWith(`error: ${message}`), result.stderr);
      }
    });
  }
  assert.equal(existsSync(join(dir, 'd')), false, 'refused before the data dir is made');
});
