import { Batcher, type BatcherOptions } from '../lib/batcher.js';
import { sourcesOf, type MachineState } from '../lifecycle/lifecycle.js';
import type { MachineEventInput } from '../store/index.js';

/** The milestones of a netboot (docs/contracts.md, Lifecycle states): each becomes a machine event. */
export type BootMilestone = 'boot.dhcp' | 'boot.tftp' | 'boot.script' | 'boot.kernel' | 'boot.initrd' | 'boot.asset';

/**
 * A PXE request from a machine being prepared is what moves it to netbooting; serving the
 * kernel or an initrd moves it to installing. (One batch may hold both, in order.)
 */
const toNetbooting = { from: sourcesOf('netbooting', 'boot milestone'), to: 'netbooting' } as const;
const toInstalling = { from: sourcesOf('installing', 'boot milestone'), to: 'installing' } as const;
const ADVANCES: Partial<Record<BootMilestone, { from: readonly MachineState[]; to: MachineState }>> = {
  'boot.dhcp': toNetbooting,
  'boot.tftp': toNetbooting,
  'boot.script': toNetbooting,
  'boot.kernel': toInstalling,
  'boot.initrd': toInstalling,
};

type PendingEvent = MachineEventInput & { data: { count: number } & Record<string, unknown> };

/**
 * How long a machine's repeats of one milestone merge into one event after it was written:
 * longer than a PXE ROM's DHCP retry gaps (4, 8, 16 s), short enough that an operator
 * following the events of a looping machine sees it move.
 */
const REPEAT_HOLD_MS = 10_000;

/**
 * Boot milestones, recorded off the hot paths: DHCP, TFTP and HTTP only add to a map, and
 * a timer writes the map in one transaction. A firmware that repeats itself (DHCP retries,
 * EDK2's TFTP size probe, a script fetched in a loop) yields one event with a count per
 * REPEAT_HOLD_MS, not a flood.
 */
export class BootEventRecorder extends Batcher<PendingEvent> {
  constructor(options: BatcherOptions<PendingEvent>) {
    super({ repeatHoldMs: REPEAT_HOLD_MS, ...options });
  }

  record(machineId: string, type: BootMilestone, message: string, data: Record<string, unknown> = {}): void {
    const advance = ADVANCES[type];
    this.add(
      machineId,
      `${type}|${message}`,
      () => ({
        machineId,
        type,
        message,
        at: new Date().toISOString(),
        data: { ...data, count: 1 },
        ...(advance ? { advance: { ...advance, reason: message } } : {}),
      }),
      (pending) => pending.data.count++,
    );
  }
}
