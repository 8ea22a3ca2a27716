import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statfsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import { loadAgentImage } from '../agent/image.js';
import { agentCacheDir } from '../agent/build.js';
import type { Config } from '../config/settings.js';
import { checkConfig } from '../server.js';
import { blockedPorts, type ServedPort } from './firewall.js';
import { portHolders } from './port-holders.js';
import { probePxeServers, type ProbeAnswer } from './pxe-probe.js';

/** One line of `metalbox doctor`: what was checked, whether it holds, what was found, and what to do when it does not. */
export interface DoctorCheck {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorOptions {
  /** Broadcast one PXE DISCOVER on the provisioning segment and listen (false: --no-probe). */
  probe: boolean;
  probeMs?: number;
}

/** Less free space than this in the data dir's file system is a failure: the database and the agent image live there. */
const MIN_FREE_BYTES = 512 * 2 ** 20;

/**
 * Every check `metalbox doctor` makes, in the order a booting machine meets what they check:
 * the config, the address booting machines are sent to, the boot loaders, the ports, the
 * firewall, the other servers on the segment, then the data dir and the agent image.
 */
export async function runDoctor(config: Config, options: DoctorOptions): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  let checked: ReturnType<typeof checkConfig>;
  try {
    checked = checkConfig(config);
    checks.push({ check: 'config', ok: true, detail: 'settings, profiles and server types load; the iPXE binaries are found' });
  } catch (error) {
    checks.push({
      check: 'config',
      ok: false,
      detail: (error as Error).message,
      fix: 'correct the setting named; serve would refuse to start',
    });
    return [...checks, ...dataDirChecks(config)];
  }
  const netboot = config.dhcp.proxy || config.tftp.enabled;
  const advertise = checked.config.advertise;
  if (netboot && advertise !== undefined) checks.push(advertiseCheck(advertise));
  if (netboot)
    checks.push({
      check: 'boot loaders',
      ok: true,
      detail: loadersByDir(checked.binaries),
    });
  const served: ServedPort[] = [
    ...(config.dhcp.proxy
      ? [
          { protocol: 'udp' as const, port: config.dhcp.port },
          { protocol: 'udp' as const, port: config.dhcp.pxePort },
        ]
      : []),
    ...(config.tftp.enabled ? [{ protocol: 'udp' as const, port: config.tftp.port }] : []),
    { protocol: 'tcp', port: config.http.port },
  ];
  checks.push(portsCheck(served));
  checks.push(firewallCheck(served));
  if (config.dhcp.proxy && advertise !== undefined) {
    if (options.probe) checks.push(await segmentCheck(advertise, options.probeMs ?? 4000));
    else checks.push({ check: 'other PXE servers', ok: true, detail: 'not looked for (--no-probe)' });
  }
  return [...checks, ...dataDirChecks(config)];
}

function advertiseCheck(advertise: string): DoctorCheck {
  const on = Object.entries(networkInterfaces()).find(([, addresses]) => addresses?.some((address) => address.address === advertise));
  return on
    ? { check: 'advertise', ok: true, detail: `${advertise} is on ${on[0]}: booting machines are sent there` }
    : {
        check: 'advertise',
        ok: false,
        detail: `${advertise} is on no interface of this host: booting machines would be sent to an address nobody answers`,
        fix: "set advertise (or --listen) to the provisioning interface's address",
      };
}

function portsCheck(served: readonly ServedPort[]): DoctorCheck {
  const taken: string[] = [];
  const ours: string[] = [];
  for (const { protocol, port } of served) {
    const holders = portHolders(protocol, port);
    const others = holders.filter((holder) => !/\b(main\.js|metalbox) serve\b/.test(holder.command));
    if (others.length > 0)
      taken.push(`${protocol} ${port} held by ${others.map((holder) => `${holder.command} (pid ${holder.pid})`).join(', ')}`);
    else if (holders.length > 0) ours.push(`${protocol} ${port}`);
  }
  const all = served.map(({ protocol, port }) => `${protocol} ${port}`).join(', ');
  if (taken.length > 0)
    return {
      check: 'ports',
      ok: false,
      detail: taken.join('; '),
      fix: 'stop that service or move it (a DHCP server and metalbox cannot share port 67 on one host), or give metalbox other ports',
    };
  return { check: 'ports', ok: true, detail: ours.length > 0 ? `${all}: free, or metalbox's own (${ours.join(', ')})` : `${all}: free` };
}

function firewallCheck(served: readonly ServedPort[]): DoctorCheck {
  const nft = spawnSync('nft', ['list', 'ruleset'], { encoding: 'utf8' });
  if (nft.error) return { check: 'firewall', ok: true, detail: 'nft is not installed: no nftables rules to read' };
  if (nft.status !== 0)
    return { check: 'firewall', ok: false, detail: `nft list ruleset failed: ${nft.stderr.trim()}`, fix: 'run metalbox doctor as root' };
  const blocked = blockedPorts(nft.stdout, served);
  if (blocked.length === 0) return { check: 'firewall', ok: true, detail: 'no nftables input rule drops these ports' };
  return {
    check: 'firewall',
    ok: false,
    detail: blocked.map((port) => `${port.protocol} ${port.port} dropped (${port.by})`).join('; '),
    fix: `accept them in the input chain, e.g. nft add rule inet filter input udp dport { 67, 69, 4011 } accept; and tcp dport ${served.find((port) => port.protocol === 'tcp')?.port ?? 8080}`,
  };
}

