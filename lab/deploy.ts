/**
 * `metalbox lab run --scenario deploy` (demo code): a server metalbox has never heard of,
 * without a BMC, read by the agent, deployed with an OS image, booted from its own disk,
 * and wiped when released. On one machine:
 *
 *   ns mbd-sw:  br0 ── tap0: the QEMU VM (SeaBIOS + iPXE ROM, or OVMF), two blank disks (virtio, NVMe);
 *                      the switch's LLDP frames go out of tap0 every second (lab/lldp.ts)
 *     ├── veth ── ns mbd-prov  10.77.0.1   metalbox serve --boot-unknown discover
 *     ├── veth ── ns mbd-dhcp  10.77.0.2   dnsmasq, the site's DHCP server
 *     └── veth ── host mbd-host 10.77.0.254 the lab's own API calls, as the operator's CLI
 *
 * The VM PXE-boots, metalbox makes it a record and boots its agent, which reads it and
 * hears which switch port it is cabled to; the server type classifies it (profile lab-os,
 * an image lab/disk-image.ts builds from Debian packages), and it is ready, its agent
 * waiting. Then, as an operator would: provision (the agent is sent back to PXE, writes the
 * image and the config drive, reboots; the OS boots from the disk, reads its config drive
 * and reports booted: active), and deprovision --secure (the VM powered on into PXE boots
 * the agent; the NVMe disk formats itself, then both disks are wiped: ready). The timeline
 * prints each step with its seconds. A second run on the same data dir finds the machine
 * ready and deploys it again.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import YAML from 'yaml';
import type { AgentNic } from '../src/agent/inventory.js';
import { readApiToken } from '../src/api/token.js';
import { stateChangeText } from '../src/lifecycle/lifecycle.js';
import type { MachineEventJson, MachineJson, MachineState } from '../src/store/index.js';
import { buildLabDiskImage } from './disk-image.js';
import { lldpFrame, startLldpSpeaker } from './lldp.js';
import { type Firmware, qemuArgs, ROOT } from './guest.js';
import {
  addHostLink,
  createSegment,
  deleteNamespaces,
  installAgentImage,
  LabApi,
  LabError,
  siteDhcpConfig,
  stop,
  Timeline,
  until,
  untilServing,
  waitFor,
} from './kit.js';

const NS = { sw: 'mbd-sw', prov: 'mbd-prov', dhcp: 'mbd-dhcp' };
const HOST_LINK = 'mbd-host';
const SERVER = '10.77.0.1';
const SERVER_URL = `http://${SERVER}:8080`;
const VM = { name: 'server', mac: '52:54:00:77:00:01', tap: 'tap0' };
/** The switch port the VM is cabled to, as its LLDP frames describe it. */
const SWITCH_PORT = { chassisId: 'metalbox-lab', portId: VM.tap, portDescription: 'server (lab VM)', systemName: 'lab-switch' };
const SWITCH_PORT_MAC = '02:00:00:77:00:fe';
const CLI = join(ROOT, 'dist/src/cli/main.js');
/** Each phase's deadline under software emulation, generous: a stuck lab says where it stuck. */
const DEADLINES = { serve: 30_000, discover: 300_000, deploy: 480_000, powerOff: 60_000, clean: 300_000 };

const say = (line: string) => process.stdout.write(`${line}\n`);

