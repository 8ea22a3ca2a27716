/**
 * `metalbox lab up|run|down` (demo code, kept apart from the product's modules): the
 * proof of concept's "two VMs simulate a server with a BMC", on one machine.
 *
 *   ns mbl-sw:  br0 ── tap0: the QEMU VM (SeaBIOS + iPXE ROM, or OVMF + EDK2 PXE), started by the BMC
 *     ├── veth ── ns mbl-prov  10.79.0.1   metalbox serve (ProxyDHCP, TFTP, HTTP 8080)
 *     ├── veth ── ns mbl-dhcp  10.79.0.2   dnsmasq, the site's DHCP server
 *     ├── veth ── ns mbl-bmc   DHCP        the simulated BMC (Redfish on port 80), its own MAC
 *     └── veth ── host mbl-host 10.79.0.254 so `metalbox ls` on the host reaches the lab's API
 *
 * Then, as an operator would: onboard the BMC by its MAC (metalbox learnt its address by
 * snooping its DHCP), let the server type classify it, provision it, and watch the VM boot
 * the installer, call back, reboot, and get the local-boot answer. Nothing leaves these
 * namespaces and the one host link, which holds only a private lab address.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { readApiToken } from '../src/api/token.js';
import { stateChangeText } from '../src/lifecycle/lifecycle.js';
import type { MachineEventJson, MachineJson } from '../src/store/index.js';
import { buildInitramfs, KERNEL_CACHE, ROOT, type Firmware } from './guest.js';
import {
  addHostLink,
  createSegment,
  deleteNamespaces,
  inNs,
  installAgentImage,
  LabApi,
  LabError,
  siteDhcpConfig,
  Timeline,
  until,
  untilServing,
} from './kit.js';

export { LabError } from './kit.js';
// The CLI's one door into the lab: the deploy scenario is loaded through this module too.
export { deployLabRun } from './deploy.js';

const NS = { sw: 'mbl-sw', prov: 'mbl-prov', dhcp: 'mbl-dhcp', bmc: 'mbl-bmc' };
const HOST_LINK = 'mbl-host';
const SERVER = '10.79.0.1';
export const LAB_SERVER_URL = `http://${SERVER}:8080`;
const BMC_MAC = '02:00:5e:79:00:01';
const VM_MAC = '52:54:00:79:00:01';
const CLI = join(ROOT, 'dist/src/cli/main.js');
const BMC = join(ROOT, 'dist/lab/bmc.js');
/** Each phase's deadline under software emulation, generous: a stuck lab says where it stuck. */
const DEADLINES = { serve: 30_000, onboard: 60_000, inspect: 240_000, provision: 240_000, localBoot: 120_000 };

export interface LabOptions {
  firmware: Firmware;
  /** What the simulated BMC speaks: Redfish (the default), or IPMI only (ipmi_sim), whose machine the agent then inspects. */
  bmc?: 'redfish' | 'ipmi';
  /**
   * How the VM boots its installer: PXE (the default), or virtual media, on a segment where
   * metalbox's ProxyDHCP and TFTP are off (it then finds the BMC by a subnet sweep).
   */
  boot?: 'pxe' | 'virtual-media';
  /** Where the lab keeps its data dir, logs and state (default /var/lib/metalbox-lab, or METALBOX_LAB_DIR). */
  dir?: string;
}

interface LabState {
  firmware: Firmware;
  startedAt: string;
  pids: number[];
  dir: string;
}

export function labDir(options: { dir?: string } = {}): string {
  return options.dir ?? process.env.METALBOX_LAB_DIR ?? '/var/lib/metalbox-lab';
}

const say = (line: string) => process.stdout.write(`${line}\n`);

