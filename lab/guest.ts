/**
 * The lab's guest machines (test and demo code): QEMU with SeaBIOS and QEMU's iPXE ROM, or
 * OVMF with EDK2's own PXE client, and the "installer" they boot: Debian's cloud kernel
 * with a busybox initramfs whose /init takes a lease, reports to the callback URL metalbox
 * put on the kernel command line, and then powers off or reboots.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** Filled by scripts/lab-deps: vmlinuz and the virtio network modules of Debian's cloud kernel. */
export const KERNEL_CACHE = join(ROOT, '.cache/lab/kernel');
/** Loaded in this order: the cloud kernel builds virtio-net as modules, and the .deb has no modules.dep. */
const MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_pci_modern_dev',
  'virtio_pci_legacy_dev',
  'virtio_pci',
  'failover',
  'net_failover',
  'virtio_net',
];

export type Firmware = 'bios' | 'uefi';

export interface GuestVm {
  name: string;
  firmware: Firmware;
  mac: string;
  tap: string;
}

/**
 * busybox and an /init that brings up virtio-net, takes a lease, prints
 * METALBOX-LAB-BOOTED, calls back (progress steps, then `installed`), and then does what
 * `mbx.after=` says: `reboot`, or power off (the default).
 */
export function buildInitramfs(dir: string, out: string): void {
  const root = join(dir, 'initramfs');
  for (const sub of ['bin', 'proc', 'sys', 'dev', 'modules']) mkdirSync(join(root, sub), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  for (const module of MODULES) copyFileSync(join(KERNEL_CACHE, 'modules', `${module}.ko`), join(root, 'modules', `${module}.ko`));
  writeFileSync(
    join(root, 'init'),
    `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in ${MODULES.join(' ')}; do insmod /modules/$module.ko; done
arg() { for word in $(cat /proc/cmdline); do case "$word" in "$1"=*) echo "\${word#*=}";; esac; done; }
platform=$(arg mbx.platform)
callback=$(arg mbx.done)
ip link set eth0 up
udhcpc -i eth0 -n -q -t 10 -s /bin/lease
mac=$(cat /sys/class/net/eth0/address)
echo "METALBOX-LAB-BOOTED platform=$platform mac=$mac"
# busybox 1.35's wget -T crashes (a NULL write): bound it with timeout instead.
report() { timeout 15 wget -q -O - "$callback?event=$1&platform=$platform&mac=$mac"; }
for step in $(arg mbx.steps | tr , ' '); do report "$step" >/dev/null && echo "METALBOX-LAB-STEP $step"; done
report installed && echo "METALBOX-LAB-CALLBACK-SENT"
case "$(arg mbx.after)" in reboot) echo "METALBOX-LAB-REBOOT"; reboot -f;; *) poweroff -f;; esac
`,
  );
  writeFileSync(join(root, 'bin/lease'), '#!/bin/sh\n[ "$1" = bound ] && ifconfig "$interface" "$ip" netmask "$subnet"\nexit 0\n');
  chmodSync(join(root, 'init'), 0o755);
  chmodSync(join(root, 'bin/lease'), 0o755);
  execFileSync('sh', [
    '-c',
    `cd ${JSON.stringify(root)} && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -9 > ${JSON.stringify(out)}`,
  ]);
}

/**
 * QEMU's arguments for a diskless VM on `vm.tap`, its serial console in `<dir>/<name>.serial.log`.
 * `reboot: false` makes a guest reboot end QEMU instead (a VM that powers off when done).
 */
export function qemuArgs(vm: GuestVm, dir: string, options: { reboot?: boolean } = {}): string[] {
  const common = [
    '-name',
    `mbx-${vm.name}`,
    '-machine',
    'pc',
    '-accel',
    'tcg',
    '-m',
    '512',
    '-smp',
    '1',
    '-nographic',
    '-monitor',
    'none',
    '-serial',
    `file:${join(dir, `${vm.name}.serial.log`)}`,
    ...(options.reboot ? [] : ['-no-reboot']),
    // Who stops the VM finds it by this file, never by its name among the host's processes.
    '-pidfile',
    join(dir, `${vm.name}.pid`),
    '-netdev',
    `tap,id=n0,ifname=${vm.tap},script=no,downscript=no`,
  ];
  if (vm.firmware === 'bios') return [...common, '-device', `virtio-net-pci,netdev=n0,mac=${vm.mac},bootindex=1`];
  const vars = join(dir, `${vm.name}.OVMF_VARS_4M.fd`);
  copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
  return [
    ...common,
    '-drive',
    'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
    '-drive',
    `if=pflash,format=raw,unit=1,file=${vars}`,
    // romfile= keeps QEMU's iPXE EFI ROM out, so EDK2's own PXE client boots (and fetches snponly.efi by TFTP).
    '-device',
    `virtio-net-pci,netdev=n0,mac=${vm.mac},bootindex=1,romfile=`,
  ];
}
