import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Profile, profileKind } from '../profiles/profiles.js';
import { MetalboxError, isMetalboxError } from '../lib/errors.js';
import { newOperationId, type MachineRef } from '../lib/machine-ref.js';
import { RedfishError } from '../redfish/client.js';
import { BmcActionError, type ControlOptions, type PowerAction } from '../redfish/power.js';
import { IpmiError } from '../ipmi/client.js';
import type { BmcProtocol, BmcRecord, JobJson, MachineJson, MachineState, Store } from '../store/index.js';
import { BmcSessionError, type BmcSessions } from '../bmc/sessions.js';
import type { MachineControl } from '../bmc/control.js';
import {
  AGENT_OPERATION_FAILURES,
  CLEANABLE,
  DEPROVISIONABLE,
  INSPECTABLE,
  PROVISIONABLE,
  PROVISIONING,
  REPROVISIONABLE,
} from '../lifecycle/lifecycle.js';
import { StepFailure, type JobEngine, type JobHandler, type StepSuccess } from '../jobs/engine.js';
import { SECURE_CLEANING } from '../agent/tasks.js';

/** Provision, deprovision and power actions share one job kind: one disruptive operation per machine at a time. */
export const OPERATION = 'operation';

export type OperationAction = 'provision' | 'deprovision' | 'clean' | 'inspect' | 'power';

interface OperationInput {
  action: OperationAction;
  operationId: string;
  power: PowerAction;
}

/** pxe: a one-time PXE boot, answered by ProxyDHCP; virtual-media: a boot ISO the BMC inserts, for networks metalbox does not see. */
export type BootMethod = 'pxe' | 'virtual-media';

/** An operation's first step by how the machine boots: the step sequence itself says which it is. */
const FIRST_STEP = { pxe: 'boot-override', 'virtual-media': 'media-insert' } as const;

export interface OperationTicket {
  job: JobJson;
  machine: MachineJson;
  operationId: string;
}

/** A provisioning's: without a job for a deploy to a machine without a BMC (its agent, or the operator, boots it). */
export type ProvisionTicket = Omit<OperationTicket, 'job'> & { job: JobJson | null };

export interface PowerStatus {
  machineId: string;
  /** What metalbox drives the BMC with. */
  protocol: BmcProtocol;
  powerState: string | null;
  bootOverride: { target: string | null; enabled: string | null; mode: string | null };
  resetTypes: string[] | null;
}

export interface ProvisioningDependencies {
  store: Store;
  engine: JobEngine;
  sessions: BmcSessions;
  profiles: ReadonlyMap<string, Profile>;
  assetsDir?: string | undefined;
  /** Whether metalbox has an agent image to deploy image profiles with (metalbox agent build). */
  agentImage?: boolean;
  control?: Partial<ControlOptions>;
  /** The URL of a machine's boot ISO under an operation (ipxe/media-route.ts), for its BMC; absent without netboot HTTP. */
  mediaUrl?: ((machineId: string, operationId: string) => string) | undefined;
}

type Step = 'boot-override' | 'power' | 'disk-override' | 'media-insert' | 'media-boot' | 'media-eject';

const TIMEOUT_MS: Record<Step, number> = {
  'boot-override': 300_000,
  power: 600_000,
  'disk-override': 300_000,
  'media-insert': 300_000,
  'media-boot': 300_000,
  'media-eject': 300_000,
};

/**
 * The provisioning state machine (docs/contracts.md, Lifecycle states): `provision` moves a ready machine to
 * preparing, sets a one-time PXE boot and powers it on or resets it; from there the
 * machine's own boot moves it on (PXE seen: netbooting; kernel served: installing; the
 * installer's callback: provisioned). `deprovision` powers it off and makes it ready.
 *
 * Every action is under an operation id. A step that asked the BMC for a reset records
 * that intent (an event under the operation id) before the request; if the step is run
 * again after a crash, it reads the power state instead of resetting a second time.
 */
export class Provisioning implements JobHandler {
  readonly kind = OPERATION;

  constructor(private readonly deps: ProvisioningDependencies) {}

