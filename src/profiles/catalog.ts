import type { ProfileConfig } from './profiles.js';
import { compileProfiles, type Profile, type ProfileOptions } from './profiles.js';
import { MetalboxError } from '../lib/errors.js';
import type { CatalogStore, MachineJson } from '../store/index.js';
import { ServerTypes, type ServerTypeConfig } from './server-types.js';

export type CatalogSource = 'config' | 'api';

export interface ProfileView {
  name: string;
  source: CatalogSource;
  spec: ProfileConfig;
}

export interface ServerTypeView {
  name: string;
  source: CatalogSource;
  spec: ServerTypeConfig;
}

export interface TypeCheck {
  machines: number;
  /** Machines several equally specific types match: an error in the types. */
  ties: Array<{ machineId: string; types: string[] }>;
  /** Machines no type matches. */
  unmatched: string[];
  /** How many machines each type would classify now. */
  matched: Record<string, number>;
}

/**
 * The profiles and server types in force: the config file's, then those applied through
 * the API, which win by name (docs/contracts.md, Profiles) and outlive restarts. One Map of compiled
 * profiles and one ServerTypes are shared with netboot, provisioning and onboarding and
 * updated in place, so an apply takes effect on the next request. Every apply is checked
 * whole (templates, asset paths, matchers, profile references) before anything is stored.
 */
export class Catalog {
  readonly profiles = new Map<string, Profile>();
  readonly serverTypes: ServerTypes;
  readonly #profileSpecs = new Map<string, ProfileView>();
  #typeSpecs: ServerTypeView[] = [];
  /** The config file's, which an API entry of the same name hides until it is deleted. */
  readonly #config: { profiles: Record<string, ProfileConfig>; serverTypes: ServerTypeConfig[] };

