export interface BatcherOptions<T> {
  /** Writes a batch (one transaction); called from a timer, never on the packet path. */
  write: (batch: T[]) => void;
  flushIntervalMs?: number;
  /** Distinct records held between flushes; beyond it new ones are dropped and counted. */
  maxPending?: number;
  /**
   * Records per transaction. A flush writes one chunk and yields to the event loop before
   * the next, so a storm's backlog never stalls the hot paths for long: ten thousand boot
   * events in one transaction held the script path for about 100 ms.
   */
  maxBatch?: number;
  /**
   * After a key is written, its repeats merge for this long before the next write: a
   * client that loops on one request (a script fetched again and again, DHCP retries
   * through minutes of a failing boot) leaves a row per period with its count, not a row
   * per flush. The first record of a key is written at the next flush all the same.
   */
  repeatHoldMs?: number;
  /**
   * Records written per flush at most (the write budget): the rest wait for later flushes,
   * and past maxPending new ones are dropped and counted. A flood of spoofed packets then
   * costs a bounded number of rows per second and a bounded amount of memory.
   */
  maxPerFlush?: number;
  /** A failed write: the batch is kept and tried again at the next flush. */
  onError?: (error: unknown) => void;
}

/** A pending record, with when it may be written. */
interface Pending<T> {
  record: T;
  dueAt: number;
}

/**
 * Collects records in memory and writes them in batches: the hot paths (DHCP, TFTP,
 * scripts) only touch a map, and the database sees one transaction per interval however
 * hard a boot storm hits. A repeat (same owner, same key) merges into the pending record.
 *
 * Records are filed by owner (a machine, a MAC), then by what they say: the owner strings
 * come from the boot view or the packet and hash once, where one map of composite
 * "owner|type|message" strings cost 1.5 µs per lookup at 10,000 machines (each a fresh
 * string compared against a cold one), a tenth of a served script.
 */
export class Batcher<T> {
  /** Records by owner and key, in the order the owners and their keys came. */
  #pending = new Map<string, Map<string, Pending<T>>>();
  #size = 0;
  /** When each owner's key was last written, oldest first; only those written within repeatHoldMs. */
  readonly #writtenAt = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  readonly #options: Required<BatcherOptions<T>>;
  dropped = 0;

  constructor(options: BatcherOptions<T>) {
    this.#options = {
      flushIntervalMs: 1000,
      maxPending: 10_000,
      maxBatch: 500,
      repeatHoldMs: 0,
      maxPerFlush: Infinity,
      onError: () => {},
      ...options,
    };
  }

  /** Its counter, for GET /api/v1/stats. */
  stats(): { dropped: number } {
    return { dropped: this.dropped };
  }

  /** Merges into the record pending under `owner` and `key`, or adds the one `create` makes (dropped and counted when full). */
  add(owner: string, key: string, create: () => T, merge: (pending: T) => void): void {
    const pending = this.#pending.get(owner)?.get(key);
    if (pending !== undefined) {
      merge(pending.record);
      return;
    }
    if (this.#size >= this.#options.maxPending) {
      this.dropped++;
      return;
    }
    const writtenAt = this.#options.repeatHoldMs > 0 ? this.#writtenAt.get(`${owner}\0${key}`) : undefined;
    this.#put(owner, key, { record: create(), dueAt: (writtenAt ?? -Infinity) + this.#options.repeatHoldMs });
    this.#size++;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.flush(), this.#options.flushIntervalMs);
    this.#timer.unref();
  }

  /**
   * Writes what is due, up to maxPerFlush, a chunk now and the rest on later turns of the
   * event loop; on failure the rest waits for the next flush.
   */
  flush(budget = this.#options.maxPerFlush): void {
    const { outcome, written } = this.#writeChunk(Date.now(), Math.min(budget, this.#options.maxBatch));
    if (outcome === 'more' && budget > written) setImmediate(() => this.flush(budget - written));
  }

  /** Writes the oldest `max` records due by `dueBy` in one transaction ('failed': the records kept, the error reported). */
  #writeChunk(dueBy: number, max = this.#options.maxBatch): { outcome: 'done' | 'more' | 'failed'; written: number } {
    const now = Date.now();
    for (const [key, writtenAt] of this.#writtenAt) {
      if (writtenAt + this.#options.repeatHoldMs > now) break;
      this.#writtenAt.delete(key);
    }
    const chunk: Array<{ owner: string; key: string; pending: Pending<T> }> = [];
    let more = false;
    taking: for (const [owner, records] of this.#pending) {
      for (const [key, pending] of records) {
        if (pending.dueAt > dueBy) continue;
        if (chunk.length >= max) {
          more = true;
          break taking;
        }
        chunk.push({ owner, key, pending });
        records.delete(key);
      }
      if (records.size === 0) this.#pending.delete(owner);
    }
    if (chunk.length === 0) return { outcome: 'done', written: 0 };
    this.#size -= chunk.length;
    try {
      this.#options.write(chunk.map(({ pending }) => pending.record));
    } catch (error) {
      // The write is synchronous: nothing was added meanwhile, so the chunk goes back in front, in order.
      const rest = this.#pending;
      this.#pending = new Map();
      for (const { owner, key, pending } of chunk) this.#put(owner, key, pending);
      for (const [owner, records] of rest) for (const [key, pending] of records) this.#put(owner, key, pending);
      this.#size += chunk.length;
      this.#options.onError(error);
      return { outcome: 'failed', written: 0 };
    }
    if (this.#options.repeatHoldMs > 0) {
      for (const { owner, key } of chunk) {
        const written = `${owner}\0${key}`;
        this.#writtenAt.delete(written);
        this.#writtenAt.set(written, now);
      }
    }
    return { outcome: more ? 'more' : 'done', written: chunk.length };
  }

  #put(owner: string, key: string, pending: Pending<T>): void {
    let records = this.#pending.get(owner);
    if (records === undefined) {
      records = new Map();
      this.#pending.set(owner, records);
    }
    records.set(key, pending);
  }

  /** Stops the timer and writes everything still pending, now, held repeats included. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    while (this.#size > 0 && this.#writeChunk(Infinity).outcome !== 'failed');
  }
}
