import { readFileSync } from 'node:fs';
import { MetalboxError } from '../lib/errors.js';
import { normalizeMac } from '../lib/mac.js';
import type { Credential } from '../store/index.js';

/** A default login for every BMC whose MAC starts with `macPrefix` (a vendor OUI, or longer). */
export interface DefaultCredential {
  macPrefix: string;
  username: string;
  password?: string;
  passwordFile?: string;
}

/**
 * Default BMC credentials by MAC prefix, as IronCore's metal-operator does: a fleet's BMCs
 * of one vendor share the factory or site login, so onboarding by MAC alone works. The
 * longest matching prefix wins. A password file is read when used, so it can be rotated.
 */
export class DefaultCredentials {
  readonly #entries: Array<DefaultCredential & { prefix: string }>;

  constructor(entries: readonly DefaultCredential[]) {
    this.#entries = entries
      .map((entry) => {
        const prefix = normalizePrefix(entry.macPrefix);
        if (prefix === null) throw new MetalboxError('E_CONFIG', `bmc.credentials: ${entry.macPrefix} is not a MAC prefix like 94:40:c9`);
        if ((entry.password === undefined) === (entry.passwordFile === undefined)) {
          throw new MetalboxError('E_CONFIG', `bmc.credentials ${entry.macPrefix}: give exactly one of password and passwordFile`);
        }
        return { ...entry, prefix };
      })
      .sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The default login of a BMC, or null when no prefix matches. */
  for(bmcMac: string): Credential | null {
    const entry = this.#entries.find((candidate) => bmcMac.startsWith(candidate.prefix));
    if (!entry) return null;
    if (entry.password !== undefined) return { username: entry.username, password: entry.password };
    let password: string;
    try {
      password = readFileSync(entry.passwordFile!, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new MetalboxError(
        'E_CONFIG',
        `bmc.credentials ${entry.macPrefix}: cannot read ${entry.passwordFile} (${(error as NodeJS.ErrnoException).code ?? error})`,
      );
    }
    return { username: entry.username, password };
  }
}

/** `94:40:C9`, `94-40-c9`, `9440c9` → `94:40:c9`; null when it is not 1 to 6 octets of hex. */
function normalizePrefix(text: string): string | null {
  const hex = text.trim().toLowerCase().replace(/[:.-]/g, '');
  if (!/^([0-9a-f]{2}){1,6}$/.test(hex)) return null;
  const prefix = hex.match(/../g)!.join(':');
  return hex.length === 12 ? normalizeMac(prefix) : prefix;
}
