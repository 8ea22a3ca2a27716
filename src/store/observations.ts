import type { SqliteDatabase } from './database.js';

/** What DHCP snooping saw of one client: a MAC, a message type and the address involved. */
export interface ObservationJson {
  mac: string;
  messageType: string;
  /** The requested (option 50) or client (ciaddr) address; null when the message had none. */
  ip: string | null;
  vendorClass: string | null;
  arch: number | null;
  hostname: string | null;
  /** The DHCP relay (giaddr) its last relayed packet came through; null when it reached metalbox directly. */
  relay: string | null;
  firstSeen: string;
  lastSeen: string;
  count: number;
}

interface ObservationRow {
  mac: string;
  message_type: string;
  ip: string;
  vendor_class: string | null;
  arch: number | null;
  hostname: string | null;
  relay: string | null;
  first_seen: string;
  last_seen: string;
  count: number;
}

/** How much snooping the database keeps: rows beyond `maxRows` go oldest first, and rows not seen for `maxAgeMs`. */
export interface ObservationRetention {
  maxRows: number;
  maxAgeMs: number;
}

export class ObservationStore {
  readonly #db: SqliteDatabase;
  readonly #upsert;
  readonly #expire;
  readonly #trim;
  retention: ObservationRetention = { maxRows: 50_000, maxAgeMs: 30 * 86_400_000 };
  readonly #listAll;
  readonly #listOf;
  readonly #seen;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#upsert = db.prepare(
      `INSERT INTO observations (mac, message_type, ip, vendor_class, arch, hostname, relay, first_seen, last_seen, count)
       VALUES (:mac, :messageType, :ip, :vendorClass, :arch, :hostname, :relay, :firstSeen, :lastSeen, :count)
       ON CONFLICT (mac, message_type, ip) DO UPDATE SET
         vendor_class = coalesce(excluded.vendor_class, vendor_class),
         arch = coalesce(excluded.arch, arch),
         hostname = coalesce(excluded.hostname, hostname),
         relay = coalesce(excluded.relay, relay),
         first_seen = min(first_seen, excluded.first_seen),
         last_seen = max(last_seen, excluded.last_seen),
         count = count + excluded.count`,
    );
    this.#expire = db.prepare<{ cutoff: string }>(`DELETE FROM observations WHERE last_seen < :cutoff`);
    this.#trim = db.prepare<{ maxRows: number }>(
      `DELETE FROM observations WHERE (mac, message_type, ip) IN (
         SELECT mac, message_type, ip FROM observations ORDER BY last_seen, mac, message_type, ip
         LIMIT max(0, (SELECT count(*) FROM observations) - :maxRows))`,
    );
    // Separate statements: `:mac IS NULL OR mac = :mac` would scan the table for one MAC (a BMC lookup).
    const order = 'ORDER BY last_seen DESC, mac, message_type, ip LIMIT :limit';
    this.#listAll = db.prepare<{ limit: number }, ObservationRow>(`SELECT * FROM observations ${order}`);
    this.#listOf = db.prepare<{ mac: string; limit: number }, ObservationRow>(`SELECT * FROM observations WHERE mac = :mac ${order}`);
    this.#seen = db.prepare<{ mac: string; ip: string }, { found: number }>(
      `SELECT 1 AS found FROM observations WHERE mac = :mac AND ip = :ip AND ip != '' LIMIT 1`,
    );
  }

  /** Whether `mac`'s DHCP packets claimed or came from `ip`. */
  seen(mac: string, ip: string): boolean {
    return this.#seen.get({ mac, ip }) !== undefined;
  }

  /** Merges a batch into the table and applies the retention, in one transaction: the table never holds more than maxRows. */
  record(batch: Iterable<ObservationJson>, now = Date.now()): void {
    this.#db
      .transaction(() => {
        for (const observation of batch) this.#upsert.run({ ...observation, ip: observation.ip ?? '' });
        this.#expire.run({ cutoff: new Date(now - this.retention.maxAgeMs).toISOString() });
        this.#trim.run({ maxRows: this.retention.maxRows });
      })
      .immediate();
  }

  count(): number {
    return (this.#db.prepare(`SELECT count(*) AS n FROM observations`).get() as { n: number }).n;
  }

  /** Most recently seen first. */
  list(options: { mac?: string | undefined; limit?: number } = {}): ObservationJson[] {
    const limit = options.limit ?? 1000;
    const rows = options.mac === undefined ? this.#listAll.all({ limit }) : this.#listOf.all({ mac: options.mac, limit });
    return rows.map((row) => ({
      mac: row.mac,
      messageType: row.message_type,
      ip: row.ip === '' ? null : row.ip,
      vendorClass: row.vendor_class,
      arch: row.arch,
      hostname: row.hostname,
      relay: row.relay,
      firstSeen: row.first_seen,
      lastSeen: row.last_seen,
      count: row.count,
    }));
  }
}
