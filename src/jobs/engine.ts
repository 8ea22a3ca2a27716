import { randomBytes } from 'node:crypto';
import { isMetalboxError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { JobJson, JobStore } from '../store/index.js';

/** What a step's work produced: the next step (null: the job is done) and the writes that record it. */
export interface StepSuccess {
  next: string | null;
  /** Runs inside the transaction that also moves the job on. */
  commit: () => void;
}

/** A step that did not succeed. */
export class StepFailure extends Error {
  constructor(
    message: string,
    /** Worth another try later (the BMC may come back); false for a wrong password, a bad answer. */
    readonly retryable: boolean,
    /** Records the final failure (the machine's failure state), inside the transaction that fails the job. */
    readonly fail: () => void,
  ) {
    super(message);
  }
}

/** The steps of one kind of job. */
export interface JobHandler {
  readonly kind: string;
  /** Deadline of each step's work. */
  timeoutMs(step: string): number;
  /** Records that the step began (a state change), inside a transaction; must be a no-op the second time. */
  begin(job: JobJson): void;
  /** The step's work: no writes here, only reads and talking to the outside world. */
  run(job: JobJson, signal: AbortSignal): Promise<StepSuccess>;
  /** Records a failed try that will be repeated, inside the transaction that requeues the job. */
  retrying(job: JobJson, failure: StepFailure, delayMs: number): void;
  /** Turns a failure that is not a StepFailure (a bug, a timeout) into one. */
  failure(job: JobJson, error: unknown): StepFailure;
}

export interface EngineOptions {
  /** Jobs running at once. */
  concurrency: number;
  /** Tries of one step before its failure is final. */
  attempts: number;
  /** First retry delay; doubled per try, with jitter, up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  leaseMs: number;
  pollMs: number;
}

export const ENGINE_DEFAULTS: EngineOptions = {
  concurrency: 100,
  attempts: 5,
  backoffMs: 5000,
  maxBackoffMs: 300_000,
  leaseMs: 60_000,
  pollMs: 500,
};

/**
 * The durable job engine. Jobs live in SQLite; the engine leases due ones up to its
 * concurrency, runs their current step, and commits the step's result, its events and
 * the job's progress in one transaction. A kill -9 at any moment loses at most the work
 * of the steps in flight, which run again after restart: their results were never
 * committed, so nothing is recorded twice.
 */
export class JobEngine {
  readonly owner = `engine-${process.pid}-${randomBytes(4).toString('hex')}`;
  readonly #options: EngineOptions;
  readonly #handlers = new Map<string, JobHandler>();
  readonly #running = new Map<number, { controller: AbortController; done: Promise<void> }>();
  #timer: NodeJS.Timeout | null = null;
  #renewTimer: NodeJS.Timeout | null = null;
  #leasesLost = 0;
  #stopping = false;

  constructor(
    private readonly jobs: JobStore,
    private readonly transaction: <T>(work: () => T) => T,
    private readonly log: Logger,
    options: Partial<EngineOptions> = {},
  ) {
    this.#options = { ...ENGINE_DEFAULTS, ...options };
  }

  register(handler: JobHandler): void {
    this.#handlers.set(handler.kind, handler);
  }

  /** Hands back the jobs a crash left running, then starts polling. */
  start(): () => Promise<void> {
    const released = this.jobs.releaseAll();
    if (released > 0) this.log.info({ released }, `resuming ${released} job(s) interrupted by a stop`);
    this.#timer = setInterval(() => this.wake(), this.#options.pollMs);
    this.#renewTimer = setInterval(() => this.#renew(), Math.max(1000, this.#options.leaseMs / 3));
    this.wake();
    return () => this.stop();
  }

  get running(): number {
    return this.#running.size;
  }

  /** For GET /api/v1/stats. */
  stats(): { running: number; leasesLost: number } {
    return { running: this.running, leasesLost: this.#leasesLost };
  }

  /** Looks for due jobs now (called after a job is queued, so it starts without waiting for the poll). */
  wake(): void {
    if (this.#stopping) return;
    let leased: JobJson[];
    try {
      leased = this.jobs.lease(this.owner, this.#options.leaseMs, this.#options.concurrency - this.#running.size);
    } catch (error) {
      this.log.error({ err: error }, 'cannot lease jobs; trying again at the next poll');
      return;
    }
    for (const job of leased) this.#launch(job);
  }

  /** Aborts the steps in flight and waits for them; their jobs resume at the next start. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#renewTimer) clearInterval(this.#renewTimer);
    for (const { controller } of this.#running.values()) controller.abort(new Error('metalbox is stopping'));
    await Promise.allSettled([...this.#running.values()].map((entry) => entry.done));
  }

  #launch(job: JobJson): void {
    const controller = new AbortController();
    const done = this.#runJob(job, controller.signal).finally(() => {
      this.#running.delete(job.id);
      // A slot is free: take the next due job without waiting for the poll.
      queueMicrotask(() => this.wake());
    });
    this.#running.set(job.id, { controller, done });
  }

  /** Runs steps until the job finishes, fails, is requeued for a retry, or the engine stops. */
  async #runJob(leased: JobJson, stopping: AbortSignal): Promise<void> {
    const handler = this.#handlers.get(leased.kind);
    let job = leased;
    try {
      if (!handler) throw new Error(`no handler for jobs of kind ${job.kind}`);
      while (!stopping.aborted) {
        this.transaction(() => handler.begin(job));
        const timeoutMs = handler.timeoutMs(job.step ?? '');
        const signal = AbortSignal.any([stopping, AbortSignal.timeout(timeoutMs)]);
        let success: StepSuccess;
        try {
          success = await untilAborted(handler.run(job, signal), signal);
        } catch (error) {
          if (stopping.aborted) return;
          const failure =
            error instanceof StepFailure
              ? error
              : signal.aborted
                ? handler.failure(job, new Error(`step ${job.step} did not finish within ${timeoutMs / 1000} s`))
                : handler.failure(job, error);
          this.#settleFailure(handler, job, failure);
          return;
        }
        if (stopping.aborted) return;
        const current = job;
        try {
          this.transaction(() => {
            success.commit();
            if (success.next === null) this.jobs.finish(current, this.owner, 'succeeded');
            else this.jobs.advance(current, this.owner, success.next);
          });
        } catch (error) {
          // The result itself was refused (a NIC another machine owns): the step failed.
          if (isMetalboxError(error, 'E_LEASE_LOST') || !isMetalboxError(error)) throw error;
          this.#settleFailure(handler, job, handler.failure(job, error));
          return;
        }
        if (success.next === null) return;
        job = { ...job, step: success.next, attempts: 0 };
      }
    } catch (error) {
      if (isMetalboxError(error, 'E_LEASE_LOST')) {
        this.#leasesLost++;
        this.log.warn({ job: job.id }, 'job lease lost; its step is left to the new owner');
        return;
      }
      // A bug or a database error: the job stays leased and runs again when the lease expires.
      this.log.error({ err: error, job: job.id, kind: job.kind, step: job.step }, 'job step could not be recorded');
    }
  }

  #settleFailure(handler: JobHandler, job: JobJson, failure: StepFailure): void {
    if (failure.retryable && job.attempts + 1 < this.#options.attempts) {
      const delayMs = this.#backoff(job.attempts);
      this.transaction(() => {
        handler.retrying(job, failure, delayMs);
        this.jobs.retryLater(job, this.owner, failure.message, delayMs);
      });
      return;
    }
    this.transaction(() => {
      failure.fail();
      this.jobs.finish(job, this.owner, 'failed', failure.message);
    });
  }

  /** Exponential with full jitter in its upper half: retries of many BMCs spread out instead of storming back together. */
  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#options.maxBackoffMs, this.#options.backoffMs * 2 ** attempt);
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  #renew(): void {
    if (this.#running.size === 0) return;
    try {
      const lost = this.jobs.renew([...this.#running.keys()], this.owner, this.#options.leaseMs);
      for (const id of lost) this.#running.get(id)?.controller.abort(new Error('lease lost'));
    } catch (error) {
      this.log.error({ err: error }, 'cannot renew job leases');
    }
  }
}

/** Settles with the promise, or rejects as soon as the signal aborts (a step that ignores its signal cannot hold the engine). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
