/**
 * The relay lab: a UEFI machine on a segment that reaches metalbox only through a DHCP
 * relay (dnsmasq in relay mode, relaying to the site's DHCP server and to metalbox), the
 * relay also routing between the two segments.
 *
 *   ns sw-a: br0 ── tap0 (QEMU OVMF, EDK2's own PXE)
 *             └── veth ── ns relay  eth-a 10.78.3.1   dnsmasq --dhcp-relay to .2 and .1 below
 *   ns sw-b: br0 ── veth ── ns relay  eth-b 10.77.3.254 (forwards between the segments)
 *             ├── veth ── ns prov   10.77.3.1  metalbox serve
 *             └── veth ── ns dhcp   10.77.3.2  dnsmasq, the site's DHCP server, with a pool for 10.78.3.0/24
 *
 * Offers to relayed requests go to the relay (giaddr:67); EDK2's request on port 4011,
 * TFTP and HTTP then go to metalbox's address through the relay's routing. The VM boots
 * the installer and calls back; its observations name the relay.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ObservationJson } from '../../src/store/index.js';
import { prepareDataDir, Store, type MachineEventJson } from '../../src/store/index.js';
import { seedMachine } from '../helpers.js';
import {
  apiHeader,
  createSegment,
  daemon,
  deleteNamespaces,
  inNs,
  labRun,
  runVm,
  serveInNs,
  siteDhcpConfig,
  waitFor,
} from '../../lab/kit.js';
import { buildInitramfs, KERNEL_CACHE, LAB_PROFILE_YAML, qemuArgs, qemuCommand, type GuestVm } from '../../lab/guest.js';

const SERVER = '10.77.3.1';
const SERVER_URL = `http://${SERVER}:8080`;
const RELAY = { clientSide: '10.78.3.1', serverSide: '10.77.3.254' };
const VM: GuestVm = { name: 'relayed', firmware: 'uefi', mac: '52:54:00:77:03:e1', tap: 'tap0' };
const VM_TIMEOUT_MS = 240_000;

const run = randomBytes(3).toString('hex');
const NS = { swA: `mbr-a-${run}`, swB: `mbr-b-${run}`, relay: `mbr-relay-${run}`, prov: `mbr-prov-${run}`, dhcp: `mbr-dhcp-${run}` };

test('a UEFI machine behind a DHCP relay netboots through metalbox, and its observations name the relay', {
  timeout: 600_000,
}, async (t) => {
  assert.equal(process.getuid?.(), 0, 'the lab needs root: run npm run test:lab as root');
  assert.ok(existsSync(join(KERNEL_CACHE, 'vmlinuz')), 'no lab kernel: run scripts/lab-deps');
  const lab = labRun(t, 'metalbox-relay-lab-', () => Object.values(NS));
  const { dir, children } = lab;
  const allLogs = () => lab.tails(['metalbox.log', 'dnsmasq.log', 'relay.log', `${VM.name}.serial.log`, `${VM.name}.qemu.log`]);

  const assets = join(dir, 'assets');
  mkdirSync(join(assets, 'lab'), { recursive: true });
  copyFileSync(join(KERNEL_CACHE, 'vmlinuz'), join(assets, 'lab/vmlinuz'));
  buildInitramfs(dir, join(assets, 'lab/initrd.gz'));
  const dataDir = join(dir, 'data');
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  const machineId = seedMachine(store, '02:00:00:00:03:01', VM.mac, { profile: 'lab', state: 'netbooting' });
  store.close();
  const config = join(dir, 'metalbox.yaml');
  writeFileSync(config, ['profiles:', ...LAB_PROFILE_YAML, ''].join('\n'));

  deleteNamespaces(Object.values(NS));
  createSegment(NS.swA, [{ ns: NS.relay, port: 'sw-relay', address: `${RELAY.clientSide}/24`, ifname: 'eth-a' }], [VM.tap]);
  createSegment(NS.swB, [
    { ns: NS.relay, port: 'sw-relay', address: `${RELAY.serverSide}/24`, ifname: 'eth-b' },
    { ns: NS.prov, port: 'sw-prov', address: `${SERVER}/24` },
    { ns: NS.dhcp, port: 'sw-dhcp', address: '10.77.3.2/24' },
  ]);
  inNs(NS.relay, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  for (const ns of [NS.prov, NS.dhcp]) inNs(ns, 'ip', 'route', 'add', '10.78.3.0/24', 'via', RELAY.serverSide);

  // The site's DHCP server: a pool for the relayed segment, whose router is the relay.
  children.push(
    daemon(NS.dhcp, join(dir, 'dnsmasq.log'), 'dnsmasq', [
      '--keep-in-foreground',
      '-C',
      siteDhcpConfig(dir, '10.78.3', { router: RELAY.clientSide }),
    ]),
  );
  // The relay: what arrives on eth-a goes to the site's server and to metalbox, giaddr set to eth-a's address.
  const relayConfig = join(dir, 'relay.conf');
  writeFileSync(
    relayConfig,
    [
      'port=0',
      `dhcp-relay=${RELAY.clientSide},10.77.3.2`,
      `dhcp-relay=${RELAY.clientSide},${SERVER}`,
      'log-dhcp',
      'log-facility=-',
      'no-resolv',
      'no-hosts',
      'user=root',
      '',
    ].join('\n'),
  );
  children.push(daemon(NS.relay, join(dir, 'relay.log'), 'dnsmasq', ['--keep-in-foreground', '-C', relayConfig]));
  await serveInNs(
    children,
    NS.prov,
    dir,
    ['--data-dir', dataDir, '--config', config, '--assets-dir', join(dir, 'assets'), '--listen', SERVER, '--log-level', 'debug'],
    allLogs,
  );

  const seconds = await runVm(
    children,
    NS.swA,
    dir,
    { name: VM.name, command: qemuCommand(VM.firmware), args: qemuArgs(VM, dir) },
    VM_TIMEOUT_MS,
    allLogs,
  );
  const serial = readFileSync(join(dir, `${VM.name}.serial.log`), 'utf8');
  assert.ok(serial.includes(`METALBOX-LAB-BOOTED platform=efi mac=${VM.mac}`), `no marker on the serial console\n${allLogs()}`);
  assert.ok(serial.includes('METALBOX-LAB-CALLBACK-SENT'), `the callback failed\n${allLogs()}`);
  console.log(`relayed UEFI: marker and callback in ${seconds.toFixed(1)} s`);

  const api = (path: string) => inNs(NS.prov, 'curl', '-sf', '-H', `@${apiHeader(dataDir)}`, `${SERVER_URL}${path}`);
  const events = await waitFor(
    'the relayed machine’s callback event',
    () => {
      const list = JSON.parse(api(`/api/v1/machines/${machineId}/events`)) as MachineEventJson[];
      return list.some((event) => event.type === 'callback') ? list : undefined;
    },
    5000,
    allLogs,
  );
  const messages = events.map((event) => event.message);
  for (const expected of ['ProxyDHCP offer: snponly.efi', 'ProxyDHCP ack: snponly.efi', 'TFTP sent snponly.efi'])
    assert.ok(messages.includes(expected), `${expected}\n${messages.join('\n')}`);
  // Snooping saw the relayed DISCOVER (and REQUEST) with the relay's address in giaddr.
  const observations = JSON.parse(api(`/api/v1/observations?mac=${VM.mac}`)) as ObservationJson[];
  const discover = observations.find((seen) => seen.messageType === 'DISCOVER');
  assert.equal(discover?.relay, RELAY.clientSide, JSON.stringify(observations, null, 1));
  lab.passed();
});
