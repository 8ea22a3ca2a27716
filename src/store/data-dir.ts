import { accessSync, chmodSync, closeSync, constants, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MetalboxError } from '../lib/errors.js';

/**
 * Creates the data dir (0700) or checks an existing one, and fails before anything starts
 * when it cannot be used: a server that starts and then cannot write its inventory is
 * worse than one that refuses to start.
 */
export function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    // Holds the inventory, the API token and the credential key: nobody else reads it.
    if (process.getuid?.() === statSync(dir).uid) chmodSync(dir, 0o700);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new MetalboxError('E_DATA_DIR', `data dir ${dir} is not usable (${reason}); choose another with --data-dir or METALBOX_DATA_DIR`, { cause: error });
  }
}

/**
 * One writer per data dir: the lock file holds the serving process's pid. A lock left by
 * a process that no longer runs (kill -9, power loss) is taken over.
 */
export function lockDataDir(dir: string): () => void {
  const path = join(dir, 'metalbox.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        if (readPid(path) === process.pid) unlinkSync(path);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readPid(path);
      if (holder !== null && holder !== process.pid && isRunning(holder)) {
        throw new MetalboxError('E_DATA_DIR_LOCKED', `data dir ${dir} is in use by another metalbox serve (pid ${holder})`);
      }
      unlinkSync(path);
    }
  }
  throw new MetalboxError('E_DATA_DIR_LOCKED', `data dir ${dir}: could not take the lock ${path}`);
}

function readPid(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
