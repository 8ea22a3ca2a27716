export interface BatcherOptions<T> {
  /** Writes a batch (one transaction); called from a timer, never on the packet path. */
  write: (batch: T[]) => void;
  flushIntervalMs?: number;
  /** Distinct keys held between flushes; beyond it new keys are dropped and counted. */
  maxPending?: number;
  /**
   * Records per transaction. A flush writes one chunk and yields to the event loop before
   * the next, so a storm's backlog never stalls the hot paths for long: ten thousand boot
   * events in one transaction held the script path for about 100 ms.
   */
  maxBatch?: number;
  /** A failed write: the batch is kept and tried again at the next flush. */
  onError?: (error: unknown) => void;
}

/**
 * Collects records under keys in memory and writes them in batches: the hot paths (DHCP,
 * TFTP, scripts) only touch a map, and the database sees one transaction per interval
 * however hard a boot storm hits. A repeated key merges into the pending record.
 */
export class Batcher<T> {
  #pending = new Map<string, T>();
  #timer: NodeJS.Timeout | undefined;
  readonly #options: Required<BatcherOptions<T>>;
  dropped = 0;

  constructor(options: BatcherOptions<T>) {
    this.#options = { flushIntervalMs: 1000, maxPending: 10_000, maxBatch: 500, onError: () => {}, ...options };
  }

  /** Merges into the record pending under `key`, or adds the one `create` makes (dropped and counted when full). */
  add(key: string, create: () => T, merge: (pending: T) => void): void {
    const pending = this.#pending.get(key);
    if (pending !== undefined) merge(pending);
    else if (this.#pending.size >= this.#options.maxPending) this.dropped++;
    else this.#pending.set(key, create());
  }

  start(): void {
    this.#timer ??= setInterval(() => this.flush(), this.#options.flushIntervalMs);
    this.#timer.unref();
  }

  /** Writes what is pending, a chunk now and the rest on later turns of the event loop; on failure the rest waits for the next flush. */
  flush(): void {
    if (this.#writeChunk() && this.#pending.size > 0) setImmediate(() => this.flush());
  }

  /** Writes the oldest maxBatch records in one transaction; false (the records kept, the error reported) when that fails. */
  #writeChunk(): boolean {
    if (this.#pending.size === 0) return true;
    const chunk = new Map<string, T>();
    for (const [key, record] of this.#pending) {
      if (chunk.size >= this.#options.maxBatch) break;
      chunk.set(key, record);
      this.#pending.delete(key);
    }
    try {
      this.#options.write([...chunk.values()]);
      return true;
    } catch (error) {
      // The write is synchronous: nothing was added meanwhile, so the chunk goes back in front, in order.
      this.#pending = new Map([...chunk, ...this.#pending]);
      this.#options.onError(error);
      return false;
    }
  }

  /** Stops the timer and writes everything still pending, now. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    while (this.#pending.size > 0 && this.#writeChunk());
  }
}
