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
/** The same for arm64, with busybox-static:arm64 beside them (the module names are the same). */
export const ARM64_KERNEL_CACHE = join(ROOT, '.cache/lab/kernel-arm64');
/** Loaded in this order: the cloud kernel builds virtio-net as modules, and the .deb has no modules.dep. */
const NET_MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_pci_modern_dev',
  'virtio_pci_legacy_dev',
  'virtio_pci',
  'failover',
  'net_failover',
  'virtio_net',
];
/** The installed OS reads its config drive too: virtio's disks, FAT with the code page and character set it mounts with by default. */
const DISK_MODULES = [...NET_MODULES, 'virtio_blk', 'fat', 'vfat', 'nls_cp437', 'nls_ascii'];

/**
 * The firmware classes the labs boot: SeaBIOS with QEMU's iPXE ROM; OVMF with EDK2's PXE
 * client; OVMF with its HTTP boot client only; and OVMF with Secure Boot enforced and
 * Microsoft's keys enrolled, booting by PXE (shim → GRUB → Debian's signed kernel); and an
 * arm64 `virt` machine with AAVMF (EDK2 for arm64), whose only loader is GRUB.
 */
export type Firmware = 'bios' | 'uefi' | 'uefi-http' | 'secure-boot' | 'arm64';

/** The QEMU system emulator a VM of `firmware` runs in. */
export function qemuCommand(firmware: Firmware): string {
  return firmware === 'arm64' ? 'qemu-system-aarch64' : 'qemu-system-x86_64';
}

/** What the IPMI lab's VM (SMBIOS) and its BMC (FRU) both say: the agent's reading is matched to the machine by them. */
export const LAB_IDENTITY = { manufacturer: 'Contoso', product: 'Lab VM', serial: 'MBX-LAB-0001' };

export interface GuestVm {
  name: string;
  firmware: Firmware;
  mac: string;
  tap: string;
}

/** Takes a lease on eth0 (the guest's only port) and sets the shell function `arg NAME` that reads the kernel command line. */
const NETWORK_UP = `arg() { for word in $(cat /proc/cmdline); do case "$word" in "$1"=*) echo "\${word#*=}";; esac; done; }
ip link set eth0 up
udhcpc -i eth0 -n -q -t 10 -s /bin/lease
mac=$(cat /sys/class/net/eth0/address)`;

/**
 * The "installer": brings up virtio-net, takes a lease, prints METALBOX-LAB-BOOTED, calls
 * back (progress steps, then `installed`), and then does what `mbx.after=` says: `reboot`,
 * or power off (the default).
 */
const INSTALLER_INIT = `${NETWORK_UP}
platform=$(arg mbx.platform)
callback=$(arg mbx.done)
echo "METALBOX-LAB-BOOTED platform=$platform mac=$mac"
# busybox 1.35's wget -T crashes (a NULL write): bound it with timeout instead.
report() { timeout 15 wget -q -O - "$callback?event=$1&platform=$platform&mac=$mac"; }
for step in $(arg mbx.steps | tr , ' '); do report "$step" >/dev/null && echo "METALBOX-LAB-STEP $step"; done
report installed && echo "METALBOX-LAB-CALLBACK-SENT"
case "$(arg mbx.after)" in reboot) echo "METALBOX-LAB-REBOOT"; reboot -f;; *) poweroff -f;; esac
`;

/**
 * The OS the deploy lab writes to a disk, at its first boot from that disk: it does what
 * cloud-init's NoCloud source and phone_home module do with metalbox's config drive, in
 * busybox (a cloud image with cloud-init needs none of this): finds the CIDATA filesystem,
 * reads meta-data's instance-id and user-data's phone_home URL, posts to it, and powers off.
 */