/** Sets the lab up and runs the whole flow; leaves it running. Returns whether the machine went all the way. */
export async function labUp(options: LabOptions): Promise<boolean> {
  const dir = labDir(options);
  if (process.getuid?.() !== 0) throw new LabError('the lab creates network namespaces, a bridge and a tap device: run it as root (sudo)');
  const stateFile = join(dir, 'state.json');
  if (existsSync(stateFile)) throw new LabError(`the lab is up already (${dir}): run metalbox lab down first`);
  const deps = spawnSync(join(ROOT, 'scripts/lab-deps'), { stdio: ['ignore', 'inherit', 'inherit'] });
  if (deps.status !== 0)
    throw new LabError('scripts/lab-deps failed: the lab needs QEMU, OVMF, dnsmasq, busybox-static and the cloud kernel');

  const run = join(dir, 'run');
  rmSync(run, { recursive: true, force: true });
  mkdirSync(join(run, 'assets/lab'), { recursive: true });
  const started = Date.now();
  const state: LabState = { firmware: options.firmware, startedAt: new Date(started).toISOString(), pids: [], dir };
  const saveState = () => writeFileSync(stateFile, JSON.stringify(state, null, 2));
  saveState();

  const ipmi = options.bmc === 'ipmi';
  // Secure Boot boots the installer through Debian's signed shim and GRUB, whose TFTP server
  // the site's DHCP server names (docs/netboot.md, GRUB).
  const secureBoot = options.firmware === 'secure-boot';
  const media = options.boot === 'virtual-media';
  if (media && ipmi) throw new LabError('virtual media needs a Redfish BMC: IPMI has none');
  const name = `${options.firmware}${ipmi ? ', IPMI' : ''}${media ? ', virtual media' : ''}`;
  say(`metalbox lab (${name}): building the guest and the network in ${run}`);
  copyFileSync(join(KERNEL_CACHE, 'vmlinuz'), join(run, 'assets/lab/vmlinuz'));
  buildInitramfs(run, join(run, 'assets/lab/initrd.gz'));
  const dataDir = join(dir, 'data');
  rmSync(dataDir, { recursive: true, force: true });
  if (ipmi) {
    // IPMI names no NICs: the agent reads them (metalbox inspect), so serve needs its image.
    installAgentImage(dataDir, ROOT);
  }
  const config = join(run, 'metalbox.yaml');
  writeFileSync(
    config,
    YAML.stringify({
      // The agent that inspects the IPMI machine has no profile yet: it boots with netboot.loader.
      ...(secureBoot ? { netboot: { loader: 'grub' } } : {}),
      profiles: {
        'lab-installer': {
          // With Redfish no agent runs, so the profile names GRUB itself. With IPMI it names
          // iPXE: the agent reads Secure Boot on, and metalbox boots the installer through GRUB anyway.
          ...(secureBoot ? { loader: ipmi ? 'ipxe' : 'grub' } : {}),
          kernel: 'lab/vmlinuz',
          initrd: 'lab/initrd.gz',
          cmdline:
            'console=ttyS0,115200 panic=5 mbx.platform=${platform} mbx.steps=partitioning,copying mbx.after=reboot mbx.done={{ callbackUrl }}',
        },
      },
      serverTypes: [{ name: 'lab-vm', match: { 'system.manufacturer': 'Contoso', 'nics.count': '>=1' }, profile: 'lab-installer' }],
      bmc: {
        credentials: [{ macPrefix: '02:00:5e', username: 'admin', password: 'password' }],
        // Without ProxyDHCP nothing snoops the BMC's DHCP: a sweep of the segment finds it.
        ...(media ? { subnets: ['10.79.0.0/24'] } : {}),
      },
    }),
  );

  createTopology();
  const detach = (ns: string, log: string, command: string, args: string[]) => {
    const output = openSync(join(run, log), 'a');
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { detached: true, stdio: ['ignore', output, output] });
    child.unref();
    state.pids.push(child.pid!);
    saveState();
  };
  const nextServer = secureBoot ? { nextServer: [{ macs: [VM_MAC], server: SERVER, file: 'shimx64.efi' }] } : {};
  detach(NS.dhcp, 'dnsmasq.log', 'dnsmasq', ['--keep-in-foreground', '-C', siteDhcpConfig(run, '10.79.0', nextServer)]);
  detach(NS.prov, 'metalbox.log', process.execPath, [
    CLI,
    'serve',
    '--data-dir',
    dataDir,
    '--config',
    config,
    '--assets-dir',
    join(run, 'assets'),
    '--listen',
    SERVER,
    ...(media ? ['--no-dhcp-proxy', '--no-tftp'] : []),
  ]);
  await untilServing(LAB_SERVER_URL, DEADLINES.serve, run);

  // The BMC takes its address from the site's DHCP server, which metalbox snoops.
  const lease = join(run, 'bmc-lease');
  writeFileSync(lease, '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/$mask" dev "$interface"\nexit 0\n');
  chmodSync(lease, 0o755);
  inNs(NS.bmc, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '5', '-T', '2', '-s', lease);
  detach(NS.bmc, 'bmc.log', process.execPath, [
    BMC,
    '--bmc-mac',
    BMC_MAC,
    '--vm-mac',
    VM_MAC,
    '--firmware',
    options.firmware,
    '--tap',
    'tap0',
    '--switch-ns',
    NS.sw,
    '--dir',
    run,
    '--protocol',
    ipmi ? 'ipmi' : 'redfish',
  ]);
  await until(
    'the simulated BMC',
    10_000,
    () => existsSync(join(run, 'bmc.log')) && readFileSync(join(run, 'bmc.log'), 'utf8').includes('listening'),
    run,
  );

  const api = new LabApi(LAB_SERVER_URL, readApiToken(dataDir));
  const clock = (at: string) => `+${((Date.parse(at) - started) / 1000).toFixed(1).padStart(5)} s`;
  const found = media ? 'a sweep of bmc.subnets' : 'DHCP snooping';
  say(
    ipmi
      ? `metalbox onboard ${BMC_MAC} --protocol ipmi   (by MAC: its address comes from ${found})`
      : `metalbox onboard ${BMC_MAC} --scheme http --port 80   (by MAC: its address comes from ${found})`,
  );
  if (!media)
    await until(
      "the BMC's DHCP request in metalbox's observations",
      10_000,
      async () => (await api.get<unknown[]>(`/api/v1/observations?mac=${BMC_MAC}`)).length > 0,
      run,
    );
  const onboarding = await api.post<{ machine: MachineJson }>(
    '/api/v1/onboardings',
    ipmi ? { bmcMac: BMC_MAC, protocol: 'ipmi' } : { bmcMac: BMC_MAC, scheme: 'http', port: 80 },
  );
  const machineId = onboarding.machine.id;
  const timeline = new Timeline(api, machineId, (event) =>
    say(`  ${clock(event.at)}  ${stateChangeText(event.fromState, event.toState).padEnd(28)}  ${event.message}`),
  );

  const ready = await timeline.until(
    DEADLINES.onboard,
    (event) =>
      ['ready', 'unclassified', 'bmc_unreachable', 'auth_failed', 'inspect_failed'].includes(event.toState ?? '') &&
      event.fromState !== event.toState,
    run,
  );
  if (ipmi) {
    // IPMI gave no NICs, so the server type (one NIC at least) does not match yet.
    if (ready?.toState !== 'unclassified') return finish(false, `onboarding ended ${ready?.toState ?? 'nowhere'}, not unclassified`);
    say(`metalbox inspect ${machineId}   (the agent reads what IPMI does not tell)`);
    await api.post(`/api/v1/machines/${machineId}/inspect`, {});
    const inspected = await timeline.until(
      DEADLINES.inspect,
      (event) =>
        event.fromState !== event.toState &&
        ['ready', 'unclassified', 'inspect_failed'].includes(event.toState ?? '') &&
        event.fromState === 'classifying',
      run,
    );
    if (inspected?.toState !== 'ready') return finish(false, `inspection ended ${inspected?.toState ?? 'nowhere'}`);
  } else if (ready?.toState !== 'ready') return finish(false, `onboarding ended ${ready?.toState ?? 'nowhere'}`);

  say(`metalbox provision ${machineId}${media ? ' --boot virtual-media' : ''}   (profile from its server type)`);
  await api.post(`/api/v1/machines/${machineId}/provision`, media ? { boot: 'virtual-media' } : {});
  /** The ISO's eject (virtual media): the installer's first callback asks for it, so it may come before provisioned. */
  let eject: MachineEventJson | null = null;
  const isEject = (event: MachineEventJson) => event.type === 'media.ejected' || event.type === 'media.eject.failed';
  const provisioned = await timeline.until(
    DEADLINES.provision,
    (event) => {
      if (isEject(event)) eject = event;
      return event.fromState !== event.toState && (event.toState === 'provisioned' || event.toState === 'provision_failed');
    },
    run,
  );
  if (provisioned?.toState !== 'provisioned') return finish(false, `provisioning ended ${provisioned?.toState ?? 'nowhere'}`);
  if (media) {
    // No ProxyDHCP, so no local-boot answer to see: the ISO must be out of the drive instead.
    const ejected = eject ?? (await timeline.until(DEADLINES.localBoot, isEject, run));
    return finish(
      ejected?.type === 'media.ejected',
      ejected === null ? 'the virtual media was not ejected' : `the BMC did not eject: ${ejected.message}`,
    );
  }
  const local = await timeline.until(
    DEADLINES.localBoot,
    (event) => event.type === 'boot.script' && /^(iPXE script|GRUB config): local boot/.test(event.message),
    run,
  );
  return finish(local !== null, local === null ? 'the VM did not come back to ask for its boot script' : null);

  function finish(ok: boolean, problem: string | null): boolean {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    say(
      ok
        ? `metalbox lab (${name}): onboarded, ${ipmi ? 'inspected, ' : ''}provisioned and ${media ? 'the virtual media ejected' : 'back to local boot'} in ${seconds} s.`
        : `metalbox lab (${name}): FAILED after ${seconds} s: ${problem}. Logs: ${run}`,
    );
    say(`Explore: export METALBOX_SERVER=${LAB_SERVER_URL} METALBOX_DATA_DIR=${dataDir}`);
    say(`         metalbox ls; metalbox events ${machineId}; metalbox power status ${machineId}; then metalbox lab down`);
    return ok;
  }
}

