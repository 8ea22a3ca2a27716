import type { Logger } from './log.js';

export interface LogLimiterOptions {
  /** One line per key per interval at most. */
  intervalMs?: number;
  /** Lines across all keys per interval: a flood from spoofed addresses has a new key per packet. */
  maxLinesPerInterval?: number;
  now?: () => number;
}

interface KeyState {
  loggedAt: number;
  held: number;
}

/**
 * Warnings about what clients send (refused TFTP names, bad callbacks, dropped packets):
 * logged at most once per client and kind per minute, with the count of those held back
 * since the last line, so a hostile or broken client cannot flood the log or the disk
 * under it. Counters elsewhere (GET /api/v1/stats) keep the exact totals.
 */
export class LogLimiter {
  readonly #keys = new Map<string, KeyState>();
  readonly #intervalMs: number;
  readonly #maxLines: number;
  readonly #now: () => number;
  #windowStart = -Infinity;
  #linesInWindow = 0;
  /** Lines held back by the overall budget, reported with the next line that passes. */
  #heldOverall = 0;

  constructor(
    private readonly log: Logger,
    options: LogLimiterOptions = {},
  ) {
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#maxLines = options.maxLinesPerInterval ?? 100;
    this.#now = options.now ?? Date.now;
  }

  /** Logs at warn, unless `key` (kind and client) was logged within the interval or the interval's budget is spent. */
  warn(key: string, fields: Record<string, unknown>, message: string): void {
    this.#log('warn', key, fields, message);
  }

  /** As warn, at debug: for what is ordinary but can come at packet rate (DHCP drops). */
  debug(key: string, fields: Record<string, unknown>, message: string): void {
    this.#log('debug', key, fields, message);
  }

  /** As warn, at error: for failures that are not the client's doing but could repeat per packet. */
  error(key: string, fields: Record<string, unknown>, message: string): void {
    this.#log('error', key, fields, message);
  }

  #log(level: 'debug' | 'warn' | 'error', key: string, fields: Record<string, unknown>, message: string): void {
    const now = this.#now();
    if (now - this.#windowStart >= this.#intervalMs) {
      this.#windowStart = now;
      this.#linesInWindow = 0;
      this.#forgetOlderThan(now - 2 * this.#intervalMs);
    }
    const state = this.#keys.get(key);
    if (state !== undefined && now - state.loggedAt < this.#intervalMs) {
      state.held++;
      return;
    }
    if (this.#linesInWindow >= this.#maxLines) {
      this.#heldOverall++;
      if (state !== undefined) state.held++;
      return;
    }
    this.#linesInWindow++;
    const held = state?.held ?? 0;
    const heldOverall = this.#heldOverall;
    this.#heldOverall = 0;
    this.#keys.delete(key); // re-inserted at the young end
    this.#keys.set(key, { loggedAt: now, held: 0 });
    this.log[level](
      { ...fields, ...(held > 0 ? { repeated: held } : {}), ...(heldOverall > 0 ? { othersHeldBack: heldOverall } : {}) },
      message,
    );
  }

  /**
   * Keys are kept in the order they were last logged: those logged two intervals ago go (a
   * count they held back goes with them; the stats keep the totals). So the map holds at
   * most three intervals' budget of keys, however many clients a flood spoofs.
   */
  #forgetOlderThan(cutoff: number): void {
    for (const [key, state] of this.#keys) {
      if (state.loggedAt > cutoff) break;
      this.#keys.delete(key);
    }
  }
}
