import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

/**
 * The secret held in `path`, created (0600, 256 random bits, base64url) when absent. The
 * file is opened with O_EXCL, so two processes racing to create it cannot both win.
 */
export function ensureSecretFile(path: string): string {
  const existing = readSecretFile(path);
  if (existing) return existing;
  const secret = randomBytes(32).toString('base64url');
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, `${secret}\n`);
  } finally {
    closeSync(fd);
  }
  return secret;
}

/** The secret in `path`; null when the file is absent, empty or unreadable. */
export function readSecretFile(path: string): string | null {
  try {
    const secret = readFileSync(path, 'utf8').trim();
    return secret === '' ? null : secret;
  } catch {
    return null;
  }
}
