import { homedir } from 'node:os';
import { join } from 'node:path';
import { IMAGE_FORMATS, LOADERS, type Loader, type ProfileConfig } from '../profiles/profiles.js';
import type { ServerTypeConfig } from '../profiles/server-types.js';
import { TIMEOUTS, type TimedState } from '../lifecycle/lifecycle.js';

/**
 * Every setting of `metalbox serve`, in one place: its path in the config file, its flag,
 * its environment variable, its JSON schema and its default. Precedence, validation and
 * --print-config are all derived from this table.
 */
export interface Setting {
  /** Dotted path in the config file and in the effective config, e.g. `http.port`. */
  path: string;
  /** commander flag, e.g. `--http-port <n>`; absent for settings only a file can hold. */
  flag?: string;
  /** Environment variable (METALBOX_*). */
  env?: string;
  schema: Record<string, unknown>;
  default: () => unknown;
  description: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const SETTINGS: readonly Setting[] = [
  {
    path: 'dataDir',
    flag: '--data-dir <dir>',
    env: 'METALBOX_DATA_DIR',
    schema: { type: 'string', minLength: 1 },
    default: defaultDataDir,
    description: 'directory of the inventory database, API token and keys (created 0700)',
  },
  {
    path: 'listen',
    flag: '--listen <ip>',
    env: 'METALBOX_LISTEN',
    schema: { type: 'string', format: 'ip' },
    default: () => '0.0.0.0',
    description: 'address of the provisioning interface to bind',
  },
  {
    path: 'http.port',
    flag: '--http-port <n>',
    env: 'METALBOX_HTTP_PORT',
    schema: { type: 'integer', minimum: 0, maximum: 65535 },
    default: () => 8080,
    description: 'port of the HTTP server (API, iPXE scripts, assets); 0 picks a free one',
  },
  {
    path: 'api.maxEventStreams',
    env: 'METALBOX_API_MAX_EVENT_STREAMS',
    schema: { type: 'integer', minimum: 1, maximum: 10000 },
    default: () => 100,
    description: 'event streams (events --follow) open at once; past it the API answers 429',
  },
  {
    path: 'advertise',
    flag: '--advertise <ip>',
    env: 'METALBOX_ADVERTISE',
    schema: { type: 'string', format: 'ip' },
    default: () => undefined,
    description: 'address booting machines reach metalbox at (default: --listen, or the only non-loopback IPv4 address)',
  },
  {
    path: 'dhcp.proxy',
    flag: '--no-dhcp-proxy',
    env: 'METALBOX_DHCP_PROXY',
    schema: { type: 'boolean' },
    default: () => true,
    description: 'do not run the ProxyDHCP responder (UDP 67 and 4011)',
  },
  {
    path: 'dhcp.port',
    flag: '--dhcp-port <n>',
    env: 'METALBOX_DHCP_PORT',
    schema: { type: 'integer', minimum: 0, maximum: 65535 },
    default: () => 67,
    description: 'UDP port of the ProxyDHCP responder',
  },
  {
    path: 'dhcp.pxePort',
    flag: '--pxe-port <n>',
    env: 'METALBOX_PXE_PORT',
    schema: { type: 'integer', minimum: 0, maximum: 65535 },
    default: () => 4011,
    description: 'UDP port of the PXE boot server (UEFI clients ask there after a proxy offer)',
  },
  {
    path: 'tftp.enabled',
    flag: '--no-tftp',
    env: 'METALBOX_TFTP_ENABLED',
    schema: { type: 'boolean' },
    default: () => true,
    description: 'do not run the TFTP server',
  },
  {
    path: 'tftp.port',
    flag: '--tftp-port <n>',
    env: 'METALBOX_TFTP_PORT',
    schema: { type: 'integer', minimum: 0, maximum: 65535 },
    default: () => 69,
    description: 'UDP port of the TFTP server',
  },
  {
    path: 'tftp.maxBlksize',
    flag: '--tftp-max-blksize <n>',
    env: 'METALBOX_TFTP_MAX_BLKSIZE',
    schema: { type: 'integer', minimum: 512, maximum: 65464 },
    default: () => 1468,
    description: "largest TFTP block offered; never more than the provisioning link's MTU - 32",
  },
  {
    path: 'tftp.maxTransfers',
    flag: '--tftp-max-transfers <n>',
    env: 'METALBOX_TFTP_MAX_TRANSFERS',
    schema: { type: 'integer', minimum: 1, maximum: 65536 },
    default: () => 4096,
    description: 'concurrent TFTP transfers; past it clients are told to retry',
  },
  {
    path: 'tftp.threads',
    flag: '--tftp-threads <n>',
    env: 'METALBOX_TFTP_THREADS',
    schema: { type: 'integer', minimum: 0, maximum: 64 },
    default: () => 0,
    description: 'worker threads that carry TFTP transfers, one core each at most (0: the main thread carries them)',
  },
  {
    path: 'ipxeDir',
    flag: '--ipxe-dir <dir>',
    env: 'METALBOX_IPXE_DIR',
    schema: { type: 'string', minLength: 1 },
    default: () => undefined,
    description: 'directory holding undionly.kpxe, ipxe.efi and snponly.efi (searched first)',
  },
  {
    path: 'netboot.uefiBinary',
    flag: '--uefi-binary <file>',
    env: 'METALBOX_UEFI_BINARY',
    schema: { type: 'string', enum: ['snponly.efi', 'ipxe.efi'] },
    default: () => 'snponly.efi',
    description: 'iPXE binary for UEFI clients: snponly.efi (the firmware NIC driver) or ipxe.efi',
  },
  {
    path: 'netboot.loader',
    flag: '--loader <loader>',
    env: 'METALBOX_LOADER',
    schema: { type: 'string', enum: ['ipxe', 'grub'] },
    default: () => 'ipxe',
    description:
      "what UEFI machines boot when their profile names no loader, and the agent of machines without a profile: ipxe, or grub (Debian's signed shim and GRUB, for Secure Boot)",
  },
  {
    path: 'assetsDir',
    flag: '--assets-dir <dir>',
    env: 'METALBOX_ASSETS_DIR',
    schema: { type: 'string', minLength: 1 },
    default: () => undefined,
    description: 'directory whose files are served under /assets/ (kernels and initrds a profile names by relative path)',
  },
  {
    path: 'http.fileCacheMiB',
    env: 'METALBOX_HTTP_FILE_CACHE_MIB',
    schema: { type: 'integer', minimum: 0, maximum: 1048576 },
    default: () => 256,
    description:
      'memory for the most recently sent 1 MiB chunks of files under /assets/, shared by every download (an image a rack deploys at once is read once), split evenly between the HTTP port and the file threads; 0 keeps none',
  },
  {
    path: 'http.fileThreads',
    flag: '--file-threads <n>',
    env: 'METALBOX_HTTP_FILE_THREADS',
    schema: { type: 'integer', minimum: 0, maximum: 64 },
    default: () => 0,
    description:
      'worker threads that serve /assets/, each on its own port after http.port (http.port + 1, + 2, …), machines spread over them in turn; 0: the HTTP port serves every file',
  },
  {
    path: 'boot.unknown',
    flag: '--boot-unknown <mode>',
    env: 'METALBOX_BOOT_UNKNOWN',
    schema: { type: 'string', enum: ['ignore', 'discover'] },
    default: () => 'ignore',
    description:
      'machines not in the inventory: ignore (no answer at all) or discover (a record in state discovered, then the agent, or boot.discoveryProfile)',
  },
  {
    path: 'boot.discoveryProfile',
    flag: '--discovery-profile <name>',
    env: 'METALBOX_DISCOVERY_PROFILE',
    schema: { type: 'string', minLength: 1 },
    default: () => undefined,
    description: "profile machines PXE discovery found boot instead of metalbox's agent (metalbox agent build)",
  },
  {
    path: 'boot.maxDiscovered',
    flag: '--max-discovered <n>',
    env: 'METALBOX_MAX_DISCOVERED',
    schema: { type: 'integer', minimum: 1, maximum: 100000 },
    default: () => 1000,
    description: 'machines found by PXE that may wait for their agent at once; past it an unknown client is told to try later',
  },
  {
    path: 'agent.lldpSeconds',
    env: 'METALBOX_AGENT_LLDP_SECONDS',
    schema: { type: 'integer', minimum: 0, maximum: 300 },
    default: () => 30,
    description:
      "how long the agent listens on each linked port for its switch's LLDP frame before it sends the inventory (switches send one every 30 s by default); 0 listens not at all",
  },
  {
    path: 'boot.localBoot',
    flag: '--local-boot <mode>',
    env: 'METALBOX_LOCAL_BOOT',
    schema: { type: 'string', enum: ['exit', 'sanboot', '404'] },
    default: () => 'exit',
    description:
      "what a machine that should boot from disk gets: iPXE exit (the firmware's next boot entry), sanboot of the first disk, or HTTP 404",
  },
  {
    path: 'boot.addressTrust',
    flag: '--address-trust <mode>',
    env: 'METALBOX_ADDRESS_TRUST',
    schema: { type: 'string', enum: ['dhcp', 'first-use'] },
    default: () => 'dhcp',
    description:
      "which addresses get an installing machine's script and callback token: dhcp (those its DHCP packets claimed or came from) " +
      'or first-use (also the first other address asking in each operation; for networks where metalbox sees no DHCP)',
  },
  {
    path: 'profiles',
    schema: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          kernel: { type: 'string', minLength: 1 },
          initrd: {
            anyOf: [
              { type: 'string', minLength: 1 },
              { type: 'array', items: { type: 'string', minLength: 1 } },
            ],
          },
          cmdline: { type: 'string' },
          script: { type: 'string', minLength: 1 },
          loader: { enum: [...LOADERS] },
          image: {
            type: 'object',
            additionalProperties: false,
            required: ['url', 'sha256', 'format'],
            properties: {
              url: { type: 'string', minLength: 1, maxLength: 2048 },
              sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
              format: { enum: [...IMAGE_FORMATS] },
              rootDevice: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  model: { type: 'string', minLength: 1, maxLength: 128 },
                  serial: { type: 'string', minLength: 1, maxLength: 128 },
                  wwn: { type: 'string', minLength: 1, maxLength: 128 },
                  byPath: { type: 'string', minLength: 1, maxLength: 256 },
                  minSizeGiB: { type: 'number', minimum: 0 },
                  maxSizeGiB: { type: 'number', minimum: 0 },
                  rotational: { type: 'boolean' },
                  pick: { enum: ['smallest', 'largest', 'first'] },
                },
              },
            },
          },
          metadata: {
            type: 'object',
            maxProperties: 16,
            propertyNames: { pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$' },
            additionalProperties: { type: 'string', maxLength: 262144 },
          },
        },
      },
    },
    default: () => ({}),
    description:
      'boot profiles by name: kernel, initrd and cmdline, an iPXE script, or an image (url, sha256, format, rootDevice) the agent writes; ' +
      'metadata files for each; templated (see Profiles)',
  },
  {
    path: 'serverTypes',
    schema: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'match'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$' },
          match: { type: 'object', additionalProperties: { type: ['string', 'number'] } },
          profile: { type: 'string', minLength: 1 },
        },
      },
    },
    default: () => [],
    description:
      'server types: name, match (fact: value, >=N, <N, glob…) and the profile their machines install; the most specific match wins',
  },
  {
    path: 'bmc.subnets',
    schema: { type: 'array', maxItems: 64, items: { type: 'string', pattern: '^\\d+\\.\\d+\\.\\d+\\.\\d+/\\d{1,2}$' } },
    default: () => [],
    description: 'IPv4 subnets (CIDR, at most a /20 each) swept to find a BMC by MAC when nothing else knows it',
  },
  {
    path: 'bmc.sweepRate',
    flag: '--sweep-rate <n>',
    env: 'METALBOX_SWEEP_RATE',
    schema: { type: 'integer', minimum: 1, maximum: 5000 },
    default: () => 200,
    description: 'probes per second of a BMC subnet sweep',
  },
  {
    path: 'bmc.credentials',
    schema: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['macPrefix', 'username'],
        properties: {
          macPrefix: { type: 'string', minLength: 2 },
          username: { type: 'string', minLength: 1 },
          password: { type: 'string' },
          passwordFile: { type: 'string', minLength: 1 },
        },
      },
    },
    default: () => [],
    description: 'default BMC logins by MAC prefix (vendor OUI), longest prefix first: macPrefix, username, password or passwordFile',
  },
  {
    path: 'discovery.leaseFiles',
    schema: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['format', 'path'],
        properties: { format: { type: 'string', enum: ['dnsmasq', 'isc', 'kea'] }, path: { type: 'string', minLength: 1 } },
      },
    },
    default: () => [],
    description: "the site DHCP server's lease files, to find a BMC by MAC: format (dnsmasq, isc, kea) and path",
  },
  {
    path: 'unifi',
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['url', 'username'],
      properties: {
        url: { type: 'string', pattern: '^https?://' },
        username: { type: 'string', minLength: 1 },
        password: { type: 'string' },
        passwordFile: { type: 'string', minLength: 1 },
        site: { type: 'string', minLength: 1 },
        insecure: { type: 'boolean' },
      },
    },
    default: () => undefined,
    description:
      'a UniFi controller whose client list finds BMCs by MAC: url, username, password or passwordFile, site (default), insecure',
  },
  {
    path: 'snooping.maxObservations',
    env: 'METALBOX_SNOOPING_MAX_OBSERVATIONS',
    schema: { type: 'integer', minimum: 100, maximum: 10_000_000 },
    default: () => 50_000,
    description: 'DHCP observations kept (one per MAC, message type and address); past it the oldest go',
  },
  {
    path: 'snooping.maxAgeDays',
    env: 'METALBOX_SNOOPING_MAX_AGE_DAYS',
    schema: { type: 'integer', minimum: 1, maximum: 3650 },
    default: () => 30,
    description: 'days an observation is kept after it was last seen',
  },
  {
    path: 'snooping.writesPerSecond',
    env: 'METALBOX_SNOOPING_WRITES_PER_SECOND',
    schema: { type: 'integer', minimum: 10, maximum: 100_000 },
    default: () => 1000,
    description: 'observations written per second at most; past it (a flood of spoofed packets) they wait, then are dropped and counted',
  },
  {
    path: 'onboarding.concurrency',
    flag: '--onboarding-concurrency <n>',
    env: 'METALBOX_ONBOARDING_CONCURRENCY',
    schema: { type: 'integer', minimum: 1, maximum: 1000 },
    default: () => 100,
    description: 'onboardings running at once (Redfish requests are capped separately by redfish.maxInFlight)',
  },
  {
    path: 'onboarding.attempts',
    env: 'METALBOX_ONBOARDING_ATTEMPTS',
    schema: { type: 'integer', minimum: 1, maximum: 20 },
    default: () => 5,
    description: 'tries of an onboarding step that failed for a passing reason (unreachable, timeout) before the machine is marked failed',
  },
  {
    path: 'onboarding.backoffMs',
    env: 'METALBOX_ONBOARDING_BACKOFF_MS',
    schema: { type: 'integer', minimum: 10, maximum: 600000 },
    default: () => 5000,
    description: 'first retry delay of a failed onboarding step; doubled per try, with jitter',
  },
  {
    path: 'provisioning.timeouts',
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(Object.keys(TIMEOUTS).map((state) => [state, { type: 'integer', minimum: 1, maximum: 86400 }])),
    },
    default: () => ({ ...PROVISIONING_TIMEOUTS }),
    description:
      'seconds a machine may stay in each provisioning state before it is provision_failed (deploy_failed from deploying and booting, clean_failed from cleaning, inspect_failed from inspecting), with its last event as the reason',
  },
  {
    path: 'provisioning.powerPollMs',
    env: 'METALBOX_POWER_POLL_MS',
    schema: { type: 'integer', minimum: 100, maximum: 60000 },
    default: () => 2000,
    description: "time between reads of a system's PowerState while a reset settles",
  },
  {
    path: 'redfish.maxInFlight',
    env: 'METALBOX_REDFISH_MAX_IN_FLIGHT',
    schema: { type: 'integer', minimum: 1, maximum: 1000 },
    default: () => 32,
    description: 'Redfish requests in flight across all BMCs (each BMC gets one at a time; one unanswered for 5 s stops counting)',
  },
  {
    path: 'redfish.connectTimeoutMs',
    env: 'METALBOX_REDFISH_CONNECT_TIMEOUT_MS',
    schema: { type: 'integer', minimum: 100, maximum: 300000 },
    default: () => 15000,
    description: 'time a BMC has to accept a connection',
  },
  {
    path: 'redfish.requestTimeoutMs',
    env: 'METALBOX_REDFISH_REQUEST_TIMEOUT_MS',
    schema: { type: 'integer', minimum: 100, maximum: 600000 },
    default: () => 60000,
    description: 'time a BMC has to answer one request completely',
  },
  {
    path: 'log.level',
    flag: '--log-level <level>',
    env: 'METALBOX_LOG_LEVEL',
    schema: { type: 'string', enum: LOG_LEVELS },
    default: () => 'info',
    description: `log level: ${LOG_LEVELS.join(', ')}`,
  },
];

