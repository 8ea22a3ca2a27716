import { closeSync, existsSync, openSync, readSync, chmodSync } from 'node:fs';
import Database from 'better-sqlite3';
import { MetalboxError } from '../lib/errors.js';
import { ensureMachineDocuments } from './documents.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';

export type SqliteDatabase = Database.Database;

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Opens (creating when absent) the inventory database and brings its schema up to date.
 *
 * Refuses, without writing a byte, a file that is not SQLite and a database whose schema
 * is newer than this code: a downgrade must never reinterpret or clobber an operator's
 * inventory. The header is checked before SQLite opens the file, because even switching
 * on WAL mode rewrites the header.
 */
export function openDatabase(path: string): SqliteDatabase {
  refuseForeignFile(path);
  if (!existsSync(path)) closeSync(openSync(path, 'wx', 0o600));

  let db: SqliteDatabase;
  try {
    db = new Database(path, { timeout: 5000 });
  } catch (error) {
    throw new MetalboxError('E_DB_OPEN', `cannot open database ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const version = readSchemaVersion(db, path);
    if (version > SCHEMA_VERSION) {
      throw new MetalboxError(
        'E_DB_SCHEMA_NEWER',
        `database ${path} has schema version ${version}, newer than this metalbox understands (${SCHEMA_VERSION}); ` +
          'run the metalbox version that wrote it, or point --data-dir elsewhere',
      );
    }
    // WAL lets readers (API, backups, sqlite3 shell) run beside the single writer; FULL
    // makes every committed state change survive power loss, not only a process crash.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    migrate(db, version);
    ensureMachineDocuments(db);
    restrictPermissions(path);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

function refuseForeignFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new MetalboxError('E_DB_OPEN', `cannot read database ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const header = Buffer.alloc(SQLITE_MAGIC.length);
    const length = readSync(fd, header, 0, header.length, 0);
    // An empty file is what SQLite itself starts a new database from.
    if (length > 0 && !header.equals(SQLITE_MAGIC)) notSqlite(path);
  } finally {
    closeSync(fd);
  }
}

function notSqlite(path: string, cause?: unknown): never {
  throw new MetalboxError(
    'E_DB_NOT_SQLITE',
    `${path} is not an SQLite database; metalbox will not touch it: move it away or choose another --data-dir`,
    { cause },
  );
}

function readSchemaVersion(db: SqliteDatabase, path: string): number {
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') notSqlite(path, error);
    throw error;
  }
}

function migrate(db: SqliteDatabase, from: number): void {
  for (let version = from; version < SCHEMA_VERSION; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}

function restrictPermissions(path: string): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}
