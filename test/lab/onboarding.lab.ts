/**
 * The onboarding lab: metalbox finds BMCs by MAC alone on a private L2 segment of network
 * namespaces, and onboards them. The BMCs are the Redfish mockup server, each in its own
 * namespace whose interface has the BMC's MAC, so MAC → IP resolution is the kernel's own.
 *
 *   ns sw:    br0
 *     ├── veth ── ns prov  10.78.0.1   metalbox serve (ProxyDHCP snooping, HTTP 8080; bmc.subnets 10.78.0.0/26)
 *     ├── veth ── ns dhcp  10.78.0.2   dnsmasq, the site's DHCP server
 *     ├── veth ── ns bmc1  10.78.0.51  static address: found by the sweep and the neighbour table
 *     └── veth ── ns bmc2  DHCP        busybox udhcpc against dnsmasq: found through metalbox's DHCP observations
 *
 * Run with `npm run test:lab` as root. LAB_KEEP=1 keeps the run's files.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { MachineJson } from '../../src/store/index.js';
import { apiHeader, createSegment, daemon, deleteNamespaces, inNs, labRun, serveInNs, siteDhcpConfig, waitFor } from '../../lab/kit.js';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const MOCKUP = join(ROOT, 'dist/test/redfish/mockup-main.js');
const SERVER = '10.78.0.1';
const SERVER_URL = `http://${SERVER}:8080`;
const BMC1 = { mac: '02:00:00:00:b1:01', ip: '10.78.0.51' };
const BMC2 = { mac: '02:00:00:00:b2:02' };

const run = randomBytes(3).toString('hex');
const NS = { sw: `mbo-sw-${run}`, prov: `mbo-prov-${run}`, dhcp: `mbo-dhcp-${run}`, bmc1: `mbo-bmc1-${run}`, bmc2: `mbo-bmc2-${run}` };

function createTopology(): void {
  createSegment(NS.sw, [
    { ns: NS.prov, port: 'sw-prov', address: `${SERVER}/24` },
    { ns: NS.dhcp, port: 'sw-dhcp', address: '10.78.0.2/24' },
    { ns: NS.bmc1, port: 'sw-bmc1', address: `${BMC1.ip}/24`, mac: BMC1.mac },
    { ns: NS.bmc2, port: 'sw-bmc2', mac: BMC2.mac },
  ]);
}

test('BMCs found by MAC alone: one through a subnet sweep, one through DHCP observations; both onboarded', {
  timeout: 300_000,
}, async (t) => {
  assert.equal(process.getuid?.(), 0, 'the lab needs root: run npm run test:lab as root');
  const lab = labRun(t, 'metalbox-onboarding-lab-', () => Object.values(NS));
  const { dir, children } = lab;
  const logs = () => lab.tails(['metalbox.log', 'dnsmasq.log', 'bmc1.log', 'bmc2.log'], 30);

  deleteNamespaces(Object.values(NS));
  createTopology();

  const dataDir = join(dir, 'data');
  const config = join(dir, 'metalbox.yaml');
  writeFileSync(
    config,
    YAML.stringify({
      bmc: {
        subnets: ['10.78.0.0/26'],
        sweepRate: 500,
        credentials: [{ macPrefix: '02:00:00:00', username: 'admin', password: 'password' }],
      },
    }),
  );
  children.push(daemon(NS.dhcp, join(dir, 'dnsmasq.log'), 'dnsmasq', ['--keep-in-foreground', '-C', siteDhcpConfig(dir, '10.78.0')]));
  // No TFTP and no iPXE binaries needed: the ProxyDHCP sockets are here for their snooping.
  await serveInNs(
    children,
    NS.prov,
    dir,
    ['--data-dir', dataDir, '--config', config, '--listen', SERVER, '--no-tftp', '--log-level', 'debug'],
    logs,
  );

  // BMC 2 takes its address from the site's DHCP server, as BMCs do out of the box.
  const leaseScript = join(dir, 'lease');
  writeFileSync(leaseScript, '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/$mask" dev "$interface"\nexit 0\n');
  chmodSync(leaseScript, 0o755);
  const lease = inNs(NS.bmc2, 'sh', '-c', `busybox udhcpc -i eth0 -n -q -t 5 -T 2 -s ${leaseScript} 2>&1`);
  const bmc2Ip = /lease of (10\.78\.0\.1\d\d) obtained/.exec(lease)?.[1];
  assert.ok(bmc2Ip, lease);

  for (const [ns, name, tree] of [
    [NS.bmc1, 'bmc1', 'hpe-ilo5-proliant-dl325-gen10plus-fc'],
    [NS.bmc2, 'bmc2', 'gigabyte-ami-megarac'],
  ] as const) {
    children.push(daemon(ns, join(dir, `${name}.log`), process.execPath, [MOCKUP, '--tree', tree, '--port', '80', '--latency', '5']));
    await waitFor(
      `the ${name} mockup`,
      () => existsSync(join(dir, `${name}.log`)) && readFileSync(join(dir, `${name}.log`), 'utf8').includes('listening'),
      10_000,
      logs,
    );
  }
  // Snooped DHCP packets reach the database in batches, once a second.
  await waitFor(
    'the DHCP observation of BMC 2',
    () =>
      inNs(NS.prov, 'curl', '-sf', '-H', `@${apiHeader(dataDir)}`, `${SERVER_URL}/api/v1/observations?mac=${BMC2.mac}`).includes(bmc2Ip),
    5000,
    logs,
  );

  const onboard = (mac: string) => {
    try {
      return inNs(
        NS.prov,
        'env',
        `METALBOX_DATA_DIR=${dataDir}`,
        process.execPath,
        CLI,
        'onboard',
        mac,
        '--scheme',
        'http',
        '--port',
        '80',
        '--wait',
        '--server',
        SERVER_URL,
      );
    } catch (error) {
      throw new Error(`onboard ${mac} failed: ${(error as { stdout?: string }).stdout}${(error as { stderr?: string }).stderr}\n${logs()}`);
    }
  };
  const show = (mac: string) =>
    JSON.parse(
      inNs(NS.prov, 'env', `METALBOX_DATA_DIR=${dataDir}`, process.execPath, CLI, 'show', mac, '-o', 'json', '--server', SERVER_URL),
    ) as MachineJson;

  const first = onboard(BMC1.mac);
  assert.match(first, new RegExp(`BMC ${BMC1.mac} at ${BMC1.ip.replaceAll('.', '\\.')} \\(sweep\\)`), first);
  const machine1 = show(BMC1.mac);
  assert.deepEqual(
    [machine1.state, machine1.bmc?.ip, machine1.bmc?.ipSource, machine1.system.serial],
    ['ready', BMC1.ip, 'sweep', 'MXQ019020B'],
  );

  const second = onboard(BMC2.mac);
  assert.match(second, new RegExp(`BMC ${BMC2.mac} at ${bmc2Ip.replaceAll('.', '\\.')} \\(dhcp-observations\\)`), second);
  const machine2 = show(BMC2.mac);
  assert.deepEqual(
    [machine2.state, machine2.bmc?.ip, machine2.bmc?.ipSource, machine2.system.serial],
    ['ready', bmc2Ip, 'dhcp-observations', 'GJG9NF512A000302'],
  );

  // Now the neighbour table knows BMC 1 too: onboarding it again needs no sweep.
  const again = onboard(BMC1.mac);
  assert.match(again, /\(neighbour-table\)/, again);
  lab.passed();
});
