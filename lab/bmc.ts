/**
 * The lab's simulated BMC (demo and test code, not product): a Redfish service from DMTF's
 * rackmount mockup, rewritten so that the system's first NIC has the VM's MAC and the
 * manager's interface has this BMC's MAC, whose power and boot-override actions really
 * start, stop and reset a QEMU VM. It runs in its own network namespace, whose interface
 * has the BMC's MAC and took its address by DHCP, as a BMC fresh out of the box does.
 *
 * `node bmc.js --bmc-mac M --vm-mac M --firmware bios|uefi --tap T --switch-ns NS --dir D [--port 80] [--protocol redfish|ipmi]`
 *
 * With `--protocol ipmi` the BMC speaks IPMI only: OpenIPMI's ipmi_sim answers on UDP 623,
 * and the Redfish service listens on the namespace's loopback alone, as the hardware
 * ipmi_sim's chassis program drives (lab/ipmi-sim.ts): power and boot device become the
 * same reset and boot-override requests. The VM's SMBIOS and the BMC's FRU name the same
 * maker and serial, as a server's do.
 *
 * Honoured like a real BMC: a one-time override (Enabled Once) is consumed by the next
 * power-on; PowerState follows the QEMU process (a guest that powers off is Off). The VM
 * has no disk, so a boot without the override still ends at the network: metalbox's
 * local-boot answer is what keeps it out of the installer then.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LAB_IDENTITY, qemuArgs, type Firmware } from './guest.js';
import { IPMI_SIM, writeIpmiSim } from './ipmi-sim.js';
import { startMockup, type MockupState } from './redfish-mockup.js';

export const LAB_TREE = 'dmtf-public-rackmount1';
export const LAB_SYSTEM = '/redfish/v1/Systems/437XR1138R2';
/** The tree's first system NIC and its manager's interface, replaced by the VM's and the BMC's MACs. */
const TREE_SYSTEM_NIC = '12:44:6a:3b:04:11';
const TREE_MANAGER_NIC = '23:11:8a:33:cf:ea';

const { values } = parseArgs({
  options: {
    'bmc-mac': { type: 'string' },
    'vm-mac': { type: 'string' },
    firmware: { type: 'string', default: 'bios' },
    tap: { type: 'string' },
    'switch-ns': { type: 'string' },
    dir: { type: 'string' },
    port: { type: 'string', default: '80' },
    protocol: { type: 'string', default: 'redfish' },
  },
});
for (const required of ['bmc-mac', 'vm-mac', 'tap', 'switch-ns', 'dir'] as const) {
  if (!values[required]) throw new Error(`--${required} is required`);
}
const dir = values.dir!;
const vm = { name: 'vm', firmware: values.firmware as Firmware, mac: values['vm-mac']!, tap: values.tap! };
const ipmi = values.protocol === 'ipmi';

let qemu: ChildProcess | null = null;
/** The virtual media image the BMC holds (fetched from its URL at insert, as a BMC streams it), or null. */
let media: string | null = null;
const MONITOR = join(dir, 'vm.monitor');

const log = (message: string) => process.stdout.write(`${new Date().toISOString()} bmc: ${message}\n`);

function powerOn(state: MockupState): void {
  if (qemu !== null) return;
  const boot = (state.read(LAB_SYSTEM)?.Boot ?? {}) as Record<string, unknown>;
  const once = boot.BootSourceOverrideEnabled !== 'Disabled';
  const pxe = boot.BootSourceOverrideTarget === 'Pxe' && once;
  const cd = boot.BootSourceOverrideTarget === 'Cd' && once && media !== null;
  // A one-time override lasts for one boot, as on a real BMC.
  if (boot.BootSourceOverrideEnabled === 'Once')
    state.merge(LAB_SYSTEM, { Boot: { BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideTarget: 'None' } });
  const output = openSync(join(dir, 'qemu.log'), 'a');
  log(
    `power on: starting the ${vm.firmware} VM (${pxe ? 'one-time PXE boot' : cd ? 'one-time boot from the virtual CD' : 'no boot override'})`,
  );
  const smbios = ipmi ? { smbios: LAB_IDENTITY } : {};
  // The virtual CD is the VM's CD drive; the BMC ejects it through QEMU's monitor.
  const cdrom = media === null ? {} : { cdrom: { image: media, bootOnce: cd, monitor: MONITOR } };
  const child = spawn(
    'ip',
    ['netns', 'exec', values['switch-ns']!, 'qemu-system-x86_64', ...qemuArgs(vm, dir, { reboot: true, ...smbios, ...cdrom })],
    {
      stdio: ['ignore', output, output],
    },
  );
  qemu = child;
  state.merge(LAB_SYSTEM, { PowerState: 'On' });
  child.once('exit', (code, signal) => {
    log(`the VM stopped (${signal ?? `exit ${code}`})`);
    if (qemu === child) qemu = null;
    if (qemu === null) state.merge(LAB_SYSTEM, { PowerState: 'Off' });
  });
}

