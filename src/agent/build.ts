import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { MetalboxError } from '../lib/errors.js';
import { type ArchiveEntry, newcArchive } from './cpio.js';
import { elfLinking } from './elf.js';

/** The agent's own files in the repository (dist/src/agent → agent/). */
export const AGENT_SOURCE_DIR = fileURLToPath(new URL('../../../agent/', import.meta.url));

/**
 * The drivers the agent loads when their hardware is present: common server NICs and
 * storage controllers, QEMU's virtio devices, and what booting from USB or an ISO needs.
 * Their dependencies come along (modules.dep); everything else of the kernel stays out.
 */
export const AGENT_MODULES = [
  // NICs
  'e1000e',
  'igb',
  'igc',
  'ixgbe',
  'i40e',
  'ice',
  'iavf',
  'bnxt_en',
  'tg3',
  'bnx2x',
  'mlx4_en',
  'mlx5_core',
  'qede',
  'be2net',
  'r8169',
  'e1000',
  'virtio_net',
  // storage
  'ahci',
  'ata_piix',
  'nvme',
  'megaraid_sas',
  'mpt3sas',
  'mpi3mr',
  'smartpqi',
  'hpsa',
  'aacraid',
  'virtio_blk',
  'virtio_scsi',
  'sd_mod',
  'sr_mod',
  'uas',
  'usb_storage',
  // buses and what the agent reads or writes
  'virtio_pci',
  'xhci_pci',
  'ehci_pci',
  'vfat',
  'nls_cp437',
  'nls_ascii',
  'isofs',
  'efivarfs',
] as const;

/**
 * Tools busybox lacks, taken from their Debian packages with the libraries they link
 * (read from their ELF headers, src/agent/elf.ts).
 */
export const AGENT_TOOLS = [
  // The config drive's partition goes after the image's own: sfdisk appends to GPT and MBR
  // alike, and moves a GPT's backup header to the end of a disk larger than the image.
  { package: 'fdisk', path: 'sbin/sfdisk' },
  // raw.zst images: busybox unpacks gzip and xz, not zstd.
  { package: 'zstd', path: 'usr/bin/zstd' },
  // The switch port of each NIC: busybox cannot read raw frames, tcpdump catches one LLDP frame.
  { package: 'tcpdump', path: 'usr/bin/tcpdump' },
  // Secure erase (deprovision --secure): NVMe Format NVM, and ATA SECURITY ERASE UNIT.
  { package: 'nvme-cli', path: 'usr/sbin/nvme' },
  { package: 'hdparm', path: 'sbin/hdparm' },
] as const;

/** The packages the tools' libraries and the dynamic loader come from: the build names any library none of them holds. */
export const AGENT_LIBRARY_PACKAGES = [
  'libc6',
  'libfdisk1',
  'libsmartcols1',
  'libblkid1',
  'libuuid1',
  'libreadline8',
  'libtinfo6',
  'zlib1g',
  'liblzma5',
  'liblz4-1',
  'libpcap0.8',
  'libssl3',
  'libdbus-1-3',
  'libsystemd0',
  'libcap2',
  'libgcrypt20',
  'libgpg-error0',
  'libzstd1',
  'libnvme1',
  'libjson-c5',
] as const;

/**
 * The CPUs the agent is built for, in Debian's architecture names: the kernel's meta
 * package, where the dynamic loader looks first (Debian's ld.so searches that directory
 * with no ld.so.cache), and GRUB's name for the CPU (its `${grub_cpu}`). Every package comes in the architecture's build (apt-get download
 * name:arch, never installed); modules a kernel does not build (ata_piix on arm64) are left out.
 */
export const AGENT_ARCHITECTURES = {
  amd64: { kernel: 'linux-image-amd64', libraryDir: 'lib/x86_64-linux-gnu', grubCpu: 'x86_64' },
  arm64: { kernel: 'linux-image-arm64', libraryDir: 'lib/aarch64-linux-gnu', grubCpu: 'arm64' },
} as const;
export type AgentArch = keyof typeof AGENT_ARCHITECTURES;
export const AGENT_ARCHES = Object.keys(AGENT_ARCHITECTURES) as AgentArch[];

/** Where a data dir keeps agent images and the packages they are made from. */
export function agentCacheDir(dataDir: string): string {
  return join(dataDir, 'agent');
}

