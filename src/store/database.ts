import { chmodSync, closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { MetalboxError } from '../lib/errors.js';
import { dropMachineDocumentTriggers, ensureMachineDocuments } from './documents.js';
import { storageProblemOf } from './health.js';
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
    checkIntegrity(db, path);
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
    if (storageProblemOf(error) === 'database disk image is malformed') damaged(path, (error as Error).message, error);
    throw error;
  }
}

/**
 * SQLite's structural check of every page (about 0.2 s for 200 MB), before anything
 * writes: a damaged file is refused whole instead of failing one query at a time later,
 * and it is never written to.
 */
function checkIntegrity(db: SqliteDatabase, path: string): void {
  const rows = db.pragma('quick_check(10)', { simple: false }) as Array<{ quick_check: string }>;
  if (rows.length === 1 && rows[0]!.quick_check === 'ok') return;
  // One line: SQLite's first finding, and how many more it listed (a row may hold several lines).
  const problems = rows.flatMap((row) => row.quick_check.split('\n')).filter((line) => line !== '' && !line.startsWith('***'));
  damaged(
    path,
    `database disk image is malformed: ${problems[0] ?? 'quick_check failed'}${problems.length > 1 ? ` and ${problems.length - 1} more` : ''}`,
  );
}

function damaged(path: string, what: string, cause?: unknown): never {
  throw new MetalboxError(
    'E_DB_CORRUPT',
    `database ${path} is damaged (${what}); metalbox did not write to it: restore it from a backup, or move it away to start an empty inventory`,
    { cause },
  );
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
    const header = Buffer.alloc(100);
    const length = readSync(fd, header, 0, header.length, 0);
    // An empty file is what SQLite itself starts a new database from.
    if (length === 0) return;
    if (!header.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) notSqlite(path);
    if (length < header.length) damaged(path, `truncated: ${length} bytes, less than its header`);
    // The page count at offset 28 is valid when the change counter (24) matches the one at 92.
    const pageSize = header.readUInt16BE(16) === 1 ? 65_536 : header.readUInt16BE(16);
    const pages = header.readUInt32BE(24) === header.readUInt32BE(92) ? header.readUInt32BE(28) : 0;
    const size = fstatSync(fd).size;
    // Not with a write-ahead log beside it: a checkpoint cut short by kill -9 leaves page 1
    // (with the new page count) written and the later pages not yet, and SQLite's recovery
    // reads them from the log; quick_check after opening still catches real damage.
    if (pages > 0 && size < pages * pageSize && !hasWal(path))
      damaged(path, `truncated: ${size} bytes, its header says ${pages} pages of ${pageSize} bytes`);
  } finally {
    closeSync(fd);
  }
}

function hasWal(path: string): boolean {
  try {
    return statSync(`${path}-wal`).size > 0;
  } catch {
    return false;
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

/**
 * Runs the migrations after `from`, each in its own transaction with foreign keys off: a
 * migration that copies a table (to change a CHECK) drops the old one, which with them on
 * would cascade into every NIC and drive. Each checks the keys before it commits instead,
 * and runs without the document triggers, which name the tables it may copy (they are put
 * back, and every document rewritten, once the schema is current).
 */
function migrate(db: SqliteDatabase, from: number): void {
  if (from >= SCHEMA_VERSION) return;
  db.pragma('foreign_keys = OFF');
  try {
    for (let version = from; version < SCHEMA_VERSION; version++) {
      db.transaction(() => {
        dropMachineDocumentTriggers(db);
        db.exec(MIGRATIONS[version]!);
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length > 0) throw new Error(`migration ${version + 1} leaves ${broken.length} rows with a broken reference`);
        db.pragma(`user_version = ${version + 1}`);
      }).immediate();
    }
  } finally {
    db.pragma('foreign_keys = ON');
  }
}

function restrictPermissions(path: string): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}