async function powerOff(state: MockupState): Promise<void> {
  const child = qemu;
  if (child === null) return;
  log('power off: stopping the VM');
  qemu = null;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  state.merge(LAB_SYSTEM, { PowerState: 'Off' });
}

/** InsertMedia fetches the image now (a BMC streams it from the URL; the lab keeps a copy); EjectMedia takes it out of a running VM too. */
async function changeMedia(image: string | null): Promise<void> {
  if (image === null) {
    if (media !== null && qemu !== null) await monitor('eject -f cd0');
    media = null;
    log('virtual media ejected');
    return;
  }
  const response = await fetch(image);
  if (!response.ok) throw new Error(`the image URL answered ${response.status}`);
  const file = join(dir, 'media.iso');
  writeFileSync(file, Buffer.from(await response.arrayBuffer()));
  media = file;
  log(`virtual media inserted: ${image.replace(/\/media\/([^/]+)\/[^/]+\//, '/media/$1/<token>/')}`);
}

/** One HMP command on the VM's monitor socket. */
function monitor(command: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(MONITOR, () => socket.end(`${command}\n`));
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.resume();
  });
}

const mockup = await startMockup({
  tree: LAB_TREE,
  // An IPMI-only BMC keeps its Redfish service to itself: ipmi_sim's chassis program talks to it.
  host: ipmi ? '127.0.0.1' : '0.0.0.0',
  port: Number(values.port),
  macs: { [TREE_SYSTEM_NIC]: vm.mac, [TREE_MANAGER_NIC]: values['bmc-mac']! },
  media: (_drive, image) => changeMedia(image),
  reset: async (systemPath, type, state) => {
    log(`${systemPath}: ResetType ${type}`);
    if (type === 'On' || type === 'ForceOn') powerOn(state);
    else if (type === 'ForceOff' || type === 'GracefulShutdown') await powerOff(state);
    else if (type === 'ForceRestart' || type === 'GracefulRestart' || type === 'PowerCycle') {
      await powerOff(state);
      powerOn(state);
    }
  },
});
// Shipped powered off, with no override set.
mockup.state.merge(LAB_SYSTEM, { PowerState: 'Off', Boot: { BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideTarget: 'None' } });
let ipmiSim: ChildProcess | null = null;
if (ipmi) {
  const simDir = join(dir, 'ipmi-sim');
  const system = `${mockup.url}${LAB_SYSTEM}`;
  const curl = `curl -s -u admin:password -H 'content-type: application/json'`;
  const args = writeIpmiSim(simDir, {
    address: '0.0.0.0',
    port: 623,
    username: 'admin',
    password: 'password',
    mac: values['bmc-mac']!,
    guid: '00112233445566778899aabbccddeeff',
    fru: LAB_IDENTITY,
    chassis: `# Each chassis request becomes one to the lab BMC's own Redfish service.
shift
op=$1; shift
if [ "$op" = get ]; then
  body=$(${curl} ${system})
  for name in "$@"; do
    case $name in
      power) case $body in *'"PowerState":"On"'*) echo power:1;; *) echo power:0;; esac;;
      boot) case $body in *'"BootSourceOverrideTarget":"Pxe"'*) echo boot:pxe;; *) echo boot:default;; esac;;
    esac
  done
  exit 0
fi
while [ $# -ge 2 ]; do
  case $1 in
    power) [ "$2" = 1 ] && type=On || type=ForceOff
      ${curl} -X POST -d '{"ResetType":"'$type'"}' ${system}/Actions/ComputerSystem.Reset >/dev/null;;
    reset) ${curl} -X POST -d '{"ResetType":"ForceRestart"}' ${system}/Actions/ComputerSystem.Reset >/dev/null;;
    boot) [ "$2" = pxe ] && target=Pxe || target=Hdd
      ${curl} -X PATCH -d '{"Boot":{"BootSourceOverrideTarget":"'$target'","BootSourceOverrideEnabled":"Once"}}' ${system} >/dev/null;;
  esac
  shift 2
done
`,
  });
  const output = openSync(join(dir, 'ipmi-sim.log'), 'a');
  ipmiSim = spawn(IPMI_SIM, args, { stdio: ['ignore', output, output] });
  // lab down stops it by this file should this process be killed outright.
  writeFileSync(join(dir, 'ipmi-sim.pid'), String(ipmiSim.pid));
  ipmiSim.once('exit', (code, signal) => log(`ipmi_sim stopped (${signal ?? `exit ${code}`})`));
  log('ipmi_sim on UDP 623');
}
log(`listening ${mockup.url}`);

const stop = async () => {
  ipmiSim?.kill('SIGTERM');
  await powerOff(mockup.state);
  await mockup.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
