/**
 * The netboot lab: real firmware boots through metalbox on a private L2 segment made of
 * network namespaces, beside dnsmasq playing the site's ordinary DHCP server.
 *
 *   ns sw:   br0 ── tap0 (QEMU SeaBIOS + QEMU's iPXE ROM), tap1 (QEMU OVMF, EDK2's own PXE)
 *             ├── veth ── ns prov  10.77.0.1  metalbox serve (ProxyDHCP 67/4011, TFTP 69, HTTP 8080)
 *             ├── veth ── ns dhcp  10.77.0.2  dnsmasq: addresses only, no PXE
 *             └── veth ── ns cli   busybox udhcpc, a client that is not PXE
 *
 * Each VM boots Debian's cloud kernel and an initramfs built here, whose /init prints a
 * marker on the serial console and calls the callback URL metalbox put on the kernel
 * command line. Nothing touches the host's own network: every device lives in a namespace
 * this file creates and deletes. Run with `npm run test:lab` as root (scripts/lab-deps
 * installs the packages and fetches the kernel). LAB_KEEP=1 keeps the run's files, and
 * LAB_CAPTURE=1 also records the DHCP traffic in dhcp.pcap.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { prepareDataDir, Store, type MachineEventJson, type MachineJson } from '../../src/store/index.js';
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
import {
  ARM64_KERNEL_CACHE,
  buildInitramfs,
  KERNEL_CACHE,
  LAB_PROFILE_YAML,
  qemuArgs,
  qemuCommand,
  ROOT,
  type GuestVm,
} from '../../lab/guest.js';

const CLI = join(ROOT, 'dist/src/cli/main.js');
const SERVER = '10.77.0.1';
const SERVER_URL = `http://${SERVER}:8080`;
/** Five VMs under software emulation on two cores; arm64's (a whole other CPU emulated) takes longest. */
const VM_TIMEOUT_MS = 360_000;
/** A VM, the profile its machine installs, what its installer says its platform is, and the boot events metalbox must record for it. */
type Vm = GuestVm & { profile: string; platform: string; events: string[]; machineId?: string };
const VMS: Vm[] = [
  {
    name: 'bios',
    firmware: 'bios',
    mac: '52:54:00:77:00:b1',
    tap: 'tap0',
    profile: 'lab',
    platform: 'pcbios',
    // QEMU's BIOS ROM is iPXE already: no TFTP step.
    events: ['boot.dhcp', 'boot.script', 'boot.kernel', 'boot.initrd', 'callback'],
  },
  {
    name: 'uefi',
    firmware: 'uefi',
    mac: '52:54:00:77:00:e1',
    tap: 'tap1',
    profile: 'lab',
    platform: 'efi',
    // EDK2 → TFTP snponly.efi → iPXE.
    events: ['boot.dhcp', 'boot.tftp', 'boot.script', 'boot.kernel', 'boot.initrd', 'callback'],
  },
  {
    name: 'uefi-http',
    firmware: 'uefi-http',
    mac: '52:54:00:77:00:e2',
    tap: 'tap2',
    profile: 'lab',
    platform: 'efi',
    // EDK2's HTTP boot client → snponly.efi by HTTP → iPXE: no TFTP.
    events: ['boot.dhcp', 'boot.asset', 'boot.script', 'boot.kernel', 'boot.initrd', 'callback'],
  },
  {
    name: 'secure-boot',
    firmware: 'secure-boot',
    mac: '52:54:00:77:00:e3',
    tap: 'tap3',
    profile: 'lab-grub',
    platform: 'grub',
    // PXE → shim → GRUB → its grub.cfg → Debian's signed kernel, all by TFTP (the site's DHCP names metalbox as next-server).
    events: ['boot.dhcp', 'boot.tftp', 'boot.script', 'boot.kernel', 'boot.initrd', 'callback'],
  },
  {
    name: 'arm64',
    firmware: 'arm64',
    mac: '52:54:00:77:00:a1',
    tap: 'tap4',
    profile: 'lab-arm64',
    platform: 'arm64',
    // AAVMF's PXE (architecture 11) → shimaa64 → GRUB → Debian's arm64 cloud kernel, by TFTP as above.
    events: ['boot.dhcp', 'boot.tftp', 'boot.script', 'boot.kernel', 'boot.initrd', 'callback'],
  },
];

const run = randomBytes(3).toString('hex');
const NS = { sw: `mbx-sw-${run}`, prov: `mbx-prov-${run}`, dhcp: `mbx-dhcp-${run}`, cli: `mbx-cli-${run}` };

function createTopology(): void {
  createSegment(
    NS.sw,
    [
      { ns: NS.prov, port: 'sw-prov', address: `${SERVER}/24` },
      { ns: NS.dhcp, port: 'sw-dhcp', address: '10.77.0.2/24' },
      { ns: NS.cli, port: 'sw-cli' },
    ],
    VMS.map((vm) => vm.tap),
  );
}

