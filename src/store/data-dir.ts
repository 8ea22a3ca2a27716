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
    throw new MetalboxError(
      'E_DATA_DIR',
      `data dir ${dir} is not usable (${reason}); choose another with --data-dir or METALBOX_DATA_DIR`,
      { cause: error },
    );
  }
}

/**
 * One writer per data dir: the lock file holds the serving process's pid and its start
 * time. A lock whose holder no longer runs (kill -9, power loss) is taken over, and so is
 * one whose pid now belongs to another process (pids are reused: after a reboot, or in a
 * container where metalbox is pid 1 every time): the start time tells them apart.
 */
export function lockDataDir(dir: string): () => void {
  const path = join(dir, 'metalbox.pid');
  const mine: LockHolder = { pid: process.pid, started: startTimeOf(process.pid) };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${mine.pid} ${mine.started ?? ''}\n`);
      closeSync(fd);
      return () => {
        if (readHolder(path)?.pid === process.pid) unlinkSync(path);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readHolder(path);
      if (holder !== null && holder.pid !== process.pid && isServing(holder)) {
        throw new MetalboxError('E_DATA_DIR_LOCKED', `data dir ${dir} is in use by another metalbox serve (pid ${holder.pid})`);
      }
      unlinkSync(path);
    }
  }
  throw new MetalboxError('E_DATA_DIR_LOCKED', `data dir ${dir}: could not take the lock ${path}`);
}

interface LockHolder {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22); null where /proc is not. */
  started: string | null;
}

function readHolder(path: string): LockHolder | null {
  try {
    const [pidText, started] = readFileSync(path, 'utf8').trim().split(/\s+/);
    const pid = Number.parseInt(pidText ?? '', 10);
    return Number.isSafeInteger(pid) && pid > 0 ? { pid, started: started || null } : null;
  } catch {
    return null;
  }
}

/** Whether the lock's holder is still the process that wrote it. */
function isServing(holder: LockHolder): boolean {
  if (!isRunning(holder.pid)) return false;
  const started = startTimeOf(holder.pid);
  if (started !== null && holder.started !== null) return started === holder.started;
  // A lock of an older metalbox (pid only): alive only if that pid is a metalbox serve now.
  const command = commandOf(holder.pid);
  return command === null || (command.includes('serve') && /metalbox|main\.js/.test(command));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/PID/stat; the command name before it is in parentheses and may hold spaces. */
function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function commandOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return null;
  }
}
