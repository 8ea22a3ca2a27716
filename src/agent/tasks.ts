import { AGENT_HOLDS, DEPLOYING } from '../lifecycle/lifecycle.js';
import { MetalboxError } from '../lib/errors.js';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { type ImageFormat, type Profile, type ProfileImage, profileKind } from '../profiles/profiles.js';
import { type MachineUrls, machineVariables } from '../profiles/template.js';
import type { ServerTypes } from '../profiles/server-types.js';
import type { Store } from '../store/index.js';
import { configDrive } from './config-drive.js';
import { type AgentDrive, type AgentInventory, inventorySummary } from './inventory.js';
import { agentFacts, type ReportOutcome, recordAgentInspection, recordAgentReport } from './reports.js';
import { chooseRootDevice, describeDrive } from './root-device.js';

/** The event that marks a cleaning as secure (deprovision --secure): its wipe has each disk erase itself first. */
export const SECURE_CLEANING = 'clean.secure';

/** What the agent does next; the agent reads these flat objects with sed, so values never hold a quote. */
export type AgentTask =
  | { task: 'inventory' }
  | { task: 'deploy'; image: string; sha256: string; format: ImageFormat; device: string }
  /** Disks as /dev paths, space-separated (the agent's shell splits them); secure: each disk erased by itself first, where it can. */
  | { task: 'wipe'; devices: string; secure: boolean }
  | { task: 'wait'; seconds: number }
  | { task: 'reboot' }
  | { task: 'poweroff' };

/** What the agent reports at the end of a deploy. */
export type DeployOutcome = { result: 'written'; bytes: number; sha256: string; seconds: number } | { result: 'failed'; reason: string };

/** What the agent reports at the end of a wipe; `secure`, after a secure wipe, says how the disk erased itself or why it could not. */
export type CleanOutcome =
  | { result: 'wiped'; disks: Array<{ device: string; discarded: boolean; secure?: string }> }
  | { result: 'failed'; reason: string };

/**
 * The BMC's one-time disk boot after a deploy (provisioning's, given by server.ts), so the
 * reboot boots the new OS whatever the boot order: queued with the move to booting, and
 * whether it is still under way (the agent waits for it before it reboots).
 */
export interface DiskBoot {
  /** Queues it in the caller's transaction; false when the machine has no BMC to ask. */
  queue(machineId: string, operationId: string): boolean;
  pending(machineId: string): boolean;
}

/** How long an agent waits for the BMC's disk boot before it asks again. */
const DISK_BOOT_WAIT_SECONDS = 5;

/** How long a holding agent waits between two questions. */
const HOLD_SECONDS = 15;

export interface AgentTaskOptions {
  store: Store;
  serverTypes: () => ServerTypes;
  profiles: () => ReadonlyMap<string, Profile>;
  /** Where a profile's image file is when it is served by metalbox: a raw one's size rules out smaller disks. */
  assetsDir?: string | undefined;
  diskBoot?: DiskBoot;
}

/**
 * The agent's side of the lifecycle: each answer to an agent is decided here from the
 * machine's state and its operation's events, in one transaction with what the agent
 * reported. Discovered, inspecting: read it. Deploying: read it (the disks of this boot),
 * then write the image to the disk the hints pick. Written: reboot into the disk (after
 * the BMC's one-time disk boot). Cleaning: read it, then wipe every disk it has. Held
 * (ready without a BMC): wait, so a deploy needs nobody at the machine.
 *
 * A disk is written at most once a deploy: the agent says it starts writing before its
 * first byte (deploy.writing, committed before the answer); an agent that asks for its
 * task after that has lost its write (it rebooted, or was restarted), and the deploy
 * fails rather than write the disk a second time. The next deploy starts with a wipe.
 */
export class AgentTasks {
  constructor(private readonly options: AgentTaskOptions) {}

