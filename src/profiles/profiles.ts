import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MetalboxError } from '../lib/errors.js';
import { Template, TemplateError, type TemplateVariables } from './template.js';
import { hasControlCharacters, withoutControlCharacters } from '../lib/text.js';
import { grubKernelConfig } from './grub.js';

/** What boots a machine's profile: iPXE (an iPXE script), or Debian's signed shim and GRUB (a grub.cfg), which Secure Boot accepts. */
export type Loader = 'ipxe' | 'grub';
export const LOADERS: readonly Loader[] = ['ipxe', 'grub'];

/**
 * A boot profile as the config file holds it (docs/contracts.md, Profiles): a kernel with
 * initrds and a command line, a whole iPXE script, or a disk image metalbox's agent writes;
 * any of them with per-machine metadata files.
 */
export interface ProfileConfig {
  kernel?: string;
  initrd?: string | string[];
  cmdline?: string;
  script?: string;
  image?: ImageConfig;
  /** The loader its machines boot with (default: netboot.loader); for an image profile, the loader that boots the agent that writes it. */
  loader?: Loader;
  /** Templated files by name (user-data, meta-data, network-config, an Ignition or preseed file), at {{ metadataUrl }}<name>. */
  metadata?: Record<string, string>;
}

export const IMAGE_FORMATS = ['raw', 'raw.gz', 'raw.xz', 'raw.zst'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** A disk image: where it is, its checksum (required: the agent refuses to leave a disk it cannot verify), its compression, and which disk. */
export interface ImageConfig {
  /** A path under --assets-dir, or an http(s) URL. */
  url: string;
  sha256: string;
  format: ImageFormat;
  rootDevice?: RootDeviceHints;
}

/**
 * Which disk an image goes to, in the spirit of Ironic's root device hints
 * (src/agent/root-device.ts applies them): every hint given must hold, then `pick`
 * chooses among the disks left.
 */
export interface RootDeviceHints {
  /** The disk's model contains this text (case does not matter). */
  model?: string;
  /** The disk's serial, exactly. */
  serial?: string;
  /** The disk's WWN, exactly. */
  wwn?: string;
  /** Its stable path, as /dev/disk/by-path/ names it (with or without that prefix). */
  byPath?: string;
  minSizeGiB?: number;
  maxSizeGiB?: number;
  rotational?: boolean;
  /** Among the disks every hint fits: the smallest (default), the largest, or the first by stable path. */
  pick?: 'smallest' | 'largest' | 'first';
}

/** An image profile's image, checked: its URL for a machine given the base of its /assets/ URLs, and the asset it is when served from --assets-dir. */
export interface ProfileImage {
  asset: string | null;
  url(filesUrl: string): string;
  sha256: string;
  format: ImageFormat;
  rootDevice: RootDeviceHints;
}

/** A profile checked and compiled at start-up; rendering it is pure string work. */
export interface Profile {
  name: string;
  /** Paths under --assets-dir this profile boots, to tell kernel from initrd in the boot events. */
  assets: { kernel: string | null; initrds: string[] };
  /**
   * Whether its templates name machine.*: only then does a script need the machine's
   * record, a query the script path otherwise skips (it was a quarter of its time).
   */
  readsMachine: boolean;
  /** The loader its machines boot with (ProxyDHCP's answer to UEFI clients). */
  loader: Loader;
  /** Why only iPXE can boot it (an iPXE script, or a file named by URL, which GRUB cannot read); null when GRUB can too. */
  ipxeOnly: string | null;
  /** The whole iPXE script for one booting machine; throws TemplateError when a name has no value (or for an image profile, which the agent boots). */
  script(variables: TemplateVariables): string;
  /** The same boot as GRUB's grub.cfg (profiles/grub.ts); TemplateError where only iPXE can boot it (a profile that is an iPXE script). */
  grub(variables: TemplateVariables): string;
  /** The image metalbox's agent writes, for a profile of kind image; null for one that boots an installer. */
  image: ProfileImage | null;
  /** The names of its metadata files. */
  metadataNames: readonly string[];
  /** One metadata file for one machine; null when the profile has no file of that name. */
  metadata(name: string, variables: TemplateVariables): string | null;
}

/** The loader a machine boots with, and why when it is not the one asked for; or why it gets none. */
export type LoaderChoice = { loader: Loader; because?: string } | { refused: string };

/**
 * The loader for a machine that wants `wanted`: its own, unless the machine enforces Secure
 * Boot (its agent read the firmware's SecureBoot variable) and `wanted` is iPXE, which is not
 * signed and which the firmware would refuse: then Debian's signed shim and GRUB when GRUB
 * can boot `profile` (null: nothing of a profile's, as a local boot), else no loader at all
 * and the reason, so the machine's timeline says why it did not boot.
 */
export function chooseLoader(wanted: Loader, secureBoot: boolean, profile: Profile | null): LoaderChoice {
  if (!secureBoot || wanted === 'grub') return { loader: wanted };
  if (profile?.ipxeOnly == null) return { loader: 'grub', because: 'Secure Boot is on (its agent read it): the signed GRUB, not iPXE' };
  return {
    refused: `Secure Boot is on (its agent read it) and profile ${profile.name} boots with iPXE only (${profile.ipxeOnly}), which is not signed: serve its kernel and initrds from --assets-dir, or turn Secure Boot off`,
  };
}

/** What a profile boots: an installer (kernel or script), or an image the agent writes. */
export function profileKind(profile: Profile): 'install' | 'image' {
  return profile.image === null ? 'install' : 'image';
}

export interface ProfileOptions {
  assetsDir?: string | undefined;
  /** The profile machines PXE discovery found boot (boot.unknown: discover) instead of metalbox's agent. */
  discoveryProfile?: string | undefined;
  /** The loader of profiles that name none (netboot.loader). */
  loader?: Loader;
  /** Told about each relative kernel or initrd path missing under --assets-dir: not fatal, the files may come later. */
  warn?: (message: string) => void;
}

/** The built-in profile that boots metalbox's agent (src/agent/profile.ts); a config profile cannot take the name. */
export const AGENT_PROFILE = 'metalbox-agent';

/** Checks every profile of the config and compiles its templates; errors name the profile and what to fix. */
export function compileProfiles(configs: Record<string, ProfileConfig>, options: ProfileOptions = {}): Map<string, Profile> {
  const profiles = new Map<string, Profile>();
  for (const [name, config] of Object.entries(configs)) {
    if (name === AGENT_PROFILE) throw new MetalboxError('E_CONFIG', `profile ${name}: the name is metalbox's own agent's; choose another`);
    try {
      profiles.set(name, compileProfile(name, config, options));
    } catch (error) {
      if (error instanceof TemplateError) throw new MetalboxError('E_CONFIG', `profile ${name}: ${error.message}`);
      throw error;
    }
  }
  const discovery = options.discoveryProfile;
  if (discovery !== undefined && !profiles.has(discovery))
    throw new MetalboxError('E_CONFIG', `boot.discoveryProfile names profile ${discovery}, which the config does not define`);
  return profiles;
}

/**
 * The config drive of an image profile that names no files of its own: NoCloud's two
 * (cloud-init reads a CIDATA filesystem only when both are there), the machine's id as its
 * instance and host name, and the first boot's `booted` callback that makes it active.
 */
const IMAGE_METADATA: Readonly<Record<string, string>> = {
  'meta-data': 'instance-id: {{ machine.id }}\nlocal-hostname: {{ machine.id }}\n',
  'user-data': [
    '#cloud-config',
    '# metalbox: the first boot from the disk reports booted (the machine becomes active)',
    'phone_home:',
    '  url: "{{ callbackUrl }}?event=booted"',
    '  post: [instance_id, hostname]',
    '  tries: 10',
    '',
  ].join('\n'),
};

function compileProfile(name: string, config: ProfileConfig, options: ProfileOptions): Profile {
  const loader = config.loader ?? options.loader ?? 'ipxe';
  if (!LOADERS.includes(loader))
    throw new MetalboxError('E_CONFIG', `profile ${name}: loader ${String(loader)}: one of ${LOADERS.join(', ')}`);
  const files = config.metadata ?? (config.image !== undefined ? IMAGE_METADATA : {});
  const metadata = new Map(Object.entries(files).map(([file, source]) => [file, new Template(source)]));
  const withMetadata = (
    profile: Omit<Profile, 'image' | 'metadataNames' | 'metadata' | 'loader' | 'ipxeOnly'>,
    image: ProfileImage | null = null,
    ipxeOnly: string | null = null,
  ): Profile => ({
    ...profile,
    loader,
    ipxeOnly,
    image,
    readsMachine: profile.readsMachine || [...metadata.values()].some((template) => template.names.some((n) => n.startsWith('machine'))),
    metadataNames: [...metadata.keys()],
    metadata: (file, variables) => metadata.get(file)?.render(variables) ?? null,
  });
  if (config.image !== undefined) {
    if (config.kernel !== undefined || config.initrd !== undefined || config.cmdline !== undefined || config.script !== undefined)
      throw new MetalboxError(
        'E_CONFIG',
        `profile ${name}: an image profile is written by metalbox's agent: no kernel, initrd, cmdline or script`,
      );
    const { url, sha256, format, rootDevice = {} } = config.image;
    if (!/^[0-9a-f]{64}$/.test(sha256))
      throw new MetalboxError('E_CONFIG', `profile ${name}: image sha256 must be 64 lowercase hex digits`);
    if (!IMAGE_FORMATS.includes(format))
      throw new MetalboxError('E_CONFIG', `profile ${name}: image format ${String(format)}: one of ${IMAGE_FORMATS.join(', ')}`);
    const file = bootFile(name, 'image', url, options);
    return withMetadata(
      {
        name,
        assets: { kernel: null, initrds: [] },
        readsMachine: false,
        script: () => {
          throw new TemplateError(`profile ${name} is an image: metalbox's agent writes it, no installer boots`);
        },
        grub: () => {
          throw new TemplateError(`profile ${name} is an image: metalbox's agent writes it, no installer boots`);
        },
      },
      { asset: file.asset, url: file.url, sha256, format, rootDevice },
    );
  }
  if (config.script !== undefined) {
    if (config.kernel !== undefined || config.initrd !== undefined || config.cmdline !== undefined) {
      throw new MetalboxError('E_CONFIG', `profile ${name}: give either script, or kernel with initrd and cmdline, not both`);
    }
    if (!config.script.trimStart().startsWith('#!ipxe'))
      throw new MetalboxError('E_CONFIG', `profile ${name}: script must start with #!ipxe`);
    if (loader === 'grub')
      throw new MetalboxError(
        'E_CONFIG',
        `profile ${name}: an iPXE script boots with iPXE only; for loader grub give kernel, initrd and cmdline (or loader: ipxe)`,
      );
    const template = new Template(config.script);
    return withMetadata(
      {
        name,
        assets: { kernel: null, initrds: [] },
        readsMachine: readsMachine(config),
        script: (variables) => template.render(variables),
        grub: () => {
          throw new TemplateError(`profile ${name} is an iPXE script: it boots with iPXE only`);
        },
      },
      null,
      'it is an iPXE script',
    );
  }
  if (config.kernel === undefined)
    throw new MetalboxError('E_CONFIG', `profile ${name}: needs a kernel (with initrd and cmdline), a script or an image`);
  const kernel = bootFile(name, 'kernel', config.kernel, options);
  const initrds = (typeof config.initrd === 'string' ? [config.initrd] : (config.initrd ?? [])).map((initrd) =>
    bootFile(name, 'initrd', initrd, options),
  );
  const cmdline = new Template(config.cmdline ?? '');
  // Each initrd is named by its file's basename, as iPXE names an image by default: a
  // command line written for that (Debian's `initrd=initrd.gz`) keeps working.
  const names = initrds.map((initrd) => initrd.basename);
  const duplicate = names.find((initrdName, index) => names.indexOf(initrdName) !== index);
  if (duplicate !== undefined)
    throw new MetalboxError(
      'E_CONFIG',
      `profile ${name}: two initrds are named ${duplicate}; the kernel tells them apart by file name only`,
    );
  // The Linux EFI stub loads initrds by the names on its command line, and older ipxe.efi
  // builds pass none otherwise (BIOS kernels ignore them): added unless the command line names its own.
  const namesOwnInitrds = /(^|\s)initrd=/.test(config.cmdline ?? '');
  // Debian's signed GRUB reads over TFTP only (it carries no HTTP client): metalbox serves
  // the files under --assets-dir there too, and nothing else.
  const urlFile = [kernel, ...initrds].find((file) => file.asset === null);
  const ipxeOnly = urlFile === undefined ? null : `it names ${urlFile.url('')}, and GRUB reads files over TFTP from metalbox only`;
  if (loader === 'grub' && urlFile !== undefined)
    throw new MetalboxError(
      'E_CONFIG',
      `profile ${name}: loader grub reads files over TFTP from metalbox only (Debian's signed GRUB has no HTTP): ${urlFile.url('')} must be a path under --assets-dir`,
    );
  return withMetadata(
    {
      name,
      assets: { kernel: kernel.asset, initrds: initrds.flatMap((initrd) => (initrd.asset === null ? [] : [initrd.asset])) },
      readsMachine: readsMachine(config),
      script(variables) {
        const line = [
          kernel.url(variables.filesUrl),
          ...(namesOwnInitrds ? [] : names.map((initrd) => `initrd=${initrd}`)),
          cmdline.render(variables),
        ]
          .filter(Boolean)
          .join(' ');
        return [
          '#!ipxe',
          `echo metalbox: ${variables.machineId ?? 'unknown machine'} (${variables.mac}) boots profile ${name}`,
          `kernel ${line} || goto failed`,
          ...initrds.map((initrd, index) => `initrd --name ${names[index]} ${initrd.url(variables.filesUrl)} || goto failed`),
          'boot || goto failed',
          ':failed',
          `echo metalbox: profile ${name} did not boot; leaving it to the firmware's next boot entry`,
          'exit 1',
          '',
        ].join('\n');
      },
      grub(variables) {
        if (ipxeOnly !== null) throw new TemplateError(`profile ${name}: GRUB cannot boot it: ${ipxeOnly}`);
        return grubKernelConfig({
          banner: `metalbox: ${variables.machineId ?? 'unknown machine'} (${variables.mac}) boots profile ${name}`,
          kernelPath: `/assets/${kernel.asset}`,
          initrdPaths: initrds.map((initrd) => `/assets/${initrd.asset}`),
          cmdline: cmdline.render(variables),
          failure: `metalbox: profile ${name} did not boot; leaving it to the firmware's next boot entry`,
        });
      },
    },
    null,
    ipxeOnly,
  );
}

interface BootFile {
  /** The path under --assets-dir, or null for a URL served elsewhere. */
  asset: string | null;
  /** The file's name, the last segment of its path or URL (what iPXE names the image by). */
  basename: string;
  /** Its URL given the base of the machine's /assets/ URLs (a URL served elsewhere is itself). */
  url(filesUrl: string): string;
}

function bootFile(profile: string, what: string, reference: string, options: ProfileOptions): BootFile {
  if (/^https?:\/\//i.test(reference)) {
    if (/\s/.test(reference) || hasControlCharacters(reference))
      throw new MetalboxError(
        'E_CONFIG',
        `profile ${profile}: ${what} URL ${JSON.stringify(reference)} holds spaces or control characters`,
      );
    const basename = new URL(reference).pathname.split('/').at(-1) ?? '';
    if (!/^[\w.+-]+$/.test(basename))
      throw new MetalboxError('E_CONFIG', `profile ${profile}: ${what} URL ${reference} must end in a file name (letters, digits, ._+-)`);
    return { asset: null, basename, url: () => reference };
  }
  const segments = reference.split('/');
  if (
    reference.startsWith('/') ||
    reference.includes('\\') ||
    segments.some((segment) => segment === '' || segment === '.' || segment === '..')
  ) {
    throw new MetalboxError(
      'E_CONFIG',
      `profile ${profile}: ${what} ${JSON.stringify(reference)} must be an http(s) URL or a relative path under --assets-dir (no leading /, no . or .. segments)`,
    );
  }
  if (options.assetsDir === undefined) {
    throw new MetalboxError(
      'E_CONFIG',
      `profile ${profile}: ${what} ${reference} is a path under --assets-dir, and --assets-dir is not set`,
    );
  }
  if (!existsSync(join(options.assetsDir, reference)))
    options.warn?.(`profile ${profile}: ${what} ${join(options.assetsDir, reference)} does not exist (yet)`);
  const encoded = segments.map(encodeURIComponent).join('/');
  const basename = segments.at(-1)!;
  if (!/^[\w.+-]+$/.test(basename))
    throw new MetalboxError('E_CONFIG', `profile ${profile}: ${what} ${reference} must end in a file name of letters, digits and ._+-`);
  return { asset: reference, basename, url: (filesUrl) => `${filesUrl}/assets/${encoded}` };
}

function templateNames(config: ProfileConfig): string[] {
  return [config.script, config.cmdline].flatMap((source) => (source === undefined ? [] : new Template(source).names));
}

function readsMachine(config: ProfileConfig): boolean {
  return templateNames(config).some((name) => name.startsWith('machine'));
}

/** Where iPXE asks for its script; BootScripts answers it. */
export const BOOT_SCRIPT_PATH = '/boot.ipxe';

/** The first script of every boot: it sends iPXE back with the booting NIC's MAC, arch and platform filled in. */
export function chainScript(serverUrl: string): string {
  return ['#!ipxe', `chain ${serverUrl}${BOOT_SCRIPT_PATH}?mac=\${mac:hexhyp}&arch=\${buildarch}&platform=\${platform}`, ''].join('\n');
}

/**
 * Boot from the local disk. `exit` hands control back to the firmware, which tries its
 * next boot entry: right on BIOS and UEFI alike. `sanboot --drive 0x80` boots the first
 * BIOS disk directly, for firmware whose next entry is not the disk; UEFI has no such
 * drive number, so it exits there too.
 */
export function localBootScript(mode: 'exit' | 'sanboot', platform: string | undefined): string {
  const command = mode === 'sanboot' && platform !== 'efi' ? 'sanboot --no-describe --drive 0x80 || exit' : 'exit';
  return ['#!ipxe', 'echo metalbox: booting from local disk', command, ''].join('\n');
}

/** What a machine gets when its script cannot be made: the reason on its console, then its next boot entry. */
export function failureScript(reason: string): string {
  return ['#!ipxe', `echo metalbox: ${withoutControlCharacters(reason).replaceAll('$', '')}`, 'exit 1', ''].join('\n');
}
