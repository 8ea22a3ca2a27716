import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const TOKEN_FILE = 'api-token';

/** The API token of this data dir, created (0600, 256 random bits) at first start. */
export function ensureApiToken(dataDir: string): string {
  const path = join(dataDir, TOKEN_FILE);
  const existing = readApiToken(dataDir);
  if (existing) return existing;
  const token = randomBytes(32).toString('base64url');
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, `${token}\n`);
  } finally {
    closeSync(fd);
  }
  return token;
}

/** The token a client sends: null when the file is absent or unreadable (reads need none). */
export function readApiToken(dataDir: string): string | null {
  try {
    const token = readFileSync(join(dataDir, TOKEN_FILE), 'utf8').trim();
    return token === '' ? null : token;
  } catch {
    return null;
  }
}
