import { type ChassisAction, type IpmiClient, IpmiError } from './client.js';

/**
 * Power and one-time boot over IPMI, the counterpart of redfish/power.ts. Every change is
 * read back: the boot device from the boot flags, the power state from Get Chassis Status
 * until it settles.
 */

export type IpmiPowerAction = 'on' | 'off' | 'cycle';

export interface IpmiControlOptions {
  pollMs: number;
  settleMs: number;
  signal?: AbortSignal;
}

/**
 * The chassis commands that take a machine from `powerState` to what `action` wants:
 * power on from off; power off to stop; to restart a running machine, power cycle (off,
 * then on after the BMC's own interval: what Ironic's ipmitool driver does for a reboot).
 * Empty: nothing to do.
 */
export function ipmiPowerPlan(action: IpmiPowerAction, powerState: 'On' | 'Off'): ChassisAction[] {
  switch (action) {
    case 'on':
      return powerState === 'On' ? [] : ['on'];
    case 'off':
      return powerState === 'Off' ? [] : ['off'];
    case 'cycle':
      return powerState === 'Off' ? ['on'] : ['cycle'];
  }
}

/** Sends each chassis command of the plan and waits for the power state it leads to. */
export async function runPowerPlan(
  client: IpmiClient,
  plan: readonly ChassisAction[],
  options: IpmiControlOptions,
): Promise<{ powerState: 'On' | 'Off'; requests: string[] }> {
  const requests: string[] = [];
  let powerState = await client.powerState();
  for (const action of plan) {
    requests.push(`Chassis Control: power ${action}`);
    await client.chassisControl(action);
    powerState = await settle(client, action === 'off' ? 'Off' : 'On', options);
  }
  return { powerState, requests };
}

const DEVICE_NAMES = { pxe: 'PXE', disk: 'disk', cdrom: 'CD/DVD' } as const;

/**
 * A one-time boot from `device` (boot flags valid, next boot only, EFI for a UEFI machine),
 * read back. Only the device is compared: the valid bit clears itself 60 s after the write
 * unless the machine restarts (IPMI 2.0 §28.12), and ipmi_sim behind a chassis_control
 * program reports the device alone.
 */
export async function setIpmiOneTimeBoot(
  client: IpmiClient,
  device: 'pxe' | 'disk' | 'cdrom',
  efi: boolean,
): Promise<{ resource: string; requests: string[] }> {
  const requests = [`Set System Boot Options 5: ${device}, next boot only${efi ? ', EFI' : ', legacy'}`];
  try {
    await client.setBootDevice(device, efi);
  } catch (error) {
    if (error instanceof IpmiError && error.failure === 'refused')
      throw new IpmiError(
        'refused',
        `the BMC refused the one-time ${DEVICE_NAMES[device]} boot${efi ? ' with the EFI flag' : ''}: completion code ${formatCode(error.code)} (${error.message})`,
        error.code,
      );
    throw error;
  }
  const flags = await client.bootFlags();
  requests.push(`Get System Boot Options 5: ${flags.device}${flags.valid ? ', valid' : ''}${flags.efi ? ', EFI' : ''}`);
  if (flags.device !== device)
    throw new IpmiError(
      'refused',
      `the BMC accepted the one-time ${DEVICE_NAMES[device]} boot but did not keep it: its boot flags read back ${flags.device}`,
    );
  return { resource: 'IPMI boot flags', requests };
}

export function formatCode(code: number | null): string {
  return code === null ? '(none)' : `0x${code.toString(16).padStart(2, '0')}`;
}

async function settle(client: IpmiClient, wanted: 'On' | 'Off', options: IpmiControlOptions): Promise<'On' | 'Off'> {
  const deadline = Date.now() + options.settleMs;
  for (;;) {
    const state = await client.powerState();
    if (state === wanted) return state;
    if (Date.now() > deadline)
      throw new IpmiError(
        'refused',
        `the BMC accepted the command, but power is ${state} and not ${wanted} after ${options.settleMs / 1000} s`,
      );
    await new Promise<void>((resolve, reject) => {
      if (options.signal?.aborted) return reject(options.signal.reason);
      const timer = setTimeout(resolve, options.pollMs);
      options.signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(options.signal!.reason);
        },
        { once: true },
      );
    });
  }
}
