import { MetalboxError } from '../lib/errors.js';
import type { SqliteDatabase } from './database.js';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** A durable unit of work of the engine: it runs step by step, each step committed with its result. */
export interface JobJson {
  id: number;
  kind: string;
  machineId: string | null;
  status: JobStatus;
  step: string | null;
  /** What the job was asked to do; never a secret (credentials live sealed in their own table). */
  input: Record<string, unknown>;
  /** Failed tries of the current step. */
  attempts: number;
  runAfter: string;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

interface JobRow {
  id: number;
  kind: string;
  machine_id: string | null;
  status: JobStatus;
  step: string | null;
  input: string | null;
  attempts: number;
  run_after: string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

/**
 * The engine's queue. A job is leased by one owner until its lease expires; every change
 * to a leased job names the owner, so a worker whose lease was lost (it stalled past the
 * expiry and another took the job) cannot commit a step twice: its update finds no row
 * and its transaction rolls back.
 */
export class JobStore {
  readonly #db: SqliteDatabase;
  readonly #get;
  readonly #active;
  readonly #insert;
  readonly #lease;
  readonly #renew;
  readonly #update;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#get = db.prepare<[number], JobRow>('SELECT * FROM jobs WHERE id = ?');
    this.#active = db.prepare<[string, string], JobRow>(
      `SELECT * FROM jobs WHERE kind = ? AND machine_id = ? AND status IN ('queued', 'running')`,
    );
    this.#insert = db.prepare(
      `INSERT INTO jobs (kind, machine_id, status, step, input, run_after, created_at, updated_at)
       VALUES (:kind, :machineId, 'queued', :step, :input, :now, :now, :now)`,
    );
    // Queued jobs that are due, and running jobs whose owner let the lease expire.
    this.#lease = db.prepare<{ owner: string; now: string; expires: string; limit: number }, JobRow>(
      `UPDATE jobs SET status = 'running', lease_owner = :owner, lease_expires_at = :expires, updated_at = :now
        WHERE id IN (SELECT id FROM jobs
                      WHERE (status = 'queued' AND run_after <= :now) OR (status = 'running' AND lease_expires_at <= :now)
                      ORDER BY run_after, id LIMIT :limit)
        RETURNING *`,
    );
    this.#renew = db.prepare<{ id: number; owner: string; expires: string; now: string }>(
      `UPDATE jobs SET lease_expires_at = :expires, updated_at = :now WHERE id = :id AND lease_owner = :owner AND status = 'running'`,
    );
    this.#update = db.prepare<{
      id: number;
      owner: string;
      status: JobStatus;
      step: string | null;
      attempts: number;
      runAfter: string;
      lastError: string | null;
      now: string;
      keepLease: number;
    }>(
      `UPDATE jobs SET status = :status, step = :step, attempts = :attempts, run_after = :runAfter, last_error = :lastError,
              lease_owner = CASE WHEN :keepLease THEN lease_owner END,
              lease_expires_at = CASE WHEN :keepLease THEN lease_expires_at END, updated_at = :now
        WHERE id = :id AND lease_owner = :owner AND status = 'running'`,
    );
  }

  get(id: number): JobJson | null {
    const row = this.#get.get(id);
    return row ? toJobJson(row) : null;
  }

  /** Jobs waiting and jobs leased, for the metrics (finished ones are history). */
  pending(): { queued: number; running: number } {
    const rows = this.#db
      .prepare<[], { status: 'queued' | 'running'; n: number }>(
        `SELECT status, COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running') GROUP BY status`,
      )
      .all();
    const counts = { queued: 0, running: 0 };
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  /** The queued or running job of this kind for the machine, if any. */
  active(kind: string, machineId: string): JobJson | null {
    const row = this.#active.get(kind, machineId);
    return row ? toJobJson(row) : null;
  }

  /**
   * Queues a job, or returns the unfinished one of the same kind for the machine
   * (`created: false`): asking twice never makes two jobs.
   */
  enqueue(input: { kind: string; machineId: string; step: string; input?: Record<string, unknown> }): { job: JobJson; created: boolean } {
    return this.#db
      .transaction(() => {
        const existing = this.#active.get(input.kind, input.machineId);
        if (existing) return { job: toJobJson(existing), created: false };
        const now = new Date().toISOString();
        const result = this.#insert.run({
          kind: input.kind,
          machineId: input.machineId,
          step: input.step,
          input: JSON.stringify(input.input ?? {}),
          now,
        });
        return { job: this.get(Number(result.lastInsertRowid))!, created: true };
      })
      .immediate();
  }

  /** Takes up to `limit` due jobs for `owner`, atomically. */
  lease(owner: string, leaseMs: number, limit: number, now = Date.now()): JobJson[] {
    if (limit <= 0) return [];
    return this.#lease
      .all({ owner, now: new Date(now).toISOString(), expires: new Date(now + leaseMs).toISOString(), limit })
      .map(toJobJson);
  }

  /** Extends the owner's leases; returns the ids it no longer holds. */
  renew(ids: readonly number[], owner: string, leaseMs: number): number[] {
    const now = Date.now();
    const lost: number[] = [];
    this.#db.transaction(() => {
      for (const id of ids) {
        const result = this.#renew.run({ id, owner, expires: new Date(now + leaseMs).toISOString(), now: new Date(now).toISOString() });
        if (result.changes === 0) lost.push(id);
      }
    })();
    return lost;
  }

  /**
   * Hands every running job back to the queue. Called at start: the data dir's lock means
   * no other process runs jobs, so a running job is one a crash interrupted.
   */
  releaseAll(): number {
    const now = new Date().toISOString();
    return this.#db
      .prepare(
        `UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, run_after = ?, updated_at = ? WHERE status = 'running'`,
      )
      .run(now, now).changes;
  }

  /** The step is done: the job goes on with `step`, still leased. */
  advance(job: JobJson, owner: string, step: string): void {
    this.#change(job, owner, { status: 'running', step, attempts: 0, runAfter: job.runAfter, lastError: null, keepLease: 1 });
  }

  /** The step failed and will be tried again after `delayMs`. */
  retryLater(job: JobJson, owner: string, error: string, delayMs: number): void {
    const runAfter = new Date(Date.now() + delayMs).toISOString();
    this.#change(job, owner, { status: 'queued', step: job.step, attempts: job.attempts + 1, runAfter, lastError: error, keepLease: 0 });
  }

  finish(job: JobJson, owner: string, status: 'succeeded' | 'failed', error: string | null = null): void {
    this.#change(job, owner, { status, step: job.step, attempts: job.attempts, runAfter: job.runAfter, lastError: error, keepLease: 0 });
  }

  #change(
    job: JobJson,
    owner: string,
    values: { status: JobStatus; step: string | null; attempts: number; runAfter: string; lastError: string | null; keepLease: number },
  ): void {
    const result = this.#update.run({ id: job.id, owner, now: new Date().toISOString(), ...values });
    if (result.changes === 0) throw new MetalboxError('E_LEASE_LOST', `job ${job.id} is no longer leased by ${owner}`);
  }
}

function toJobJson(row: JobRow): JobJson {
  return {
    id: row.id,
    kind: row.kind,
    machineId: row.machine_id,
    status: row.status,
    step: row.step,
    input: row.input === null ? {} : (JSON.parse(row.input) as Record<string, unknown>),
    attempts: row.attempts,
    runAfter: row.run_after,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    lastError: row.last_error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
