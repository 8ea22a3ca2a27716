import type { ProvisioningTimeouts } from '../config/settings.js';
import { DISCOVERY_EXPIRES_AFTER, TIMED_OUT_STATES, type TimedState } from '../lifecycle/lifecycle.js';
import type { Logger } from '../lib/log.js';
import type { MachineState, MachineStore } from '../store/index.js';

/**
 * The per-state deadlines of provisioning (docs/contracts.md, Lifecycle states): a machine left in preparing,
 * netbooting, installing or deprovisioning past its state's timeout becomes
 * provision_failed, one left deploying or booting becomes deploy_failed, with the last
 * thing that happened to it as the reason. The check
 * reads the store, so deadlines hold across restarts; the move is conditional, so a
 * callback that lands at the same moment wins cleanly.
 */
export class StateTimeouts {
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly machines: MachineStore,
    private readonly timeouts: ProvisioningTimeouts,
    private readonly log: Logger,
    private readonly intervalMs = 5000,
  ) {}

  start(): () => void {
    this.#timer = setInterval(() => this.check(), this.intervalMs);
    this.#timer.unref();
    return () => {
      if (this.#timer) clearInterval(this.#timer);
      this.#timer = null;
    };
  }

  /** Fails every overdue machine; returns how many. */
  check(now = Date.now()): number {
    const cutoffs: Partial<Record<MachineState, string>> = {};
    for (const [state, seconds] of Object.entries(this.timeouts) as Array<[keyof ProvisioningTimeouts, number]>) {
      cutoffs[state] = new Date(now - seconds * 1000).toISOString();
    }
    let failed = 0;
    try {
      for (const { id, state, since } of this.machines.overdue(cutoffs)) {
        const seconds = this.timeouts[state as keyof ProvisioningTimeouts];
        const last = this.machines.lastEvent(id);
        const reason = `timed out: ${state} for more than ${seconds} s (since ${since}); last event: ${last ? `${last.type}: ${last.message}` : 'none'}`;
        const moved = this.machines.transitionIf(id, [state], TIMED_OUT_STATES[state as TimedState], reason, {
          type: 'timeout',
          message: reason,
          operationId: this.machines.operationOf(id),
          data: { state, seconds, since, lastEvent: last?.id ?? null },
        });
        if (moved) {
          failed++;
          this.log.warn({ machineId: id, state, seconds }, `machine ${id} timed out in ${state}`);
        }
      }
      const expired = this.machines.expireDiscovered(new Date(now - DISCOVERY_EXPIRES_AFTER * 1000).toISOString());
      if (expired.length > 0) {
        this.log.info(
          { machines: expired.length },
          `${expired.length} machines found by PXE never heard from their agent in ${DISCOVERY_EXPIRES_AFTER} s: removed`,
        );
      }
    } catch (error) {
      this.log.error({ err: error }, 'cannot check provisioning timeouts; trying again at the next interval');
    }
    return failed;
  }
}
