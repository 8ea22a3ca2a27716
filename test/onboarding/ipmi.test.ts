import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MachineJson } from '../../src/store/index.js';
import { waitFor } from '../../lab/kit.js';
import { claimAddress, tempDir } from '../helpers.js';
import { call, MACHINE_HOST, NIC, r650Facts, standInImage } from '../agent/kit.js';
import { haveIpmi, type IpmiSim, startIpmiSim } from '../ipmi/ipmi-sim.js';
import { type Appliance, jobDone, QUICK_FAILURES, startAppliance, transitions } from './appliance.js';

/**
 * IPMI-only BMCs end to end: `metalbox serve`, the CLI, and OpenIPMI's ipmi_sim as the BMC
 * (a real RMCP+ implementation; what it would do to a server is kept in files, see ipmi-sim.ts).
 */

const skip = haveIpmi ? false : 'needs ipmitool and openipmi (scripts/install-deps)';
const FRU = { manufacturer: 'Example Corp', product: 'EX-1U', serial: 'SN-IPMI-1', partNumber: 'P-1' };

function ipmiArgs(app: Appliance, sim: IpmiSim, mac: string, passwordFile = app.passwordFile): string[] {
  return ['onboard', mac, '--ip', '127.0.0.1', '--port', String(sim.port), '--username', sim.username, '--password-file', passwordFile];
}

function passwordFile(t: { after(fn: () => unknown): void }, password: string): string {
  const file = join(tempDir(t), 'password');
  writeFileSync(file, `${password}\n`);
  return file;
}

test('onboard --protocol ipmi: the machine is enrolled with what IPMI gives, then powered on and cycled over IPMI', {
  skip,
}, async (t) => {
  const sim = await startIpmiSim(t, {
    mac: '52:54:00:0a:0b:0c',
    guid: '00112233445566778899aabbccddeeff',
    fru: FRU,
    power: 'off',
  });
  const app = await startAppliance(t, {}, { METALBOX_POWER_POLL_MS: '100' });
  const file = passwordFile(t, sim.password);
  const onboarded = await app.cli([...ipmiArgs(app, sim, '52:54:00:0a:0b:0c', file), '--protocol', 'ipmi', '--wait']);
  assert.equal(onboarded.code, 0, onboarded.stdout + onboarded.stderr);
  const [machine] = (await app.machines()) as [MachineJson];
  assert.equal(machine.bmc?.protocol, 'ipmi');
  // No server types are configured, so nothing to match: ready.
  assert.equal(machine.state, 'ready');
  assert.deepEqual(
    { ...machine.system },
    {
      manufacturer: 'Example Corp',
      model: 'EX-1U',
      serial: 'SN-IPMI-1',
      // The GUID's bytes arrive least significant first.
      uuid: 'ffeeddcc-bbaa-9988-7766-554433221100',
      sku: 'P-1',
      biosVersion: null,
      powerState: 'Off',
    },
  );
  assert.equal(machine.power, 'Off');
  assert.equal(machine.bmc?.firmware, '9.08');
  assert.deepEqual(machine.nics, []);
  const events = await app.events(machine.id);
  const connected = events.find((event) => event.type === 'connected')!;
  assert.match(connected.message, /^IPMI 2\.0 at 127\.0\.0\.1:\d+ \(MontaVista \(OpenIPMI\), firmware 9\.08, cipher suite 3\)$/);
  assert.match(events.find((event) => event.type === 'inventory')!.message, /Example Corp EX-1U/);

  const shown = await app.cli(['show', machine.id]);
  assert.match(shown.stdout, /BMC:\s+52:54:00:0a:0b:0c\s+127\.0\.0\.1 \(from explicit\)\s+over IPMI/);

  const status = await app.cli(['power', 'status', machine.id]);
  assert.equal(status.code, 0, status.stderr);
  // ipmi_sim starts with its device "default", which it reads back as the disk selector, flags not valid.
  assert.match(status.stdout, /^Machine \S+ \(IPMI\): power Off; boot override Hdd \(Disabled, Legacy\); chassis commands power on, /);

  // The CLI waits for the power job and prints the machine as it left it.
  const on = await app.cli(['power', 'on', machine.id, '-o', 'json']);
  assert.equal(on.code, 0, on.stderr);
  assert.equal((JSON.parse(on.stdout) as MachineJson).power, 'On');
  assert.equal(sim.power(), '1');

  const media = await app.cli(['provision', machine.id, '--profile', 'any', '--boot', 'virtual-media']);
  assert.equal(media.code, 2);
  assert.match(media.stderr, /driven over IPMI, which has no virtual media: boot it by PXE/);

  // A running machine restarted over IPMI is power cycled; what is asked is recorded before it is sent.
  const cycle = await app.cli(['power', 'cycle', machine.id]);
  assert.equal(cycle.code, 0, cycle.stderr);
  const log = sim.chassisLog();
  assert.ok(log.lastIndexOf('set power 0') > log.indexOf('set power 1'), log.join('\n'));
  const requested = (await app.events(machine.id)).filter((event) => event.type === 'power.requested');
  assert.deepEqual(
    requested.map((event) => (event.data as { resetTypes: string[] }).resetTypes),
    [['power on'], ['power cycle']],
  );
});