const DISK_OS_INIT = `echo "METALBOX-LAB-DISK-BOOTED"
${NETWORK_UP}
mkdir -p /seed
if seed=$(findfs LABEL=CIDATA) && mount -t vfat -o ro "$seed" /seed; then
  id=$(sed -n 's/^instance-id: *//p' /seed/meta-data)
  url=$(sed -n 's/^ *url: *"\\(.*\\)" *$/\\1/p' /seed/user-data)
  echo "METALBOX-LAB-SEED instance-id=$id on $seed"
  timeout 15 wget -q -O - --post-data "instance_id=$id&hostname=$id" "$url" && echo "METALBOX-LAB-PHONED-HOME"
else
  echo "METALBOX-LAB-NO-SEED"
fi
poweroff -f
`;

/**
 * The lab installer's profile as config YAML lines (under `profiles:`): the cloud kernel and
 * the initramfs below from the assets dir's lab/, the firmware's platform and the callback
 * URL on its command line.
 */
export const LAB_PROFILE_YAML: readonly string[] = [
  '  lab:',
  '    kernel: lab/vmlinuz',
  '    initrd: lab/initrd.gz',
  '    cmdline: "console=ttyS0,115200 panic=5 mbx.platform=${platform} mbx.done={{ callbackUrl }}"',
];

/** The installer's initramfs (booted over the network by the provisioning labs); arm64's from that kernel and busybox. */
export function buildInitramfs(dir: string, out: string, cpu: 'x64' | 'arm64' = 'x64'): void {
  packInitramfs(join(dir, cpu === 'arm64' ? 'initramfs-arm64' : 'initramfs'), NET_MODULES, INSTALLER_INIT, out, cpu);
}

/** The initramfs of the OS on the deploy lab's disk image. */
export function buildDiskOsInitramfs(dir: string, out: string): void {
  packInitramfs(join(dir, 'disk-os-initramfs'), DISK_MODULES, DISK_OS_INIT, out);
}

