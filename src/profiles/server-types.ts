import { MetalboxError } from '../lib/errors.js';
import type { MachineJson } from '../store/index.js';

/** A server type as the config file holds it (docs/contracts.md, Profiles): matchers over facts, and the profile its machines install. */
export interface ServerTypeConfig {
  name: string;
  match: Record<string, string | number>;
  profile?: string;
}

/** The facts a matcher can name, read from the machine JSON (§4). */
const FACTS: Record<string, (machine: MachineJson) => string | number | null> = {
  'system.manufacturer': (m) => m.system.manufacturer,
  'system.model': (m) => m.system.model,
  'system.sku': (m) => m.system.sku,
  'system.serial': (m) => m.system.serial,
  'system.biosVersion': (m) => m.system.biosVersion,
  'cpu.count': (m) => m.cpu.count,
  'cpu.cores': (m) => m.cpu.cores,
  'cpu.threads': (m) => m.cpu.threads,
  'cpu.model': (m) => m.cpu.model,
  'memory.totalGiB': (m) => m.memory.totalGiB,
  'memory.dimms': (m) => m.memory.dimms,
  'bmc.model': (m) => m.bmc?.model ?? null,
  'bmc.firmware': (m) => m.bmc?.firmware ?? null,
  'nics.count': (m) => m.nics.length,
  'drives.count': (m) => m.drives.length,
  'drives.totalBytes': (m) => m.drives.reduce((total, drive) => total + (drive.capacityBytes ?? 0), 0),
};

type Test = (value: string | number | null) => boolean;

interface Matcher {
  fact: string;
  /** As written, for explanations. */
  text: string;
  test: Test;
}

interface CompiledType {
  name: string;
  profile: string | null;
  matchers: Matcher[];
}

/** Why a type did or did not match one machine. */
export interface TypeVerdict {
  type: string;
  matched: boolean;
  /** Matchers that held (matched) or the first that failed, each with the machine's value. */
  reasons: string[];
  specificity: number;
}

export interface Classification {
  /** The most specific matching type; null when none matched or the best ones tie. */
  type: string | null;
  profile: string | null;
  /** Set when several equally specific types matched: an error in the types, not a choice to make. */
  tie: string[] | null;
  verdicts: TypeVerdict[];
}

const COMPARISON = /^(>=|<=|>|<|==|!=)\s*(-?\d+(?:\.\d+)?)$/;

/**
 * Server types: each machine gets the most specific type whose matchers all hold (the
 * one with the most matchers, like Matchbox groups); equally specific matches are a tie,
 * reported rather than settled by the order in the file.
 * Matchers: a number is numeric equality; `>=64`, `<=`, `>`, `<`, `==`, `!=` compare
 * numbers; a string with `*` or `?` is a glob (case-insensitive); any other string is equality.
 */
export class ServerTypes {
  #types: CompiledType[];

  constructor(types: readonly ServerTypeConfig[], profiles: ReadonlySet<string>) {
    this.#types = compileTypes(types, profiles);
  }

  /** Replaces every type at once (types applied through the API); on an error nothing changes. */
  replace(types: readonly ServerTypeConfig[], profiles: ReadonlySet<string>): void {
    this.#types = compileTypes(types, profiles);
  }

  get size(): number {
    return this.#types.length;
  }

  classify(machine: MachineJson): Classification {
    const verdicts = this.#types.map((type) => verdict(type, machine));
    const matched = verdicts.filter((entry) => entry.matched);
    const best = Math.max(...matched.map((entry) => entry.specificity));
    const winners = matched.filter((entry) => entry.specificity === best);
    if (winners.length > 1) return { type: null, profile: null, tie: winners.map((entry) => entry.type), verdicts };
    const winner = winners[0] ? this.#types.find((type) => type.name === winners[0]!.type)! : null;
    return { type: winner?.name ?? null, profile: winner?.profile ?? null, tie: null, verdicts };
  }
}

function compileTypes(types: readonly ServerTypeConfig[], profiles: ReadonlySet<string>): CompiledType[] {
  const names = new Set<string>();
  return types.map((type) => {
    if (names.has(type.name)) throw new MetalboxError('E_CONFIG', `serverTypes: ${type.name} is defined twice`);
    names.add(type.name);
    if (type.profile !== undefined && !profiles.has(type.profile)) {
      throw new MetalboxError('E_CONFIG', `serverTypes ${type.name}: no profile named ${type.profile}`);
    }
    const matchers = Object.entries(type.match).map(([fact, expected]) => compileMatcher(type.name, fact, expected));
    return { name: type.name, profile: type.profile ?? null, matchers };
  });
}

function verdict(type: CompiledType, machine: MachineJson): TypeVerdict {
  const reasons: string[] = [];
  for (const matcher of type.matchers) {
    const value = FACTS[matcher.fact]!(machine);
    const shown = `${matcher.fact} is ${value === null ? 'unknown' : JSON.stringify(value)}`;
    if (!matcher.test(value))
      return { type: type.name, matched: false, reasons: [`${shown}, not ${matcher.text}`], specificity: type.matchers.length };
    reasons.push(`${shown}, ${matcher.text}`);
  }
  return { type: type.name, matched: true, reasons, specificity: type.matchers.length };
}

function compileMatcher(typeName: string, fact: string, expected: string | number): Matcher {
  if (!(fact in FACTS)) {
    throw new MetalboxError('E_CONFIG', `serverTypes ${typeName}: no fact named ${fact} (facts: ${Object.keys(FACTS).join(', ')})`);
  }
  if (typeof expected === 'number')
    return { fact, text: `== ${expected}`, test: (value) => typeof value === 'number' && value === expected };
  const comparison = COMPARISON.exec(expected.trim());
  if (comparison) {
    const bound = Number(comparison[2]);
    const compare = COMPARE[comparison[1]!]!;
    return { fact, text: `${comparison[1]} ${bound}`, test: (value) => typeof value === 'number' && compare(value, bound) };
  }
  if (/^(>=|<=|>|<|==|!=)/.test(expected.trim())) {
    throw new MetalboxError(
      'E_CONFIG',
      `serverTypes ${typeName}: ${fact}: ${JSON.stringify(expected)} compares with something that is not a number`,
    );
  }
  if (/[*?]/.test(expected)) {
    const pattern = new RegExp(
      `^${expected
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
      'is',
    );
    return { fact, text: `like ${JSON.stringify(expected)}`, test: (value) => value !== null && pattern.test(String(value)) };
  }
  return { fact, text: `== ${JSON.stringify(expected)}`, test: (value) => value !== null && String(value) === expected };
}

const COMPARE: Record<string, (value: number, bound: number) => boolean> = {
  '>=': (value, bound) => value >= bound,
  '<=': (value, bound) => value <= bound,
  '>': (value, bound) => value > bound,
  '<': (value, bound) => value < bound,
  '==': (value, bound) => value === bound,
  '!=': (value, bound) => value !== bound,
};
