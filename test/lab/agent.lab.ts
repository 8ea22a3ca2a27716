/**
 * The agent labs. First the image `metalbox agent build` makes boots in QEMU (SeaBIOS, the
 * lab's VM with two blank virtio disks, QEMU's user network with restrict=on), loads the
 * drivers of the devices it finds by their modalias, and reads the machine. Then PXE
 * discovery end to end on a private segment of network namespaces (as the netboot lab):
 * a VM metalbox has never heard of PXE-boots, gets a record, boots the agent from
 * metalbox, reports its inventory and powers off, and the machine is ready with its NIC and
 * both disks. Run with `npm run test:lab` as root (scripts/lab-deps installs QEMU, dnsmasq).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { buildAgentImage } from '../../src/agent/build.js';
import { type Facts, parseFacts } from '../../src/agent/inventory.js';
import { prepareDataDir, type MachineEventJson, type MachineJson } from '../../src/store/index.js';
import { qemuArgs, ROOT } from '../../lab/guest.js';
import { apiHeader, createSegment, daemon, deleteNamespaces, inNs, labRun, serveInNs, siteDhcpConfig } from '../../lab/kit.js';
import { tempDir } from '../helpers.js';

const _CLI = join(ROOT, 'dist/src/cli/main.js');

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

for (const firmware of ['bios', 'uefi'] as const) {
  test(`PXE discovery (${firmware}): a VM metalbox never heard of boots the agent, reports, powers off, and is ready`, {
    timeout: 600_000,
  }, async (t) => {
    assert.equal(process.getuid?.(), 0, 'the lab needs root: run npm run test:lab as root');
    const run = randomBytes(3).toString('hex');
    const NS = { sw: `mba-sw-${run}`, prov: `mba-prov-${run}`, dhcp: `mba-dhcp-${run}` };
    const SERVER = '10.78.0.1';
    const lab = labRun(t, 'metalbox-agent-lab-', () => Object.values(NS));
    const { dir, children } = lab;
    const logs = () => lab.tails(['metalbox.log', 'dnsmasq.log', 'unknown.serial.log', 'unknown.qemu.log']);

    const dataDir = join(dir, 'data');
    prepareDataDir(dataDir);
    const image = buildAgentImage(join(ROOT, '.cache/agent'));
    cpSync(image.dir, join(dataDir, 'agent', basename(image.dir)), { recursive: true });

    deleteNamespaces(Object.values(NS));
    createSegment(
      NS.sw,
      [
        { ns: NS.prov, port: 'sw-prov', address: `${SERVER}/24` },
        { ns: NS.dhcp, port: 'sw-dhcp', address: '10.78.0.2/24' },
      ],
      ['tap0'],
    );
    children.push(daemon(NS.dhcp, join(dir, 'dnsmasq.log'), 'dnsmasq', ['--keep-in-foreground', '-C', siteDhcpConfig(dir, '10.78.0')]));
    await serveInNs(
      children,
      NS.prov,
      dir,
      ['--data-dir', dataDir, '--boot-unknown', 'discover', '--listen', SERVER, '--log-level', 'debug'],
      logs,
    );

    const vm = { name: 'unknown', firmware, mac: firmware === 'bios' ? '52:54:00:78:00:b1' : '52:54:00:78:00:e1', tap: 'tap0' };
    const disks = [64, 128].map((mib, index) => {
      const path = join(dir, `disk${index}.img`);
      execFileSync('truncate', ['-s', `${mib}M`, path]);
      return ['-drive', `file=${path},format=raw,if=virtio`];
    });
    const started = Date.now();
    const qemu = daemon(NS.sw, join(dir, 'unknown.qemu.log'), 'qemu-system-x86_64', [...qemuArgs(vm, dir), ...disks.flat()]);
    children.push(qemu);
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`the VM did not power off within 300 s\n${logs()}`)), 300_000);
      qemu.once('exit', () => {
        clearTimeout(timer);
        done();
      });
    });
    t.diagnostic(`${firmware}: PXE, agent, report and power off in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const api = (path: string) =>
      JSON.parse(inNs(NS.prov, 'curl', '-sf', '-H', `@${apiHeader(dataDir)}`, `http://${SERVER}:8080${path}`)) as unknown;
    const [machine, ...others] = api('/api/v1/machines') as MachineJson[];
    assert.equal(others.length, 0, 'one machine, made by discovery');
    assert.equal(machine?.state, 'ready', logs());
    assert.deepEqual(
      machine?.nics.map((nic) => nic.mac),
      [vm.mac],
    );
    assert.deepEqual(
      machine?.drives.map((drive) => drive.capacityBytes),
      [64 * 1024 * 1024, 128 * 1024 * 1024],
    );
    assert.equal(machine?.system.manufacturer, 'QEMU');
    const events = api(`/api/v1/machines/${machine!.id}/events?limit=1000`) as MachineEventJson[];
    assert.deepEqual(
      events.filter((event) => event.fromState !== event.toState).map((event) => `${event.fromState ?? '-'}→${event.toState}`),
      ['-→discovered', 'discovered→inspecting', 'inspecting→classifying', 'classifying→ready'],
    );
    assert.match(readFileSync(join(dir, 'unknown.serial.log'), 'utf8'), /METALBOX-AGENT-POWEROFF/);
    lab.passed();
  });
}
