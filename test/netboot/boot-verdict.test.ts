import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootVerdict, type VerdictInput } from '../../src/netboot/boot-verdict.js';
import type { MachineEventJson, ObservationJson } from '../../src/store/index.js';

/**
 * Recorded sequences, one per verdict: the observations and events metalbox writes for a
 * UEFI machine (OVMF, arch 7) booting through it, as the lab records them (message texts
 * are the ones src/ipxe, src/tftp and server.ts write), cut where each kind of failure cuts
 * them. Expected steps and causes are written out by hand.
 */
const MAC = '52:54:00:12:34:56';
const MACHINE = { id: 'm-0000000000ab', state: 'netbooting' as const, maintenance: false, profile: 'debian', nics: [MAC] };
const SETTINGS = { unknown: 'ignore' as const, proxyDhcp: true, tftp: true };
/** dhcp-proxy's table: x86 BIOS, UEFI x64 PXE (7, 9) and HTTP (16). */
const hasLoader = (arch: number) => [0, 7, 9, 16].includes(arch);

const seen = (messageType: string, vendorClass: string | null, arch: number | null, lastSeen: string): ObservationJson => ({
  mac: MAC,
  messageType,
  ip: null,
  vendorClass,
  arch,
  hostname: null,
  relay: null,
  firstSeen: lastSeen,
  lastSeen,
  count: 2,
});
const PXE_DISCOVER = seen('DISCOVER', 'PXEClient:Arch:00007:UNDI:003000', 7, '2026-12-07T10:00:04.000Z');
const OS_DHCP = seen('REQUEST', 'debian-installer', null, '2026-12-07T09:00:00.000Z');

let nextId = 1;
const event = (type: string, at: string, message: string, data: unknown = null): MachineEventJson => ({
  id: nextId++,
  machineId: MACHINE.id,
  at,
  type,
  fromState: 'netbooting',
  toState: 'netbooting',
  message,
  data,
  operationId: 'op-1',
});
const PROVISION = event('state', '2026-12-07T09:59:00.000Z', 'provision: profile debian');
const OFFER = event('boot.dhcp', '2026-12-07T10:00:04.100Z', 'ProxyDHCP offer: snponly.efi', { firmware: 'uefi', arch: 7 });
const TFTP = event('boot.tftp', '2026-12-07T10:00:06.000Z', 'TFTP sent snponly.efi', { bytes: 178_688 });
const IPXE_OFFER = event('boot.dhcp', '2026-12-07T10:00:09.000Z', 'ProxyDHCP offer: http://10.77.0.1:8080/boot.ipxe', {
  firmware: 'ipxe',
  arch: 7,
});
const SCRIPT = event('boot.script', '2026-12-07T10:00:10.000Z', 'iPXE script: install profile debian');
const KERNEL = event('boot.kernel', '2026-12-07T10:00:11.000Z', 'HTTP sent kernel debian/linux');
const INITRD = event('boot.initrd', '2026-12-07T10:00:13.000Z', 'HTTP sent initrd debian/initrd.gz');
const CALLBACK = event('callback', '2026-12-07T10:09:00.000Z', 'installer reported installed');

const verdict = (more: Partial<VerdictInput>) =>
  bootVerdict({ mac: MAC, machine: MACHINE, observations: [PXE_DISCOVER], events: [], settings: SETTINGS, hasLoader, ...more });
const marks = (result: ReturnType<typeof bootVerdict>) => result.steps.map((step) => `${step.step}:${step.ok}`).join(' ');

test('a boot that went through: every step, nothing to fix', () => {
  const result = verdict({ events: [PROVISION, OFFER, TFTP, IPXE_OFFER, SCRIPT, KERNEL, INITRD, CALLBACK] });
  assert.equal(result.verdict, `${MAC} booted through metalbox: installer reported installed`);
  assert.equal(result.stoppedAt, null);
  assert.equal(marks(result), 'dhcp:true pxe:true answer:true loader:true script:true kernel:true initrd:true callback:true');
  assert.deepEqual(result.causes, []);
});

test('never seen: off, not network booting, or another segment; another NIC named when it was seen', () => {
  const result = verdict({ observations: [], otherNics: [{ ...PXE_DISCOVER, mac: '52:54:00:12:34:57' }] });
  assert.equal(result.stoppedAt, 'dhcp');
  assert.equal(marks(result), 'dhcp:false pxe:null answer:null loader:null script:null kernel:null initrd:null callback:null');
  assert.match(result.causes[0]!.cause, /boots from another NIC: DHCP came from 52:54:00:12:34:57/);
  assert.equal(result.causes.length, 3);
});

test('DHCP from an OS only: the firmware never network-booted', () => {
  const result = verdict({ observations: [OS_DHCP] });
  assert.equal(result.stoppedAt, 'pxe');
  assert.equal(result.verdict, `${MAC} sent DHCP, but never as a network-booting firmware`);
  assert.match(result.steps[1]!.detail, /debian-installer/);
});

