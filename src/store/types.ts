import type { MachineState } from '../lifecycle/lifecycle.js';

/** The machine JSON of docs/contracts.md, Machine JSON: a contract for the API, `show -o json` and `ls -o json`. */
export interface MachineJson {
  id: string;
  state: MachineState;
  stateReason: string | null;
  power: string | null;
  bmc: BmcJson | null;
  system: SystemJson;
  cpu: { count: number | null; cores: number | null; threads: number | null; model: string | null };
  memory: { totalGiB: number | null; dimms: number | null };
  drives: DriveJson[];
  nics: NicJson[];
  serverType: string | null;
  profile: string | null;
  /** In maintenance: metalbox gives its NICs no boot answer at all (DHCP, TFTP, script) until it is taken out. */
  maintenance: boolean;
  /** What the operator should look at though the machine works (ls shows the first, show all). */
  warnings: string[];
  createdAt: string;
  updatedAt: string;
}

export interface BmcJson {
  mac: string;
  /** How metalbox drives it: redfish or ipmi. */
  protocol: 'redfish' | 'ipmi';
  ip: string | null;
  model: string | null;
  firmware: string | null;
  redfishVersion: string | null;
  ipSource: string | null;
}

export interface SystemJson {
  manufacturer: string | null;
  model: string | null;
  serial: string | null;
  uuid: string | null;
  sku: string | null;
  biosVersion: string | null;
  powerState: string | null;
}

export interface DriveJson {
  name: string | null;
  model: string | null;
  serial: string | null;
  capacityBytes: number | null;
  mediaType: string | null;
  protocol: string | null;
}

export interface NicJson {
  mac: string;
  name: string | null;
  speedMbps: number | null;
  linkStatus: string | null;
}

export interface MachineEventJson {
  id: number;
  machineId: string;
  at: string;
  type: string;
  fromState: MachineState | null;
  toState: MachineState | null;
  message: string;
  data: unknown;
  operationId: string | null;
}
