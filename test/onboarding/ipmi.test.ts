import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { JobJson, MachineJson } from '../../src/store/index.js';
import { waitFor } from '../../lab/kit.js';
import { tempDir } from '../helpers.js';
import { haveIpmi, type IpmiSim, startIpmiSim } from '../ipmi/ipmi-sim.js';
import { type Appliance, QUICK_FAILURES, startAppliance } from './appliance.js';

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

async function jobDone(app: Appliance, id: number): Promise<JobJson> {
  return waitFor(
    `job ${id}`,
    async () => {
      const job = (await (await app.serving.fetch(`/api/v1/jobs/${id}`)).json()) as JobJson;
      return job.status === 'succeeded' || job.status === 'failed' ? job : undefined;
    },
    20_000,
  );
}

test('onboard --protocol ipmi: the machine is enrolled with what IPMI gives, then powered and PXE-booted over IPMI', {
  skip,
}, async (t) => {
  const sim = await startIpmiSim(t, {
    mac: '52:54:00:0a:0b:0c',
    guid: '00112233445566778899aabbccddeeff',
    fru: FRU,
    power: 'off',
  });
  const assetsDir = join(tempDir(t), 'assets');
  mkdirSync(join(assetsDir, 'lab'), { recursive: true });
  writeFileSync(join(assetsDir, 'lab/vmlinuz'), 'kernel');
  const app = await startAppliance(
    t,
    { assetsDir, profiles: { lab: { kernel: 'lab/vmlinuz', cmdline: '' } } },
    { METALBOX_POWER_POLL_MS: '100' },
  );
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

  // Provisioning: a one-time PXE boot with the EFI flag (no PXE request seen yet: UEFI), then a power cycle.
  const provision = await app.cli(['provision', machine.id, '--profile', 'lab', '-o', 'json']);
  assert.equal(provision.code, 0, provision.stderr);
  const ticket = JSON.parse(provision.stdout) as { job: JobJson; operationId: string };
  assert.equal((await jobDone(app, ticket.job.id)).status, 'succeeded');
  assert.equal(sim.boot(), 'pxe');
  const log = sim.chassisLog();
  assert.ok(log.indexOf('set boot pxe') < log.lastIndexOf('set power 0'), log.join('\n'));
  const after = await app.events(machine.id);
  assert.match(after.find((event) => event.type === 'boot.override')!.message, /one-time PXE boot set on IPMI boot flags and read back/);
  // Powered on by the step before, so a cycle.
  assert.deepEqual(after.find((event) => event.type === 'power.requested' && event.operationId === ticket.operationId)?.data, {
    job: ticket.job.id,
    resetTypes: ['power cycle'],
  });
  assert.equal((await app.machines())[0]!.state, 'preparing');
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
