import { Worker } from 'node:worker_threads';
import type { Logger } from '../lib/log.js';
import { LogLimiter } from '../lib/log-limiter.js';
import { stopWorker } from '../lib/worker.js';
import type { CheckpointReply, CheckpointRequest } from './checkpoint-worker.js';
import type { SqliteDatabase } from './database.js';

/** SQLite's own threshold for the automatic checkpoint, in WAL pages: put back whenever the thread is not running. */
const AUTOMATIC_CHECKPOINT_PAGES = 1000;
const CHECKPOINT_EVERY_MS = 1000;

export interface CheckpointStats {
  /** Whether the thread checkpoints (false: SQLite's automatic checkpoint does, inside commits). */
  running: boolean;
  checkpoints: number;
  failures: number;
  /** Frames in the WAL at the last checkpoint, and how long it took. */
  lastWalFrames: number;
  lastMs: number;
}

/**
 * Checkpoints the WAL on a thread of its own. SQLite checkpoints inside the commit that takes
 * the WAL past 1,000 pages: it copies those pages into the database file and fsyncs it, on
 * the main thread, in the middle of whatever batch wrote them. With ProxyDHCP answering
 * 10,000 DISCOVERs a second from unknown clients, the observations that snooping writes
 * filled the WAL every few seconds, and each such commit stalled every DHCP, TFTP and
 * script answer for 40 ms and more: the average answer took 0.85 ms, 0.38 ms without
 * (bench/RESULTS.md). So while this runs the main connection never checkpoints; a worker
 * thread with its own connection runs a PASSIVE checkpoint every second, which waits for
 * neither the writer nor the readers. Commits stay as durable as before (the WAL is fsynced
 * at each); what moves is the copy into the database file. If the thread fails, SQLite's
 * automatic checkpoint comes back, so the WAL never grows without bound.
 */
export class WalCheckpointer {
  readonly #db: SqliteDatabase;
  readonly #worker: Worker;
  readonly #timer: NodeJS.Timeout;
  readonly #complaints: LogLimiter;
  #inFlight = false;
  #stopping = false;
  readonly #stats: CheckpointStats = { running: true, checkpoints: 0, failures: 0, lastWalFrames: 0, lastMs: 0 };

  private constructor(db: SqliteDatabase, path: string, log: Logger, intervalMs: number) {
    this.#db = db;
    this.#complaints = new LogLimiter(log);
    this.#worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: { path } });
    this.#worker.unref();
    this.#worker.on('message', (reply: CheckpointReply) => {
      this.#inFlight = false;
      if (reply.kind === 'checkpointed') {
        this.#stats.checkpoints++;
        this.#stats.lastWalFrames = reply.walFrames;
        this.#stats.lastMs = Math.round(reply.ms * 10) / 10;
      } else {
        // A full disk or an I/O error shows in the store's health through the writes; here it is one line a minute.
        this.#stats.failures++;
        this.#complaints.warn(`failed|${reply.code}`, { code: reply.code, detail: reply.message }, 'WAL checkpoint failed; trying again');
      }
    });
    this.#worker.on('error', (error) => this.#fallBack(error));
    this.#worker.on('exit', (code) => {
      if (!this.#stopping) this.#fallBack(new Error(`the checkpoint thread exited with ${code}`));
    });
    this.#timer = setInterval(() => this.#request(), intervalMs);
    this.#timer.unref();
    db.pragma('wal_autocheckpoint = 0');
  }

  static start(db: SqliteDatabase, path: string, log: Logger, intervalMs = CHECKPOINT_EVERY_MS): WalCheckpointer {
    return new WalCheckpointer(db, path, log, intervalMs);
  }

  /** Its counters, for GET /api/v1/stats. */
  stats(): CheckpointStats {
    return { ...this.#stats };
  }

  /** Stops the thread (its connection closed) and gives checkpoints back to SQLite. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearInterval(this.#timer);
    this.#restoreAutomatic();
    if (this.#stats.running) await stopWorker(this.#worker, { kind: 'stop' } satisfies CheckpointRequest);
    this.#stats.running = false;
  }

  #request(): void {
    if (this.#inFlight || !this.#stats.running) return;
    this.#inFlight = true;
    this.#worker.postMessage({ kind: 'checkpoint' } satisfies CheckpointRequest);
  }

  #fallBack(error: Error): void {
    if (!this.#stats.running) return;
    this.#stats.running = false;
    clearInterval(this.#timer);
    this.#restoreAutomatic();
    this.#complaints.error('thread', { err: error }, "the WAL checkpoint thread stopped; SQLite's automatic checkpoint is back");
  }

  #restoreAutomatic(): void {
    if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${AUTOMATIC_CHECKPOINT_PAGES}`);
  }
}
