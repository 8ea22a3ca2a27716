/**
 * The machine lifecycle in one place: the states, every move between them with what
 * triggers it, the named sets of states the rest of the code asks about, and which states
 * time out. The store refuses a move this table does not have (in the same transaction),
 * so adding a state is a row here plus the code that triggers it. docs/contracts.md shows
 * the flows; the state names are a contract.
 */

export const STABLE_STATES = ['enrolled', 'ready', 'unclassified', 'provisioned', 'active'] as const;
export const FAILED_STATES = [
  'bmc_unreachable',
  'auth_failed',
  'inspect_failed',
  'provision_failed',
  'deploy_failed',
  'clean_failed',
] as const;
export const TRANSIENT_STATES = [
  'resolving',
  'connecting',
  'inspecting',
  'classifying',
  'preparing',
  'netbooting',
  'installing',
  'deprovisioning',
  'discovered',
  'deploying',
  'booting',
  'cleaning',
] as const;

export const MACHINE_STATES = [...STABLE_STATES, ...FAILED_STATES, ...TRANSIENT_STATES] as const;
export type MachineState = (typeof MACHINE_STATES)[number];

/** What makes a machine move. */
export type Trigger = 'operator' | 'onboarding step' | 'provisioning step' | 'boot milestone' | 'callback' | 'agent' | 'timeout';

export interface Move {
  from: readonly MachineState[];
  to: MachineState;
  trigger: Trigger;
  /** What happens, in an operator's words (docs and the table test print it). */
  when: string;
}

/** The state of each onboarding step while it runs, one job step per transient state. */
export const ONBOARDING_STEP_STATES = {
  resolve: 'resolving',
  connect: 'connecting',
  inspect: 'inspecting',
  classify: 'classifying',
} as const;

/** Onboarding's own states: where an onboarding step may fail from. */
const ONBOARDING: readonly MachineState[] = ['enrolled', ...Object.values(ONBOARDING_STEP_STATES)];

/** Where a machine boots its installer (`preparing` too: a server that was on may reach PXE before its reset is recorded). */
export const INSTALLING: readonly MachineState[] = ['preparing', 'netbooting', 'installing'];
/**
 * Where a machine PXE-boots metalbox's agent, which reads it (discovered; inspecting, for
 * `metalbox inspect`: onboarding's Redfish inspection never PXE-boots it), writes its disk
 * (deploying) or wipes its disks (cleaning).
 */
export const AGENT_BOOTS: readonly MachineState[] = ['discovered', 'inspecting', 'deploying', 'cleaning'];
/**
 * Where an agent that has read the machine, or failed its deploy, stays up asking for its
 * next task, when metalbox could not power the machine on again (no BMC): a deploy then
 * needs no one at the machine. Its requests are under the operation that booted it.
 */
export const AGENT_HOLDS: readonly MachineState[] = ['ready', 'unclassified', 'deploy_failed', 'clean_failed'];
/** Where a classification ends: a server type matched (or none is configured), or none did. */
export const CLASSIFIED: readonly MachineState[] = ['ready', 'unclassified'];
/** Where an image written by the agent boots from the disk, and its OS reports `booted` under the deploy's operation. */
export const DISK_BOOTS: readonly MachineState[] = ['booting'];
/** Where a machine acts under an operation whose token its requests carry: its installer's callback, its agent's reports, its first boot's. */
export const UNDER_OPERATION: readonly MachineState[] = [...INSTALLING, ...AGENT_BOOTS, ...DISK_BOOTS];
/** Being provisioned, installed or deployed: onboarding it again would disrupt that. */
export const BUSY: readonly MachineState[] = [...INSTALLING, 'deprovisioning', 'provisioned', 'deploying', 'booting', 'active', 'cleaning'];
/** Where `provision` may start: ready, or after a failed try. */
export const PROVISIONABLE: readonly MachineState[] = ['ready', 'provision_failed', 'deploy_failed'];
/** `provision --retry` also starts over a provisioning on its way. */
export const REPROVISIONABLE: readonly MachineState[] = [...PROVISIONABLE, ...INSTALLING, 'deploying', 'booting'];
/** `deprovision` of an installed machine powers it off; */
export const DEPROVISIONABLE: readonly MachineState[] = ['provisioned', 'provision_failed'];
/** of a machine the agent deployed (or failed to), wipes its disks through the agent first: cleaning (again: starts it over). */
export const CLEANABLE: readonly MachineState[] = ['active', 'deploy_failed', 'clean_failed', 'cleaning'];
/** Where a provisioning or deprovisioning step fails from. */
export const PROVISIONING: readonly MachineState[] = [...INSTALLING, 'deprovisioning'];
/** Where a deploy fails from: the BMC's steps, the agent's report, or silence past the state's timeout. */
export const DEPLOYING: readonly MachineState[] = ['deploying', 'booting'];
/** Where `metalbox inspect` may start: the agent reads a machine that is not busy, to fill and check what Redfish said. */
export const INSPECTABLE: readonly MachineState[] = [...CLASSIFIED, 'inspect_failed'];
/** Where the BMC's steps of an agent operation fail from, and to which state. */
export const AGENT_OPERATION_FAILURES: ReadonlyArray<{ from: readonly MachineState[]; to: MachineState }> = [
  { from: DEPLOYING, to: 'deploy_failed' },
  { from: ['cleaning'], to: 'clean_failed' },
  { from: ['inspecting'], to: 'inspect_failed' },
];
/** Onboarding again starts from enrolled, from anywhere not busy. */
const REONBOARDABLE: readonly MachineState[] = MACHINE_STATES.filter((state) => !BUSY.includes(state));