async function segmentCheck(advertise: string, waitMs: number): Promise<DoctorCheck> {
  let answers: ProbeAnswer[];
  try {
    answers = await probePxeServers(advertise, waitMs);
  } catch (error) {
    return {
      check: 'other PXE servers',
      ok: false,
      detail: `could not send the probe from ${advertise}:68: ${(error as Error).message}`,
      fix: 'run metalbox doctor as root; or --no-probe',
    };
  }
  const others = answers.filter((answer) => answer.server !== advertise);
  const pxe = others.filter((answer) => answer.pxe);
  if (pxe.length > 0)
    return {
      check: 'other PXE servers',
      ok: false,
      detail: pxe
        .map(
          (answer) =>
            `${answer.server} answers PXE clients${answer.bootFile ? ` with ${answer.bootFile}` : ''}${answer.nextServer ? ` from ${answer.nextServer}` : ''}${answer.offersAddress ? ' (and gives the address)' : ' (a ProxyDHCP)'}`,
        )
        .join('; '),
      fix: 'firmware takes the first boot answer it gets: remove next-server/filename (options 66/67) from the site DHCP server for these machines, or stop the other PXE server',
    };
  const dhcp = others.filter((answer) => answer.offersAddress);
  if (dhcp.length === 0)
    return {
      check: 'other PXE servers',
      ok: false,
      detail: `no DHCP server answered within ${waitMs / 1000} s: booting machines would get no address`,
      fix: 'metalbox answers boot requests only; the segment needs its DHCP server (or a relay to it)',
    };
  return {
    check: 'other PXE servers',
    ok: true,
    detail: `none; DHCP from ${dhcp.map((answer) => answer.server).join(', ')}, with no boot file (metalbox's answer is the one firmware follows)`,
  };
}

function dataDirChecks(config: Config): DoctorCheck[] {
  const dir = config.dataDir;
  const existing = existsSync(dir) ? dir : dirname(dir);
  const checks: DoctorCheck[] = [];
  try {
    accessSync(existing, constants.W_OK);
    const database = join(dir, 'metalbox.db');
    if (existsSync(database)) accessSync(database, constants.W_OK);
    const { bavail, bsize } = statfsSync(existing);
    const free = bavail * bsize;
    checks.push(
      free < MIN_FREE_BYTES
        ? {
            check: 'data dir',
            ok: false,
            detail: `${dir}: ${(free / 2 ** 20).toFixed(0)} MiB free`,
            fix: 'free space there: a full disk stops every write (boot answers go on from memory)',
          }
        : {
            check: 'data dir',
            ok: true,
            detail: `${dir}${existing === dir ? '' : ' (made at first start)'}: writable, ${(free / 2 ** 30).toFixed(1)} GiB free`,
          },
    );
  } catch (error) {
    checks.push({
      check: 'data dir',
      ok: false,
      detail: `${existing} is not writable: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      fix: 'run as the user serve runs as, or fix the ownership',
    });
  }
  const image = loadAgentImage(agentCacheDir(dir));
  checks.push(
    image === null
      ? {
          check: 'agent image',
          ok: false,
          detail: `none built in ${agentCacheDir(dir)}: deploy, inspect, cleaning and discovery need it`,
          fix: `metalbox agent build --data-dir ${dir}`,
        }
      : {
          check: 'agent image',
          ok: true,
          detail: [...image.builds]
            .map(
              ([arch, build]) =>
                `${arch}: ${join(agentCacheDir(dir), build.kernelPath.split('/')[2]!)}, kernel ${build.manifest.kernel.version}`,
            )
            .join('; '),
        },
  );
  return checks;
}

/** `undionly.kpxe, ipxe.efi, snponly.efi in /usr/lib/ipxe (Debian ipxe …)`: the binaries by the directory they were found in. */
function loadersByDir(binaries: ReadonlyMap<string, { path: string }>): string {
  const byDir = new Map<string, string[]>();
  for (const [name, { path }] of binaries) byDir.set(dirname(path), [...(byDir.get(dirname(path)) ?? []), name]);
  return [...byDir].map(([dir, names]) => `${names.join(', ')} in ${dir}${loaderVersion(dir)}`).join('; ');
}

/** The Debian ipxe version scripts/fetch-ipxe records beside the binaries, when it is there. */
function loaderVersion(dir: string): string {
  try {
    const version = readFileSync(join(dir, 'VERSION'), 'utf8').trim();
    return version === '' ? '' : ` (Debian ipxe ${version})`;
  } catch {
    return '';
  }
}