/** Bumped when the image's layout changes without its inputs changing. */
const LAYOUT_VERSION = 5;
/** Every file in the image has this mtime: reproducible bytes need a fixed one. */
const MTIME = 0;

export interface DebianPackage {
  name: string;
  /** Debian's architecture of the .deb (arm64, amd64, all). */
  architecture: string;
  version: string;
  sha256: string;
}

export interface AgentManifest {
  /** sha256 over every input: the image's name in the cache. */
  key: string;
  /** The CPU it runs on (images built before there was a choice lack it: amd64). */
  arch: AgentArch;
  kernel: DebianPackage & { release: string };
  busybox: DebianPackage;
  /** The tools' and their libraries' packages. */
  tools: DebianPackage[];
  modules: string[];
  bytes: { kernel: number; initrd: number };
  sha256: { kernel: string; initrd: string };
}

export interface AgentImage {
  dir: string;
  kernel: string;
  initrd: string;
  manifest: AgentManifest;
  /** False when the cache already held it. */
  built: boolean;
}

/**
 * `metalbox agent build`: Debian's kernel for real hardware and busybox-static, unpacked
 * from their packages (apt-get download, never installed), the drivers of AGENT_MODULES and
 * the agent program in a reproducible initramfs. Cached under `cacheDir/<key>`, where the
 * key hashes the package versions and checksums, the agent's files and this layout: the
 * same inputs name the same directory, and give the same bytes when built again.
 */
