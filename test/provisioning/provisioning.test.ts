/**
 * Provisioning through `serve` and the CLI, against a mockup BMC: the Redfish requests,
 * the lifecycle driven by the machine's own boot requests and its installer's callback,
 * the callback token checks, refusals that change nothing, BMC refusals, and the per-state
 * timeouts. The PXE side is played by HTTP requests to /boot.ipxe and /assets, as iPXE
 * makes them; the labs boot real firmware through the same paths.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../../lab/kit.js';
import { startMockup, type Mockup, type MockupOptions } from '../../lab/redfish-mockup.js';
import type { MachineJson } from '../../src/store/index.js';
import { compileProfiles } from '../../src/profiles/profiles.js';
import { BmcSessions } from '../../src/bmc/sessions.js';
import { DefaultCredentials } from '../../src/bmc/default-credentials.js';
import type { JobEngine } from '../../src/jobs/engine.js';
import { Provisioning } from '../../src/provisioning/provisioning.js';
import { Store } from '../../src/store/index.js';
import { claimAddress, CLI, dl360Inventory, moveTo, tempDir } from '../helpers.js';
import { r650Facts, standInImage } from '../agent/kit.js';
import { jobDone, startAppliance, transitions, type Appliance } from '../onboarding/appliance.js';

type After = { after(fn: () => unknown): void };
const SYSTEM = '/redfish/v1/Systems/437XR1238R2';

async function mockup(t: After, options: MockupOptions): Promise<Mockup> {
  const started = await startMockup(options);
  t.after(() => started.close());
  return started;
}

function assets(t: After): string {
  const dir = join(tempDir(t), 'assets');
  mkdirSync(join(dir, 'lab'), { recursive: true });
  writeFileSync(join(dir, 'lab/vmlinuz'), 'kernel bytes');
  writeFileSync(join(dir, 'lab/initrd.gz'), 'initrd bytes');
  return dir;
}

const PROFILES = {
  lab: { kernel: 'lab/vmlinuz', initrd: 'lab/initrd.gz', cmdline: 'mbx.done={{ callbackUrl }}' },
  unbuilt: { kernel: 'lab/not-there', initrd: 'lab/initrd.gz', cmdline: '' },
};

async function onboarded(app: Appliance, bmc: Mockup, bmcMac: string): Promise<MachineJson> {
  const result = await app.cli([...app.onboardArgs(bmcMac, bmc.port), '--wait']);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return (await app.machines()).find((machine) => machine.bmc?.mac === bmcMac)!;
}

const machineOf = async (app: Appliance, id: string) => (await (await app.serving.fetch(`/api/v1/machines/${id}`)).json()) as MachineJson;

test('provision: one-time PXE and a reset through Redfish, then PXE, kernel and callback move the machine to provisioned and back to local boot', async (t) => {
  const bmc = await mockup(t, { tree: 'dmtf-public-tower' });
  const app = await startAppliance(t, { profiles: PROFILES, assetsDir: assets(t) }, { METALBOX_POWER_POLL_MS: '100' }, { netboot: true });
  const machine = await onboarded(app, bmc, '02:00:00:00:00:61');
  const nic = machine.nics[0]!.mac;
  const before = (await app.events(machine.id)).length;

  // Refusals: exit 2, the reason, nothing changed.
  for (const [args, reason] of [
    [['provision', machine.id], /has no profile .*give --profile/],
    [['provision', machine.id, '--profile', 'nope'], /unknown profile nope \(known: lab, unbuilt\)/],
    [['provision', machine.id, '--profile', 'unbuilt'], /profile unbuilt: lab\/not-there is missing/],
    [['deprovision', machine.id], /is ready; this needs it provisioned or provision_failed/],
  ] as const) {
    await t.test(args.join(' '), async () => {
      const result = await app.cli([...args]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, reason);
    });
  }
  assert.equal((await app.events(machine.id)).length, before, 'a refused request adds no event');
  assert.equal((await machineOf(app, machine.id)).state, 'ready');
  assert.equal(bmc.writes.length, 0, 'and sends nothing to the BMC');

  // A follower started now prints the provisioning as it happens (server-sent events).
  const follower = spawn(process.execPath, [CLI, 'events', machine.id, '--follow', '--limit', '1'], {
    env: { ...process.env, METALBOX_SERVER: app.serving.url, METALBOX_DATA_DIR: app.dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let followed = '';
  follower.stdout.on('data', (chunk) => (followed += chunk));
  t.after(() => void follower.kill());
  await waitFor('the follower to print the latest event', async () => followed.includes('classifying → ready'), 15_000);

  const started = await app.cli(['provision', nic, '--profile', 'lab']);
  assert.equal(started.code, 0, started.stderr);
  const [, operationId, jobText] = /operation (op-[0-9a-f]{12}), job (\d+)/.exec(started.stdout)!;
  const job = Number(jobText);
  assert.equal((await jobDone(app, job)).status, 'succeeded');
  // The tower is On: its override, then ForceRestart (the first restart type it allows).
  assert.deepEqual(
    bmc.writes.map((write) => [write.method, write.path, write.body]),
    [
      ['PATCH', SYSTEM, { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } }],
      ['POST', `${SYSTEM}/Actions/ComputerSystem.Reset`, { ResetType: 'ForceRestart' }],
    ],
  );
  const again = await app.cli(['provision', machine.id, '--profile', 'lab']);
  assert.equal(again.code, 2, 'a machine being provisioned cannot be provisioned again');

  // The firmware's iPXE asks for its script from the address its DHCP showed: the installer, with a callback URL.
  await claimAddress(app.serving, '127.0.0.1', nic);
  const script = await (await fetch(`${app.serving.url}/boot.ipxe?mac=${nic}&platform=pcbios`)).text();
  const callback = /mbx\.done=(\S+)/.exec(script)?.[1];
  assert.ok(callback?.startsWith(`${app.serving.url}/callback/${machine.id}/`), script);
  await waitFor('netbooting', async () => (await machineOf(app, machine.id)).state === 'netbooting', 15_000);
  await fetch(`${app.serving.url}/assets/lab/vmlinuz`); // from 127.0.0.1, this NIC's address
  await waitFor('installing', async () => (await machineOf(app, machine.id)).state === 'installing', 15_000);

  // Wrong token, another machine's id with this token: 403, state unchanged.
  const wrong = callback!.replace(/\/[^/]+$/, '/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
  assert.equal((await fetch(`${wrong}?event=installed`)).status, 403);
  const other = await onboarded(app, await mockup(t, { tree: 'dmtf-public-tower', macSalt: 7 }), '02:00:00:00:00:62');
  assert.equal((await fetch(`${callback!.replace(machine.id, other.id)}?event=installed`)).status, 403);
  assert.equal((await machineOf(app, machine.id)).state, 'installing');
  assert.equal((await machineOf(app, other.id)).state, 'ready');

  assert.equal((await fetch(`${callback}?event=partitioning`)).status, 200);
  assert.equal((await fetch(`${callback}?event=installed`)).status, 200);
  assert.equal((await machineOf(app, machine.id)).state, 'provisioned');
  assert.equal((await fetch(`${callback}?event=failed`)).status, 403, 'a token is spent once its installation ended');
  assert.equal((await machineOf(app, machine.id)).state, 'provisioned');

  const local = await (await fetch(`${app.serving.url}/boot.ipxe?mac=${nic}&platform=pcbios`)).text();
  assert.match(local, /booting from local disk\nexit/);

  await waitFor('the follower to print the callback', async () => followed.includes('installer reported installed'), 15_000);
  assert.match(
    followed,
    /classifying → ready[\s\S]*ready → preparing +provisioning with profile lab[\s\S]*preparing → netbooting[\s\S]*netbooting → installing[\s\S]*installing → provisioned +installer reported installed/,
  );
  follower.kill();

  const deprovision = await app.cli(['deprovision', machine.id, '--wait']);
  assert.equal(deprovision.code, 0, deprovision.stdout + deprovision.stderr);
  assert.deepEqual(bmc.writes.at(-1)?.body, { ResetType: 'ForceOff' });
  const events = await app.events(machine.id);
  assert.deepEqual(transitions(events).slice(-6), [
    'ready→preparing',
    'preparing→netbooting',
    'netbooting→installing',
    'installing→provisioned',
    'provisioned→deprovisioning',
    'deprovisioning→ready',
  ]);
  const operation = events.filter((event) => event.operationId === operationId).map((event) => event.type);
  assert.deepEqual(operation, ['provision', 'boot.override', 'power.requested', 'power', 'callback', 'callback']);
  assert.equal((await machineOf(app, machine.id)).profile, 'lab', "the --profile chosen stays the machine's");
});

test('a BMC that does not keep the override fails provisioning with its read-back; a stuck state times out with the last event as the reason', async (t) => {
  const forgetful = await mockup(t, {
    tree: 'dmtf-public-tower',
    // bmclib PR #459: 200 OK, override reverted.
    write: (write) => (write.method === 'PATCH' ? { status: 200, body: {} } : undefined),
  });
  const healthy = await mockup(t, { tree: 'dmtf-public-tower', macSalt: 9 });
  const app = await startAppliance(
    t,
    { profiles: PROFILES, assetsDir: assets(t), provisioning: { timeouts: { preparing: 1 } } },
    { METALBOX_POWER_POLL_MS: '100' },
  );

  const first = await onboarded(app, forgetful, '02:00:00:00:00:71');
  const failed = await app.cli(['provision', first.id, '--profile', 'lab', '--wait']);
  assert.equal(failed.code, 1, failed.stdout + failed.stderr);
  assert.match(
    failed.stderr,
    /provision failed: .* is provision_failed: .*did not keep it: .*reads back BootSourceOverrideTarget Hdd, BootSourceOverrideEnabled Disabled/,
  );
  assert.equal(forgetful.writes.filter((write) => write.method === 'POST').length, 0, 'no power action after a failed override');

  // This one is powered on and then never PXE-boots: `preparing` lasts past its 1 s.
  const second = await onboarded(app, healthy, '02:00:00:00:00:72');
  const waited = await app.cli(['provision', second.id, '--profile', 'lab', '--wait', '-o', 'json']);
  assert.equal(waited.code, 1, waited.stdout + waited.stderr);
  // -o json: the machine as the operation left it, alone on stdout (no progress lines); the failure on stderr.
  assert.equal((JSON.parse(waited.stdout) as MachineJson).state, 'provision_failed');
  assert.match(waited.stderr, /provision failed: .* is provision_failed/);
  const timedOut = await machineOf(app, second.id);
  assert.equal(timedOut.state, 'provision_failed');
  assert.match(timedOut.stateReason!, /^timed out: preparing for more than 1 s .*; last event: power: power cycle: ForceRestart, now On$/);
});

test('deploy with a BMC: the same override and reset, then the agent, then a one-time disk boot before its reboot; refused without an agent image; booting past its timeout is deploy_failed', async (t) => {
  const image = Buffer.from('disk image bytes');
  const assetsDir = assets(t);
  writeFileSync(join(assetsDir, 'lab/disk.raw'), image);
  const config = {
    assetsDir,
    profiles: { disk: { image: { url: 'lab/disk.raw', sha256: createHash('sha256').update(image).digest('hex'), format: 'raw' } } },
    provisioning: { timeouts: { booting: 5 } },
  };

  await t.test('no agent image: refused, nothing sent', async (t) => {
    const bmc = await mockup(t, { tree: 'dmtf-public-tower' });
    const app = await startAppliance(t, config, { METALBOX_POWER_POLL_MS: '100' });
    const machine = await onboarded(app, bmc, '02:00:00:00:00:81');
    const refused = await app.cli(['provision', machine.id, '--profile', 'disk']);
    assert.equal(refused.code, 2, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      /deploying with profile disk \(set for this machine\): that needs metalbox's agent; run metalbox agent build first/,
    );
    assert.deepEqual([(await machineOf(app, machine.id)).state, bmc.writes.length], ['ready', 0]);
  });

  const bmc = await mockup(t, { tree: 'dmtf-public-tower' });
  const app = await startAppliance(t, config, { METALBOX_POWER_POLL_MS: '100' }, { netboot: true, prepare: standInImage });
  const machine = await onboarded(app, bmc, '02:00:00:00:00:82');
  const nic = machine.nics[0]!.mac;
  const started = await app.cli(['provision', machine.id, '--profile', 'disk']);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, new RegExp(`^Deploying machine ${machine.id} with profile disk \\(operation op-[0-9a-f]{12}, job \\d+\\)`));
  const job = Number(/job (\d+)/.exec(started.stdout)![1]);
  assert.equal((await jobDone(app, job)).status, 'succeeded');
  assert.deepEqual(
    bmc.writes.map((write) => [write.method, write.path, write.body]),
    [
      ['PATCH', SYSTEM, { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } }],
      ['POST', `${SYSTEM}/Actions/ComputerSystem.Reset`, { ResetType: 'ForceRestart' }],
    ],
  );
  assert.equal((await machineOf(app, machine.id)).state, 'deploying', 'PXE seen or not, a deploy stays deploying: no netbooting');

  // Its PXE boot gets metalbox's agent, not an installer; then the agent's protocol as without a BMC (test/agent/deploy.test.ts).
  await claimAddress(app.serving, '127.0.0.1', nic);
  const script = await (await fetch(`${app.serving.url}/boot.ipxe?mac=${nic}`)).text();
  const agentUrl = /mbx\.url=(\S+)/.exec(script)?.[1];
  assert.ok(agentUrl, script);
  const post = (path: string, body: unknown) =>
    fetch(`${agentUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const facts = await fetch(`${agentUrl}/facts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: r650Facts(t) });
  const deploy = (await facts.json()) as { task: string; device: string };
  assert.deepEqual([deploy.task, deploy.device], ['deploy', '/dev/sda']);
  assert.equal((await post('/progress', { bytes: 0, mbps: 0 })).status, 204);
  const sha256 = createHash('sha256').update(image).digest('hex');
  // Written: the BMC sets a one-time disk boot before the agent reboots, so the new OS boots whatever the boot order.
  assert.deepEqual(await (await post('/deploy', { result: 'written', bytes: image.length, sha256, seconds: 1 })).json(), {
    task: 'wait',
    seconds: 5,
  });
  assert.equal((await machineOf(app, machine.id)).state, 'booting');
  await waitFor(
    'the reboot task',
    async () => ((await (await fetch(`${agentUrl}/task`)).json()) as { task: string }).task === 'reboot',
    15_000,
  );
  assert.deepEqual(
    bmc.writes.slice(2).map((write) => [write.method, write.path, write.body]),
    [['PATCH', SYSTEM, { Boot: { BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Once' } }]],
  );
  assert.match(
    (await app.events(machine.id)).find((event) => event.type === 'boot.disk')?.message ?? '',
    /^one-time disk boot set on \/redfish\/v1\/Systems\/437XR1238R2 and read back/,
  );

  // Its OS never reports `booted`: past booting's 5 s (the disk boot is set well before that),
  // deploy_failed with the last event as the reason.
  await waitFor('deploy_failed', async () => (await machineOf(app, machine.id)).state === 'deploy_failed', 15_000);
  assert.match(
    (await machineOf(app, machine.id)).stateReason!,
    /^timed out: booting for more than 5 s .*; last event: boot\.disk: one-time disk boot set on/,
  );
  assert.deepEqual(transitions(await app.events(machine.id)).slice(-3), ['ready→deploying', 'deploying→booting', 'booting→deploy_failed']);
});

test('inspect with a BMC: override and reset, the agent reads the machine, the differences from Redfish are one event, then it powers off', async (t) => {
  const bmc = await mockup(t, { tree: 'dmtf-public-tower' });
  const app = await startAppliance(t, {}, { METALBOX_POWER_POLL_MS: '100' }, { netboot: true, prepare: standInImage });
  const machine = await onboarded(app, bmc, '02:00:00:00:00:83');
  const nic = machine.nics[0]!.mac;
  const started = await app.cli(['inspect', machine.id]);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, new RegExp(`^Inspecting machine ${machine.id} with the agent \\(operation op-[0-9a-f]{12}, job \\d+\\)`));
  assert.equal((await jobDone(app, Number(/job (\d+)/.exec(started.stdout)![1]))).status, 'succeeded');
  assert.deepEqual(
    bmc.writes.map((write) => [write.method, write.body]),
    [
      ['PATCH', { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } }],
      ['POST', { ResetType: 'ForceRestart' }],
    ],
  );
  await claimAddress(app.serving, '127.0.0.1', nic);
  const agentUrl = /mbx\.url=(\S+)/.exec(await (await fetch(`${app.serving.url}/boot.ipxe?mac=${nic}`)).text())?.[1];
  assert.ok(agentUrl);
  assert.deepEqual(await (await fetch(`${agentUrl}/task`)).json(), { task: 'inventory' });
  // The R650's reading stands for the agent's here: another machine than the tower Redfish describes, so much differs.
  const report = await fetch(`${agentUrl}/facts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: r650Facts(t) });
  assert.deepEqual(await report.json(), { state: 'ready', task: 'poweroff' }, 'with a BMC, the agent powers off');
  const inspected = (await app.events(machine.id)).find((event) => event.type === 'inspect.agent');
  assert.match(inspected?.message ?? '', /differs from the BMC inventory: manufacturer "Contoso" \(BMC\), "Dell Inc\." \(agent\);/);
  assert.match(inspected?.message ?? '', /filled .*NIC b0:26:28:aa:bb:c0/);
  const after = await machineOf(app, machine.id);
  assert.equal(after.system.manufacturer, 'Contoso', "the BMC's values stay; the agent's differences are reported");
  assert.ok(
    after.nics.some((known) => known.mac === 'b0:26:28:aa:bb:c0'),
    'a NIC the BMC did not list is added',
  );
  assert.deepEqual(transitions(await app.events(machine.id)).slice(-3), [
    'ready→inspecting',
    'inspecting→classifying',
    'classifying→ready',
  ]);
});

test('a power step run again after a crash reads the power state and does not reset a second time', async (t) => {
  const bmc = await mockup(t, { tree: 'dmtf-public-tower' });
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const machine = store.machines.enroll({ bmcMac: '02:00:00:00:00:91', bmcIp: '127.0.0.1', scheme: 'http', port: bmc.port });
  store.machines.recordInventory(machine.id, { ...dl360Inventory(), systemPath: SYSTEM }, { type: 'inventory', message: 'inspected' });
  moveTo(store, machine.id, 'ready');
  store.bmcs.setConnection(store.bmcs.ofMachine(machine.id)!.id, {
    credentialId: store.credentials.save({ username: 'admin', password: 'password' }),
  });
  const provisioning = new Provisioning({
    store,
    engine: { wake: () => undefined } as unknown as JobEngine,
    sessions: new BmcSessions(store, new DefaultCredentials([]), { retries: 0 }),
    profiles: compileProfiles({ web: { kernel: 'http://mirror.example/vmlinuz', cmdline: '' } }),
    control: { pollMs: 10 },
  });
  const ticket = provisioning.provision({ kind: 'id', id: machine.id }, { profile: 'web' });
  const job = { ...ticket.job!, step: 'power' };
  // The crashed try had recorded its intent, and the BMC had carried it out (the tower is On).
  store.machines.appendEvents([
    { machineId: machine.id, type: 'power.requested', message: 'asking the BMC for ForceRestart', operationId: ticket.operationId },
  ]);
  const retried = await provisioning.run(job, new AbortController().signal);
  store.transaction(retried.commit);
  assert.equal(retried.next, null);
  assert.deepEqual(
    bmc.writes.map((write) => write.method),
    [],
    'no second reset',
  );
  const [power, warning] = store.machines.events(machine.id, { limit: 2 });
  assert.match(power!.message, /no reset, now On \(an interrupted try had asked already; not repeated\)/);
  // Not a silent wait for the preparing timeout: the machine says what happened and what to do.
  assert.deepEqual(
    [warning!.type, warning!.fromState, warning!.toState, warning!.operationId],
    ['warning', 'preparing', 'preparing', ticket.operationId],
  );
  assert.equal(
    warning!.message,
    'metalbox stopped after asking the BMC to power cycle and before it confirmed; it does not ask twice (power is On now). ' +
      `If the machine does not boot its installer within minutes, run: metalbox provision --retry ${machine.id}`,
  );

  // provision --retry: a new operation from where it is stuck; plain provision refuses a machine already on its way.
  const [leased] = store.jobs.lease('test', 60_000, 1);
  store.jobs.finish(leased!, 'test', 'succeeded');
  assert.throws(
    () => provisioning.provision({ kind: 'id', id: machine.id }, { profile: 'web' }),
    /is preparing; this needs it ready or provision_failed/,
  );
  const retry = provisioning.provision({ kind: 'id', id: machine.id }, { profile: 'web', retry: true });
  assert.notEqual(retry.operationId, ticket.operationId);
  assert.deepEqual([retry.machine.state, retry.job!.step], ['preparing', 'boot-override']);
  const [retried2] = store.jobs.lease('test', 60_000, 1);
  store.jobs.finish(retried2!, 'test', 'succeeded');

  // Without the intent on record, the same step resets the running server.
  const fresh = provisioning.power({ kind: 'id', id: machine.id }, 'cycle');
  const powered = await provisioning.run({ ...fresh.job, step: 'power' }, new AbortController().signal);
  store.transaction(powered.commit);
  assert.deepEqual(
    bmc.writes.map((write) => [write.method, write.body]),
    [['POST', { ResetType: 'ForceRestart' }]],
  );
});