/** Runs the scenario and takes it down; true only when the machine was deployed, booted its disk, and was wiped back to ready. */
export async function deployLabRun(options: { firmware: Firmware; dir: string }): Promise<boolean> {
  const { firmware, dir } = options;
  if (process.getuid?.() !== 0) throw new LabError('the lab creates network namespaces, a bridge and a tap device: run it as root (sudo)');
  const deps = spawn(join(ROOT, 'scripts/lab-deps'), { stdio: ['ignore', 'inherit', 'inherit'] });
  if ((await new Promise((done) => deps.once('exit', done))) !== 0)
    throw new LabError('scripts/lab-deps failed: the lab needs QEMU, OVMF, dnsmasq, syslinux and the cloud kernel');

  const run = join(dir, 'run');
  rmSync(run, { recursive: true, force: true });
  mkdirSync(join(run, 'assets/images'), { recursive: true });
  const children: ChildProcess[] = [];
  const started = Date.now();
  const seconds = (since = started) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
  try {
    say(`metalbox lab --scenario deploy (${firmware}): building the agent, the OS image and the network in ${run}`);
    // The data dir outlives runs (a second run finds its machine); the agent image is cached for every lab.
    const dataDir = join(dir, 'data');
    installAgentImage(dataDir, ROOT);
    const image = buildLabDiskImage(run, join(run, 'assets/images/lab-os.raw.zst'));
    const config = join(run, 'metalbox.yaml');
    writeFileSync(
      config,
      YAML.stringify({
        assetsDir: join(run, 'assets'),
        profiles: {
          // The VM's disks are 64 and 128 MiB: the default 4 GiB floor would pass both over.
          'lab-os': { image: { url: 'images/lab-os.raw.zst', sha256: image.sha256, format: 'raw.zst', rootDevice: { minSizeGiB: 0.05 } } },
        },
        serverTypes: [{ name: 'lab-vm', match: { 'system.manufacturer': 'QEMU', 'drives.count': '>=1' }, profile: 'lab-os' }],
      }),
    );
    const disks = [64, 128].map((mib, index) => {
      const path = join(run, `disk${index}.img`);
      writeFileSync(path, Buffer.alloc(0));
      truncateSync(path, mib * 1024 * 1024);
      return path;
    });

    deleteNamespaces(Object.values(NS));
    spawnSync('ip', ['link', 'del', HOST_LINK], { stdio: 'ignore' });
    createSegment(
      NS.sw,
      [
        { ns: NS.prov, port: 'sw-prov', address: `${SERVER}/24` },
        { ns: NS.dhcp, port: 'sw-dhcp', address: '10.77.0.2/24' },
      ],
      [VM.tap],
    );
    addHostLink(HOST_LINK, NS.sw, '10.77.0.254/24');
    children.push(startLldpSpeaker(NS.sw, VM.tap, lldpFrame(SWITCH_PORT_MAC, SWITCH_PORT), openSync(join(run, 'lldp.log'), 'a')));
    const start = (ns: string, log: string, command: string, args: string[]) => {
      const output = openSync(join(run, log), 'a');
      const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { stdio: ['ignore', output, output] });
      children.push(child);
      return child;
    };
    start(NS.dhcp, 'dnsmasq.log', 'dnsmasq', ['--keep-in-foreground', '-C', siteDhcpConfig(run, '10.77.0')]);
    start(NS.prov, 'metalbox.log', process.execPath, [
      CLI,
      'serve',
      '--data-dir',
      dataDir,
      '--config',
      config,
      '--boot-unknown',
      'discover',
      '--listen',
      SERVER,
    ]);
    await untilServing(SERVER_URL, DEADLINES.serve, run);
    const api = new LabApi(SERVER_URL, readApiToken(dataDir));
    const clock = (at: string) => `+${((Date.parse(at) - started) / 1000).toFixed(1).padStart(5)} s`;
    const print = (event: MachineEventJson) =>
      say(`  ${clock(event.at)}  ${stateChangeText(event.fromState, event.toState).padEnd(26)}  ${event.message}`);

    /**
     * The VM powered on: SeaBIOS with the NIC first, then the disks; OVMF in its own order (disks,
     * then PXE) unless `networkFirst`, as an operator choosing network boot from the menu.
     */
    const powerOn = (name: string, networkFirst: boolean) =>
      start(NS.sw, `${name}.qemu.log`, 'qemu-system-x86_64', [
        ...qemuArgs({ ...VM, name, firmware }, run, { reboot: true, networkFirst }),
        ...disks.flatMap((path, index) => [
          '-drive',
          `file=${path},format=raw,if=none,id=disk${index}`,
          '-device',
          // The second disk is NVMe: QEMU's controller has Format NVM, which the secure cleaning uses.
          `${index === 0 ? 'virtio-blk-pci' : `nvme,serial=MBXLAB${index}`},drive=disk${index}${networkFirst ? `,bootindex=${index + 2}` : ''}`,
        ]),
      ]);

    // 1. Discovery, unless an earlier run left the machine ready.
    let machine = (await api.get<MachineJson[]>('/api/v1/machines')).find((known) => known.nics.some((nic) => nic.mac === VM.mac));
    let timeline: Timeline;
    let vm: ChildProcess;
    if (machine !== undefined && machine.state !== 'ready')
      return finish(false, `an earlier run left ${machine.id} ${machine.state}: remove ${dataDir} to start over`, run);
    if (machine?.state === 'ready') {
      say(`${machine.id} is known and ready from an earlier run: deploying it again`);
      timeline = new Timeline(api, machine.id, print);
      await timeline.skipToNow();
      vm = powerOn('server', firmware === 'bios');
    } else {
      say(`A server metalbox has never heard of (${VM.mac}, no BMC) powers on and PXE-boots`);
      vm = powerOn('server', firmware === 'bios');
      machine = await waitFor(
        'the server to be discovered',
        async () => (await api.get<MachineJson[]>('/api/v1/machines')).find((known) => known.nics.some((nic) => nic.mac === VM.mac)),
        DEADLINES.discover,
      ).catch(() => undefined);
      if (machine === undefined) return finish(false, 'the server never asked for its script', run);
      timeline = new Timeline(api, machine.id, print);
      const found = await timeline.until(DEADLINES.discover, ended(['ready', 'unclassified']), run);
      if (found?.toState !== 'ready') return finish(false, `discovery ended ${found?.toState ?? 'nowhere'}`, run);
      const facts = await api.get<{ 'agent.nics'?: AgentNic[] }>(`/api/v1/machines/${machine.id}/facts`);
      const heard = facts['agent.nics']?.find((nic) => nic.mac === VM.mac)?.lldp;
      const expected = { chassisId: SWITCH_PORT.chassisId, portId: SWITCH_PORT.portId, systemName: SWITCH_PORT.systemName };
      if (heard?.chassisId !== expected.chassisId || heard.portId !== expected.portId || heard.systemName !== expected.systemName)
        return finish(false, `the agent heard ${JSON.stringify(heard ?? null)} over LLDP, not ${JSON.stringify(expected)}`, run);
      say(`  its port ${VM.mac} is cabled to ${heard.systemName} port ${heard.portId} (LLDP, chassis ${heard.chassisId})`);
    }
    const id = machine.id;

    // 2. Deploy; the OS reports from its disk, then powers off.
    say(`metalbox provision ${id}   (profile lab-os from its server type: an image, written by the agent)`);
    await api.post(`/api/v1/machines/${id}/provision`, {});
    const deployed = await timeline.until(DEADLINES.deploy, ended(['active', 'deploy_failed']), run);
    if (deployed?.toState !== 'active') return finish(false, `the deploy ended ${deployed?.toState ?? 'nowhere'}`, run);
    const seed = /METALBOX-LAB-SEED (instance-id=\S+ on \S+)/.exec(readFileSync(join(run, 'server.serial.log'), 'latin1'));
    say(`  the OS on its disk read its config drive (${seed?.[1] ?? 'not seen on the console'}) and phoned home`);
    await until('the lab OS to power off', DEADLINES.powerOff, () => vm.exitCode !== null || vm.signalCode !== null, run);

    // 3. Release: cleaning. No BMC: the lab powers the VM on into PXE, as its operator would.
    say(`metalbox deprovision --secure ${id}   (a deployed machine is wiped by the agent; the NVMe disk formats itself first)`);
    await api.post(`/api/v1/machines/${id}/deprovision`, { secure: true });
    say('  (no BMC: the server is powered on into PXE, as an operator would)');
    vm = powerOn('released', true);
    const cleaned = await timeline.until(DEADLINES.clean, ended(['ready', 'clean_failed']), run);
    if (cleaned?.toState !== 'ready') return finish(false, `the cleaning ended ${cleaned?.toState ?? 'nowhere'}`, run);
    const wiped = (await api.get<MachineEventJson[]>(`/api/v1/machines/${id}/events`)).find(
      (event) => event.type === 'clean.wiped' && event.operationId === cleaned.operationId,
    );
    if (!/nvme0n1 \(nvme-format/.test(wiped?.message ?? ''))
      return finish(false, `the NVMe disk did not format itself: ${wiped?.message ?? 'no clean.wiped event'}`, run);
    say('  nvme0n1 formatted itself (Format NVM, user data erase); vda has no secure erase and was wiped the ordinary way');
    const dirty = disks.filter((path) => !readFileSync(path).every((byte) => byte === 0));
    if (dirty.length > 0) return finish(false, `not wiped: ${dirty.join(', ')}`, run);
    say(`  ${disks.map((path) => basename(path)).join(' and ')}: every byte zero (both disks are smaller than the ends the wipe zeroes)`);
    return finish(true, null, run);
  } finally {
    for (const child of children.reverse()) await stop(child);
    deleteNamespaces(Object.values(NS));
    spawnSync('ip', ['link', 'del', HOST_LINK], { stdio: 'ignore' });
  }

  function finish(ok: boolean, problem: string | null, run: string): boolean {
    say(
      ok
        ? `metalbox lab --scenario deploy (${firmware}): discovered, deployed, booted from its disk and wiped in ${seconds()}.`
        : `metalbox lab --scenario deploy (${firmware}): FAILED after ${seconds()}: ${problem}. Logs: ${run}`,
    );
    return ok;
  }
}

/** An event that moved the machine into one of `states`. */
const ended = (states: MachineState[]) => (event: MachineEventJson) =>
  event.fromState !== event.toState && states.includes(event.toState as MachineState);
