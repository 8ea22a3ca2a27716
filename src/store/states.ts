/** Lifecycle state names: a contract (docs/contracts.md, Lifecycle states) shared by the store, API and CLI. */
export const STABLE_STATES = ['enrolled', 'ready', 'unclassified', 'provisioned'] as const;
export const FAILED_STATES = ['bmc_unreachable', 'auth_failed', 'inspect_failed', 'provision_failed'] as const;
export const TRANSIENT_STATES = [
  'resolving',
  'connecting',
  'inspecting',
  'classifying',
  'preparing',
  'netbooting',
  'installing',
  'deprovisioning',
] as const;

export const MACHINE_STATES = [...STABLE_STATES, ...FAILED_STATES, ...TRANSIENT_STATES] as const;
export type MachineState = (typeof MACHINE_STATES)[number];
