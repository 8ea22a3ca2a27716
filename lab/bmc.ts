/**
 * The lab's simulated BMC (demo and test code, not product): a Redfish service from DMTF's
 * rackmount mockup, rewritten so that the system's first NIC has the VM's MAC and the
 * manager's interface has this BMC's MAC, whose power and boot-override actions really
 * start, stop and reset a QEMU VM. It runs in its own network namespace, whose interface
 * has the BMC's MAC and took its address by DHCP, as a BMC fresh out of the box does.
 *
 * `node bmc.js --bmc-mac M --vm-mac M --firmware bios|uefi --tap T --switch-ns NS --dir D [--port 80]`
 *
 * Honoured like a real BMC: a one-time override (Enabled Once) is consumed by the next
 * power-on; PowerState follows the QEMU process (a guest that powers off is Off). The VM
 * has no disk, so a boot without the override still ends at the network: metalbox's
 * local-boot answer is what keeps it out of the installer then.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { qemuArgs, type Firmware } from './guest.js';
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
  },
});
for (const required of ['bmc-mac', 'vm-mac', 'tap', 'switch-ns', 'dir'] as const) {
  if (!values[required]) throw new Error(`--${required} is required`);
}
const dir = values.dir!;
const vm = { name: 'vm', firmware: values.firmware as Firmware, mac: values['vm-mac']!, tap: values.tap! };
let qemu: ChildProcess | null = null;

const log = (message: string) => process.stdout.write(`${new Date().toISOString()} bmc: ${message}\n`);

function powerOn(state: MockupState): void {
  if (qemu !== null) return;
  const boot = (state.read(LAB_SYSTEM)?.Boot ?? {}) as Record<string, unknown>;
  const pxe = boot.BootSourceOverrideTarget === 'Pxe' && boot.BootSourceOverrideEnabled !== 'Disabled';
  // A one-time override lasts for one boot, as on a real BMC.
  if (boot.BootSourceOverrideEnabled === 'Once')
    state.merge(LAB_SYSTEM, { Boot: { BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideTarget: 'None' } });
  const output = openSync(join(dir, 'qemu.log'), 'a');
  log(`power on: starting the ${vm.firmware} VM (${pxe ? 'one-time PXE boot' : 'no boot override'})`);
  const child = spawn('ip', ['netns', 'exec', values['switch-ns']!, 'qemu-system-x86_64', ...qemuArgs(vm, dir, { reboot: true })], {
    stdio: ['ignore', output, output],
  });
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

const mockup = await startMockup({
  tree: LAB_TREE,
  host: '0.0.0.0',
  port: Number(values.port),
  macs: { [TREE_SYSTEM_NIC]: vm.mac, [TREE_MANAGER_NIC]: values['bmc-mac']! },
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
log(`listening ${mockup.url}`);

const stop = async () => {
  await powerOff(mockup.state);
  await mockup.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
