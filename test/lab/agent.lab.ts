/**
 * The agent labs. First the image `metalbox agent build` makes boots in QEMU (SeaBIOS, the
 * lab's VM with two blank virtio disks, QEMU's user network with restrict=on), loads the
 * drivers of the devices it finds by their modalias, and reads the machine. Then
 * `metalbox lab run --scenario deploy` (lab/deploy.ts) for SeaBIOS and for OVMF's HTTP boot client (PXE off), as a newcomer
 * runs it: a VM metalbox has never heard of is discovered by the agent, classified,
 * deployed with the lab's OS image, boots it from its own disk (the OS reads the config
 * drive the agent wrote and reports booted), and is wiped when released; for BIOS a second
 * run on the same data dir deploys the known machine again. Run with `npm run test:lab` as
 * root (scripts/lab-deps installs QEMU, dnsmasq, syslinux).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildAgentImage } from '../../src/agent/build.js';
import { type Facts, parseFacts } from '../../src/agent/inventory.js';
import { ROOT } from '../../lab/guest.js';
import { tempDir } from '../helpers.js';

const CLI = join(ROOT, 'dist/src/cli/main.js');

test('the agent image boots in the lab VM and reads its NIC and both disks', (t) => {
  const image = buildAgentImage(join(ROOT, '.cache/agent'));
  const tree = join(tempDir(t), 'capture');
  const started = Date.now();
  execFileSync('sh', [join(ROOT, 'test/agent/fixtures/capture-qemu-vm.sh'), image.dir, tree], { stdio: 'ignore' });
  t.diagnostic(`booted, read and powered off in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const facts = (
    JSON.parse(
      execFileSync('busybox', ['sh', join(ROOT, 'agent/metalbox-agent'), 'collect'], {
        env: { MBX_ROOT: tree, PATH: process.env.PATH },
        encoding: 'utf8',
      }),
    ) as { facts: Facts }
  ).facts;
  const inventory = parseFacts(facts);
  assert.deepEqual(
    inventory.nics.map((nic) => [nic.mac, nic.driver]),
    [['52:54:00:12:34:56', 'virtio_net']],
    'virtio_net loaded from the image by modalias',
  );
  assert.deepEqual(
    inventory.drives.map((drive) => [drive.device, drive.capacityBytes]),
    [
      ['vda', 64 * 1024 * 1024],
      ['vdb', 128 * 1024 * 1024],
    ],
    'virtio_blk loaded; the blank disks of the script',
  );
  assert.equal(inventory.system.manufacturer, 'QEMU');
});

/** The deploy scenario's timeline, in the order printed. */
const DEPLOY_STEPS = [
  '- → discovered',
  'discovered → inspecting',
  'inspecting → classifying',
  'classifying → ready',
  'ready → deploying',
  'deploying → booting',
  'booting → active',
  'active → cleaning',
  'cleaning → ready',
];

function lab(args: string[]) {
  const started = Date.now();
  const result = spawnSync(process.execPath, [CLI, 'lab', ...args], { encoding: 'utf8', timeout: 900_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, seconds: (Date.now() - started) / 1000 };
}

/** Each step of `steps` on a line after the previous step's. */
function assertInOrder(stdout: string, steps: readonly string[]): void {
  const lines = stdout.split('\n');
  let at = 0;
  for (const step of steps) {
    const found = lines.findIndex((line, index) => index >= at && line.includes(` ${step} `));
    assert.ok(found >= 0, `no "${step}" after line ${at} in\n${stdout}`);
    at = found;
  }
}

for (const firmware of ['bios', 'uefi-http'] as const) {
  test(`metalbox lab run --scenario deploy --firmware ${firmware}: discovered by the agent, deployed, booted from its own disk, wiped`, {
    timeout: 1_800_000,
  }, (t) => {
    assert.equal(process.getuid?.(), 0, 'the lab needs root: run npm run test:lab as root');
    const dir = mkdtempSync(join(tmpdir(), `metalbox-deploy-lab-${firmware}-`));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const first = lab(['run', '--scenario', 'deploy', '--firmware', firmware, '--dir', dir]);
    t.diagnostic(`lab run --scenario deploy --firmware ${firmware}: exit ${first.code} in ${first.seconds.toFixed(1)} s`);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    console.log(first.stdout);
    assertInOrder(first.stdout, DEPLOY_STEPS);
    // The OS that reported came from the disk: it read the config drive the agent appended there, made for this machine.
    const id = /metalbox provision (m-\w+)/.exec(first.stdout)?.[1];
    assert.match(first.stdout, new RegExp(`the OS on its disk read its config drive \\(instance-id=${id} on /dev/vda2\\)`));
    assert.match(first.stdout, /its port 52:54:00:77:00:01 is cabled to lab-switch port tap0 \(LLDP, chassis metalbox-lab\)/);
    assert.match(first.stdout, /nvme0n1 formatted itself/);
    assert.match(first.stdout, /disk0\.img and disk1\.img: every byte zero/);
    const serial = readFileSync(join(dir, 'deploy/run/server.serial.log'), 'latin1');
    assert.match(serial, /METALBOX-AGENT-REFUSED: rebooting/, 'the held agent was refused when the deploy began, and rebooted');
    assert.match(serial, /METALBOX-LAB-PHONED-HOME/);
    assert.ok(!spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes('mbd-'), 'run took its namespaces down');
    assert.notEqual(spawnSync('ip', ['link', 'show', 'mbd-host']).status, 0, 'and its host link');

    // The agent read how the machine booted.
    assert.match(first.stdout, firmware === 'bios' ? /agent read .*, 1 port, BIOS$/m : /agent read .*, 1 port, UEFI$/m);
    if (firmware === 'uefi-http') {
      // OVMF's HTTP boot client fetched iPXE from the URL of metalbox's ProxyDHCP offer; PXE is off in this VM.
      assert.match(serial, /Start HTTP Boot over IPv4[\s\S]*URI: http:\/\/10\.77\.0\.1:8080\/ipxe\/snponly\.efi/);
      assert.doesNotMatch(serial, /Start PXE over IPv4/);
      return;
    }
    // Again on the same data dir: the machine is known and ready, deployed and wiped again; still one machine.
    const second = lab(['run', '--scenario', 'deploy', '--firmware', firmware, '--dir', dir]);
    t.diagnostic(`the second run: exit ${second.code} in ${second.seconds.toFixed(1)} s`);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.match(second.stdout, new RegExp(`${id} is known and ready from an earlier run: deploying it again`));
    assert.doesNotMatch(second.stdout, / - → discovered /);
    assertInOrder(second.stdout, DEPLOY_STEPS.slice(4));
  });
}