/**
 * Seconds each state may last before it fails (`provisioning.timeouts` changes them), and
 * the state it fails to: firmware POST on a big server takes minutes before it even asks
 * for PXE; an installer, up to an hour.
 */
export const TIMEOUTS = {
  preparing: 600,
  netbooting: 900,
  installing: 3600,
  deprovisioning: 600,
  deploying: 3600,
  booting: 1800,
  cleaning: 3600,
  inspecting: 1800,
} as const;
export type TimedState = keyof typeof TIMEOUTS;
/** Where each timed state fails to: an agent silent mid-deploy, or an OS that never reports from its disk, fail the deploy. */
export const TIMED_OUT_STATES: Record<TimedState, MachineState> = {
  preparing: 'provision_failed',
  netbooting: 'provision_failed',
  installing: 'provision_failed',
  deprovisioning: 'provision_failed',
  deploying: 'deploy_failed',
  booting: 'deploy_failed',
  cleaning: 'clean_failed',
  inspecting: 'inspect_failed',
};
/**
 * Seconds a machine PXE discovery made may wait for its agent's report before the record
 * goes (with its events): a spoofed DHCP client never reports, so a flood leaves nothing.
 */
export const DISCOVERY_EXPIRES_AFTER = 1800;

export const MOVES: readonly Move[] = [
  { from: REONBOARDABLE, to: 'enrolled', trigger: 'operator', when: 'metalbox onboard, again' },
  { from: ['enrolled'], to: 'resolving', trigger: 'onboarding step', when: "looking for the BMC's address" },
  { from: ['resolving'], to: 'connecting', trigger: 'onboarding step', when: 'the address is known' },
  { from: ['connecting'], to: 'inspecting', trigger: 'onboarding step', when: 'logged in to Redfish' },
  // Another system of the same BMC is inspected with it, whatever it was doing (kept as it was).
  { from: MACHINE_STATES, to: 'inspecting', trigger: 'onboarding step', when: 'another system of the BMC is inspected' },
  { from: ['inspecting'], to: 'classifying', trigger: 'onboarding step', when: 'the inventory is read' },
  { from: ['classifying'], to: 'ready', trigger: 'onboarding step', when: 'a server type matched, or none is configured' },
  { from: ['classifying'], to: 'unclassified', trigger: 'onboarding step', when: 'no server type, or a tie' },
  { from: ONBOARDING, to: 'bmc_unreachable', trigger: 'onboarding step', when: 'no address, no answer, or a certificate that changed' },
  { from: ONBOARDING, to: 'auth_failed', trigger: 'onboarding step', when: 'the BMC refused the login' },
  { from: ONBOARDING, to: 'inspect_failed', trigger: 'onboarding step', when: 'answers that are not Redfish' },
  { from: PROVISIONABLE, to: 'preparing', trigger: 'operator', when: 'metalbox provision' },
  { from: INSTALLING, to: 'preparing', trigger: 'operator', when: 'metalbox provision --retry' },
  { from: ['preparing'], to: 'netbooting', trigger: 'boot milestone', when: 'its PXE request, TFTP download or script' },
  { from: ['preparing', 'netbooting'], to: 'installing', trigger: 'boot milestone', when: 'its kernel or an initrd is served' },
  { from: INSTALLING, to: 'provisioned', trigger: 'callback', when: 'the installer reports installed' },
  { from: INSTALLING, to: 'provision_failed', trigger: 'callback', when: 'the installer reports failed' },
  { from: PROVISIONING, to: 'provision_failed', trigger: 'provisioning step', when: 'the BMC refused the boot override or the reset' },
  {
    from: (Object.keys(TIMEOUTS) as TimedState[]).filter((state) => TIMED_OUT_STATES[state] === 'provision_failed'),
    to: 'provision_failed',
    trigger: 'timeout',
    when: 'a provisioning state lasted past provisioning.timeouts',
  },
  { from: DEPROVISIONABLE, to: 'deprovisioning', trigger: 'operator', when: 'metalbox deprovision' },
  { from: ['discovered'], to: 'inspecting', trigger: 'agent', when: 'the agent of a machine found by PXE reports what it read' },
  { from: ['inspecting'], to: 'classifying', trigger: 'agent', when: "the agent's inventory is stored" },
  { from: ['classifying'], to: 'ready', trigger: 'agent', when: "the agent's inventory matched a server type, or none is configured" },
  { from: ['classifying'], to: 'unclassified', trigger: 'agent', when: "the agent's inventory matched no server type, or a tie" },
  { from: ['deprovisioning'], to: 'ready', trigger: 'provisioning step', when: 'powered off' },
  { from: PROVISIONABLE, to: 'deploying', trigger: 'operator', when: 'metalbox provision with an image profile' },
  { from: ['deploying', 'booting'], to: 'deploying', trigger: 'operator', when: 'metalbox provision --retry with an image profile' },
  { from: ['deploying'], to: 'booting', trigger: 'agent', when: 'the image is written and verified and the config drive is written' },
  { from: ['booting'], to: 'active', trigger: 'callback', when: 'the installed OS reports booted from its own disk' },
  { from: DEPLOYING, to: 'deploy_failed', trigger: 'agent', when: 'the agent reports the deploy failed, or no disk fits the hints' },
  { from: DEPLOYING, to: 'deploy_failed', trigger: 'provisioning step', when: 'the BMC refused the boot override or the reset' },
  { from: DEPLOYING, to: 'deploy_failed', trigger: 'timeout', when: 'the agent or the installed OS was silent past provisioning.timeouts' },
  { from: CLEANABLE, to: 'cleaning', trigger: 'operator', when: 'metalbox deprovision of a machine the agent deployed' },
  {
    from: ['cleaning'],
    to: 'ready',
    trigger: 'agent',
    when: "the agent wiped every disk: partition tables, signatures, each partition's start",
  },
  { from: ['cleaning'], to: 'clean_failed', trigger: 'agent', when: 'the agent could not wipe a disk' },
  { from: ['cleaning'], to: 'clean_failed', trigger: 'provisioning step', when: 'the BMC refused the boot override or the reset' },
  { from: ['cleaning'], to: 'clean_failed', trigger: 'timeout', when: 'the agent was silent past provisioning.timeouts' },
  { from: INSPECTABLE, to: 'inspecting', trigger: 'operator', when: 'metalbox inspect: the agent reads the machine' },
  { from: ['inspecting'], to: 'inspect_failed', trigger: 'provisioning step', when: 'the BMC refused the boot override or the reset' },
  { from: ['inspecting'], to: 'inspect_failed', trigger: 'timeout', when: 'the agent (or the BMC) was silent past provisioning.timeouts' },
];

