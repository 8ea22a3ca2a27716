export interface BatcherOptions<T> {
  /** Writes a batch (one transaction); called from a timer, never on the packet path. */
  write: (batch: T[]) => void;
  flushIntervalMs?: number;
  /** Distinct keys held between flushes; beyond it new keys are dropped and counted. */
  maxPending?: number;
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
    this.#options = { flushIntervalMs: 1000, maxPending: 10_000, onError: () => {}, ...options };
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

  /** Writes what is pending; on failure the batch stays for the next try and is reported. */
  flush(): void {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      this.#options.write([...batch.values()]);
    } catch (error) {
      this.#pending = batch; // the write is synchronous: nothing was added meanwhile
      this.#options.onError(error);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.flush();
  }
}
