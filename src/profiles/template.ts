import type { MachineJson } from '../store/index.js';
import { withoutControlCharacters } from '../lib/text.js';

/**
 * `{{ name }}` templates of boot profiles (docs/contracts.md, Profiles). The names are checked when the
 * config is loaded, so a typo stops the start instead of breaking a boot at 3 a.m.;
 * iPXE's own `${…}` settings are plain text here and pass through untouched.
 */
export interface TemplateVariables {
  mac: string;
  serverUrl: string;
  /** The base of this machine's /assets/ URLs: serverUrl, or one of the file threads' ports (http.fileThreads). */
  filesUrl: string;
  callbackUrl: string | null;
  /** The agent's base URL for this machine and operation (its token inside), for profiles that boot an agent. */
  agentUrl: string | null;
  /** The base of this machine's metadata files (ends in /: NoCloud's `s=` appends meta-data, user-data), its token inside. */
  metadataUrl: string | null;
  /** The booting machine's id, null for an unknown one (not a template name: templates say machine.id). */
  machineId: string | null;
  /** Its record; read from the store only for profiles that name machine.* (Profile.readsMachine). */
  machine: MachineJson | null;
}

/** A machine's URLs under one operation's token (netboot/callback-tokens.ts machineUrls makes them). */
export type MachineUrls = Pick<TemplateVariables, 'serverUrl' | 'filesUrl' | 'callbackUrl' | 'agentUrl' | 'metadataUrl'>;

/** The variables of a known machine's files (metadata, the config drive): its URLs, first NIC, id and record. */
export function machineVariables(machine: MachineJson, urls: MachineUrls): TemplateVariables {
  return { ...urls, mac: machine.nics[0]?.mac ?? '', machineId: machine.id, machine };
}

export class TemplateError extends Error {}

type Part = string | { name: string; path: string[] };

/** The shape of the machine JSON (§4) a template may reach into; `[]` marks an array of that shape. */
const SCALAR = null;
const MACHINE_SHAPE: Shape = {
  id: SCALAR,
  state: SCALAR,
  stateReason: SCALAR,
  power: SCALAR,
  bmc: { mac: SCALAR, ip: SCALAR, model: SCALAR, firmware: SCALAR, redfishVersion: SCALAR, ipSource: SCALAR },
  system: { manufacturer: SCALAR, model: SCALAR, serial: SCALAR, uuid: SCALAR, sku: SCALAR, biosVersion: SCALAR, powerState: SCALAR },
  cpu: { count: SCALAR, cores: SCALAR, threads: SCALAR, model: SCALAR },
  memory: { totalGiB: SCALAR, dimms: SCALAR },
  drives: [{ name: SCALAR, model: SCALAR, serial: SCALAR, capacityBytes: SCALAR, mediaType: SCALAR, protocol: SCALAR }],
  nics: [{ mac: SCALAR, name: SCALAR, speedMbps: SCALAR, linkStatus: SCALAR }],
  serverType: SCALAR,
  profile: SCALAR,
  createdAt: SCALAR,
  updatedAt: SCALAR,
};
type Shape = null | { [key: string]: Shape } | [Shape];

const TAG = /\{\{\s*([^{}]*?)\s*\}\}/g;
const NAME = /^[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*$/;
const TOP_LEVEL = new Set(['mac', 'serverUrl', 'filesUrl', 'callbackUrl', 'agentUrl', 'metadataUrl', 'machine']);

export class Template {
  readonly #parts: Part[] = [];
  /** The variable names used, e.g. `machine.system.serial`. */
  readonly names: string[] = [];

  constructor(readonly source: string) {
    let last = 0;
    for (const match of source.matchAll(TAG)) {
      this.#parts.push(source.slice(last, match.index));
      const name = match[1]!;
      checkName(name);
      const [root, ...path] = name.split('.');
      this.#parts.push({ name: root!, path });
      this.names.push(name);
      last = match.index + match[0].length;
    }
    const rest = source.slice(last);
    if (rest.includes('{{') || rest.includes('}}')) throw new TemplateError(`unbalanced "{{" or "}}" in ${JSON.stringify(excerpt(rest))}`);
    this.#parts.push(rest);
  }

  /** Fills the names in; a name with no value for this machine (a NIC index past the end) is an error. */
  render(variables: TemplateVariables): string {
    let text = '';
    for (const part of this.#parts) text += typeof part === 'string' ? part : renderVariable(part, variables);
    return text;
  }
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new TemplateError(`{{ ${name} }} is not a variable name`);
  const [root, ...path] = name.split('.');
  if (!TOP_LEVEL.has(root!))
    throw new TemplateError(
      `unknown variable {{ ${name} }}: the names are mac, serverUrl, callbackUrl, agentUrl, metadataUrl and machine.<field>`,
    );
  if (root !== 'machine') {
    if (path.length > 0) throw new TemplateError(`unknown variable {{ ${name} }}: ${root} has no fields`);
    return;
  }
  let shape: Shape = MACHINE_SHAPE;
  for (const key of path) {
    if (shape === SCALAR) throw new TemplateError(`unknown variable {{ ${name} }}: ${key} is past a plain value`);
    if (Array.isArray(shape)) {
      if (!/^\d+$/.test(key)) throw new TemplateError(`unknown variable {{ ${name} }}: a list needs an index, not ${key}`);
      shape = shape[0];
    } else {
      if (!Object.hasOwn(shape, key)) throw new TemplateError(`unknown variable {{ ${name} }}: the machine has no field ${key}`);
      shape = shape[key]!;
    }
  }
  if (shape !== SCALAR) throw new TemplateError(`{{ ${name} }} is not a plain value: name one of its fields`);
}

function renderVariable(part: { name: string; path: string[] }, variables: TemplateVariables): string {
  if (part.name !== 'machine') {
    const value = variables[part.name as 'mac' | 'serverUrl' | 'callbackUrl' | 'agentUrl' | 'metadataUrl'];
    if (value === null) throw new TemplateError(`{{ ${part.name} }} has no value here`);
    return value;
  }
  let node: unknown = variables.machine;
  for (const key of part.path) {
    if (node === null || node === undefined) break;
    node = (node as Record<string, unknown>)[key];
  }
  const name = ['machine', ...part.path].join('.');
  if (variables.machine === null) throw new TemplateError(`{{ ${name} }} has no value: the machine is not in the inventory`);
  if (node === undefined) throw new TemplateError(`{{ ${name} }} has no value for machine ${variables.machine.id}`);
  // Unknown values (null) render empty. Machine facts come from the BMC: without control
  // characters and `$` they cannot add an iPXE command or expand an iPXE setting.
  return node === null ? '' : withoutControlCharacters(String(node)).replaceAll('$', '');
}

function excerpt(text: string): string {
  const at = text.search(/\{\{|\}\}/);
  return text.slice(at, at + 40);
}
