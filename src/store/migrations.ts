/**
 * Forward-only schema migrations. Migration N brings the schema from version N-1 to N;
 * the version lives in PRAGMA user_version. A migration is never edited once released:
 * a change is a new migration appended to the list.
 *
 * Conventions: STRICT tables; timestamps are ISO-8601 UTC text; MACs are stored in the
 * canonical form (lowercase, colons) and the CHECKs refuse anything else, so a bug at an
 * edge cannot store a second spelling of the same NIC.
 */

const MAC_CHECK = (column: string) =>
  `CHECK (${column} GLOB '[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]')`;

/** The machines table's columns after migration 6, for the copy of migration 7. */
const MACHINE_COLUMNS = [
  'id',
  'bmc_id',
  'system_path',
  'state',
  'state_reason',
  'state_changed_at',
  'maintenance',
  'power',
  'manufacturer',
  'model',
  'serial',
  'uuid',
  'sku',
  'bios_version',
  'power_state',
  'cpu_count',
  'cpu_cores',
  'cpu_threads',
  'cpu_model',
  'memory_gib',
  'memory_dimms',
  'server_type',
  'profile',
  'created_at',
  'updated_at',
  'operation_id',
  'profile_pinned',
  'warnings',
].join(', ');

export const MIGRATIONS: readonly string[] = [
  // 1: the inventory, the engine's jobs, DHCP observations and encrypted credentials.
  `
  CREATE TABLE credentials (
    id          INTEGER PRIMARY KEY,
    username    TEXT NOT NULL,
    -- AES-256-GCM: 12-byte nonce || ciphertext || 16-byte tag; the key is a file in the data dir
    secret      BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
  ) STRICT;

  CREATE TABLE bmcs (
    id               INTEGER PRIMARY KEY,
    mac              TEXT NOT NULL UNIQUE ${MAC_CHECK('mac')},
    ip               TEXT,
    ip_source        TEXT,
    ip_seen_at       TEXT,
    scheme           TEXT NOT NULL DEFAULT 'https' CHECK (scheme IN ('https', 'http')),
    port             INTEGER CHECK (port BETWEEN 1 AND 65535),
    insecure         INTEGER NOT NULL DEFAULT 0 CHECK (insecure IN (0, 1)),
    tls_fingerprint  TEXT,
    credential_id    INTEGER REFERENCES credentials(id) ON DELETE SET NULL,
    vendor           TEXT,
    model            TEXT,
    firmware         TEXT,
    redfish_version  TEXT,
    service_uuid     TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
  ) STRICT;

  CREATE TABLE machines (
    id                TEXT PRIMARY KEY,
    bmc_id            INTEGER REFERENCES bmcs(id),
    -- the Redfish ComputerSystem this machine is; a chassis manager can hold several
    system_path       TEXT,
    state             TEXT NOT NULL CHECK (state IN (
                        'enrolled', 'ready', 'unclassified', 'provisioned',
                        'bmc_unreachable', 'auth_failed', 'inspect_failed', 'provision_failed',
                        'resolving', 'connecting', 'inspecting', 'classifying',
                        'preparing', 'netbooting', 'installing', 'deprovisioning')),
    state_reason      TEXT,
    state_changed_at  TEXT NOT NULL,
    maintenance       INTEGER NOT NULL DEFAULT 0 CHECK (maintenance IN (0, 1)),
    power             TEXT,
    manufacturer      TEXT,
    model             TEXT,
    serial            TEXT,
    uuid              TEXT,
    sku               TEXT,
    bios_version      TEXT,
    power_state       TEXT,
    cpu_count         INTEGER,
    cpu_cores         INTEGER,
    cpu_threads       INTEGER,
    cpu_model         TEXT,
    memory_gib        REAL,
    memory_dimms      INTEGER,
    server_type       TEXT,
    profile           TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (bmc_id, system_path)
  ) STRICT;
  CREATE INDEX machines_by_state ON machines(state);

  CREATE TABLE nics (
    id           INTEGER PRIMARY KEY,
    machine_id   TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    mac          TEXT NOT NULL UNIQUE ${MAC_CHECK('mac')},
    name         TEXT,
    speed_mbps   INTEGER,
    link_status  TEXT
  ) STRICT;
  CREATE INDEX nics_by_machine ON nics(machine_id);

  CREATE TABLE drives (
    id              INTEGER PRIMARY KEY,
    machine_id      TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    name            TEXT,
    model           TEXT,
    serial          TEXT,
    capacity_bytes  INTEGER,
    media_type      TEXT,
    protocol        TEXT
  ) STRICT;
  CREATE INDEX drives_by_machine ON drives(machine_id);

  -- hardware facts beyond the summary columns (firmware inventory, boot options, ...), JSON values
  CREATE TABLE facts (
    machine_id  TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (machine_id, key)
  ) STRICT, WITHOUT ROWID;

  -- every Redfish resource read, raw-deflate-compressed JSON, so parsing can improve without rescanning
  CREATE TABLE raw_resources (
    id          INTEGER PRIMARY KEY,
    bmc_id      INTEGER NOT NULL REFERENCES bmcs(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    status      INTEGER NOT NULL,
    etag        TEXT,
    body        BLOB,
    fetched_at  TEXT NOT NULL,
    UNIQUE (bmc_id, path)
  ) STRICT;

  CREATE TABLE profiles (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('config', 'api')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
  ) STRICT;

  CREATE TABLE server_types (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('config', 'api')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
  ) STRICT;

  CREATE TABLE events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    machine_id    TEXT NOT NULL REFERENCES machines(id),
    at            TEXT NOT NULL,
    type          TEXT NOT NULL,
    from_state    TEXT,
    to_state      TEXT,
    message       TEXT NOT NULL,
    data          TEXT,
    operation_id  TEXT
  ) STRICT;
  CREATE INDEX events_by_machine ON events(machine_id, id);
  CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
  CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

  CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY,
    kind              TEXT NOT NULL,
    machine_id        TEXT REFERENCES machines(id),
    status            TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    step              TEXT,
    input             TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    run_after         TEXT NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  TEXT,
    last_error        TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
  ) STRICT;
  CREATE INDEX jobs_runnable ON jobs(status, run_after);

  -- what DHCP snooping saw: one row per client MAC, message type and address
  CREATE TABLE observations (
    mac           TEXT NOT NULL ${MAC_CHECK('mac')},
    message_type  TEXT NOT NULL,
    ip            TEXT NOT NULL DEFAULT '',
    vendor_class  TEXT,
    arch          INTEGER,
    hostname      TEXT,
    first_seen    TEXT NOT NULL,
    last_seen     TEXT NOT NULL,
    count         INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (mac, message_type, ip)
  ) STRICT, WITHOUT ROWID;
  `,
  // 2: at most one unfinished job of a kind per machine, so two requests at once make one job.
  `
  CREATE UNIQUE INDEX jobs_one_active ON jobs(kind, machine_id) WHERE status IN ('queued', 'running');
  `,
  // 3: the provisioning operation a machine is in (its installer's callback token is bound to it), and per-machine profiles.
  `
  ALTER TABLE machines ADD COLUMN operation_id TEXT;
  -- a profile the operator chose for this machine (provision --profile): classification keeps it
  ALTER TABLE machines ADD COLUMN profile_pinned INTEGER NOT NULL DEFAULT 0 CHECK (profile_pinned IN (0, 1));
  CREATE INDEX events_by_operation ON events(operation_id) WHERE operation_id IS NOT NULL;
  `,
  // 4: each machine's JSON document, kept written by triggers (documents.ts installs them and fills this table).
  `
  CREATE TABLE machine_documents (
    machine_id  TEXT PRIMARY KEY REFERENCES machines(id) ON DELETE CASCADE,
    document    TEXT NOT NULL
  ) STRICT;
  `,
  // 5: the storage health probe; observations trimmed oldest first (retention).
  `
  CREATE INDEX observations_by_age ON observations(last_seen);
  -- one row, rewritten while the database cannot be written, to notice when it can again
  CREATE TABLE health_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL) STRICT;
  `,
  // 6: health warnings an operator should see beside the state (a BMC that reports another MAC than the one onboarded).
  `
  ALTER TABLE machines ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(warnings) AND json_type(warnings) = 'array');
  `,
  // 7: the agent's states, the whole set its design names at once so its later steps need no
  // second rebuild (SQLite cannot change a CHECK in place: the table is copied, the way
  // sqlite.org/lang_altertable.html prescribes, with foreign keys off around it); and the
  // events of a machine PXE discovery made that never reported may go with it.
  `
  CREATE TABLE machines_with_agent_states (
    id                TEXT PRIMARY KEY,
    bmc_id            INTEGER REFERENCES bmcs(id),
    system_path       TEXT,
    state             TEXT NOT NULL CHECK (state IN (
                        'enrolled', 'ready', 'unclassified', 'provisioned',
                        'bmc_unreachable', 'auth_failed', 'inspect_failed', 'provision_failed',
                        'resolving', 'connecting', 'inspecting', 'classifying',
                        'preparing', 'netbooting', 'installing', 'deprovisioning',
                        'discovered', 'deploying', 'booting', 'active', 'cleaning',
                        'deploy_failed', 'clean_failed')),
    state_reason      TEXT,
    state_changed_at  TEXT NOT NULL,
    maintenance       INTEGER NOT NULL DEFAULT 0 CHECK (maintenance IN (0, 1)),
    power             TEXT,
    manufacturer      TEXT,
    model             TEXT,
    serial            TEXT,
    uuid              TEXT,
    sku               TEXT,
    bios_version      TEXT,
    power_state       TEXT,
    cpu_count         INTEGER,
    cpu_cores         INTEGER,
    cpu_threads       INTEGER,
    cpu_model         TEXT,
    memory_gib        REAL,
    memory_dimms      INTEGER,
    server_type       TEXT,
    profile           TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    operation_id      TEXT,
    profile_pinned    INTEGER NOT NULL DEFAULT 0 CHECK (profile_pinned IN (0, 1)),
    warnings          TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(warnings) AND json_type(warnings) = 'array'),
    UNIQUE (bmc_id, system_path)
  ) STRICT;
  INSERT INTO machines_with_agent_states (${MACHINE_COLUMNS}) SELECT ${MACHINE_COLUMNS} FROM machines;
  DROP TABLE machines;
  ALTER TABLE machines_with_agent_states RENAME TO machines;
  CREATE INDEX machines_by_state ON machines(state);
  DROP TRIGGER events_are_append_only_delete;
  CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
    WHEN (SELECT state FROM machines WHERE id = OLD.machine_id) IS NOT 'discovered'
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
  `,
  // 8: metalbox delete. A machine's events go with it, and only inside the deletion's own
  // transaction: it names the machine in machine_deletions first and removes the row last.
  `
  CREATE TABLE machine_deletions (machine_id TEXT PRIMARY KEY) STRICT;
  DROP TRIGGER events_are_append_only_delete;
  CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
    WHEN (SELECT state FROM machines WHERE id = OLD.machine_id) IS NOT 'discovered'
     AND NOT EXISTS (SELECT 1 FROM machine_deletions WHERE machine_id = OLD.machine_id)
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
  `,
  // 9: BMCs driven over IPMI. What was onboarded before spoke Redfish.
  `
  ALTER TABLE bmcs ADD COLUMN protocol TEXT NOT NULL DEFAULT 'redfish' CHECK (protocol IN ('redfish', 'ipmi'));
  `,
  // 10: the DHCP relay a client's packets came through (giaddr), for machines behind relays.
  `
  ALTER TABLE observations ADD COLUMN relay TEXT;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
