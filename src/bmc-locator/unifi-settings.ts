import { readFileSync } from 'node:fs';
import type { Config } from '../config/settings.js';
import { MetalboxError } from '../lib/errors.js';

export interface UnifiSettings {
  url: string;
  username: string;
  password: string;
  site: string;
  /** Accept the controller's self-signed certificate. */
  insecure: boolean;
}

/**
 * The UniFi resolver's settings from the config, with the password read from its file when
 * the config names one. Kept apart from the resolver, which brings undici: serve and
 * --print-config check these without loading it.
 */
export function readUnifiSettings(unifi: NonNullable<Config['unifi']>): UnifiSettings {
  let password = unifi.password;
  if (unifi.passwordFile !== undefined) {
    try {
      password = readFileSync(unifi.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new MetalboxError(
        'E_CONFIG',
        `unifi.passwordFile: cannot read ${unifi.passwordFile} (${(error as NodeJS.ErrnoException).code ?? error})`,
      );
    }
  }
  if (password === undefined) throw new MetalboxError('E_CONFIG', 'unifi: give password or passwordFile');
  return { url: unifi.url, username: unifi.username, password, site: unifi.site ?? 'default', insecure: unifi.insecure ?? false };
}