/** busybox, the modules (loaded in the order given) and `init` after the common start, packed as a gzipped newc cpio. */
function packInitramfs(root: string, modules: readonly string[], init: string, out: string, cpu: 'x64' | 'arm64' = 'x64'): void {
  const kernel = cpu === 'arm64' ? ARM64_KERNEL_CACHE : KERNEL_CACHE;
  for (const sub of ['bin', 'proc', 'sys', 'dev', 'modules']) mkdirSync(join(root, sub), { recursive: true });
  copyFileSync(cpu === 'arm64' ? join(ARM64_KERNEL_CACHE, 'busybox') : '/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  for (const module of modules) copyFileSync(join(kernel, 'modules', `${module}.ko`), join(root, 'modules', `${module}.ko`));
  writeFileSync(
    join(root, 'init'),
    `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in ${modules.join(' ')}; do insmod /modules/$module.ko; done
${init}`,
  );
  // The default route when the lease names a router: a machine behind a relay reaches metalbox through it.
  writeFileSync(
    join(root, 'bin/lease'),
    '#!/bin/sh\nif [ "$1" = bound ]; then\n  ifconfig "$interface" "$ip" netmask "$subnet"\n  [ -z "$router" ] || route add default gw "${router%% *}" dev "$interface"\nfi\nexit 0\n',
  );
  chmodSync(join(root, 'init'), 0o755);
  chmodSync(join(root, 'bin/lease'), 0o755);
  // The host's busybox packs it (an arm64 busybox does not run here).
  execFileSync('sh', [
    '-c',
    `cd ${JSON.stringify(root)} && find . | /bin/busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -9 > ${JSON.stringify(out)}`,
  ]);
}

/**
 * QEMU's arguments for a diskless VM on `vm.tap`, its serial console in `<dir>/<name>.serial.log`.
 * `reboot: false` makes a guest reboot end QEMU instead (a VM that powers off when done).
 * `networkFirst: false` (UEFI) leaves the order to OVMF, which tries the disks first and
 * PXE after them: with QEMU's boot order (bootindex) OVMF drops every device not listed and
 * never falls back from PXE to a virtio disk, even one listed after the NIC.
 */
export function qemuArgs(
  vm: GuestVm,
  dir: string,
  options: {
    reboot?: boolean;
    networkFirst?: boolean;
    smbios?: { manufacturer: string; product: string; serial: string };
    /** A CD drive (id cd0) holding `image`, booted once when `bootOnce`; `monitor` is a socket for HMP's eject. */
    cdrom?: { image: string; bootOnce: boolean; monitor: string };
  } = {},
): string[] {
  // A CD booted once needs the firmware's own order (-boot once=d): a NIC's bootindex would override it.
  const bootindex = options.networkFirst === false || options.cdrom?.bootOnce ? '' : ',bootindex=1';
  const common = [
    '-name',
    `mbx-${vm.name}`,
    '-machine',
    // Secure Boot's variables are protected by SMM: q35 with SMM, and flash only SMM may write.
    vm.firmware === 'secure-boot' ? 'q35,smm=on' : vm.firmware === 'arm64' ? 'virt' : 'pc',
    '-accel',
    'tcg',
    '-m',
    '512',
    '-smp',
    '1',
    '-nographic',
    '-monitor',
    options.cdrom ? `unix:${options.cdrom.monitor},server=on,wait=off` : 'none',
    '-serial',
    `file:${join(dir, `${vm.name}.serial.log`)}`,
    ...(options.reboot ? [] : ['-no-reboot']),
    // Who stops the VM finds it by this file, never by its name among the host's processes.
    '-pidfile',
    join(dir, `${vm.name}.pid`),
    '-netdev',
    `tap,id=n0,ifname=${vm.tap},script=no,downscript=no`,
    ...(options.cdrom
      ? [
          '-drive',
          `if=ide,media=cdrom,id=cd0,readonly=on,file=${options.cdrom.image}`,
          ...(options.cdrom.bootOnce ? ['-boot', 'once=d'] : []),
        ]
      : []),
    // SMBIOS type 1, what the agent reads from /sys/class/dmi (commas would end QEMU's value).
    ...(options.smbios
      ? ['-smbios', `type=1,manufacturer=${options.smbios.manufacturer},product=${options.smbios.product},serial=${options.smbios.serial}`]
      : []),
  ];
  if (vm.firmware === 'bios') return [...common, '-device', `virtio-net-pci,netdev=n0,mac=${vm.mac}${bootindex}`];
  if (vm.firmware === 'arm64') {
    const vars = join(dir, `${vm.name}.AAVMF_VARS.fd`);
    copyFileSync('/usr/share/AAVMF/AAVMF_VARS.fd', vars);
    return [
      ...common,
      '-cpu',
      'cortex-a57',
      '-drive',
      'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd',
      '-drive',
      `if=pflash,format=raw,unit=1,file=${vars}`,
      '-device',
      `virtio-net-pci,netdev=n0,mac=${vm.mac}${bootindex},romfile=`,
    ];
  }
  const secure = vm.firmware === 'secure-boot';
  const vars = join(dir, `${vm.name}.OVMF_VARS_4M.fd`);
  // The .ms variables hold Microsoft's KEK and db (which sign shim) with Secure Boot on.
  copyFileSync(secure ? '/usr/share/OVMF/OVMF_VARS_4M.ms.fd' : '/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
  return [
    ...common,
    ...(secure ? ['-global', 'driver=cfi.pflash01,property=secure,value=on'] : []),
    '-drive',
    `if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/${secure ? 'OVMF_CODE_4M.secboot.fd' : 'OVMF_CODE_4M.fd'}`,
    '-drive',
    `if=pflash,format=raw,unit=1,file=${vars}`,
    // HTTP boot only: OVMF reads these fw_cfg switches (OvmfPkg/RUNTIME_CONFIG.md), so the
    // NIC's boot entries are its HTTPv4 one alone and nothing falls back to PXE.
    ...(vm.firmware === 'uefi-http'
      ? ['-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=no', '-fw_cfg', 'name=opt/org.tianocore/IPv6Support,string=no']
      : []),
    // romfile= keeps QEMU's iPXE EFI ROM out, so EDK2's own PXE or HTTP client boots.
    '-device',
    `virtio-net-pci,netdev=n0,mac=${vm.mac}${bootindex},romfile=`,
  ];
}