/** The CLI in the provisioning namespace, with the API token of `dataDir` (read from its file, never on the command line). */
function metalboxCli(dataDir: string, ...args: string[]): string {
  return inNs(NS.prov, 'env', `METALBOX_DATA_DIR=${dataDir}`, process.execPath, CLI, ...args, '--server', SERVER_URL);
}

test('BIOS, UEFI, HTTP boot, Secure Boot and arm64 firmware netboot through metalbox into an initramfs that calls back', {
  timeout: 900_000,
}, async (t) => {
  assert.equal(process.getuid?.(), 0, 'the lab needs root: run npm run test:lab as root');
  assert.ok(existsSync(join(KERNEL_CACHE, 'vmlinuz')), 'no lab kernel: run scripts/lab-deps');
  const lab = labRun(t, 'metalbox-lab-', () => Object.values(NS));
  const { dir, children } = lab;
  const allLogs = () =>
    lab.tails(['metalbox.log', 'dnsmasq.log', ...VMS.flatMap((vm) => [`${vm.name}.serial.log`, `${vm.name}.qemu.log`])]);

  // The guest: kernel and initramfs under metalbox's assets dir.
  const assets = join(dir, 'assets');
  mkdirSync(join(assets, 'lab'), { recursive: true });
  copyFileSync(join(KERNEL_CACHE, 'vmlinuz'), join(assets, 'lab/vmlinuz'));
  buildInitramfs(dir, join(assets, 'lab/initrd.gz'));
  copyFileSync(join(ARM64_KERNEL_CACHE, 'vmlinuz'), join(assets, 'lab/vmlinuz-arm64'));
  buildInitramfs(dir, join(assets, 'lab/initrd-arm64.gz'), 'arm64');

  // The inventory: two machines whose NICs are the VMs', netbooting with the lab profile.
  const dataDir = join(dir, 'data');
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  for (const [index, vm] of VMS.entries()) {
    vm.machineId = seedMachine(store, `02:00:00:00:00:0${index + 1}`, vm.mac, { profile: vm.profile, state: 'netbooting' });
  }
  store.close();
  const config = join(dir, 'metalbox.yaml');
  writeFileSync(
    config,
    [
      'profiles:',
      ...LAB_PROFILE_YAML,
      // GRUB passes the command line as written: the platform is said outright.
      '  lab-arm64:',
      '    loader: grub',
      '    kernel: lab/vmlinuz-arm64',
      '    initrd: lab/initrd-arm64.gz',
      '    cmdline: "console=ttyAMA0 panic=5 mbx.platform=arm64 mbx.done={{ callbackUrl }}"',
      '  lab-grub:',
      '    loader: grub',
      '    kernel: lab/vmlinuz',
      '    initrd: lab/initrd.gz',
      '    cmdline: "console=ttyS0,115200 panic=5 mbx.platform=grub mbx.done={{ callbackUrl }}"',
      '',
    ].join('\n'),
  );

  deleteNamespaces(Object.values(NS));
  createTopology();

  // The Secure Boot VM's site DHCP names metalbox as next-server: GRUB's way to its server.
  const grubMacs = (firmware: string) => VMS.filter((vm) => vm.firmware === firmware).map((vm) => vm.mac);
  const siteDhcp = siteDhcpConfig(dir, '10.77.0', {
    nextServer: [
      { macs: grubMacs('secure-boot'), server: SERVER, file: 'shimx64.efi' },
      { macs: grubMacs('arm64'), server: SERVER, file: 'shimaa64.efi' },
    ],
  });
  children.push(daemon(NS.dhcp, join(dir, 'dnsmasq.log'), 'dnsmasq', ['--keep-in-foreground', '-C', siteDhcp]));
  await serveInNs(
    children,
    NS.prov,
    dir,
    ['--data-dir', dataDir, '--config', config, '--assets-dir', assets, '--listen', SERVER, '--log-level', 'debug'],
    allLogs,
  );

  // A client that is not PXE: dnsmasq gives it an address, metalbox stays silent (and snoops it).
  const lease = inNs(NS.cli, 'sh', '-c', 'busybox udhcpc -i eth0 -n -q -t 5 -T 2 -s /bin/true 2>&1');
  assert.match(lease, /lease of 10\.77\.0\.1\d\d obtained from 10\.77\.0\.2/, lease);
  const stats = JSON.parse(inNs(NS.prov, 'curl', '-sf', '-H', `@${apiHeader(dataDir)}`, `${SERVER_URL}/api/v1/stats`)) as {
    dhcp: { answered: number; drops: Record<string, number> };
  };
  assert.equal(stats.dhcp.answered, 0, 'metalbox answered the non-PXE client');
  assert.ok((stats.dhcp.drops['not-pxe-vendor'] ?? 0) >= 1, JSON.stringify(stats));

  if (process.env.LAB_CAPTURE) {
    // For new codec fixtures: every DHCP packet on the segment, in dhcp.pcap (needs tcpdump).
    children.push(
      daemon(NS.sw, join(dir, 'tcpdump.log'), 'tcpdump', [
        '-i',
        'br0',
        '-U',
        '--immediate-mode',
        '-w',
        join(dir, 'dhcp.pcap'),
        'udp port 67 or udp port 68 or udp port 4011',
      ]),
    );
  }

  // Every firmware at once.
  const finished = await Promise.all(
    VMS.map(async (vm) => ({
      vm,
      seconds: await runVm(
        children,
        NS.sw,
        dir,
        { name: vm.name, command: qemuCommand(vm.firmware), args: qemuArgs(vm, dir) },
        VM_TIMEOUT_MS,
        allLogs,
      ),
    })),
  );

  for (const { vm, seconds } of finished) {
    const serial = readFileSync(join(dir, `${vm.name}.serial.log`), 'utf8');
    assert.ok(
      serial.includes(`METALBOX-LAB-BOOTED platform=${vm.platform} mac=${vm.mac}`),
      `${vm.name}: no marker on the serial console\n${allLogs()}`,
    );
    assert.ok(serial.includes('METALBOX-LAB-CALLBACK-SENT'), `${vm.name}: the callback failed\n${allLogs()}`);
    if (vm.firmware === 'secure-boot') assert.match(serial, /Secure boot enabled/, `${vm.name}: the kernel did not see Secure Boot`);
    console.log(`${vm.name}: marker and callback in ${seconds.toFixed(1)} s`);
  }

  // metalbox recorded both callbacks, and the milestones on the way.
  for (const vm of VMS) {
    const events = await waitFor(
      `${vm.name}'s boot events`,
      () => {
        const list = JSON.parse(metalboxCli(dataDir, 'events', vm.mac, '-o', 'json')) as MachineEventJson[];
        return list.some((event) => event.type === 'callback') && list.some((event) => event.type === 'boot.kernel') ? list : undefined;
      },
      5000,
      allLogs,
    );
    const types = new Set(events.map((event) => event.type));
    for (const type of vm.events)
      assert.ok(
        types.has(type),
        `${vm.name}: no ${type} event in ${JSON.stringify(
          events.map((e) => [e.type, e.message]),
          null,
          1,
        )}`,
      );
    if (vm.name === 'uefi') {
      assert.ok(
        events.some((event) => event.message === 'TFTP sent snponly.efi'),
        'UEFI fetched snponly.efi over TFTP',
      );
      assert.ok(
        events.some((event) => event.message === 'ProxyDHCP ack: snponly.efi'),
        'the 4011 ACK named snponly.efi',
      );
    }
    const messages = events.map((event) => event.message);
    if (vm.name === 'uefi-http') {
      assert.ok(messages.includes(`ProxyDHCP offer: ${SERVER_URL}/ipxe/snponly.efi`), 'the HTTP boot offer named an http URL');
      assert.ok(messages.includes('HTTP sent iPXE binary snponly.efi'), 'snponly.efi came over HTTP');
    }
    if (vm.profile !== 'lab') {
      // The GRUB path: shim, GRUB, the bootstrap, the machine's own config and its kernel, all by TFTP.
      const [cpu, kernel] = vm.firmware === 'arm64' ? ['aa64', 'lab/vmlinuz-arm64'] : ['x64', 'lab/vmlinuz'];
      assert.ok(messages.includes(`ProxyDHCP offer: shim${cpu}.efi`), `the offer named shim${cpu}.efi\n${messages.join('\n')}`);
      for (const file of [`shim${cpu}.efi`, `grub${cpu}.efi`, 'grub/grub.cfg'])
        assert.ok(messages.includes(`TFTP sent ${file}`), `${file} came over TFTP\n${messages.join('\n')}`);
      assert.ok(messages.includes(`GRUB config: install profile ${vm.profile}`), 'GRUB read the configuration written for it');
      assert.ok(messages.includes(`TFTP sent kernel ${kernel}`), 'GRUB read the kernel over TFTP');
    }
    const callback = events.find((event) => event.type === 'callback')!;
    assert.deepEqual(callback.data, {
      event: 'installed',
      from: (callback.data as { from: string }).from,
      platform: vm.platform,
      mac: vm.mac,
    });
    const machine = JSON.parse(metalboxCli(dataDir, 'show', vm.mac, '-o', 'json')) as MachineJson;
    assert.equal(machine.state, 'provisioned', `${vm.name} is provisioned after its callback`);
  }
  lab.passed();
});
