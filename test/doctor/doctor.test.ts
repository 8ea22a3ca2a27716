import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DoctorCheck } from '../../src/doctor/doctor.js';
import { standInImage } from '../agent/kit.js';
import { CLI, tempDir } from '../helpers.js';

/**
 * `metalbox doctor` on a segment of its own: two network namespaces joined by a veth pair,
 * metalbox's side (10.99.7.1) and the site's (10.99.7.2), where dnsmasq plays the site's
 * DHCP server, as a plain one or as one that also hands out a boot file. Nothing leaves
 * the namespaces. Root only (namespaces, port 68).
 */
const NS = { metalbox: 'mbdoc-a', site: 'mbdoc-b' } as const;
const ADDRESS = { metalbox: '10.99.7.1', site: '10.99.7.2' } as const;
const root = process.getuid?.() === 0;

function sh(...args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
}

function segment(t: test.TestContext): void {
  for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
  for (const ns of Object.values(NS)) {
    sh('ip', 'netns', 'add', ns);
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  }
  sh('ip', '-n', NS.metalbox, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.site);
  sh('ip', '-n', NS.metalbox, 'addr', 'add', `${ADDRESS.metalbox}/24`, 'dev', 'eth0');
  sh('ip', '-n', NS.site, 'addr', 'add', `${ADDRESS.site}/24`, 'dev', 'eth0');
  for (const ns of Object.values(NS)) sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up');
  t.after(() => {
    for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
  });
}

/** dnsmasq as the site's DHCP server on its side of the segment; `bootFile` makes it a PXE server too. */
async function siteDhcp(t: test.TestContext, dir: string, bootFile?: string): Promise<void> {
  const args = [
    'netns',
    'exec',
    NS.site,
    'dnsmasq',
    '--keep-in-foreground',
    '--no-daemon',
    '--port=0',
    '--no-resolv',
    '--no-hosts',
    '--bind-interfaces',
    '--interface=eth0',
    '--except-interface=lo',
    `--dhcp-range=10.99.7.100,10.99.7.150,255.255.255.0,1h`,
    `--dhcp-leasefile=${join(dir, 'leases')}`,
    `--pid-file=${join(dir, 'dnsmasq.pid')}`,
    '--log-dhcp',
    // dnsmasq pings an address before offering it (about 3 s); the segment has nobody to ping.
    '--no-ping',
    ...(bootFile ? [`--dhcp-boot=${bootFile},site,${ADDRESS.site}`] : []),
  ];
  const dnsmasq: ChildProcess = spawn('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  dnsmasq.stderr!.on('data', (chunk) => (log += chunk));
  t.after(() => void dnsmasq.kill());
  for (let waited = 0; !/started, version/.test(log); waited += 50) {
    if (waited > 5000 || dnsmasq.exitCode !== null) throw new Error(`dnsmasq did not start: ${log}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function doctor(args: string[]): { code: number | null; checks: DoctorCheck[]; text: string } {
  const run = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      NS.metalbox,
      process.execPath,
      CLI,
      'doctor',
      '--listen',
      ADDRESS.metalbox,
      '--probe-seconds',
      '1.5',
      '-o',
      'json',
      ...args,
    ],
    { encoding: 'utf8', env: { PATH: process.env.PATH } },
  );
  let checks: DoctorCheck[] = [];
  try {
    checks = JSON.parse(run.stdout) as DoctorCheck[];
  } catch {
    assert.fail(`doctor printed no JSON: ${run.stdout}${run.stderr}`);
  }
  return { code: run.status, checks, text: run.stdout };
}

const check = (checks: DoctorCheck[], name: string) => checks.find((one) => one.check === name)!;

test('doctor on a healthy segment: every check holds, exit 0; a site DHCP server with a boot file is another PXE server, exit 1', {
  skip: !root && 'needs root: network namespaces',
}, async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  standInImage(dataDir);
  segment(t);
  await siteDhcp(t, dir);
  const healthy = doctor(['--data-dir', dataDir]);
  assert.deepEqual(
    healthy.checks.map((one) => [one.check, one.ok]),
    [
      ['config', true],
      ['advertise', true],
      ['boot loaders', true],
      ['ports', true],
      ['firewall', true],
      ['other PXE servers', true],
      ['data dir', true],
      ['agent image', true],
    ],
    healthy.text,
  );
  assert.equal(healthy.code, 0);
  assert.equal(check(healthy.checks, 'advertise').detail, `${ADDRESS.metalbox} is on eth0: booting machines are sent there`);
  assert.match(
    check(healthy.checks, 'other PXE servers').detail,
    new RegExp(`^none; DHCP from ${ADDRESS.site.replace(/\./g, '\\.')}, with no boot file`),
  );
});

test('doctor names each failure with its fix: another PXE server, a port taken, an address on no interface, a firewall drop, no agent image', {
  skip: !root && 'needs root: network namespaces',
}, async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  segment(t);
  await siteDhcp(t, dir, 'pxelinux.0');

  // Port 69 taken in metalbox's namespace by another program.
  const squatter = spawn(
    'ip',
    ['netns', 'exec', NS.metalbox, process.execPath, '-e', "require('dgram').createSocket('udp4').bind(69); setInterval(() => {}, 1000)"],
    {
      stdio: 'ignore',
    },
  );
  t.after(() => void squatter.kill());
  await new Promise((resolve) => setTimeout(resolve, 500));
  const nft = spawnSync('nft', ['--version']).status === 0;
  if (nft) {
    const rules = join(dir, 'rules.nft');
    writeFileSync(
      rules,
      'table inet filter {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    udp dport 4011 drop\n  }\n}\n',
    );
    sh('ip', 'netns', 'exec', NS.metalbox, 'nft', '-f', rules);
  }

  const sick = doctor(['--data-dir', dataDir]);
  assert.equal(sick.code, 1);
  const pxe = check(sick.checks, 'other PXE servers');
  assert.equal(pxe.ok, false);
  assert.match(
    pxe.detail,
    new RegExp(
      `^${ADDRESS.site.replace(/\./g, '\\.')} answers PXE clients with pxelinux\\.0 from ${ADDRESS.site.replace(/\./g, '\\.')} \\(and gives the address\\)`,
    ),
  );
  assert.match(pxe.fix!, /remove next-server\/filename/);
  const ports = check(sick.checks, 'ports');
  assert.equal(ports.ok, false);
  assert.match(ports.detail, new RegExp(`^udp 69 held by ${process.execPath.replace(/\//g, '\\/')} -e .* \\(pid ${squatter.pid}\\)`));
  const firewall = check(sick.checks, 'firewall');
  assert.equal(firewall.ok, false);
  assert.equal(firewall.detail, 'udp 4011 dropped (inet filter input: udp dport 4011 drop)');
  assert.deepEqual(
    [check(sick.checks, 'agent image').ok, check(sick.checks, 'agent image').fix],
    [false, `metalbox agent build --data-dir ${dataDir}`],
  );

  const elsewhere = doctor(['--data-dir', dataDir, '--advertise', '10.99.7.9', '--no-probe']);
  assert.equal(check(elsewhere.checks, 'advertise').ok, false);
  assert.match(check(elsewhere.checks, 'advertise').detail, /10\.99\.7\.9 is on no interface of this host/);
  assert.equal(check(elsewhere.checks, 'other PXE servers').detail, 'not looked for (--no-probe)');
});