  /** Starts provisioning; every check that can refuse runs first, and a refusal changes nothing. */
  provision(ref: MachineRef, options: { profile?: string; retry?: boolean; boot?: BootMethod } = {}): ProvisionTicket {
    const { store } = this.deps;
    const machine = store.machines.resolve(ref);
    const boot = options.boot ?? 'pxe';
    if (boot === 'virtual-media') this.#requireVirtualMedia(machine);
    if (machine.nics.length === 0)
      throw new MetalboxError(
        'E_CONFLICT',
        `metalbox knows none of machine ${machine.id}'s NICs (its BMC lists none${machine.bmc?.protocol === 'ipmi' ? ': IPMI gives none' : ''}), so it could not tell its PXE requests from others': run metalbox inspect ${machine.id} first (the agent reads them)`,
      );
    const profileName = options.profile ?? machine.profile;
    if (profileName === null) {
      throw new MetalboxError('E_BAD_REF', `machine ${machine.id} has no profile (no server type gave it one): give --profile`);
    }
    const profile = this.deps.profiles.get(profileName);
    if (profile === undefined) {
      const known = [...this.deps.profiles.keys()];
      throw new MetalboxError(
        'E_BAD_REF',
        `unknown profile ${profileName}${known.length > 0 ? ` (known: ${known.join(', ')})` : ': no profiles are configured'}`,
      );
    }
    for (const asset of [profile.assets.kernel, ...profile.assets.initrds, profile.image?.asset ?? null]) {
      if (asset === null) continue;
      const path = this.deps.assetsDir === undefined ? null : join(this.deps.assetsDir, asset);
      if (path === null || !existsSync(path)) {
        throw new MetalboxError(
          'E_BAD_REF',
          `profile ${profileName}: ${asset} is missing${path === null ? ' (no --assets-dir)' : ` (${path})`}: put it there first`,
        );
      }
    }
    const from = options.retry ? REPROVISIONABLE : PROVISIONABLE;
    const pinned = options.profile !== undefined && options.profile !== machine.profile ? ' (set for this machine)' : '';
    const through = boot === 'virtual-media' ? ' from virtual media' : '';
    if (profileKind(profile) === 'image')
      return this.#agentOperation(
        machine,
        'provision',
        from,
        'deploying',
        `deploying with profile ${profileName}${pinned}${through}`,
        options.profile,
        undefined,
        boot,
      );
    this.#requireBmc(machine);
    return this.#start(
      machine,
      'provision',
      'cycle',
      from,
      'preparing',
      FIRST_STEP[boot],
      `provisioning with profile ${profileName}${pinned}${through}`,
      options.profile,
    );
  }

  /**
   * An operation of metalbox's agent (a deploy, a cleaning): the machine PXE-boots the agent.
   * With a BMC, the same boot override and power cycle as an installer. Without one, the
   * operation starts and nothing else: an agent holding the machine is refused at its next
   * question (another operation began), reboots and PXE-boots into it; a machine that is
   * off, or running its OS, needs someone to power it on or reboot it.
   */
  #agentOperation(
    machine: MachineJson,
    action: 'provision' | 'clean' | 'inspect',
    from: readonly MachineState[],
    to: MachineState,
    message: string,
    profile?: string,
    /** An event type that marks the operation (SECURE_CLEANING), written with its start. */
    mark?: string,
    boot: BootMethod = 'pxe',
  ): ProvisionTicket {
    const { store } = this.deps;
    if (!this.deps.agentImage)
      throw new MetalboxError('E_CONFLICT', `${message}: that needs metalbox's agent; run metalbox agent build first`);
    const bmc = store.bmcs.ofMachine(machine.id);
    if (bmc && bmc.ip !== null) return this.#start(machine, action, 'cycle', from, to, FIRST_STEP[boot], message, profile, mark);
    const unaided = `${message}: no BMC, so the machine's agent takes it at its next question (or power the machine on, or reboot it, into PXE)`;
    return this.#start(machine, action, 'cycle', from, to, null, unaided, profile, mark);
  }

  /** The agent reads the machine (PXE-booted as for a deploy) to fill and check what its BMC said; then it is classified again. */
  inspect(ref: MachineRef): ProvisionTicket {
    const machine = this.deps.store.machines.resolve(ref);
    return this.#agentOperation(machine, 'inspect', INSPECTABLE, 'inspecting', 'inspecting with the agent');
  }

  /**
   * An installed machine is powered off; one the agent deployed is wiped by it first
   * (cleaning). `secure`: each disk erases itself first where it can (NVMe format, ATA
   * secure erase), marked in the transaction that starts the cleaning, so a restart never
   * loses it.
   */
  deprovision(ref: MachineRef, options: { secure?: boolean } = {}): ProvisionTicket {
    const machine = this.deps.store.machines.resolve(ref);
    if (CLEANABLE.includes(machine.state)) {
      const message = options.secure
        ? 'cleaning: the agent has each disk erase itself (NVMe format, ATA secure erase, where the disk can), then wipes them'
        : 'cleaning: the agent wipes its disks';
      return this.#agentOperation(
        machine,
        'clean',
        CLEANABLE,
        'cleaning',
        message,
        undefined,
        options.secure ? SECURE_CLEANING : undefined,
      );
    }
    if (options.secure)
      throw new MetalboxError(
        'E_CONFLICT',
        `machine ${machine.id} is ${machine.state}: --secure erases disks with the agent, which cleans only machines it deployed (${CLEANABLE.join(', ')})`,
      );
    this.#requireBmc(machine);
    return this.#start(machine, 'deprovision', 'off', DEPROVISIONABLE, 'deprovisioning', 'power', 'deprovisioning: powering off');
  }

  /** A power action outside provisioning; it leaves the lifecycle state alone. */
  power(ref: MachineRef, action: PowerAction): OperationTicket {
    const { store } = this.deps;
    const machine = store.machines.resolve(ref);
    this.#requireBmc(machine);
    const operationId = newOperationId();
    const job = store.transaction(() => {
      const { job, created } = store.jobs.enqueue({
        kind: OPERATION,
        machineId: machine.id,
        step: 'power',
        input: { action: 'power', operationId, power: action },
      });
      if (!created)
        throw new MetalboxError(
          'E_CONFLICT',
          `machine ${machine.id} has an operation under way (job ${job.id}, ${job.input.action}): wait for it to end`,
        );
      store.machines.appendEvents([
        { machineId: machine.id, type: 'power', message: `power ${action} requested (job ${job.id})`, data: { job: job.id }, operationId },
      ]);
      return job;
    });
    this.deps.engine.wake();
    return { job, machine: store.machines.get(machine.id)!, operationId };
  }

  /** The power state and boot override as the BMC reports them now. */
  async powerStatus(ref: MachineRef, signal: AbortSignal): Promise<PowerStatus> {
    const { store } = this.deps;
    const machine = store.machines.resolve(ref);
    const bmc = this.#requireBmc(machine);
    const status = await this.deps.sessions
      .control(bmc, machine.id, signal, this.deps.control ?? {}, (control) => control.status())
      .catch((error: unknown) => {
        if (error instanceof BmcSessionError || error instanceof RedfishError || error instanceof IpmiError)
          throw new MetalboxError('E_BMC', `BMC ${bmc.mac}: ${error.message}`);
        throw error;
      });
    store.machines.setPower(machine.id, status.powerState);
    return { machineId: machine.id, protocol: bmc.protocol, ...status };
  }

  /**
   * After the agent wrote a machine's disk: a one-time disk boot through its BMC (AgentTasks'
   * DiskBoot), so the agent's reboot boots the new OS whatever the boot order; the PXE answer
   * is local boot either way. Queued in the caller's transaction; false without a BMC.
   */
  queueDiskBoot(machineId: string, operationId: string): boolean {
    const bmc = this.deps.store.bmcs.ofMachine(machineId);
    if (!bmc || bmc.ip === null) return false;
    const { created } = this.deps.store.jobs.enqueue({
      kind: OPERATION,
      machineId,
      step: 'disk-override',
      input: { action: 'provision', operationId, power: 'cycle' },
    });
    // After the caller's transaction commits: the engine leases what is committed.
    if (created) setImmediate(() => this.deps.engine.wake());
    return created;
  }

  /** Whether a queued disk boot is still under way (set, or failed, it no longer is). */
  diskBootPending(machineId: string): boolean {
    return this.deps.store.jobs.active(OPERATION, machineId)?.step === 'disk-override';
  }

  /**
   * The machine of a virtual media operation called in (MachineTrust.onMediaBoot): its BMC
   * ejects the ISO, so a reboot does not boot it again. Queued as its own job step; an
   * operation job still running (its power step) takes precedence and the ISO stays.
   */
  queueMediaEject(machineId: string, operationId: string): boolean {
    const { store } = this.deps;
    if (!store.bmcs.ofMachine(machineId)) return false;
    const { created } = store.jobs.enqueue({
      kind: OPERATION,
      machineId,
      step: 'media-eject',
      input: { action: 'provision', operationId, power: 'cycle' },
    });
    if (created) this.deps.engine.wake();
    return created;
  }

  timeoutMs(step: string): number {
    return TIMEOUT_MS[step as Step] ?? 300_000;
  }

  begin(): void {
    // The state changed when the operation was asked for (startOperation), in the same transaction as the job.
  }

  async run(job: JobJson, signal: AbortSignal): Promise<StepSuccess> {
    const { store } = this.deps;
    const input = job.input as unknown as OperationInput;
    const machineId = job.machineId!;
    const bmc = store.bmcs.ofMachine(machineId);
    if (!bmc) throw this.#fail(job, `machine ${machineId} has no BMC`);
    switch (job.step as Step) {
      case 'boot-override': {
        const result = await this.#session(job, bmc, signal, (control) => control.setOneTimeBoot('Pxe'));
        return this.#recorded(job, 'power', 'boot.override', `one-time PXE boot set on ${result.resource} and read back`, result.requests);
      }
      case 'power': {
        const outcome = await this.#session(job, bmc, signal, async (control) => {
          const system = await control.status();
          // A try cut short after asking for a reset: the BMC may or may not have done it, and
          // asking again could reset a machine already booting its installer. At most once:
          // not asked again; the operator is told what to check (see the commit below).
          const interrupted = store.machines.operationEvents(input.operationId).includes('power.requested');
          const plan = control.plan(input.power, system);
          if (interrupted) {
            const confirmed = input.power === 'off' ? system.powerState === 'Off' : false;
            return {
              powerState: system.powerState,
              resetTypes: [] as string[],
              note: ' (an interrupted try had asked already; not repeated)',
              unconfirmed: !confirmed,
            };
          }
          if (plan.length === 0)
            return { powerState: system.powerState, resetTypes: [] as string[], note: ' (nothing to do)', unconfirmed: false };
          store.machines.appendEvents([
            {
              machineId,
              type: 'power.requested',
              operationId: input.operationId,
              message: `asking the BMC for ${plan.join(' then ')} (power is ${system.powerState ?? 'unknown'})`,
              data: { job: job.id, resetTypes: plan },
            },
          ]);
          const result = await control.power(input.power, system);
          return { powerState: result.powerState, resetTypes: result.resetTypes, note: '', unconfirmed: false };
        });
        return {
          next: null,
          commit: () => {
            store.machines.setPower(machineId, outcome.powerState);
            const message = `power ${input.power}: ${outcome.resetTypes.length > 0 ? outcome.resetTypes.join(' then ') : 'no reset'}, now ${outcome.powerState ?? 'unknown'}${outcome.note}`;
            const event = {
              type: 'power',
              message,
              operationId: input.operationId,
              data: { job: job.id, resetTypes: outcome.resetTypes, powerState: outcome.powerState },
            };
            if (outcome.unconfirmed) {
              store.machines.appendEvents([
                { machineId, ...event },
                {
                  machineId,
                  type: 'warning',
                  operationId: input.operationId,
                  data: { job: job.id, powerState: outcome.powerState },
                  message:
                    `metalbox stopped after asking the BMC to power ${input.power} and before it confirmed; it does not ask twice ` +
                    `(power is ${outcome.powerState ?? 'unknown'} now). ${UNCONFIRMED_ADVICE[input.action](machineId)}`,
                },
              ]);
            } else if (input.action === 'deprovision')
              store.machines.transitionIf(machineId, ['deprovisioning'], 'ready', null, { ...event, message: `${message}; deprovisioned` });
            else store.machines.appendEvents([{ machineId, ...event }]);
          },
        };
      }
      case 'disk-override': {
        const result = await this.#session(job, bmc, signal, (control) => control.setOneTimeBoot('Hdd'));
        return this.#recorded(
          job,
          null,
          'boot.disk',
          `one-time disk boot set on ${result.resource} and read back: the agent's reboot boots the new OS`,
          result.requests,
        );
      }
      case 'media-insert': {
        const url = this.deps.mediaUrl?.(machineId, input.operationId);
        if (url === undefined) throw this.#fail(job, 'this metalbox has no URL to give the BMC for boot ISOs');
        const result = await this.#session(job, bmc, signal, (control) => control.insertMedia(url));
        return this.#recorded(
          job,
          'media-boot',
          'media.inserted',
          `boot ISO inserted as virtual media in ${result.drive} and read back`,
          result.requests,
        );
      }
      case 'media-boot': {
        const result = await this.#session(job, bmc, signal, (control) => control.setOneTimeBoot('Cd'));
        return this.#recorded(
          job,
          'power',
          'boot.override',
          `one-time CD boot (virtual media) set on ${result.resource} and read back`,
          result.requests,
        );
      }
      case 'media-eject': {
        const result = await this.#session(job, bmc, signal, (control) => control.ejectMedia());
        return this.#recorded(
          job,
          null,
          'media.ejected',
          `the machine called in: virtual media ejected from ${result.drive}`,
          result.requests,
        );
      }
      default:
        throw this.#fail(job, `unknown operation step ${job.step}`);
    }
  }

  /** A step whose outcome is one event of the operation, listing the requests it sent the BMC. */
  #recorded(job: JobJson, next: Step | null, type: string, message: string, requests: string[]): StepSuccess {
    const input = job.input as unknown as OperationInput;
    return {
      next,
      commit: () =>
        this.deps.store.machines.appendEvents([
          { machineId: job.machineId!, type, operationId: input.operationId, data: { job: job.id, requests }, message },
        ]),
    };
  }

  retrying(job: JobJson, failure: StepFailure, delayMs: number): void {
    const input = job.input as unknown as OperationInput;
    this.deps.store.machines.appendEvents([
      {
        machineId: job.machineId!,
        type: 'operation.retry',
        operationId: input.operationId,
        message: `${input.action} ${job.step} try ${job.attempts + 1} failed: ${failure.message}; next try in ${Math.round(delayMs / 1000)} s`,
        data: { job: job.id, attempt: job.attempts + 1, delayMs },
      },
    ]);
  }

  failure(job: JobJson, error: unknown): StepFailure {
    if (error instanceof StepFailure) return error;
    if (error instanceof BmcActionError) return this.#fail(job, error.message);
    if (error instanceof BmcSessionError) return this.#fail(job, error.message, error.reason === 'no-address');
    if (error instanceof RedfishError || error instanceof IpmiError) {
      const retryable =
        error instanceof RedfishError ? error.failure === 'unreachable' || error.failure === 'timeout' : error.failure === 'unreachable';
      return this.#fail(
        job,
        error.failure === 'auth' ? `the BMC refused the stored credentials: ${error.message}` : error.message,
        retryable,
      );
    }
    if (isMetalboxError(error)) return this.#fail(job, error.message);
    return this.#fail(job, (error as Error).message ?? String(error), true);
  }

  /**
   * A final failure: provisioning and deprovisioning end in provision_failed with the
   * reason, a deploy in deploy_failed; a power action only records it.
   */
  #fail(job: JobJson, reason: string, retryable = false): StepFailure {
    const input = job.input as unknown as OperationInput;
    const machineId = job.machineId!;
    return new StepFailure(reason, retryable, () => {
      const recordOnly = RECORDED_FAILURES[job.step as Step];
      if (recordOnly !== undefined) {
        this.deps.store.machines.appendEvents([
          { machineId, type: recordOnly.type, operationId: input.operationId, data: { job: job.id }, message: recordOnly.message(reason) },
        ]);
        return;
      }
      const event = {
        type: `${input.action}.failed`,
        message: `${input.action} ${job.step}: ${reason}`,
        operationId: input.operationId,
        data: { job: job.id },
      };
      if (input.action === 'power') this.deps.store.machines.appendEvents([{ machineId, ...event }]);
      else if (!this.deps.store.machines.transitionIf(machineId, PROVISIONING, 'provision_failed', reason, event))
        AGENT_OPERATION_FAILURES.some(({ from, to }) => this.deps.store.machines.transitionIf(machineId, from, to, reason, event));
    });
  }

  #start(
    machine: MachineJson,
    action: OperationAction,
    power: PowerAction,
    from: readonly MachineState[],
    to: MachineState,
    /** The job's first step; null: no job, the machine is moved and the operation begun (no BMC to ask). */
    step: Step | null,
    message: string,
    profile?: string,
    mark?: string,
  ): ProvisionTicket {
    const { store } = this.deps;
    const operationId = newOperationId();
    const job = store.transaction(() => {
      const queued =
        step === null ? null : store.jobs.enqueue({ kind: OPERATION, machineId: machine.id, step, input: { action, operationId, power } });
      if (queued !== null && !queued.created)
        throw new MetalboxError(
          'E_CONFLICT',
          `machine ${machine.id} has an operation under way (job ${queued.job.id}, ${queued.job.input.action}): wait for it to end`,
        );
      const job = queued?.job ?? null;
      store.machines.startOperation(
        machine.id,
        operationId,
        from,
        to,
        {
          type: action,
          message: job === null ? message : `${message} (job ${job.id})`,
          data: { job: job?.id ?? null, profile: profile ?? null },
        },
        profile,
      );
      if (mark !== undefined)
        store.machines.appendEvents([{ machineId: machine.id, type: mark, operationId, message: `operation marked ${mark}` }]);
      return job;
    });
    if (job !== null) this.deps.engine.wake();
    return { job, machine: store.machines.get(machine.id)!, operationId };
  }

  #requireVirtualMedia(machine: MachineJson): void {
    const bmc = this.#requireBmc(machine);
    if (bmc.protocol !== 'redfish')
      throw new MetalboxError('E_CONFLICT', `machine ${machine.id}'s BMC is driven over IPMI, which has no virtual media: boot it by PXE`);
    if (this.deps.mediaUrl === undefined)
      throw new MetalboxError('E_CONFLICT', 'virtual media needs the netboot HTTP routes, which this metalbox does not serve');
  }

  #requireBmc(machine: MachineJson): BmcRecord {
    const bmc = this.deps.store.bmcs.ofMachine(machine.id);
    if (!bmc || bmc.ip === null) throw new MetalboxError('E_CONFLICT', `machine ${machine.id} has no BMC address: onboard it first`);
    return bmc;
  }

  async #session<T>(job: JobJson, bmc: BmcRecord, signal: AbortSignal, work: (control: MachineControl) => Promise<T>): Promise<T> {
    try {
      return await this.deps.sessions.control(bmc, job.machineId!, signal, this.deps.control ?? {}, work);
    } catch (error) {
      throw this.failure(job, error);
    }
  }
}

