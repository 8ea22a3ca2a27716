import { MetalboxError } from '../lib/errors.js';
// The driver's type, not database.ts's alias: database.ts imports this module.
import type Database from 'better-sqlite3';

type SqliteDatabase = Database.Database;

/** Why the database cannot be written, in the words an operator acts on. */
export type StorageProblem = 'disk full' | 'I/O error' | 'database disk image is malformed' | 'read-only file system or database';

/** The SQLite result codes that mean the storage, not the request, is at fault (better-sqlite3 puts them in `code`). */
export function storageProblemOf(error: unknown): StorageProblem | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') return 'disk full';
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO') return 'I/O error';
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') return 'database disk image is malformed';
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS') return 'read-only file system or database';
  return null;
}

export interface StorageFailure {
  problem: StorageProblem;
  /** The database file. */
  path: string;
  since: string;
  /** The error SQLite gave, e.g. "database or disk is full". */
  detail: string;
}

/**
 * Whether the inventory can be written now: set by any write that failed for a storage
 * reason (a full disk, an I/O error), cleared by the next write that commits. While it is
 * set, a small write is tried every few seconds, so /healthz recovers by itself when
 * space returns even if nothing else writes.
 */
export class StoreHealth {
  #failure: StorageFailure | null = null;
  #writeErrors = 0;
  #probe: NodeJS.Timeout | undefined;

  /** Told when the database stops and starts being writable (one log line each, not one per failed write). */
  onChange: (failure: StorageFailure | null) => void = () => {};

  constructor(
    private readonly db: SqliteDatabase,
    private readonly path: string,
    private readonly probeMs = 5000,
  ) {}

  get failure(): StorageFailure | null {
    return this.#failure;
  }

  /** Writes that failed for the storage's sake (full disk, I/O error, read-only), since start. */
  get writeErrors(): number {
    return this.#writeErrors;
  }

  /** Runs a write; a storage failure is recorded and rethrown as E_STORAGE with the operator's message. */
  guard<T>(write: () => T): T {
    let result: T;
    try {
      result = write();
    } catch (error) {
      throw this.report(error);
    }
    this.#succeeded();
    return result;
  }

  /**
   * Records an error of a write made elsewhere; returns it as it should leave the store:
   * E_STORAGE when the storage is at fault, unchanged otherwise.
   */
  report(error: unknown): unknown {
    if (error instanceof MetalboxError) return error;
    const problem = storageProblemOf(error);
    if (problem === null) return error;
    this.#writeErrors++;
    if (this.#failure === null) {
      this.#failure = { problem, path: this.path, since: new Date().toISOString(), detail: (error as Error).message };
      this.onChange(this.#failure);
      this.#probe = setInterval(() => this.#tryProbe(), this.probeMs);
      this.#probe.unref();
    }
    return storageError(this.#failure, error);
  }

  #succeeded(): void {
    if (this.#failure === null) return;
    this.#failure = null;
    clearInterval(this.#probe);
    this.#probe = undefined;
    this.onChange(null);
  }

  /** One committed write of a row kept for this purpose: it needs a page of WAL, as any real write does. */
  #tryProbe(): void {
    try {
      this.guard(() =>
        this.db
          .prepare(`INSERT INTO health_probe (id, at) VALUES (1, :at) ON CONFLICT (id) DO UPDATE SET at = excluded.at`)
          .run({ at: new Date().toISOString() }),
      );
    } catch {
      // still failing: the failure stays recorded
    }
  }

  stop(): void {
    clearInterval(this.#probe);
  }
}

export function storageError(failure: Pick<StorageFailure, 'problem' | 'path'>, cause?: unknown): MetalboxError {
  return new MetalboxError('E_STORAGE', `metalbox cannot write its database: ${failure.problem} (${failure.path})`, { cause });
}