/**
 * The operations whose durations the metrics measure: one starts when a machine enters a
 * `starts` state from outside `during`, goes on while it stays within `during`, and ends
 * when it reaches an `ok` or a `failed` state; any other state abandons it.
 */
export const OPERATION_SPANS: ReadonlyArray<{
  operation: 'onboarding' | 'install' | 'deploy' | 'clean';
  starts: readonly MachineState[];
  during: readonly MachineState[];
  ok: readonly MachineState[];
  failed: readonly MachineState[];
}> = [
  {
    operation: 'onboarding',
    starts: ['enrolled'],
    during: ONBOARDING,
    ok: CLASSIFIED,
    failed: ['bmc_unreachable', 'auth_failed', 'inspect_failed'],
  },
  { operation: 'install', starts: ['preparing'], during: INSTALLING, ok: ['provisioned'], failed: ['provision_failed'] },
  { operation: 'deploy', starts: ['deploying'], during: DEPLOYING, ok: ['active'], failed: ['deploy_failed'] },
  { operation: 'clean', starts: ['cleaning'], during: ['cleaning'], ok: ['ready'], failed: ['clean_failed'] },
];

/** States a new machine starts in: enrolled by onboarding, inspecting when found as another system of a BMC, discovered by PXE. */
export const INITIAL_STATES: readonly MachineState[] = ['enrolled', 'inspecting', 'discovered'];

/** Whether the table has a move from `from` to `to`; staying put is always allowed. */
export function canMove(from: MachineState, to: MachineState): boolean {
  return from === to || MOVES.some((move) => move.to === to && move.from.includes(from));
}

/** The states `trigger` moves a machine from into `to`: what a boot milestone or a callback may advance. */
export function sourcesOf(to: MachineState, trigger: Trigger): MachineState[] {
  return [...new Set(MOVES.filter((move) => move.to === to && move.trigger === trigger).flatMap((move) => move.from))];
}

/** A state change as the timelines print it: `from → to` when the machine moved, else the state it stayed in; `-` for none. */
export function stateChangeText(from: MachineState | null, to: MachineState | null): string {
  return from === to ? (to ?? '-') : `${from ?? '-'} → ${to ?? '-'}`;
}

/** A shortest list of moves from `from` to `to` (the states after each move), or null when the table has no way. */
export function pathBetween(from: MachineState, to: MachineState): MachineState[] | null {
  const previous = new Map<MachineState, MachineState | null>([[from, null]]);
  const queue: MachineState[] = [from];
  while (queue.length > 0) {
    const state = queue.shift()!;
    if (state === to) {
      const path: MachineState[] = [];
      for (let at: MachineState | null = to; at !== null && at !== from; at = previous.get(at)!) path.unshift(at);
      return path;
    }
    for (const move of MOVES) {
      if (move.from.includes(state) && !previous.has(move.to)) {
        previous.set(move.to, state);
        queue.push(move.to);
      }
    }
  }
  return null;
}