  /** The next task of an admitted agent; may fail the deploy (no disk fits, a write cut short), then the task is to hold. */
  next(machineId: string, operationId: string, urls: MachineUrls): AgentTask {
    const { store } = this.options;
    return store.transaction(() => {
      const state = store.machines.stateOf(machineId);
      if (state === 'discovered' || state === 'inspecting') return { task: 'inventory' } as const;
      if (state === 'booting') return this.#rebootIntoDisk(machineId);
      if (state === 'deploying' || state === 'cleaning') {
        const done = store.machines.operationEvents(operationId);
        if (state === 'deploying' && done.includes('deploy.writing')) {
          this.#fail(
            machineId,
            operationId,
            'the agent asked for its task again after it began writing the disk (it rebooted, or lost metalbox mid-write): ' +
              'the disk is not written twice for one deploy; provision again (each deploy starts with a wipe)',
          );
          return this.#hold(machineId);
        }
        // Read first: the disks of this boot (kernel names hold for one boot only).
        if (!done.includes('agent.facts')) return { task: 'inventory' } as const;
        if (state === 'deploying') return this.#deployTask(machineId, operationId, urls);
        // A wipe asked again (the agent restarted) is done again: never skipped.
        const drives = (store.machines.facts(machineId)['agent.drives'] ?? []) as AgentDrive[];
        return {
          task: 'wipe',
          devices: drives
            .filter((drive) => !drive.removable)
            .map((drive) => `/dev/${drive.device}`)
            .join(' '),
          secure: done.includes(SECURE_CLEANING),
        };
      }
      return this.#hold(machineId);
    });
  }

  /** What the agent read: discovery's inventory (and merge), an inspection, or the disks of a deploy's or a cleaning's boot; then the next task. */
  report(machineId: string, operationId: string, inventory: AgentInventory, urls: MachineUrls): ReportOutcome & { task: AgentTask } {
    const { store } = this.options;
    return store.transaction(() => {
      const state = store.machines.stateOf(machineId);
      if (state === 'discovered') {
        const outcome = recordAgentReport(store, this.options.serverTypes(), machineId, operationId, inventory);
        // Merged into a machine with a BMC: metalbox can power it on again when it needs it.
        if (outcome.mergedInto !== undefined) return { ...outcome, task: { task: 'poweroff' } };
        return { ...outcome, task: this.next(machineId, operationId, urls) };
      }
      if (state === 'inspecting') {
        const outcome = recordAgentInspection(store, this.options.serverTypes(), machineId, operationId, inventory);
        return { ...outcome, task: this.next(machineId, operationId, urls) };
      }
      store.machines.putFacts(machineId, agentFacts(inventory));
      store.machines.appendEvents([
        {
          machineId,
          type: 'agent.facts',
          operationId,
          message: `${inventorySummary(inventory)}: ${inventory.drives.map(describeDrive).join('; ') || 'no disks'}`,
          data: { drives: inventory.drives.map((drive) => drive.device) },
        },
      ]);
      // The task first: deciding it may fail the deploy (no disk fits), and the answer says so.
      const task = this.next(machineId, operationId, urls);
      return { machineId, state: store.machines.stateOf(machineId)!, task };
    });
  }

  /** The agent's progress on the image: the first report (0 bytes) marks the disk as being written for this deploy. */
  progress(machineId: string, operationId: string, bytes: number, mbps: number): void {
    const { store } = this.options;
    store.transaction(() => {
      if (store.machines.stateOf(machineId) !== 'deploying') throw new MetalboxError('E_CONFLICT', `machine ${machineId} is not deploying`);
      const first = !store.machines.operationEvents(operationId).includes('deploy.writing');
      store.machines.appendEvents([
        first
          ? { machineId, type: 'deploy.writing', operationId, message: 'the agent began writing the image', data: { bytes } }
          : {
              machineId,
              type: 'deploy.progress',
              operationId,
              message: `${formatBytes(bytes)} written, ${mbps} MB/s`,
              data: { bytes, mbps },
            },
      ]);
    });
  }

  /** The end of the agent's deploy: booting (then it reboots into the disk), or deploy_failed with its reason. */
  outcome(machineId: string, operationId: string, outcome: DeployOutcome): AgentTask {
    const { store } = this.options;
    return store.transaction(() => {
      const state = store.machines.stateOf(machineId);
      // The answer to an earlier report was lost and the agent sent it again.
      if (state === 'booting') return this.#rebootIntoDisk(machineId);
      if (state !== 'deploying') return this.#hold(machineId);
      const image = this.#profile(machineId)?.image ?? null;
      if (outcome.result === 'failed') {
        this.#fail(machineId, operationId, `the agent: ${outcome.reason}`);
        return this.#hold(machineId);
      }
      if (image !== null && outcome.sha256 !== image.sha256) {
        this.#fail(machineId, operationId, `the agent wrote an image with sha256 ${outcome.sha256}, expected ${image.sha256}`);
        return this.#hold(machineId);
      }
      const rate = outcome.seconds > 0 ? Math.round(outcome.bytes / outcome.seconds / 1e6) : null;
      store.machines.transitionIf(machineId, ['deploying'], 'booting', null, {
        type: 'deploy.written',
        operationId,
        message: `image written and verified: ${formatBytes(outcome.bytes)} in ${outcome.seconds} s${rate === null ? '' : ` (${rate} MB/s)`}, config drive added; rebooting into its disk`,
        data: { bytes: outcome.bytes, seconds: outcome.seconds, sha256: outcome.sha256 },
      });
      this.options.diskBoot?.queue(machineId, operationId);
      return this.#rebootIntoDisk(machineId);
    });
  }

  /** The end of the agent's wipe: ready (then it holds or powers off), or clean_failed with its reason. */
  cleaned(machineId: string, operationId: string, outcome: CleanOutcome): AgentTask {
    const { store } = this.options;
    return store.transaction(() => {
      if (store.machines.stateOf(machineId) !== 'cleaning') return this.#hold(machineId);
      if (outcome.result === 'failed') {
        const reason = `the agent: ${outcome.reason}`;
        store.machines.transitionIf(machineId, ['cleaning'], 'clean_failed', reason, {
          type: 'clean.failed',
          operationId,
          message: `cleaning failed: ${reason}`,
        });
        return this.#hold(machineId);
      }
      const disks = outcome.disks.map((disk) => {
        const how = [disk.secure?.replace(/^unsupported:/, 'no secure erase: '), disk.discarded ? 'discarded' : null].filter(Boolean);
        return `${disk.device.replace(/^\/dev\//, '')}${how.length > 0 ? ` (${how.join(', ')})` : ''}`;
      });
      store.machines.transitionIf(machineId, ['cleaning'], 'ready', null, {
        type: 'clean.wiped',
        operationId,
        message: `disks wiped: ${disks.join(', ') || 'none seen'}; partition tables, signatures and each partition's start zeroed`,
        data: { disks: outcome.disks },
      });
      return this.#hold(machineId);
    });
  }

  /** The machine's config drive: its profile's metadata files rendered for it (NoCloud's meta-data and user-data at least). */
  configDrive(machineId: string, variables: MachineUrls): Buffer {
    const profile = this.#profile(machineId);
    if (profile === null) throw new MetalboxError('E_CONFLICT', `machine ${machineId} has no profile`);
    const full = machineVariables(this.options.store.machines.get(machineId)!, variables);
    return configDrive(profile.metadataNames.map((name) => [name, Buffer.from(profile.metadata(name, full) ?? '')] as const));
  }

  /** Reboot, once the BMC's one-time disk boot (when there is one) is set or has failed. */
  #rebootIntoDisk(machineId: string): AgentTask {
    if (this.options.diskBoot?.pending(machineId)) return { task: 'wait', seconds: DISK_BOOT_WAIT_SECONDS };
    return { task: 'reboot' };
  }

  #deployTask(machineId: string, operationId: string, urls: MachineUrls): AgentTask {
    const profile = this.#profile(machineId);
    const image = profile?.image ?? null;
    if (profile === null || image === null || profileKind(profile) !== 'image') {
      this.#fail(machineId, operationId, `profile ${profile?.name ?? '(none)'} is not an image profile`);
      return this.#hold(machineId);
    }
    const drives = (this.options.store.machines.facts(machineId)['agent.drives'] ?? []) as AgentDrive[];
    const choice = chooseRootDevice(drives, image.rootDevice, this.#rawImageBytes(image));
    if ('reason' in choice) {
      this.#fail(machineId, operationId, choice.reason);
      return this.#hold(machineId);
    }
    return {
      task: 'deploy',
      image: image.url(urls.filesUrl),
      sha256: image.sha256,
      format: image.format,
      device: `/dev/${choice.drive.device}`,
    };
  }

  /** A raw image under assetsDir is as large as the disk it needs; a compressed one's size says nothing of that. */
  #rawImageBytes(image: ProfileImage): number | null {
    const { assetsDir } = this.options;
    if (image.format !== 'raw' || image.asset === null || assetsDir === undefined) return null;
    try {
      return statSync(join(assetsDir, image.asset)).size;
    } catch {
      return null;
    }
  }

  #profile(machineId: string): Profile | null {
    const name = this.options.store.machines.get(machineId)?.profile ?? null;
    const profile = name === null ? undefined : this.options.profiles().get(name);
    return profile ?? null;
  }

  #fail(machineId: string, operationId: string, reason: string): void {
    this.options.store.machines.transitionIf(machineId, DEPLOYING, 'deploy_failed', reason, {
      type: 'deploy.failed',
      operationId,
      message: `deploy failed: ${reason}`,
    });
  }

  /** A machine without a BMC keeps its agent (metalbox could not power it on again); one with a BMC is powered off. */
  #hold(machineId: string): AgentTask {
    const { store } = this.options;
    const state = store.machines.stateOf(machineId);
    if (state !== null && AGENT_HOLDS.includes(state) && !store.bmcs.ofMachine(machineId)) return { task: 'wait', seconds: HOLD_SECONDS };
    return { task: 'poweroff' };
  }
}

function formatBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${Math.round(bytes / 1e6)} MB`;
}