/** /var/lib/metalbox for root (the appliance), else the user's XDG data dir (trying it out). */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (process.getuid?.() === 0) return '/var/lib/metalbox';
  const xdg = env.XDG_DATA_HOME?.trim();
  return join(xdg ? xdg : join(homedir(), '.local', 'share'), 'metalbox');
}

export interface Config {
  dataDir: string;
  listen: string;
  advertise?: string;
  http: { port: number; fileCacheMiB: number; fileThreads: number };
  api: { maxEventStreams: number };
  dhcp: { proxy: boolean; port: number; pxePort: number };
  tftp: { enabled: boolean; port: number; maxBlksize: number; maxTransfers: number; threads: number };
  ipxeDir?: string;
  netboot: { uefiBinary: 'snponly.efi' | 'ipxe.efi'; loader: Loader };
  assetsDir?: string;
  boot: {
    unknown: 'ignore' | 'discover';
    discoveryProfile?: string;
    maxDiscovered: number;
    localBoot: 'exit' | 'sanboot' | '404';
    addressTrust: 'dhcp' | 'first-use';
  };
  agent: { lldpSeconds: number };
  profiles: Record<string, ProfileConfig>;
  serverTypes: ServerTypeConfig[];
  bmc: { subnets: string[]; sweepRate: number; credentials: DefaultCredentialConfig[] };
  snooping: { maxObservations: number; maxAgeDays: number; writesPerSecond: number };
  discovery: { leaseFiles: Array<{ format: 'dnsmasq' | 'isc' | 'kea'; path: string }> };
  unifi?: { url: string; username: string; password?: string; passwordFile?: string; site?: string; insecure?: boolean };
  onboarding: { concurrency: number; attempts: number; backoffMs: number };
  provisioning: { timeouts: ProvisioningTimeouts; powerPollMs: number };
  redfish: { maxInFlight: number; connectTimeoutMs: number; requestTimeoutMs: number };
  log: { level: string };
}

/** Seconds each timed state may last (the lifecycle's TIMEOUTS are the defaults); a config file may name only some. */
export type ProvisioningTimeouts = Record<TimedState, number>;

export const PROVISIONING_TIMEOUTS: ProvisioningTimeouts = { ...TIMEOUTS };

export interface DefaultCredentialConfig {
  macPrefix: string;
  username: string;
  password?: string;
  passwordFile?: string;
}