export function buildAgentImage(cacheDir: string, log: (line: string) => void = () => {}, arch: AgentArch = 'amd64'): AgentImage {
  const [kernelPackage, busyboxPackage, ...toolPackages] = debianPackages(
    [
      dependencyOf(AGENT_ARCHITECTURES[arch].kernel, arch),
      'busybox-static',
      ...new Set([...AGENT_TOOLS.map((tool) => tool.package), ...AGENT_LIBRARY_PACKAGES]),
    ],
    arch,
  ) as [DebianPackage, DebianPackage, ...DebianPackage[]];
  // depmod runs here, on this machine's CPU: the image's busybox when the CPUs match, else this machine's busybox-static.
  const hostArch = apt(['dpkg', '--print-architecture']).trim();
  const hostBusyboxPackage = hostArch === arch ? null : debianPackages(['busybox-static'], hostArch)[0]!;
  const sources = agentSources();
  const key = sha256(
    JSON.stringify({
      LAYOUT_VERSION,
      arch,
      kernelPackage,
      busyboxPackage,
      toolPackages,
      tools: AGENT_TOOLS,
      modules: AGENT_MODULES,
      sources: sources.map(([path, data]) => [path, sha256(data)]),
    }),
  );
  const dir = join(cacheDir, key.slice(0, 16));
  const cached = readManifest(dir);
  if (cached?.key === key) return { dir, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.gz'), manifest: cached, built: false };

  mkdirSync(cacheDir, { recursive: true });
  const packages = join(cacheDir, 'packages');
  const kernelDeb = download(kernelPackage, packages, log);
  const busyboxDeb = download(busyboxPackage, packages, log);
  const hostBusyboxDeb = hostBusyboxPackage === null ? null : download(hostBusyboxPackage, packages, log);
  const toolDebs = toolPackages.map((pkg) => download(pkg, packages, log));
  const work = mkdtempSync(join(cacheDir, '.build-'));
  try {
    log(`unpacking ${kernelPackage.name} ${kernelPackage.version}`);
    const kernelRoot = join(work, 'kernel');
    mkdirSync(kernelRoot);
    unpack(kernelDeb, kernelRoot, [
      './boot/vmlinuz-*',
      './lib/modules/*/kernel/drivers/*',
      // t10-pi, which nvme-core needs (block integrity).
      './lib/modules/*/kernel/block/*',
      './lib/modules/*/kernel/fs/*',
      './lib/modules/*/kernel/lib/*',
      './lib/modules/*/kernel/crypto/*',
      './lib/modules/*/kernel/net/*',
      './lib/modules/*/modules.order',
      './lib/modules/*/modules.builtin',
      './lib/modules/*/modules.builtin.modinfo',
    ]);
    const busyboxRoot = join(work, 'busybox');
    mkdirSync(busyboxRoot);
    unpack(busyboxDeb, busyboxRoot, ['./bin/busybox']);
    const busybox = join(busyboxRoot, 'bin/busybox');
    let depmod = busybox;
    if (hostBusyboxDeb !== null) {
      const hostRoot = join(work, 'host-busybox');
      mkdirSync(hostRoot);
      unpack(hostBusyboxDeb, hostRoot, ['./bin/busybox']);
      depmod = join(hostRoot, 'bin/busybox');
    }
    const toolsRoot = join(work, 'tools');
    mkdirSync(toolsRoot);
    for (const deb of toolDebs) unpack(deb, toolsRoot, []);

    const [release] = readdirSync(join(kernelRoot, 'lib/modules'));
    if (release === undefined) throw new MetalboxError('E_AGENT_BUILD', `${kernelPackage.name} holds no /lib/modules`);
    const modulesDir = join(kernelRoot, 'lib/modules', release);
    // The .deb leaves modules.dep to its postinst's depmod; busybox's makes it here.
    execFileSync(depmod, ['depmod', '-b', kernelRoot, release]);
    const dependencies = parseModulesDep(readFileSync(join(modulesDir, 'modules.dep'), 'utf8'));
    const chosen = moduleClosure(dependencies, AGENT_MODULES);
    // busybox's depmod leaves out, silently, a dependency whose module was not unpacked:
    // the driver would then fail to load on the machine (nvme-core without t10-pi did).
    const builtinList = readFileSync(join(modulesDir, 'modules.builtin'));
    const builtin = new Set(builtinList.toString('utf8').split('\n').filter(Boolean).map(moduleName));
    const present = new Set([...chosen.map(moduleName), ...builtin]);
    const moduleBytes = new Map(chosen.map((module) => [module, readFileSync(join(modulesDir, module))]));
    for (const [module, bytes] of moduleBytes) {
      const missing = modinfoDepends(bytes).filter((name) => !present.has(moduleName(name)));
      if (missing.length > 0)
        throw new MetalboxError('E_AGENT_BUILD', `${module} depends on ${missing.join(', ')}, which the image would lack`);
    }
    log(`${chosen.length} kernel modules for ${AGENT_MODULES.length} drivers`);

    const entries: ArchiveEntry[] = [];
    const directories = new Set<string>();
    const directory = (path: string) => {
      if (path === '') return;
      const parts = path.split('/');
      for (let depth = 1; depth <= parts.length; depth++) {
        const parent = parts.slice(0, depth).join('/');
        if (!directories.has(parent)) {
          directories.add(parent);
          entries.push({ path: parent, kind: 'directory' });
        }
      }
    };
    const file = (path: string, data: Buffer, mode = 0o644) => {
      directory(path.split('/').slice(0, -1).join('/'));
      entries.push({ path, kind: 'file', mode, data });
    };
    for (const name of ['dev', 'proc', 'sys', 'run', 'tmp', 'etc']) directory(name);
    // tcpdump -Z root looks its user up (glibc reads /etc/passwd with no nsswitch.conf).
    file('etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\n'));
    file('bin/busybox', readFileSync(busybox), 0o755);
    entries.push({ path: 'bin/sh', kind: 'symlink', target: 'busybox' });
    for (const [path, data] of sources) file(path, data, 0o755);
    for (const [path, data] of toolFiles(toolsRoot, AGENT_ARCHITECTURES[arch].libraryDir)) file(path, data, 0o755);
    const moduleRoot = `lib/modules/${release}`;
    for (const [module, bytes] of moduleBytes) file(`${moduleRoot}/${module}`, bytes);
    // Only the chosen modules' lines: busybox modprobe reads both files.
    file(
      `${moduleRoot}/modules.dep`,
      Buffer.from(`${chosen.map((module) => `${module}: ${(dependencies.get(module) ?? []).join(' ')}`.trimEnd()).join('\n')}\n`),
    );
    const names = new Set(chosen.map(moduleName));
    const aliases = readFileSync(join(modulesDir, 'modules.alias'), 'utf8')
      .split('\n')
      .filter((line) => names.has(line.split(' ').at(-1) ?? ''))
      .sort();
    file(`${moduleRoot}/modules.alias`, Buffer.from(`${aliases.join('\n')}\n`));
    file(`${moduleRoot}/modules.builtin`, builtinList);

    const initrd = gzipSync(newcArchive(entries, MTIME), { level: 9 });
    const [vmlinuz] = readdirSync(join(kernelRoot, 'boot')).filter((name) => name.startsWith('vmlinuz-'));
    if (vmlinuz === undefined) throw new MetalboxError('E_AGENT_BUILD', `${kernelPackage.name} holds no /boot/vmlinuz`);
    const kernel = readFileSync(join(kernelRoot, 'boot', vmlinuz));

    const staging = join(work, 'image');
    mkdirSync(staging);
    writeFileSync(join(staging, 'vmlinuz'), kernel);
    writeFileSync(join(staging, 'initrd.gz'), initrd);
    const manifest: AgentManifest = {
      key,
      arch,
      kernel: { ...kernelPackage, release },
      busybox: busyboxPackage,
      tools: toolPackages,
      modules: chosen.map(moduleName),
      bytes: { kernel: kernel.length, initrd: initrd.length },
      sha256: { kernel: sha256(kernel), initrd: sha256(initrd) },
    };
    writeFileSync(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    // Whole or not at all: a crash mid-build leaves a .build- directory, never a half image.
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
    return { dir, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.gz'), manifest, built: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * AGENT_TOOLS with every library they need, from the unpacked packages: the tools at
 * their paths, the libraries in `libraryDir` under their sonames, the loader at the path
 * the binaries name. A library no package provides fails the build, naming it.
 */
function toolFiles(root: string, libraryDir: string): Array<[string, Buffer]> {
  const files = new Map<string, Buffer>();
  const searched = [libraryDir, `usr/${libraryDir}`, 'lib', 'usr/lib'];
  const add = (path: string, data: Buffer, from: string) => {
    if (files.has(path)) return;
    files.set(path, data);
    const linking = elfLinking(data, from);
    if (linking.interpreter !== null) {
      const loader = linking.interpreter.replace(/^\//, '');
      add(loader, readFileSync(join(root, realPathIn(root, loader))), linking.interpreter);
    }
    for (const soname of linking.needed) {
      const found = searched.map((dir) => `${dir}/${soname}`).find((path) => existsSync(join(root, path)));
      if (found === undefined)
        throw new MetalboxError('E_AGENT_BUILD', `${from} needs ${soname}, which no package of AGENT_LIBRARY_PACKAGES holds`);
      add(`${libraryDir}/${soname}`, readFileSync(join(root, realPathIn(root, found))), soname);
    }
  };
  for (const tool of AGENT_TOOLS) add(tool.path, readFileSync(join(root, tool.path)), tool.path);
  return [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * `path` inside `root` with its symlinks followed inside `root`: the loader is
 * lib64/ld-linux-x86-64.so.2 → /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2, absolute.
 */
function realPathIn(root: string, path: string): string {
  let current = path;
  for (let hops = 0; hops < 16; hops++) {
    const full = join(root, current);
    if (!lstatSync(full).isSymbolicLink()) return current;
    const target = readlinkSync(full);
    current = target.startsWith('/') ? target.slice(1) : join(dirname(current), target);
  }
  throw new MetalboxError('E_AGENT_BUILD', `${path}: too many symlinks`);
}

/** The agent program and its /init, as they go into the image. */
function agentSources(): Array<[string, Buffer]> {
  return [
    ['init', readFileSync(join(AGENT_SOURCE_DIR, 'init'))],
    ['usr/bin/metalbox-agent', readFileSync(join(AGENT_SOURCE_DIR, 'metalbox-agent'))],
  ];
}

/** modules.dep: "kernel/path/a.ko: kernel/path/b.ko …", one line a module. */
export function parseModulesDep(text: string): Map<string, string[]> {
  const dependencies = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    dependencies.set(
      line.slice(0, colon).trim(),
      line
        .slice(colon + 1)
        .split(/\s+/)
        .filter(Boolean),
    );
  }
  return dependencies;
}

/**
 * The modules a module needs as the kernel's build recorded them: the `depends=` entry of
 * its .modinfo section (NUL-separated key=value strings), comma-separated names.
 */
export function modinfoDepends(module: Buffer): string[] {
  const key = Buffer.from('\0depends=');
  const at = module.indexOf(key);
  if (at < 0) return [];
  const start = at + key.length;
  const end = module.indexOf(0, start);
  return module
    .subarray(start, end < 0 ? module.length : end)
    .toString('latin1')
    .split(',')
    .filter(Boolean);
}

/** "kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko" → "e1000e"; dashes and underscores are one to modprobe. */
function moduleName(path: string): string {
  return (path.split('/').at(-1) ?? path).replace(/\.ko(\.[a-z]+)?$/, '').replace(/-/g, '_');
}

/**
 * The modules named and everything they depend on, in path order. A name the kernel does
 * not build as a module (built in, or gone from this release) is left out: the kernel
 * has it already or the hardware is not supported, and the agent boots either way.
 */
export function moduleClosure(dependencies: ReadonlyMap<string, readonly string[]>, wanted: readonly string[]): string[] {
  const byName = new Map([...dependencies.keys()].map((path) => [moduleName(path), path]));
  const chosen = new Set<string>();
  const add = (path: string) => {
    if (chosen.has(path)) return;
    chosen.add(path);
    for (const dependency of dependencies.get(path) ?? []) add(dependency);
  };
  for (const name of wanted) {
    const path = byName.get(name.replace(/-/g, '_'));
    if (path !== undefined) add(path);
  }
  return [...chosen].sort();
}

function readManifest(dir: string): AgentManifest | null {
  try {
    return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as AgentManifest;
  } catch {
    return null;
  }
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function apt(args: string[], cwd?: string): string {
  try {
    return execFileSync(args[0]!, args.slice(1), { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new MetalboxError(
      'E_AGENT_BUILD',
      `${args.join(' ')} failed${stderr ? `: ${stderr.split('\n').at(-1)}` : ''} (is this Debian with apt sources? run apt-get update)`,
    );
  }
}

/** linux-image-amd64 → linux-image-6.1.0-57-amd64: the meta package's kernel of today, for `arch`. */
function dependencyOf(meta: string, arch: AgentArch): string {
  const name = /Depends: (linux-image-[^\s:]+)/.exec(apt(['apt-cache', 'depends', `${meta}:${arch}`]))?.[1];
  if (name === undefined)
    throw new MetalboxError(
      'E_AGENT_BUILD',
      `apt-cache depends ${meta}:${arch} names no kernel package (run apt-get update${arch === 'arm64' ? '; for arm64 first dpkg --add-architecture arm64' : ''})`,
    );
  return name;
}

/** The candidate version of each package for `arch` with the checksum of its .deb, as the apt sources list them (one apt-cache run). */
function debianPackages(names: readonly string[], arch: string): DebianPackage[] {
  const records = apt(['apt-cache', 'show', '--no-all-versions', ...names.map((name) => `${name}:${arch}`)]).split(/\n\n+/);
  return names.map((name) => {
    const record =
      records.find(
        (text) =>
          new RegExp(`^Package: ${name.replace(/[.+]/g, '\\$&')}$`, 'm').test(text) && /^Architecture: (\S+)$/m.exec(text)?.[1] === arch,
      ) ?? '';
    const field = (key: string) => new RegExp(`^${key}: (.+)$`, 'm').exec(record)?.[1]?.trim();
    const version = field('Version');
    const checksum = field('SHA256');
    if (version === undefined || checksum === undefined)
      throw new MetalboxError('E_AGENT_BUILD', `apt-cache show ${name}:${arch}: no Version or SHA256`);
    return { name, architecture: arch, version, sha256: checksum };
  });
}

/** The package's .deb in `dir`, downloaded unless a file with its checksum is there. */
function download(pkg: DebianPackage, dir: string, log: (line: string) => void): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${pkg.name}_${pkg.version.replace(/^\d+:/, '')}_${pkg.architecture}.deb`);
  if (existsSync(path) && sha256(readFileSync(path)) === pkg.sha256) return path;
  log(`downloading ${pkg.name} ${pkg.version}`);
  const work = mkdtempSync(join(dir, '.download-'));
  try {
    // As root, apt warns that its sandbox user cannot write here; the download is the same.
    apt(['apt-get', 'download', '-q', `${pkg.name}:${pkg.architecture}=${pkg.version}`], work);
    const [file] = readdirSync(work).filter((name) => name.endsWith('.deb'));
    if (file === undefined) throw new MetalboxError('E_AGENT_BUILD', `apt-get download ${pkg.name} wrote no .deb`);
    const got = sha256(readFileSync(join(work, file)));
    if (got !== pkg.sha256) throw new MetalboxError('E_AGENT_BUILD', `${file}: sha256 ${got}, the apt sources say ${pkg.sha256}`);
    copyFileSync(join(work, file), path);
    return path;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function unpack(deb: string, into: string, patterns: string[]): void {
  const script = 'deb=$1 into=$2; shift 2; dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$into" --wildcards "$@"';
  execFileSync('sh', ['-c', script, 'unpack', deb, into, ...patterns], { stdio: ['ignore', 'ignore', 'pipe'] });
}
