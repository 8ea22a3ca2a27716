/**
 * `metalbox lab` as a newcomer runs it: `lab run` for BIOS and for UEFI must exit 0 with
 * a timeline holding every step from onboarding to provisioned and back to local boot;
 * `lab up` leaves the lab to explore with the ordinary CLI until `lab down` removes it.
 * Run with `npm run test:lab` as root.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../../lab/guest.js';
import { assertStepsInOrder } from './steps.js';
import type { MachineEventJson, MachineJson } from '../../src/store/index.js';

const CLI = join(ROOT, 'dist/src/cli/main.js');

function metalbox(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 420_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The timeline's state changes, in the order printed. */
const STEPS = [
  '- → enrolled',
  'enrolled → resolving',
  'resolving → connecting',
  'connecting → inspecting',
  'inspecting → classifying',
  'classifying → ready',
  'ready → preparing',
  'preparing → netbooting',
  'netbooting → installing',
  'installing → provisioned',
];

function assertTimeline(stdout: string, firmware: string): void {
  const at = assertStepsInOrder(stdout, STEPS, firmware);
  const tail = stdout.split('\n').slice(at).join('\n');
  assert.match(tail, /provisioned\s+iPXE script: local boot \(exit\)/, `${firmware}: back to local boot after provisioned\n${stdout}`);
  assert.match(stdout, /one-time PXE boot set on \/redfish\/v1\/Systems\/437XR1138R2 and read back/);
  assert.match(stdout, /\(dhcp-observations\)/, 'the BMC was found by its MAC through DHCP snooping');
  if (firmware === 'uefi') assert.match(stdout, /TFTP sent snponly\.efi/);
}

for (const firmware of ['bios', 'uefi'] as const) {
  test(`metalbox lab run --firmware ${firmware}: onboarded by MAC, provisioned, back to local boot; exit 0`, { timeout: 480_000 }, (t) => {
    assert.equal(process.getuid?.(), 0, 'the lab needs root: run npm run test:lab as root');
    const dir = mkdtempSync(join(tmpdir(), `metalbox-lab-${firmware}-`));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const started = Date.now();
    const result = metalbox(['lab', 'run', '--firmware', firmware, '--dir', dir]);
    console.log(`lab run --firmware ${firmware}: exit ${result.code} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assertTimeline(result.stdout, firmware);
    assert.match(result.stdout, /metalbox lab: down/);
    assert.ok(!spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes('mbl-'), 'run took its namespaces down');
  });
}

test('metalbox lab up leaves the lab to explore with ls, events and power status; lab down removes it', { timeout: 480_000 }, (t) => {
  assert.equal(process.getuid?.(), 0, 'the lab needs root: run npm run test:lab as root');
  const dir = mkdtempSync(join(tmpdir(), 'metalbox-lab-up-'));
  t.after(() => {
    metalbox(['lab', 'down', '--dir', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const up = metalbox(['lab', 'up', '--dir', dir]);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const env = { METALBOX_SERVER: /export METALBOX_SERVER=(\S+)/.exec(up.stdout)![1]!, METALBOX_DATA_DIR: join(dir, 'data') };

  const twice = metalbox(['lab', 'up', '--dir', dir]);
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /the lab is up already/);

  const machines = JSON.parse(metalbox(['ls', '-o', 'json'], env).stdout) as MachineJson[];
  assert.deepEqual(
    machines.map((machine) => [
      machine.state,
      machine.serverType,
      machine.profile,
      machine.nics.some((nic) => nic.mac === '52:54:00:79:00:01'),
    ]),
    [['provisioned', 'lab-vm', 'lab-installer', true]],
  );
  const events = JSON.parse(metalbox(['events', machines[0]!.id, '-o', 'json', '--limit', '1000'], env).stdout) as MachineEventJson[];
  const callbacks = events.filter((event) => event.type === 'callback').map((event) => (event.data as { event: string }).event);
  assert.deepEqual(callbacks, ['partitioning', 'copying', 'installed'], 'the installer reported its progress');
  const status = metalbox(['power', 'status', machines[0]!.id], env);
  assert.equal(status.code, 0, status.stderr);
  // After the installer's reboot the VM runs on (at its local-boot answer); the one-time override was spent.
  assert.match(status.stdout, /power On; boot override None \(Disabled/);

  const down = metalbox(['lab', 'down', '--dir', dir]);
  assert.equal(down.code, 0, down.stderr);
  assert.ok(!existsSync(join(dir, 'state.json')));
  assert.ok(!spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes('mbl-'));
  assert.notEqual(spawnSync('ip', ['link', 'show', 'mbl-host']).status, 0, 'the host link is gone');
});