test('not answered, each reason: unknown, maintenance, no loader for the architecture, ProxyDHCP off', () => {
  const unknown = verdict({ machine: null });
  assert.equal(unknown.verdict, `metalbox does not answer ${MAC}: it is not in the inventory`);
  assert.match(unknown.causes[0]!.fix, /metalbox onboard <bmc-mac>; or boot.unknown: discover/);

  const maintenance = verdict({ machine: { ...MACHINE, maintenance: true } });
  assert.equal(maintenance.stoppedAt, 'answer');
  assert.deepEqual(maintenance.causes, [{ cause: 'maintenance on', fix: `metalbox maintenance off ${MACHINE.id}` }]);

  // An arm64 UEFI client (arch 11): nothing in the table, and metalbox stays silent.
  const arm = verdict({ observations: [{ ...PXE_DISCOVER, vendorClass: 'PXEClient:Arch:00011:UNDI:003000', arch: 11 }] });
  assert.equal(arm.verdict, `metalbox has no boot loader for ${MAC}'s architecture 11 and stays silent`);

  const off = verdict({ settings: { ...SETTINGS, proxyDhcp: false } });
  assert.match(off.verdict, /ProxyDHCP is off/);
});

test('discovery answers unknown machines: a record waits for the script', () => {
  const result = verdict({ machine: null, settings: { ...SETTINGS, unknown: 'discover' } });
  assert.equal(result.stoppedAt, 'script');
  assert.equal(marks(result).split(' ').slice(0, 3).join(' '), 'dhcp:true pxe:true answer:true');
});

test('a later PXE request than the last answer: metalbox did not answer the latest boot', () => {
  // The answer is from 09:50, the request from 10:00:04: ten minutes apart.
  const stale = { ...OFFER, at: '2026-12-07T09:50:00.000Z' };
  const result = verdict({ events: [PROVISION, stale] });
  assert.equal(result.stoppedAt, 'answer');
  assert.match(result.steps[2]!.detail, /older than the last PXE request/);
});

test('answered, but no boot loader fetched: the site DHCP server or a firmware that ignores proxy offers', () => {
  const result = verdict({ events: [PROVISION, OFFER] });
  assert.equal(result.stoppedAt, 'loader');
  assert.deepEqual(
    result.causes.map((cause) => cause.cause.split(' ').slice(0, 4).join(' ')),
    ['the site DHCP server', 'the firmware accepts boot', 'a firewall drops TFTP'],
  );
});

test('boot loader sent, no script: Secure Boot is the first suspect on UEFI, not on BIOS', () => {
  const uefi = verdict({ events: [PROVISION, OFFER, TFTP] });
  assert.equal(uefi.stoppedAt, 'script');
  assert.match(uefi.causes[0]!.cause, /Secure Boot is on/);
  const bios = verdict({
    observations: [{ ...PXE_DISCOVER, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', arch: 0 }],
    events: [PROVISION, { ...OFFER, message: 'ProxyDHCP offer: undionly.kpxe' }, { ...TFTP, message: 'TFTP sent undionly.kpxe' }],
  });
  assert.ok(!bios.causes.some((cause) => /Secure Boot/.test(cause.cause)));
});

test('a local-boot script: metalbox sent it to its disk, which is an answer, not a failure', () => {
  const result = verdict({
    machine: { ...MACHINE, state: 'ready' },
    events: [OFFER, TFTP, IPXE_OFFER, { ...SCRIPT, message: 'iPXE script: local boot (exit)' }],
  });
  assert.equal(result.stoppedAt, null);
  assert.equal(result.verdict, `metalbox told ${MAC} to boot from its disk (iPXE script: local boot (exit))`);
  assert.match(result.causes[0]!.fix, /no bootable system/);
});

test('a refused script (an address not seen in DHCP) stops at the script', () => {
  const refused = { ...SCRIPT, message: 'iPXE script refused: asked from an address this machine was not seen using' };
  const result = verdict({ events: [PROVISION, OFFER, TFTP, IPXE_OFFER, refused] });
  assert.equal(result.stoppedAt, 'script');
  assert.match(result.verdict, /script was refused/);
});

test('script but no kernel; kernel and initrd but no callback', () => {
  const noKernel = verdict({ events: [PROVISION, OFFER, TFTP, IPXE_OFFER, SCRIPT] });
  assert.equal(noKernel.stoppedAt, 'kernel');
  assert.match(noKernel.causes[0]!.cause, /kernel is missing under --assets-dir/);
  const silent = verdict({ events: [PROVISION, OFFER, TFTP, IPXE_OFFER, SCRIPT, KERNEL, INITRD] });
  assert.equal(silent.stoppedAt, 'callback');
  assert.equal(marks(silent), 'dhcp:true pxe:true answer:true loader:true script:true kernel:true initrd:true callback:false');
});

test("only the latest boot counts: an operator's command ends the run of milestones before it", () => {
  // An earlier boot went all the way; then provision again, answered, and nothing more.
  const result = verdict({
    events: [OFFER, TFTP, IPXE_OFFER, SCRIPT, KERNEL, INITRD, CALLBACK, { ...PROVISION, at: '2026-12-07T10:00:00.000Z' }, OFFER],
  });
  assert.equal(result.stoppedAt, 'loader');
});

test('TFTP off: named first among the causes of a loader never fetched', () => {
  const result = verdict({ events: [PROVISION, OFFER], settings: { ...SETTINGS, tftp: false } });
  assert.equal(result.stoppedAt, 'loader');
  assert.match(result.causes[0]!.cause, /TFTP is off \(--no-tftp\)/);
  assert.equal(result.causes.length, 4);
});
