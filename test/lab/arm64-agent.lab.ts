/**
 * The arm64 agent lab: an arm64 server metalbox has never heard of (qemu-system-aarch64
 * `virt` with AAVMF, a blank virtio disk) PXE-boots beside a site DHCP server that names
 * metalbox as next-server (GRUB's way to its server, docs/netboot.md). metalbox, discovering
 * unknown machines and holding agent images for amd64 and arm64, hands it Debian's signed
 * arm64 shim; GRUB reads the agent's configuration, takes the arm64 image by its
 * `${grub_cpu}`, and the agent reads the machine and reports it.
 *
 *   ns sw:   br0 ── tap0 (QEMU aarch64 virt, AAVMF)
 *             ├── veth ── ns prov  10.77.4.1  metalbox serve --boot-unknown discover
 *             └── veth ── ns dhcp  10.77.4.2  dnsmasq: addresses; next-server metalbox, shimaa64.efi
 *
 * Run with `npm run test:lab` as root (scripts/lab-deps adds dpkg's arm64 architecture,
 * QEMU's aarch64 system and AAVMF; the agent's arm64 packages are downloaded, never installed).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AgentNic } from '../../src/agent/inventory.js';
import type { MachineEventJson, MachineJson } from '../../src/store/index.js';
import { ROOT, qemuArgs, qemuCommand, type GuestVm } from '../../lab/guest.js';
import {
  apiHeader,
  createSegment,
  daemon,
  deleteNamespaces,
  inNs,
  installAgentImage,
  labRun,
  runVm,
  serveInNs,
  siteDhcpConfig,
  waitFor,
} from '../../lab/kit.js';

const CLI = join(ROOT, 'dist/src/cli/main.js');
const SERVER = '10.77.4.1';
const SERVER_URL = `http://${SERVER}:8080`;
const VM: GuestVm = { name: 'arm64-agent', firmware: 'arm64', mac: '52:54:00:77:04:a1', tap: 'tap0' };
/** A whole other CPU emulated: the agent's 33 MB kernel and 14 MB initramfs by lock-step TFTP, then its boot. */
const REPORT_TIMEOUT_MS = 480_000;

const run = randomBytes(3).toString('hex');
const NS = { sw: `mba-sw-${run}`, prov: `mba-prov-${run}`, dhcp: `mba-dhcp-${run}` };