  constructor(
    private readonly store: CatalogStore,
    config: { profiles: Record<string, ProfileConfig>; serverTypes: ServerTypeConfig[] },
    private readonly options: ProfileOptions,
  ) {
    this.#config = config;
    for (const [name, spec] of Object.entries(config.profiles)) this.#profileSpecs.set(name, { name, source: 'config', spec });
    for (const entry of store.profiles<ProfileConfig>())
      this.#profileSpecs.set(entry.name, { name: entry.name, source: 'api', spec: entry.spec });
    this.#compileProfiles();
    this.#typeSpecs = merge(
      config.serverTypes.map((spec) => ({ name: spec.name, source: 'config' as const, spec })),
      store.serverTypes<ServerTypeConfig>().map((entry) => ({ name: entry.name, source: 'api' as const, spec: entry.spec })),
    );
    this.serverTypes = new ServerTypes(
      this.#typeSpecs.map((entry) => entry.spec),
      new Set(this.profiles.keys()),
    );
  }

  listProfiles(): ProfileView[] {
    return [...this.#profileSpecs.values()];
  }

  profile(name: string): ProfileView {
    const view = this.#profileSpecs.get(name);
    if (!view) throw new MetalboxError('E_NOT_FOUND', `no profile ${name}`);
    return view;
  }

  /** Adds or replaces profiles; returns their names and the warnings (assets not there yet). */
  applyProfiles(specs: Record<string, ProfileConfig>): { applied: string[]; warnings: string[] } {
    const warnings: string[] = [];
    try {
      compileProfiles(specs, { ...this.options, discoveryProfile: undefined, warn: (message) => warnings.push(message) });
    } catch (error) {
      throw asInputError(error);
    }
    this.store.saveProfiles(Object.entries(specs).map(([name, spec]) => ({ name, spec })));
    for (const [name, spec] of Object.entries(specs)) this.#profileSpecs.set(name, { name, source: 'api', spec });
    this.#compileProfiles();
    return { applied: Object.keys(specs), warnings };
  }

  listServerTypes(): ServerTypeView[] {
    return [...this.#typeSpecs];
  }

  serverType(name: string): ServerTypeView {
    const view = this.#typeSpecs.find((entry) => entry.name === name);
    if (!view) throw new MetalboxError('E_NOT_FOUND', `no server type ${name}`);
    return view;
  }

  /** Adds or replaces server types by name. Machines keep their classification until they are onboarded again. */
  applyServerTypes(specs: ServerTypeConfig[]): { applied: string[] } {
    const names = new Set<string>();
    for (const spec of specs) {
      if (names.has(spec.name)) throw new MetalboxError('E_BAD_REF', `server type ${spec.name} is given twice`);
      names.add(spec.name);
    }
    const next = merge(
      this.#typeSpecs,
      specs.map((spec) => ({ name: spec.name, source: 'api' as const, spec })),
    );
    try {
      this.serverTypes.replace(
        next.map((entry) => entry.spec),
        new Set(this.profiles.keys()),
      );
    } catch (error) {
      throw asInputError(error);
    }
    this.store.saveServerTypes(specs.map((spec) => ({ name: spec.name, spec })));
    this.#typeSpecs = next;
    return { applied: specs.map((spec) => spec.name) };
  }

  /**
   * Deletes a profile applied through the API: the config file's of the same name, if any,
   * is in force again (`restored`). Refused while a machine, a server type or discovery
   * names a profile that would then be gone; a config file's profile is removed there.
   */
  deleteProfile(name: string): { deleted: string; restored: 'config' | null } {
    const view = this.profile(name);
    if (view.source === 'config')
      throw new MetalboxError('E_CONFLICT', `profile ${name} comes from the config file: remove it there and restart`);
    const fromConfig = this.#config.profiles[name];
    if (fromConfig === undefined) {
      const users = [
        ...this.store.machinesWithProfile(name).map((id) => `machine ${id}`),
        ...this.#typeSpecs.filter((entry) => entry.spec.profile === name).map((entry) => `server type ${entry.name}`),
        ...(this.options.discoveryProfile === name ? ['boot.discoveryProfile'] : []),
      ];
      if (users.length > 0) throw new MetalboxError('E_CONFLICT', `profile ${name} is in use by ${users.join(', ')}: change those first`);
    }
    this.store.deleteProfile(name);
    if (fromConfig === undefined) this.#profileSpecs.delete(name);
    else this.#profileSpecs.set(name, { name, source: 'config', spec: fromConfig });
    this.#compileProfiles();
    return { deleted: name, restored: fromConfig === undefined ? null : 'config' };
  }

  /** Deletes a server type applied through the API (the config file's of the same name is in force again). Machines keep the type they were given until they are classified again. */
  deleteServerType(name: string): { deleted: string; restored: 'config' | null } {
    const view = this.serverType(name);
    if (view.source === 'config')
      throw new MetalboxError('E_CONFLICT', `server type ${name} comes from the config file: remove it there and restart`);
    const fromConfig = this.#config.serverTypes.find((spec) => spec.name === name);
    const next = fromConfig
      ? this.#typeSpecs.map((entry) => (entry.name === name ? { name, source: 'config' as const, spec: fromConfig } : entry))
      : this.#typeSpecs.filter((entry) => entry.name !== name);
    this.serverTypes.replace(
      next.map((entry) => entry.spec),
      new Set(this.profiles.keys()),
    );
    this.store.deleteServerType(name);
    this.#typeSpecs = next;
    return { deleted: name, restored: fromConfig === undefined ? null : 'config' };
  }

  /** Classifies every machine with the types in force, reporting ties and machines no type matches. */
  check(machines: MachineJson[]): TypeCheck {
    const result: TypeCheck = {
      machines: machines.length,
      ties: [],
      unmatched: [],
      matched: Object.fromEntries(this.#typeSpecs.map((entry) => [entry.name, 0])),
    };
    for (const machine of machines) {
      const classification = this.serverTypes.classify(machine);
      if (classification.tie) result.ties.push({ machineId: machine.id, types: classification.tie });
      else if (classification.type === null) result.unmatched.push(machine.id);
      else result.matched[classification.type] = (result.matched[classification.type] ?? 0) + 1;
    }
    return result;
  }

  #compileProfiles(): void {
    const compiled = compileProfiles(Object.fromEntries([...this.#profileSpecs].map(([name, view]) => [name, view.spec])), this.options);
    this.profiles.clear();
    for (const [name, profile] of compiled) this.profiles.set(name, profile);
  }
}

/** `later` entries replace `earlier` ones of the same name, in place; new ones are appended. */
function merge(earlier: ServerTypeView[], later: ServerTypeView[]): ServerTypeView[] {
  const merged = [...earlier];
  for (const entry of later) {
    const index = merged.findIndex((existing) => existing.name === entry.name);
    if (index >= 0) merged[index] = entry;
    else merged.push(entry);
  }
  return merged;
}

/** A config error in applied input is the caller's input error (400), not the server's config. */
function asInputError(error: unknown): unknown {
  return error instanceof MetalboxError && error.code === 'E_CONFIG' ? new MetalboxError('E_BAD_REF', error.message) : error;
}
