import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MachineJson } from '../../src/store/index.js';
import { tempDir } from '../helpers.js';
import { EXPECTED } from '../redfish/expected.js';
import { selfSignedTls, startMockup, type Mockup, type MockupOptions } from '../../lab/redfish-mockup.js';
import { QUICK_FAILURES, startAppliance, transitions } from './appliance.js';

type After = { after(fn: () => unknown): void };

async function mockup(t: After, options: MockupOptions): Promise<Mockup> {
  const started = await startMockup(options);
  t.after(() => started.close());
  return started;
}

/** A TCP port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const ONBOARDED = [
  '-→enrolled',
  'enrolled→resolving',
  'resolving→connecting',
  'connecting→inspecting',
  'inspecting→classifying',
  'classifying→ready',
];

test('onboarding each mockup tree by --ip stores the facts read by hand from its JSON; default credentials by MAC prefix', async (t) => {
  const trees = Object.keys(EXPECTED);
  // One appliance per tree: several trees are variants of one DMTF server and share NIC MACs.
  await Promise.all(
    trees.map(async (tree, index) => {
      const bmc = await mockup(t, { tree });
      const app = await startAppliance(t, {
        bmc: {
          credentials: [
            { macPrefix: '02:00:00', username: 'admin', password: 'wrong' },
            { macPrefix: '02:00:00:00', username: 'admin', password: 'password' }, // the longer prefix wins
          ],
        },
      });
      const bmcMac = `02:00:00:00:00:${String(index + 1).padStart(2, '0')}`;
      const result = await app.cli(['onboard', bmcMac, '--ip', '127.0.0.1', '--port', String(bmc.port), '--scheme', 'http', '--wait']);
      assert.equal(result.code, 0, `${tree}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /enrolled → resolving[\s\S]*classifying → ready[\s\S]*is ready\./, tree);

      const machines = await app.machines();
      const expected = EXPECTED[tree]!;
      assert.deepEqual(
        machines.map((machine) => ({
          serial: machine.system.serial,
          model: machine.system.model,
          cpu: [machine.cpu.count, machine.cpu.cores],
          memoryGiB: machine.memory.totalGiB,
          macs: machine.nics.map((nic) => nic.mac).sort(),
          drives: machine.drives.length,
          state: machine.state,
          bmc: [machine.bmc?.mac, machine.bmc?.ip, machine.bmc?.ipSource],
        })),
        expected.map((system) => ({
          serial: system.serial,
          model: system.model,
          cpu: system.cpu,
          memoryGiB: system.memoryGiB,
          macs: [...system.macs].sort(),
          drives: system.drives,
          state: 'ready',
          bmc: [bmcMac, '127.0.0.1', 'explicit'],
        })),
        tree,
      );
      assert.deepEqual(transitions(await app.events(machines[0]!.id)), ONBOARDED, tree);
      assert.equal(bmc.sessions.size, 0, `${tree}: every Redfish session was deleted`);
    }),
  );
});

test("a wrong password ends in auth_failed with the BMC's message; the password is never logged, stored in clear or returned", async (t) => {
  const bmc = await mockup(t, { tree: 'hpe-ilo5-proliant-dl325-gen10plus-fc' });
  const app = await startAppliance(t, {}, QUICK_FAILURES);
  const secret = 'Hunter2-not-the-password';
  const result = await app.cli(
    ['onboard', '94:40:c9:37:d3:fc', '--ip', '127.0.0.1', '--port', String(bmc.port), '--scheme', 'http', '--username', 'admin', '--wait'],
    { METALBOX_BMC_PASSWORD: secret },
  );
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(
    result.stderr,
    /onboarding failed: machine m-\w+ is auth_failed: login refused: HTTP 401: Invalid username or password \(Base\.1\.0\.InsufficientPrivilege\)/,
  );
  const [machine] = await app.machines();
  assert.equal(machine!.state, 'auth_failed');
  const failures = (await app.events(machine!.id)).filter((event) => event.type === 'onboarding.retry');
  assert.equal(failures.length, 0, 'a refused password is not tried again (it could lock the account)');
  const job = await app.job(1);
  assert.equal(job!.status, 'failed');
  assert.doesNotMatch(JSON.stringify(job), /Hunter2/);
  assert.doesNotMatch(app.serving.log(), /Hunter2/);
  for (const file of readdirSync(app.dataDir)) {
    assert.equal(readFileSync(join(app.dataDir, file)).includes(secret), false, `${file} does not hold the password in clear`);
  }
});

test('an unreachable BMC ends in bmc_unreachable after the retries; a MAC nobody knows names each resolver tried', async (t) => {
  const app = await startAppliance(t, {}, QUICK_FAILURES);
  const port = await closedPort();
  const refused = await app.cli([...app.onboardArgs('02:00:00:00:01:01', port), '--wait']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /is bmc_unreachable: http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  assert.match(refused.stdout, /connect try 1 failed: .*ECONNREFUSED; next try in 0 s/, 'retried once (METALBOX_ONBOARDING_ATTEMPTS=2)');
  // -o json: the ticket; with --wait the machine as the onboarding left it, and no progress lines (stdout is one document).
  const ticket = await app.cli([...app.onboardArgs('02:00:00:00:01:02', port), '-o', 'json']);
  assert.equal(ticket.code, 0, ticket.stderr);
  const { created, machine: enrolled } = JSON.parse(ticket.stdout) as { created: boolean; machine: MachineJson };
  assert.deepEqual([created, enrolled.bmc?.mac], [true, '02:00:00:00:01:02']);
  const waited = await app.cli([...app.onboardArgs('02:00:00:00:01:02', port), '--wait', '-o', 'json']);
  assert.equal(waited.code, 1);
  assert.equal((JSON.parse(waited.stdout) as MachineJson).state, 'bmc_unreachable');
  assert.match(waited.stderr, /is bmc_unreachable/);

  const unknown = await app.cli(['onboard', '02:00:5e:10:20:30', '--username', 'admin', '--password-file', app.passwordFile, '--wait']);
  assert.equal(unknown.code, 1);
  assert.match(
    unknown.stderr,
    /is bmc_unreachable: no resolver knows MAC 02:00:5e:10:20:30: dhcp-observations: no DHCP request from this MAC seen; neighbour-table: not in the neighbour table; lease-files: no lease files configured \(discovery\.leaseFiles\); sweep: no BMC subnets configured \(bmc\.subnets\)/,
  );
});

test('hostile BMCs fail with a clear reason in bounded time while a healthy one beside them onboards', async (t) => {
  const tree = 'hpe-ilo5-proliant-dl325-gen10plus-fc';
  const app = await startAppliance(t, {}, { ...QUICK_FAILURES, METALBOX_ONBOARDING_ATTEMPTS: '1' });
  const cases: Array<{ name: string; hostile: MockupOptions['hostile']; state: string; reason: RegExp }> = [
    {
      name: '500 on every collection',
      hostile: Object.fromEntries(
        ['/redfish/v1/Systems', '/redfish/v1/Chassis', '/redfish/v1/Managers'].map((path) => [path, { kind: 'status', status: 500 }]),
      ),
      state: 'inspect_failed',
      reason: /\/redfish\/v1\/Systems: HTTP 500/,
    },
    {
      name: '100 MB body',
      hostile: { '/redfish/v1/Systems/1': { kind: 'huge', bytes: 100 * 1024 * 1024 } },
      state: 'inspect_failed',
      reason: /passed the 16777216-byte limit/,
    },
    {
      name: 'invalid JSON',
      hostile: { '/redfish/v1/Systems/1': { kind: 'invalid-json' } },
      state: 'inspect_failed',
      reason: /\/redfish\/v1\/Systems\/1: the answer is not JSON/,
    },
    {
      name: 'redirect loop',
      hostile: { '/redfish/v1/Systems': { kind: 'redirect', location: '/redfish/v1/Systems' } },
      state: 'inspect_failed',
      reason: /more than 3 redirects/,
    },
    {
      name: 'redirect to another host',
      hostile: { '/redfish/v1/Systems': { kind: 'redirect', location: 'http://192.0.2.1/redfish/v1/Systems' } },
      state: 'inspect_failed',
      reason: /redirected to another host \(http:\/\/192\.0\.2\.1\), refused/,
    },
    {
      name: 'byte by byte',
      hostile: { '/redfish/v1/Systems/1': { kind: 'slow-bytes', intervalMs: 50 } },
      state: 'bmc_unreachable',
      reason: /no complete answer within 3 s/,
    },
  ];
  const started = Date.now();
  const runs = cases.map(async (entry, index) => {
    const bmc = await mockup(t, { tree, hostile: entry.hostile });
    const result = await app.cli([...app.onboardArgs(`02:00:00:00:02:${String(index + 1).padStart(2, '0')}`, bmc.port), '--wait']);
    assert.equal(result.code, 1, `${entry.name}: ${result.stdout}`);
    assert.match(result.stderr, new RegExp(`is ${entry.state}: `), entry.name);
    assert.match(result.stderr, entry.reason, entry.name);
  });
  const healthy = (async () => {
    const bmc = await mockup(t, { tree, latencyMs: 20, macSalt: 0x55 });
    const result = await app.cli([...app.onboardArgs('02:00:00:00:02:ff', bmc.port), '--wait']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  })();
  await Promise.all([...runs, healthy]);
  // Bounded: the slowest case is the byte-by-byte body, 4 tries of a 3 s deadline plus backoff.
  assert.ok(Date.now() - started < 45_000, `took ${Date.now() - started} ms`);
  const stats = (await (await app.serving.fetch(`/api/v1/stats`)).json()) as { onboarding: { running: number } };
  assert.equal(stats.onboarding.running, 0);
});

test('two onboard calls for one MAC at once make one job', async (t) => {
  const bmc = await mockup(t, { tree: 'dmtf-public-rackmount1', latencyMs: 150 });
  const app = await startAppliance(t);
  const args = [...app.onboardArgs('02:00:00:00:03:01', bmc.port)];
  const [first, second] = await Promise.all([app.cli(args), app.cli(args)]);
  assert.equal(first!.code, 0, first!.stderr);
  assert.equal(second!.code, 0, second!.stderr);
  const outputs = [first!.stdout, second!.stdout].sort();
  assert.match(outputs[0]!, /is already being onboarded as machine m-\w+ \(job 1, /);
  assert.match(outputs[1]!, /^Onboarding BMC 02:00:00:00:03:01 as machine m-\w+ \(job 1\)\./);
  // The same BMC with other settings while that job runs: refused, naming the running job's, not silently joined.
  const otherPort = await app.cli(['onboard', '02:00:00:00:03:01', '--ip', '127.0.0.2', '--port', '8443', '--scheme', 'http']);
  assert.equal(otherPort.code, 2, otherPort.stdout);
  assert.equal(
    otherPort.stderr,
    `error: BMC 02:00:00:00:03:01 is being onboarded already (job 1) with ip 127.0.0.1, port ${bmc.port}, not ip 127.0.0.2, port 8443: ` +
      'wait for it to end (metalbox onboard --retry 02:00:00:00:03:01 --wait), then onboard again with these\n',
  );
  const waited = await app.cli(['onboard', '--retry', '02:00:00:00:03:01', '--wait']);
  assert.equal(waited.code, 0, waited.stderr);
  assert.equal(await app.job(2), null, 'the retry joined job 1, still under way');
  assert.equal((await app.machines()).length, 1);
});

test('onboarding a known BMC again updates the machine in place and records what changed', async (t) => {
  const tree = 'hpe-ilo5-proliant-dl325-gen10plus-fc';
  const before = await mockup(t, { tree });
  const after = await mockup(t, { tree, macSalt: 0x01 }); // the same server with its NICs swapped
  const app = await startAppliance(t);
  const onboard = (port: number) => app.cli([...app.onboardArgs('94:40:c9:37:d3:fc', port), '--wait']);
  assert.equal((await onboard(before.port)).code, 0);
  const [first] = await app.machines();
  const again = await onboard(after.port);
  assert.equal(again.code, 0, again.stderr);
  const machines = await app.machines();
  assert.equal(machines.length, 1);
  assert.equal(machines[0]!.id, first!.id);
  // Octet 4 of each MAC XOR 0x01: 94:40:c9:5c:86:bc → 94:40:c9:5d:86:bc, and so on.
  assert.deepEqual(machines[0]!.nics.map((nic) => nic.mac).sort(), [
    '14:02:ec:d8:3a:a0',
    '14:02:ec:d8:3a:a1',
    '88:e9:a4:6a:f5:74',
    '88:e9:a4:6a:f5:75',
    '88:e9:a4:6a:f5:76',
    '88:e9:a4:6a:f5:77',
    '94:40:c9:5d:86:bc',
    '94:40:c9:5d:86:bd',
  ]);
  const inventories = (await app.events(first!.id)).filter((event) => event.type === 'inventory');
  assert.equal(inventories.length, 2);
  assert.doesNotMatch(inventories[0]!.message, /changed/);
  assert.match(inventories[1]!.message, /; changed: nics$|; changed: nics \(/);
  const changes = (inventories[1]!.data as { changes: Array<{ field: string }> }).changes;
  assert.deepEqual(
    changes.map((change) => change.field),
    ['nics'],
  );
});

test('TLS: a self-signed certificate needs --insecure, is then pinned, and a different one is refused', async (t) => {
  const dir = tempDir(t);
  const first = selfSignedTls(dir, 'first');
  const bmc = await startMockup({ tree: 'gigabyte-ami-megarac', tls: first });
  const app = await startAppliance(t, {}, { ...QUICK_FAILURES, METALBOX_ONBOARDING_ATTEMPTS: '1' });
  const args = [
    'onboard',
    'b4:2e:99:ba:de:17',
    '--ip',
    '127.0.0.1',
    '--port',
    String(bmc.port),
    '--username',
    'admin',
    '--password-file',
    app.passwordFile,
    '--wait',
  ];
  const strict = await app.cli(args);
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /bmc_unreachable: .*\(a self-signed certificate\? onboard with --insecure\)/);

  const insecure = await app.cli([...args, '--insecure']);
  assert.equal(insecure.code, 0, insecure.stderr);
  assert.ok(insecure.stdout.includes(`certificate pinned (SHA-256 ${first.fingerprint})`), insecure.stdout);
  const port = bmc.port;
  await bmc.close();

  const replaced = await startMockup({ tree: 'gigabyte-ami-megarac', tls: selfSignedTls(dir, 'second'), port });
  t.after(() => replaced.close());
  const retried = await app.cli(['onboard', '--retry', 'b4:2e:99:ba:de:17', '--wait']);
  assert.equal(retried.code, 1);
  assert.match(retried.stderr, new RegExp(`bmc_unreachable: .*the BMC's certificate changed: pinned ${first.fingerprint}`));
  assert.equal(replaced.requests.length, 0, 'nothing was sent to the impostor, not even the login');
});

test('classification: the most specific server type gives the machine its type and profile; no match is unclassified, explained', async (t) => {
  const hpe = await mockup(t, { tree: 'hpe-ilo5-proliant-dl325-gen10plus-fc' });
  const supermicro = await mockup(t, { tree: 'supermicro-x10sdv-ast2400-redfish-1.0.1' });
  const app = await startAppliance(t, {
    profiles: {
      installer: { kernel: 'http://mirror.example/vmlinuz', cmdline: 'console=ttyS0' },
      generic: { kernel: 'http://mirror.example/generic' },
    },
    serverTypes: [
      { name: 'any-hpe', match: { 'system.manufacturer': 'HPE' }, profile: 'generic' },
      // DL325: 1 CPU with 16 cores, 64 GiB, model "ProLiant DL325 Gen10 Plus - SIMULATED"
      { name: 'dl325', match: { 'system.manufacturer': 'HPE', 'cpu.count': 1, 'system.model': 'ProLiant DL325*' }, profile: 'installer' },
      { name: 'big', match: { 'cpu.cores': '>=64', 'memory.totalGiB': '>=256' } },
    ],
  });
  const onboard = (mac: string, port: number) => app.cli([...app.onboardArgs(mac, port), '--wait']);
  const classified = await onboard('94:40:c9:37:d3:fc', hpe.port);
  assert.equal(classified.code, 0, classified.stderr);
  assert.match(
    classified.stdout,
    /classifying → ready\s+server type dl325 \(profile installer\): system\.manufacturer is "HPE", == "HPE"; cpu\.count is 1, == 1; system\.model is "ProLiant DL325 Gen10 Plus - SIMULATED", like "ProLiant DL325\*"/,
  );
  const unmatched = await onboard('ac:1f:6b:00:00:01', supermicro.port);
  assert.equal(unmatched.code, 0, 'unclassified is not a failure of onboarding');
  assert.match(unmatched.stdout, /is unclassified\./);

  const [machine1, machine2] = await app.machines();
  assert.deepEqual([machine1!.state, machine1!.serverType, machine1!.profile], ['ready', 'dl325', 'installer']);
  // Supermicro X10: manufacturer "Supermicro", 1 CPU with 8 cores, 64 GiB.
  assert.deepEqual([machine2!.state, machine2!.serverType, machine2!.profile], ['unclassified', null, null]);
  assert.equal(
    machine2!.stateReason,
    'no server type matches: any-hpe: system.manufacturer is "Supermicro", not == "HPE"; dl325: system.manufacturer is "Supermicro", not == "HPE"; big: cpu.cores is 8, not >= 64',
  );
  const explained = await app.cli(['explain', 'ac:1f:6b:00:00:01']);
  assert.equal(explained.code, 0, explained.stderr);
  assert.equal(
    explained.stdout,
    [
      `Machine ${machine2!.id} matches no server type.`,
      '  ✗ any-hpe (1 matcher): system.manufacturer is "Supermicro", not == "HPE"',
      '  ✗ dl325 (3 matchers): system.manufacturer is "Supermicro", not == "HPE"',
      '  ✗ big (2 matchers): cpu.cores is 8, not >= 64',
      '',
    ].join('\n'),
  );
});

test('a BMC that reports another MAC than the one onboarded: a warning in the timeline, ls, show and onboard --wait', async (t) => {
  const bmc = await mockup(t, { tree: 'dmtf-public-rackmount1' });
  const app = await startAppliance(t);
  const connection = [
    '--ip',
    '127.0.0.1',
    '--port',
    String(bmc.port),
    '--scheme',
    'http',
    '--username',
    'admin',
    '--password-file',
    app.passwordFile,
  ];
  // The tree's manager lists eth0 first: PermanentMACAddress 23:11:8A:33:CF:EA.
  const warning =
    'the BMC at 127.0.0.1 reports its MAC as 23:11:8a:33:cf:ea, not 02:00:00:00:03:09 as onboarded: check that this is the right BMC';
  const onboarded = await app.cli(['onboard', '02:00:00:00:03:09', ...connection, '--wait']);
  assert.equal(onboarded.code, 0, onboarded.stderr);
  assert.ok(onboarded.stdout.includes(`  ${warning}\n`), onboarded.stdout);
  const [machine] = await app.machines();
  assert.deepEqual(machine!.warnings, [warning]);
  const ls = await app.cli(['ls', '-o', 'wide']);
  assert.ok(ls.stdout.includes(`warning: ${warning}`), ls.stdout);
  const show = await app.cli(['show', machine!.id]);
  assert.match(show.stdout, new RegExp(`^Warning: +${warning.replace(/[.]/g, '\\.')}$`, 'm'));

  // The same BMC onboarded by the MAC it reports (on an appliance of its own): no warning.
  const other = await startAppliance(t);
  const right = await other.cli(['onboard', '23:11:8a:33:cf:ea', ...connection, '--wait']);
  assert.equal(right.code, 0, right.stderr);
  assert.doesNotMatch(right.stdout, /note:/);
  assert.deepEqual((await other.machines())[0]!.warnings, []);
});