test('onboard over IPMI with a wrong password is auth_failed at once, not tried again', { skip }, async (t) => {
  const sim = await startIpmiSim(t, { fru: FRU });
  const app = await startAppliance(t, {}, QUICK_FAILURES);
  const result = await app.cli([
    ...ipmiArgs(app, sim, '52:54:00:0a:0b:0d', passwordFile(t, 'not-the-password')),
    '--protocol',
    'ipmi',
    '--wait',
  ]);
  assert.equal(result.code, 1);
  const [machine] = (await app.machines()) as [MachineJson];
  assert.equal(machine.state, 'auth_failed');
  assert.match(machine.stateReason ?? '', /^IPMI: the password is wrong/);
  const events = await app.events(machine.id);
  assert.equal(events.filter((event) => event.type === 'onboarding.retry').length, 0);
});

test('onboard --protocol auto: no Redfish service on the port, so IPMI', { skip }, async (t) => {
  const sim = await startIpmiSim(t, { fru: FRU });
  const app = await startAppliance(t, {}, QUICK_FAILURES);
  // Nothing listens on TCP at the simulator's UDP port: the Redfish attempt is refused at once.
  const result = await app.cli([
    ...ipmiArgs(app, sim, '52:54:00:0a:0b:0e', passwordFile(t, sim.password)),
    '--scheme',
    'http',
    '--protocol',
    'auto',
    '--wait',
  ]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const [machine] = (await app.machines()) as [MachineJson];
  assert.equal(machine.bmc?.protocol, 'ipmi');
  const connected = (await app.events(machine.id)).find((event) => event.type === 'connected')!;
  assert.match(connected.message, /^IPMI 2\.0 .* \(no Redfish there: /);
});

test('inspect of an IPMI-only machine: unknown MACs get the agent while it waits for its NICs, and its report fills the machine', {
  skip,
}, async (t) => {
  // The R650 the agent's fixture describes, as its FRU names it: the report is matched by manufacturer and serial.
  const sim = await startIpmiSim(t, { fru: { manufacturer: 'Dell Inc.', product: 'PowerEdge R650', serial: '7XQ2K93' }, power: 'off' });
  const app = await startAppliance(t, {}, { METALBOX_POWER_POLL_MS: '100' }, { netboot: true, prepare: standInImage });
  const onboarded = await app.cli([
    ...ipmiArgs(app, sim, '52:54:00:0a:0b:0f', passwordFile(t, sim.password)),
    '--protocol',
    'ipmi',
    '--wait',
  ]);
  assert.equal(onboarded.code, 0, onboarded.stdout + onboarded.stderr);
  const [machine] = (await app.machines()) as [MachineJson];

  // Before the inspection, an unknown MAC gets nothing (boot.unknown is ignore).
  await claimAddress(app.serving, MACHINE_HOST, NIC);
  // Snooping writes its observations once a second: explain boot reads them from the store.
  await waitFor(
    "the NIC's observation",
    async () => ((await (await app.serving.fetch(`/api/v1/observations?mac=${NIC}`)).json()) as unknown[]).length > 0,
    5000,
  );
  assert.doesNotMatch((await call(MACHINE_HOST, `${app.serving.url}/boot.ipxe?mac=${NIC}`)).text, /mbx\.url=/);
  assert.match((await app.cli(['explain', 'boot', NIC])).stdout, /it is not in the inventory/);
  const refused = await app.cli(['provision', machine.id, '--profile', 'anything']);
  assert.equal(refused.code === 0, false);
  assert.match(refused.stderr, /knows none of machine \S+'s NICs \(its BMC lists none: IPMI gives none\).*run metalbox inspect/);

  const started = await app.cli(['inspect', machine.id]);
  assert.equal(started.code, 0, started.stderr);
  assert.equal((await jobDone(app, Number(/job (\d+)/.exec(started.stdout)![1]))).status, 'succeeded');
  // A one-time PXE boot with the EFI flag (no PXE request seen from it yet: UEFI), then power on.
  assert.equal(sim.boot(), 'pxe');
  assert.equal(sim.power(), '1');
  const inspecting = await app.events(machine.id);
  assert.match(
    inspecting.find((event) => event.type === 'boot.override')!.message,
    /^one-time PXE boot set on IPMI boot flags and read back/,
  );
  assert.deepEqual((inspecting.find((event) => event.type === 'boot.override')!.data as { requests: string[] }).requests, [
    'Set System Boot Options 5: pxe, next boot only, EFI',
    // ipmi_sim behind a chassis_control program keeps the device only, not the flags.
    'Get System Boot Options 5: pxe',
  ]);

  // While the machine waits for its NICs, explain boot says unknown MACs are answered for discovery.
  assert.match((await app.cli(['explain', 'boot', NIC])).stdout, /answered for discovery/);
  const script = await call(MACHINE_HOST, `${app.serving.url}/boot.ipxe?mac=${NIC}`);
  const agentUrl = /mbx\.url=(\S+)/.exec(script.text)?.[1];
  assert.ok(agentUrl, script.text);
  assert.deepEqual(await (await fetch(`${agentUrl}/task`)).json(), { task: 'inventory' });
  const report = await fetch(`${agentUrl}/facts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: r650Facts(t) });
  assert.deepEqual(await report.json(), { state: 'ready', mergedInto: machine.id, task: 'poweroff' });

  const [after, ...others] = (await app.machines()) as [MachineJson];
  assert.equal(others.length, 0, 'the record discovery made is folded into the IPMI machine');
  assert.equal(after.id, machine.id);
  assert.ok(after.nics.some((nic) => nic.mac === NIC));
  assert.equal(after.cpu.count, 2);
  const events = await app.events(machine.id);
  assert.match(events.find((event) => event.type === 'merged')!.message, /same serial 7XQ2K93/);
  assert.ok(events.some((event) => event.type === 'inspect.agent'));
  assert.deepEqual(transitions(events).slice(-3), ['ready→inspecting', 'inspecting→classifying', 'classifying→ready']);

  // The window is closed: another unknown MAC gets nothing again.
  await claimAddress(app.serving, '127.0.0.3', '52:54:00:99:99:99');
  assert.doesNotMatch((await call('127.0.0.3', `${app.serving.url}/boot.ipxe?mac=52:54:00:99:99:99`)).text, /mbx\.url=/);
});
