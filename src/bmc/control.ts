import type { IpmiClient } from '../ipmi/client.js';
import { ipmiPowerPlan, runPowerPlan, setIpmiOneTimeBoot } from '../ipmi/power.js';
import { IpmiError } from '../ipmi/client.js';
import type { RedfishBody, RedfishClient } from '../redfish/client.js';
import { ejectVirtualMedia, findVirtualCd, insertVirtualMedia, type MediaResult } from '../redfish/virtual-media.js';
import {
  type BootTarget,
  type ControlOptions,
  CONTROL_DEFAULTS,
  type OverrideResult,
  type PowerAction,
  readSystemControl,
  resetPlan,
  resetSystem,
  setOneTimeBoot,
  type SystemControl,
  vendorOf,
} from '../redfish/power.js';
import type { BmcProtocol } from '../store/index.js';

/**
 * Power and one-time boot of one machine, whatever its BMC speaks: provisioning asks this,
 * and the Redfish and IPMI modules do the asking. `status` reads the machine fresh; `plan`
 * and `power` act on what that read said, so the intent recorded before a power request
 * names exactly what is then sent.
 */
export interface MachineControl {
  readonly protocol: BmcProtocol;
  status(): Promise<ControlStatus>;
  setOneTimeBoot(target: BootTarget): Promise<OverrideResult>;
  /** The requests `power` would send from `status` (empty: nothing to do). */
  plan(action: PowerAction, status: ControlStatus): string[];
  power(action: PowerAction, status: ControlStatus): Promise<{ powerState: string | null; resetTypes: string[] }>;
  /** Puts the boot ISO at `image` in the machine's virtual CD (Redfish only). */
  insertMedia(image: string): Promise<MediaResult>;
  ejectMedia(): Promise<MediaResult>;
}

export interface ControlStatus {
  powerState: string | null;
  bootOverride: { target: string | null; enabled: string | null; mode: string | null };
  /** What the BMC allows to change power: Redfish reset types, or IPMI's chassis commands. */
  resetTypes: string[] | null;
}

export type BootMode = 'UEFI' | 'Legacy';

export function redfishControl(
  client: RedfishClient,
  root: RedfishBody,
  systemPath: string,
  options: Partial<ControlOptions> & { signal?: AbortSignal },
): MachineControl {
  let system: SystemControl | null = null;
  const read = async () => (system = await readSystemControl(client, root, systemPath));
  return {
    protocol: 'redfish',
    async status() {
      const { powerState, boot, resetTypes } = await read();
      return { powerState, bootOverride: { target: boot.target, enabled: boot.enabled, mode: boot.mode }, resetTypes };
    },
    async setOneTimeBoot(target) {
      return setOneTimeBoot(client, await read(), target, options);
    },
    plan(action, status) {
      return resetPlan(action, status.powerState, status.resetTypes);
    },
    async power(action) {
      const result = await resetSystem(client, system ?? (await read()), action, options);
      return { powerState: result.powerState, resetTypes: result.resetTypes };
    },
    async insertMedia(image) {
      const vendor = vendorOf(root, await client.get(systemPath));
      return insertVirtualMedia(client, await findVirtualCd(client, systemPath), image, vendor);
    },
    async ejectMedia() {
      return ejectVirtualMedia(client, await findVirtualCd(client, systemPath));
    },
  };
}

/** IPMI's chassis commands, as they are listed beside Redfish's reset types. */
const IPMI_COMMANDS = ['power on', 'power off', 'power cycle', 'hard reset'];
const IPMI_TARGETS = { pxe: 'Pxe', disk: 'Hdd', cdrom: 'Cd', bios: 'BiosSetup', none: 'None', other: 'Other' } as const;

const chassisPlan = (action: PowerAction, status: ControlStatus) => ipmiPowerPlan(action, status.powerState === 'On' ? 'On' : 'Off');

/**
 * `bootMode` sets the EFI flag of the boot flags: a UEFI machine told to boot PXE without
 * it boots legacy PXE, or nothing, on most BMCs.
 */
export function ipmiControl(
  client: IpmiClient,
  bootMode: BootMode,
  options: Partial<ControlOptions> & { signal?: AbortSignal },
): MachineControl {
  const settle = { pollMs: options.pollMs ?? CONTROL_DEFAULTS.pollMs, settleMs: options.settleMs ?? CONTROL_DEFAULTS.settleMs };
  return {
    protocol: 'ipmi',
    async status() {
      const powerState = await client.powerState();
      const flags = await client.bootFlags();
      return {
        powerState,
        bootOverride: {
          target: IPMI_TARGETS[flags.device],
          enabled: !flags.valid ? 'Disabled' : flags.persistent ? 'Continuous' : 'Once',
          mode: flags.efi ? 'UEFI' : 'Legacy',
        },
        resetTypes: IPMI_COMMANDS,
      };
    },
    async setOneTimeBoot(target) {
      const device = ({ Pxe: 'pxe', Hdd: 'disk', Cd: 'cdrom' } as const)[target];
      return setIpmiOneTimeBoot(client, device, bootMode === 'UEFI');
    },
    plan(action, status) {
      return chassisPlan(action, status).map((command) => `power ${command}`);
    },
    async power(action, status) {
      const plan = chassisPlan(action, status);
      const result = await runPowerPlan(client, plan, { ...settle, signal: options.signal });
      return { powerState: result.powerState, resetTypes: plan.map((command) => `power ${command}`) };
    },
    async insertMedia() {
      throw new IpmiError('refused', 'IPMI has no virtual media: boot the machine by PXE');
    },
    async ejectMedia() {
      throw new IpmiError('refused', 'IPMI has no virtual media');
    },
  };
}