/**
 * Steps after the machine's part is done, whose failure is recorded and fails nothing: a
 * written and verified image stays written if the BMC will not boot the disk once; a
 * machine that booted and called in stays booted if the BMC will not eject its ISO.
 */
const RECORDED_FAILURES: Partial<Record<Step, { type: string; message: (reason: string) => string }>> = {
  'disk-override': {
    type: 'boot.disk.failed',
    message: (reason) =>
      `the BMC did not set the one-time disk boot (${reason}); the agent reboots anyway, and the machine's PXE gets the local-boot answer`,
  },
  'media-eject': {
    type: 'media.eject.failed',
    message: (reason) =>
      `the BMC did not eject the virtual media (${reason}): eject it by hand before the machine reboots, or it may boot the ISO again`,
  },
};

/** What to do when a power request's outcome is unknown, per action. */
const UNCONFIRMED_ADVICE: Record<OperationAction, (machineId: string) => string> = {
  provision: (id) => `If the machine does not boot its installer within minutes, run: metalbox provision --retry ${id}`,
  deprovision: (id) => `Check it with metalbox power status ${id}; power it off with metalbox power off ${id}`,
  clean: (id) => `If the machine does not boot metalbox's agent within minutes, run: metalbox deprovision ${id}`,
  inspect: (id) => `If the machine does not boot metalbox's agent within minutes, wait for inspect_failed and run: metalbox inspect ${id}`,
  power: (id) => `Check it with metalbox power status ${id}`,
};