/** Stops everything the lab started and deletes its namespaces; the files stay in <dir>/run. Safe to run twice. */
export async function labDown(options: { dir?: string } = {}): Promise<void> {
  const dir = labDir(options);
  const stateFile = join(dir, 'state.json');
  const state = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as LabState) : null;
  // The BMC first: it stops its VM. Each only if it is still the process the lab started
  // (its command line names the lab's directory): a pid may have been reused since.
  const run = join(dir, 'run');
  for (const pid of [...(state?.pids ?? [])].reverse()) await stopProcess(pid, run);
  // A VM (or ipmi_sim) whose BMC was killed outright outlives it: each has a pid file.
  for (const file of ['vm.pid', 'ipmi-sim.pid']) {
    const pid = readPidFile(join(run, file));
    if (pid !== null) await stopProcess(pid, run);
  }
  deleteNamespaces(Object.values(NS));
  spawnSync('ip', ['link', 'del', HOST_LINK], { stdio: 'ignore' });
  rmSync(stateFile, { force: true });
  say(state ? `metalbox lab: down (files kept in ${join(dir, 'run')})` : 'metalbox lab: nothing was up');
}

/** up, then down whatever happened; true only when the machine was provisioned and came back to local boot. */
export async function labRun(options: LabOptions): Promise<boolean> {
  try {
    return await labUp(options);
  } finally {
    await labDown(options);
  }
}

function createTopology(): void {
  deleteNamespaces(Object.values(NS));
  spawnSync('ip', ['link', 'del', HOST_LINK], { stdio: 'ignore' });
  createSegment(
    NS.sw,
    [
      { ns: NS.prov, port: 'sw-prov', address: `${SERVER}/24` },
      { ns: NS.dhcp, port: 'sw-dhcp', address: '10.79.0.2/24' },
      { ns: NS.bmc, port: 'sw-bmc', mac: BMC_MAC },
    ],
    ['tap0'],
  );
  addHostLink(HOST_LINK, NS.sw, '10.79.0.254/24');
}

function readPidFile(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Stops `pid` if its command line still names `marker` (a directory only the lab's processes are given). */
async function stopProcess(pid: number, marker: string): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const ours = () => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
    } catch {
      return false;
    }
  };
  if (!alive() || !ours()) return;
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < 5000 && alive(); waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
  if (alive()) process.kill(pid, 'SIGKILL');
}
