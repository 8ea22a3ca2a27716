import { withoutControlCharacters } from '../lib/text.js';

/**
 * The grub.cfg text metalbox writes for GRUB's boot path (Debian's signed shim and GRUB):
 * pure functions, the counterpart of profiles.ts's iPXE scripts. Every value is one
 * single-quoted GRUB word: inside single quotes GRUB takes everything literally (no `$`
 * expansion, no `;`, no newline ending the command), and a quote in the value closes the
 * word, adds an escaped quote and opens a new one, as in sh. Control characters are
 * dropped first, so nothing a BMC or an agent reported can add a GRUB command.
 */

/** The CPU families of GRUB's signed netboot images in Debian. */
export type GrubCpu = 'x64' | 'arm64';

/** The files of GRUB's boot path for one CPU family, as TFTP and /grub/ name them: shim first, then the GRUB it loads from the same directory. */
export const GRUB_FILES: Readonly<Record<GrubCpu, { shim: string; grub: string }>> = {
  x64: { shim: 'shimx64.efi', grub: 'grubx64.efi' },
  arm64: { shim: 'shimaa64.efi', grub: 'grubaa64.efi' },
};

/** Where the bootstrap reads each machine's configuration (over TFTP, from the server GRUB came from): by the MAC GRUB booted from. */
export const GRUB_MACHINE_DIR = 'grub/machines';

/** One literal GRUB word. */
export function grubWord(value: string): string {
  return `'${withoutControlCharacters(value).replaceAll("'", `'\\''`)}'`;
}

/**
 * The grub.cfg GRUB reads first: Debian's signed netboot GRUB has the prefix /grub and
 * reads `(tftp,<next-server>)/grub/grub.cfg`. The same for every machine, it sources the
 * one written for the MAC GRUB booted from, on the same server ($root); when that machine
 * has none (unknown, in maintenance), the firmware gets control back.
 */
export function grubBootstrap(): string {
  return [
    '# metalbox: each machine reads the configuration written for the MAC it booted from',
    `source /${GRUB_MACHINE_DIR}/\${net_default_mac}.cfg`,
    "echo 'metalbox: no configuration for this machine; back to the firmware'",
    'exit 1',
    '',
  ].join('\n');
}

export interface GrubKernelBoot {
  /** What the console says first (who boots what). */
  banner: string;
  /** Paths on the TFTP server GRUB came from (its $root): Debian's signed GRUB carries no HTTP client. */
  kernelPath: string;
  initrdPaths: readonly string[];
  cmdline: string;
  /** What the console says when the kernel does not boot. */
  failure: string;
}

/**
 * A kernel with its initrds and command line. Each word of the command line is one GRUB
 * word (GRUB would pass a word holding spaces to the kernel in double quotes, as one
 * parameter), passed as written: GRUB variables in it are not expanded. No `initrd=` names are added as
 * for iPXE: GRUB hands the initrds over itself, and the EFI stub would look for such a file
 * on a boot device the kernel loaded from memory does not have.
 */
export function grubKernelConfig(boot: GrubKernelBoot): string {
  return [`echo ${grubWord(boot.banner)}`, ...kernelLines(boot), 'boot', `echo ${grubWord(boot.failure)}`, 'exit 1', ''].join('\n');
}

function kernelLines(boot: Pick<GrubKernelBoot, 'kernelPath' | 'initrdPaths' | 'cmdline'>): string[] {
  return [
    ['linux', grubWord(boot.kernelPath), ...boot.cmdline.split(/\s+/).filter(Boolean).map(grubWord)].join(' '),
    ...(boot.initrdPaths.length === 0 ? [] : [`initrd ${boot.initrdPaths.map(grubWord).join(' ')}`]),
  ];
}

/**
 * grubKernelConfig with a kernel per CPU, chosen by GRUB's own `${grub_cpu}` (x86_64 or
 * arm64 in Debian's EFI builds): one configuration serves a machine whatever its CPU, as the
 * agent's does. A CPU with no kernel gets `missing` on its console and its next boot entry.
 */
export function grubPerCpuConfig(
  boot: Omit<GrubKernelBoot, 'kernelPath' | 'initrdPaths'> & {
    kernels: ReadonlyArray<{ grubCpu: string; kernelPath: string; initrdPaths: readonly string[] }>;
    missing: string;
  },
): string {
  const branches = boot.kernels.flatMap((kernel, index) => [
    `${index === 0 ? 'if' : 'elif'} [ "\${grub_cpu}" = ${grubWord(kernel.grubCpu)} ]; then`,
    ...kernelLines({ ...kernel, cmdline: boot.cmdline }).map((line) => `  ${line}`),
  ]);
  return [
    `echo ${grubWord(boot.banner)}`,
    ...branches,
    'else',
    `  echo ${grubWord(boot.missing)}`,
    '  exit 1',
    'fi',
    'boot',
    `echo ${grubWord(boot.failure)}`,
    'exit 1',
    '',
  ].join('\n');
}

/** Boot from the local disk: GRUB's `exit` hands control back to the firmware, which tries its next boot entry. */
export function grubLocalBoot(): string {
  return ["echo 'metalbox: booting from local disk'", 'exit', ''].join('\n');
}

/** What a machine gets when its configuration cannot be made: the reason on its console, then its next boot entry. */
export function grubFailure(reason: string): string {
  return [`echo ${grubWord(`metalbox: ${reason}`)}`, 'exit 1', ''].join('\n');
}