test('an unknown arm64 machine boots the arm64 agent through shimaa64 and GRUB, and the agent reads it', {
  timeout: 900_000,
}, async (t) => {
  assert.equal(process.getuid?.(), 0, 'the lab needs root: run npm run test:lab as root');
  const lab = labRun(t, 'metalbox-arm64-lab-', () => Object.values(NS));
  const { dir, children } = lab;
  const allLogs = () => lab.tails(['metalbox.log', 'dnsmasq.log', `${VM.name}.serial.log`, `${VM.name}.qemu.log`]);

  // Both images: GRUB's configuration names each, and the machine's CPU picks.
  const dataDir = join(dir, 'data');
  const amd64Key = installAgentImage(dataDir, ROOT, 'amd64');
  const arm64Key = installAgentImage(dataDir, ROOT, 'arm64');
  const disk = join(dir, 'disk.img');
  writeFileSync(disk, Buffer.alloc(0));
  truncateSync(disk, 64 * 1024 * 1024);

  deleteNamespaces(Object.values(NS));
  createSegment(
    NS.sw,
    [
      { ns: NS.prov, port: 'sw-prov', address: `${SERVER}/24` },
      { ns: NS.dhcp, port: 'sw-dhcp', address: '10.77.4.2/24' },
    ],
    [VM.tap],
  );
  const siteDhcp = siteDhcpConfig(dir, '10.77.4', { nextServer: [{ macs: [VM.mac], server: SERVER, file: 'shimaa64.efi' }] });
  children.push(daemon(NS.dhcp, join(dir, 'dnsmasq.log'), 'dnsmasq', ['--keep-in-foreground', '-C', siteDhcp]));
  await serveInNs(
    children,
    NS.prov,
    dir,
    ['--data-dir', dataDir, '--listen', SERVER, '--boot-unknown', 'discover', '--log-level', 'debug'],
    allLogs,
  );

  const started = Date.now();
  const vm = runVm(
    children,
    NS.sw,
    dir,
    {
      name: VM.name,
      command: qemuCommand(VM.firmware),
      args: [...qemuArgs(VM, dir), '-drive', `file=${disk},format=raw,if=none,id=disk0`, '-device', 'virtio-blk-pci,drive=disk0'],
    },
    REPORT_TIMEOUT_MS,
    allLogs,
  );
  // The agent holds the machine once it reported: the VM runs until the lab stops it.
  vm.catch(() => {});
  const cli = (...args: string[]) =>
    inNs(NS.prov, 'env', `METALBOX_DATA_DIR=${dataDir}`, process.execPath, CLI, ...args, '--server', SERVER_URL);
  const machine = await waitFor(
    'the agent to report the arm64 machine',
    () =>
      (JSON.parse(cli('ls', '-o', 'json')) as MachineJson[]).find(
        (known) => known.nics.some((nic) => nic.mac === VM.mac) && ['ready', 'unclassified'].includes(known.state),
      ),
    REPORT_TIMEOUT_MS,
    allLogs,
  );
  console.log(`arm64 agent: reported in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const messages = (JSON.parse(cli('events', machine.id, '-o', 'json', '--limit', '1000')) as MachineEventJson[]).map(
    (event) => `${event.type}: ${event.message}`,
  );
  const has = (expected: string | RegExp) =>
    assert.ok(
      messages.some((message) => (typeof expected === 'string' ? message === expected : expected.test(message))),
      `no ${expected} in\n${messages.join('\n')}`,
    );
  // Before its grub.cfg was asked for, the machine had no record: those steps are in serve's log (debug).
  const log = readFileSync(join(dir, 'metalbox.log'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; file?: string; arch?: number; mac?: string });
  assert.ok(
    log.some((line) => line.msg === 'dhcp: answered' && line.mac === VM.mac && line.arch === 11 && line.file === 'shimaa64.efi'),
    'ProxyDHCP named the arm64 shim to architecture 11',
  );
  const sent = log.filter((line) => line.msg === 'tftp: complete').map((line) => line.file);
  for (const file of ['shimaa64.efi', 'grubaa64.efi', 'grub/grub.cfg', `grub/machines/${VM.mac}.cfg`])
    assert.ok(sent.includes(file), `${file} by TFTP: ${sent.join(', ')}`);
  has('boot.script: GRUB config: agent profile metalbox-agent');
  // GRUB took the arm64 image of the two its configuration names.
  has(`boot.kernel: TFTP sent agent kernel ${arm64Key}/vmlinuz`);
  has(`boot.initrd: TFTP sent agent initrd ${arm64Key}/initrd.gz`);
  assert.deepEqual(
    sent.filter((file) => file?.startsWith('agent/')),
    [`agent/${arm64Key}/vmlinuz`, `agent/${arm64Key}/initrd.gz`],
    `the arm64 image, not amd64's (${amd64Key})`,
  );
  // AAVMF's variables hold no Secure Boot keys: UEFI, Secure Boot off; one disk, one port.
  has(/^inventory: agent read .*: 1 CPU threads, [\d.]+ GiB, 1 disk, 1 port, UEFI$/);

  const facts = JSON.parse(
    inNs(NS.prov, 'curl', '-sf', '-H', `@${apiHeader(dataDir)}`, `${SERVER_URL}/api/v1/machines/${machine.id}/facts`),
  ) as { 'agent.nics': AgentNic[]; 'agent.firmware': unknown };
  assert.deepEqual(facts['agent.firmware'], { mode: 'uefi', secureBoot: false });
  assert.deepEqual(
    facts['agent.nics'].map((nic) => [nic.mac, nic.driver]),
    [[VM.mac, 'virtio_net']],
    'virtio_net loaded from the arm64 image by modalias',
  );
  lab.passed();
});
