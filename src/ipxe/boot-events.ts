import { Batcher } from '../lib/batcher.js';
import type { MachineEventInput, MachineState } from '../store/index.js';

/** The milestones of a netboot (DESIGN §5): each becomes a machine event. */
export type BootMilestone = 'boot.dhcp' | 'boot.tftp' | 'boot.script' | 'boot.kernel' | 'boot.initrd' | 'boot.asset';

/** Serving the kernel or an initrd is what moves a netbooting machine to installing. */
const ADVANCES: Partial<Record<BootMilestone, { from: readonly MachineState[]; to: MachineState }>> = {
  'boot.kernel': { from: ['netbooting'], to: 'installing' },
  'boot.initrd': { from: ['netbooting'], to: 'installing' },
};

type PendingEvent = MachineEventInput & { data: { count: number } & Record<string, unknown> };

/**
 * Boot milestones, recorded off the hot paths: DHCP, TFTP and HTTP only add to a map, and
 * a timer writes the map in one transaction. A firmware that repeats itself (DHCP retries,
 * EDK2's TFTP size probe) yields one event with a count, not a flood.
 */
export class BootEventRecorder extends Batcher<PendingEvent> {
  record(machineId: string, type: BootMilestone, message: string, data: Record<string, unknown> = {}): void {
    const advance = ADVANCES[type];
    this.add(
      `${machineId}|${type}|${message}`,
      () => ({
        machineId, type, message, at: new Date().toISOString(), data: { ...data, count: 1 },
        ...(advance ? { advance: { ...advance, reason: message } } : {}),
      }),
      (pending) => pending.data.count++,
    );
  }
}
