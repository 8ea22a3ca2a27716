import { MetalboxError } from '../lib/errors.js';
import { newMachineId, newOperationId, type MachineRef } from '../lib/machine-ref.js';
import { normalizeMac } from '../lib/mac.js';
import type { SqliteDatabase } from './database.js';
import { BUSY, canMove, INITIAL_STATES, TRANSIENT_STATES, type MachineState } from '../lifecycle/lifecycle.js';
import type { DriveJson, MachineEventJson, MachineJson, NicJson, SystemJson } from './types.js';

/** Rows per read when a whole list is wanted. */
const LIST_PAGE = 1000;

export interface MachineFilter {
  state?: MachineState | undefined;
  /** Case-insensitive substring of id, serial, manufacturer, model, profile, type, BMC IP or any MAC. */
  q?: string | undefined;
}

export interface EnrollInput {
  bmcMac: string;
  bmcIp?: string | null;
  ipSource?: string | null;
  scheme?: 'https' | 'http';
  port?: number | null;
  insecure?: boolean;
}

/** What an inspection learned: it replaces the machine's hardware view as a whole. */
export interface InventoryInput {
  systemPath: string | null;
  /** The BMC's own facts; null from a system another manager manages (a SmartNIC's SoC), which leaves the BMC record alone. */
  bmc: { model: string | null; firmware: string | null; redfishVersion: string | null; vendor: string | null } | null;
  power: string | null;
  system: SystemJson;
  cpu: MachineJson['cpu'];
  memory: MachineJson['memory'];
  drives: DriveJson[];
  nics: NicJson[];
}

export interface EventInput {
  type: string;
  message: string;
  data?: unknown;
  operationId?: string | null;
}

/** An event of one machine that may also move it on, when it is in one of `advance.from`. */
export interface MachineEventInput extends EventInput {
  machineId: string;
  at?: string;
  advance?: { from: readonly MachineState[]; to: MachineState; reason?: string | null };
}

/** A boot entry as SQLite returns it in raw mode: mac, machine_id, state, maintenance, profile, operation_id. */
type BootEntryRow = [string, string, MachineState, number, string | null, string | null, number];

interface EventRow {
  id: number;
  machine_id: string;
  at: string;
  type: string;
  from_state: MachineState | null;
  to_state: MachineState | null;
  message: string;
  data: string | null;
  operation_id: string | null;
}

// Each machine's JSON document is stored, kept current by triggers (documents.ts): listing N
// machines is one pass over stored text with no per-row objects in JavaScript, and the API
// can stream the documents as they are.
const MACHINE_FROM = 'FROM machines m JOIN machine_documents doc ON doc.machine_id = m.id LEFT JOIN bmcs b ON b.id = m.bmc_id';

/** A page of machine documents: JSON texts, and where the next page starts. */
export interface MachinePage {
  documents: string[];
  /** Pass as `after` for the next page; null when this was the last. */
  next: number | null;
}

const SEARCHABLE = `(
     instr(m.id, :q) OR instr(lower(coalesce(m.serial, '')), :q)
  OR instr(lower(coalesce(m.manufacturer, '')), :q) OR instr(lower(coalesce(m.model, '')), :q)
  OR instr(lower(coalesce(m.profile, '')), :q) OR instr(lower(coalesce(m.server_type, '')), :q)
  OR instr(coalesce(b.mac, ''), :q) OR instr(coalesce(b.ip, ''), :q)
  OR EXISTS (SELECT 1 FROM nics n WHERE n.machine_id = m.id AND instr(n.mac, :q)))`;

/** What a booting NIC's MAC maps to, for the in-memory boot decisions. */
export interface BootEntry {
  mac: string;
  machineId: string;
  state: MachineState;
  maintenance: boolean;
  profile: string | null;
  /** The provisioning operation under way or last run: installer callback tokens are bound to it. */
  operationId: string | null;
  /** Its agent read Secure Boot on (the agent.firmware fact): an unsigned loader would be refused. */
  secureBoot: boolean;
}

/** The inventory's machines, their hardware and their timelines. */
export class MachineStore {
  readonly #db: SqliteDatabase;
  readonly #listeners = new Set<(machineId: string) => void>();
  /** Machines changed inside an enclosing transaction, announced once it commits. */
  readonly #deferred = new Set<string>();
  readonly #page;
  readonly #byId;
  readonly #idsByMac;
  readonly #events;
  readonly #appendEvent;
  readonly #stateOf;
  readonly #setState;
  readonly #allBootEntries;
  readonly #bootEntriesOf;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    // Keyset pages in insertion order: each page is one short read, so a list of 100,000
    // machines never holds the connection (the hot paths' writes) for long.
    this.#page = db.prepare<{ state: string | null; q: string | null; after: number; limit: number }, { cursor: number; document: string }>(
      `SELECT m.rowid AS cursor, doc.document ${MACHINE_FROM}
          WHERE m.rowid > :after AND (:state IS NULL OR m.state = :state) AND (:q IS NULL OR ${SEARCHABLE})
          ORDER BY m.rowid LIMIT :limit`,
    );
    this.#byId = db.prepare<[string], string>('SELECT document FROM machine_documents WHERE machine_id = ?').pluck();
    this.#idsByMac = db
      .prepare<{ mac: string }, { id: string }>(
        `SELECT m.id FROM machines m JOIN bmcs b ON b.id = m.bmc_id WHERE b.mac = :mac
          UNION SELECT machine_id FROM nics WHERE mac = :mac`,
      )
      .pluck(false);
    this.#events = db.prepare<{ machineId: string; after: number; limit: number }, EventRow>(
      `SELECT * FROM (SELECT * FROM events WHERE machine_id = :machineId AND id > :after ORDER BY id DESC LIMIT :limit)
        ORDER BY id`,
    );
    this.#stateOf = db.prepare<[string], { state: MachineState }>('SELECT state FROM machines WHERE id = ?');
    this.#setState = db.prepare('UPDATE machines SET state = ?, state_reason = ?, state_changed_at = ?, updated_at = ? WHERE id = ?');
    // Two statements, not one with `:id IS NULL OR m.id = :id`: SQLite plans a statement once,
    // and that OR makes it scan every NIC; a machine's refresh (one per boot) must use the index.
    // The agent.firmware fact is one primary-key lookup a machine (facts is keyed by machine and key).
    const bootEntry = `SELECT n.mac, n.machine_id, m.state, m.maintenance, m.profile, m.operation_id,
        coalesce(json_extract(f.value, '$.secureBoot') = 1, 0)
      FROM nics n JOIN machines m ON m.id = n.machine_id
      LEFT JOIN facts f ON f.machine_id = m.id AND f.key = 'agent.firmware'`;
    // Raw rows (arrays): the whole view is read at start-up, 100,000 NICs and more, and a row
    // object per NIC only to copy it into a BootEntry measurably slows that read.
    this.#allBootEntries = db.prepare<[], BootEntryRow>(bootEntry).raw();
    this.#bootEntriesOf = db.prepare<[string], BootEntryRow>(`${bootEntry} WHERE n.machine_id = ?`).raw();
    this.#appendEvent = db.prepare(
      `INSERT INTO events (machine_id, at, type, from_state, to_state, message, data, operation_id)
       VALUES (:machineId, :at, :type, :fromState, :toState, :message, :data, :operationId)`,
    );
  }

  /** How many machines are in each state (read from the state index). */
  countByState(): Partial<Record<MachineState, number>> {
    const rows = this.#db.prepare<[], { state: MachineState; n: number }>('SELECT state, COUNT(*) AS n FROM machines GROUP BY state').all();
    return Object.fromEntries(rows.map((row) => [row.state, row.n]));
  }

  /** Calls `listener` with the machine's id after every committed change to a machine. */
  onChange(listener: (machineId: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The boot entries of every NIC, or of one machine's NICs. */
  bootEntries(machineId?: string): BootEntry[] {
    const rows = machineId === undefined ? this.#allBootEntries.all() : this.#bootEntriesOf.all(machineId);
    return rows.map(([mac, id, state, maintenance, profile, operationId, secureBoot]) => ({
      mac,
      machineId: id,
      state,
      maintenance: maintenance === 1,
      profile,
      operationId,
      secureBoot: secureBoot === 1,
    }));
  }

  /**
   * Machines under an agent inspection (metalbox inspect) that have no NIC metalbox knows:
   * an IPMI-only machine, or a BMC that lists no network interfaces. Their PXE requests come
   * from MACs nobody knows yet, so the boot decisions answer unknown MACs while any waits.
   */
  awaitingNics(machineId?: string): string[] {
    return this.#db
      .prepare<{ id: string | null }, string>(
        `SELECT m.id FROM machines m
          WHERE m.state = 'inspecting' AND (:id IS NULL OR m.id = :id)
            AND NOT EXISTS (SELECT 1 FROM nics n WHERE n.machine_id = m.id)
            AND EXISTS (SELECT 1 FROM events e WHERE e.operation_id = m.operation_id AND e.type = 'inspect')`,
      )
      .pluck()
      .all({ id: machineId ?? null });
  }

  /** Every machine matching the filter, in the order they were added. */
  list(filter: MachineFilter = {}): MachineJson[] {
    const machines: MachineJson[] = [];
    for (let after: number | null = 0; after !== null; ) {
      const page: MachinePage = this.page(filter, after, LIST_PAGE);
      for (const document of page.documents) machines.push(JSON.parse(document) as MachineJson);
      after = page.next;
    }
    return machines;
  }

  /** Up to `limit` machine documents after cursor `after` (0: from the start), as JSON text. */
  page(filter: MachineFilter, after: number, limit: number): MachinePage {
    const q = filter.q?.trim() ? (normalizeMac(filter.q) ?? filter.q.trim().toLowerCase()) : null;
    const rows = this.#page.all({ state: filter.state ?? null, q, after, limit });
    return { documents: rows.map((row) => row.document), next: rows.length < limit ? null : rows.at(-1)!.cursor };
  }

  get(id: string): MachineJson | null {
    const document = this.#byId.get(id);
    return document === undefined ? null : (JSON.parse(document) as MachineJson);
  }

  /** The one machine a ref names; E_NOT_FOUND, or E_AMBIGUOUS_REF for a BMC holding several systems. */
  resolve(ref: MachineRef): MachineJson {
    const ids = ref.kind === 'id' ? [ref.id] : this.#idsByMac.all({ mac: ref.mac }).map((row) => row.id);
    if (ids.length > 1) {
      throw new MetalboxError(
        'E_AMBIGUOUS_REF',
        `MAC ${describeRef(ref)} belongs to ${ids.length} machines (${ids.join(', ')}); use a machine id`,
      );
    }
    const machine = ids[0] === undefined ? null : this.get(ids[0]);
    if (!machine) throw new MetalboxError('E_NOT_FOUND', `no machine with ${ref.kind === 'id' ? 'id' : 'MAC'} ${describeRef(ref)}`);
    return machine;
  }

  /** The latest `limit` events after event id `after`, oldest first. */
  events(machineId: string, options: { after?: number; limit?: number } = {}): MachineEventJson[] {
    return this.#events.all({ machineId, after: options.after ?? 0, limit: options.limit ?? 100 }).map(toEventJson);
  }

  /**
   * Records a BMC and its machine in state `enrolled`, or returns the machine a known BMC
   * already has: enrolling twice never duplicates anything.
   */
  enroll(input: EnrollInput): MachineJson {
    const bmcMac = requireMac(input.bmcMac);
    const machine = this.#db
      .transaction(() => {
        const existing = this.#idsByMac.all({ mac: bmcMac });
        if (existing[0]) return this.get(existing[0].id)!;
        const now = new Date().toISOString();
        const bmc = this.#db
          .prepare(
            `INSERT INTO bmcs (mac, ip, ip_source, ip_seen_at, scheme, port, insecure, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            bmcMac,
            input.bmcIp ?? null,
            input.ipSource ?? null,
            input.bmcIp ? now : null,
            input.scheme ?? 'https',
            input.port ?? null,
            input.insecure ? 1 : 0,
            now,
            now,
          );
        const id = newMachineId();
        this.#db
          .prepare(
            `INSERT INTO machines (id, bmc_id, state, state_changed_at, created_at, updated_at)
             VALUES (?, ?, 'enrolled', ?, ?, ?)`,
          )
          .run(id, bmc.lastInsertRowid, now, now, now);
        this.#append(id, now, null, 'enrolled', { type: 'state', message: `enrolled with BMC ${bmcMac}` });
        return this.get(id)!;
      })
      .immediate();
    this.#notify(machine.id);
    return machine;
  }

  /** Moves a machine to `to` and appends the event, in one transaction. */
  transition(machineId: string, to: MachineState, reason: string | null, event: EventInput): MachineEventJson {
    const appended = this.#db
      .transaction(() => {
        const current = this.#stateOf.get(machineId);
        if (!current) throw new MetalboxError('E_NOT_FOUND', `no machine with id ${machineId}`);
        const now = new Date().toISOString();
        this.#move(machineId, current.state, to, reason, now);
        return this.#append(machineId, now, current.state, to, event);
      })
      .immediate();
    this.#notify(machineId);
    return appended;
  }

  /** Puts the machine in maintenance or takes it out, with its event, in one transaction; unchanged (and no event) when it already is. */
  setMaintenance(machineId: string, on: boolean): MachineEventJson | null {
    const event = {
      type: 'maintenance',
      message: on ? 'maintenance on: no boot answers until it is taken out' : 'maintenance off: boot answers again',
    };
    const appended = this.#db
      .transaction(() => {
        const current = this.#db
          .prepare<[string], { state: MachineState; maintenance: number }>('SELECT state, maintenance FROM machines WHERE id = ?')
          .get(machineId);
        if (!current) throw new MetalboxError('E_NOT_FOUND', `no machine with id ${machineId}`);
        if ((current.maintenance === 1) === on) return null;
        const now = new Date().toISOString();
        this.#db.prepare('UPDATE machines SET maintenance = ?, updated_at = ? WHERE id = ?').run(on ? 1 : 0, now, machineId);
        return this.#append(machineId, now, current.state, current.state, event);
      })
      .immediate();
    if (appended) this.#notify(machineId);
    return appended;
  }

  /** Sets the profile the machine installs with (null: none), and appends the event, in one transaction. */
  setProfile(machineId: string, profile: string | null, event: EventInput): MachineEventJson {
    const appended = this.#db
      .transaction(() => {
        const current = this.#stateOf.get(machineId);
        if (!current) throw new MetalboxError('E_NOT_FOUND', `no machine with id ${machineId}`);
        const now = new Date().toISOString();
        this.#db.prepare('UPDATE machines SET profile = ?, updated_at = ? WHERE id = ?').run(profile, now, machineId);
        return this.#append(machineId, now, current.state, current.state, event);
      })
      .immediate();
    this.#notify(machineId);
    return appended;
  }

  /**
   * Starts a disruptive operation (provision, deprovision): moves the machine from one of
   * `from` to `to`, binds it to `operationId` and, when given, sets its profile, with the
   * event, in one transaction. E_CONFLICT, changing nothing, when it is in another state.
   */
  startOperation(
    machineId: string,
    operationId: string,
    from: readonly MachineState[],
    to: MachineState,
    event: EventInput,
    profile?: string,
  ): MachineEventJson {
    const appended = this.#db
      .transaction(() => {
        const current = this.#stateOf.get(machineId);
        if (!current) throw new MetalboxError('E_NOT_FOUND', `no machine with id ${machineId}`);
        if (!from.includes(current.state)) {
          throw new MetalboxError('E_CONFLICT', `machine ${machineId} is ${current.state}; this needs it ${from.join(' or ')}`);
        }
        const now = new Date().toISOString();
        this.#move(machineId, current.state, to, null, now);
        if (profile !== undefined)
          this.#db.prepare('UPDATE machines SET profile = ?, profile_pinned = 1 WHERE id = ?').run(profile, machineId);
        this.#db.prepare('UPDATE machines SET operation_id = ? WHERE id = ?').run(operationId, machineId);
        return this.#append(machineId, now, current.state, to, { ...event, operationId });
      })
      .immediate();
    this.#notify(machineId);
    return appended;
  }

  /** Moves the machine only if it is still in one of `from` (a watchdog racing a callback must not undo it); false otherwise. */
  transitionIf(machineId: string, from: readonly MachineState[], to: MachineState, reason: string | null, event: EventInput): boolean {
    const moved = this.#db
      .transaction(() => {
        const current = this.#stateOf.get(machineId);
        if (!current || !from.includes(current.state)) return false;
        const now = new Date().toISOString();
        this.#move(machineId, current.state, to, reason, now);
        this.#append(machineId, now, current.state, to, event);
        return true;
      })
      .immediate();
    if (moved) this.#notify(machineId);
    return moved;
  }

  /** Machines in one of the given states since before its cutoff (ISO time), with the state's start. */
  overdue(cutoffs: Partial<Record<MachineState, string>>): Array<{ id: string; state: MachineState; since: string }> {
    const entries = Object.entries(cutoffs);
    if (entries.length === 0) return [];
    const clauses = entries.map((_, index) => `(state = @s${index} AND state_changed_at < @c${index})`).join(' OR ');
    const parameters = Object.fromEntries(
      entries.flatMap(([state, cutoff], index) => [
        [`s${index}`, state],
        [`c${index}`, cutoff],
      ]),
    );
    return this.#db
      .prepare<Record<string, string>, { id: string; state: MachineState; state_changed_at: string }>(
        `SELECT id, state, state_changed_at FROM machines WHERE ${clauses}`,
      )
      .all(parameters)
      .map((row) => ({ id: row.id, state: row.state, since: row.state_changed_at }));
  }

  /** The newest event of a machine. */
  lastEvent(machineId: string): MachineEventJson | null {
    return this.events(machineId, { limit: 1 })[0] ?? null;
  }

  /** The types of the events recorded under an operation id, oldest first (a retried step asks what already happened). */
  operationEvents(operationId: string): string[] {
    return this.#db
      .prepare<[string], { type: string }>('SELECT type FROM events WHERE operation_id = ? ORDER BY id')
      .all(operationId)
      .map((row) => row.type);
  }

  /** Whether the operation has an event of `type` (one indexed lookup; operationEvents reads them all). */
  operationHas(operationId: string, type: string): boolean {
    return (
      this.#db
        .prepare<[string, string], number>('SELECT 1 FROM events WHERE operation_id = ? AND type = ? LIMIT 1')
        .pluck()
        .get(operationId, type) !== undefined
    );
  }

  /** The Redfish system path the machine is (null before its first inspection). */
  systemPathOf(machineId: string): string | null {
    return (
      this.#db.prepare<[string], { system_path: string | null }>('SELECT system_path FROM machines WHERE id = ?').get(machineId)
        ?.system_path ?? null
    );
  }

  /** The machine's provisioning operation (null: none ever). */
  operationOf(machineId: string): string | null {
    return (
      this.#db.prepare<[string], { operation_id: string | null }>('SELECT operation_id FROM machines WHERE id = ?').get(machineId)
        ?.operation_id ?? null
    );
  }

  /** Records the power state the BMC reported. */
  setPower(machineId: string, power: string | null): void {
    this.#db
      .prepare('UPDATE machines SET power = ?, power_state = ?, updated_at = ? WHERE id = ?')
      .run(power, power, new Date().toISOString(), machineId);
    this.#notify(machineId);
  }

  /** Records the server type a classification found (null: none) and the profile it brings, with no event of its own. */
  setClassification(machineId: string, serverType: string | null, profile: string | null): void {
    // A profile the operator chose for the machine outlives reclassification.
    this.#db
      .prepare(
        'UPDATE machines SET server_type = ?, profile = CASE WHEN profile_pinned = 1 THEN profile ELSE ? END, updated_at = ? WHERE id = ?',
      )
      .run(serverType, profile, new Date().toISOString(), machineId);
    this.#notify(machineId);
  }

  /**
   * Appends events, each moving its machine on when `advance` says so, all in one
   * transaction. Events of machines deleted meanwhile are skipped. Returns those appended.
   */
  appendEvents(inputs: readonly MachineEventInput[]): MachineEventJson[] {
    const appended = this.#db
      .transaction(() => {
        const done: MachineEventJson[] = [];
        for (const input of inputs) {
          const current = this.#stateOf.get(input.machineId);
          if (!current) continue;
          const at = input.at ?? new Date().toISOString();
          const to = input.advance?.from.includes(current.state) ? input.advance.to : current.state;
          if (to !== current.state) this.#move(input.machineId, current.state, to, input.advance?.reason ?? null, at);
          done.push(this.#append(input.machineId, at, current.state, to, input));
        }
        return done;
      })
      .immediate();
    for (const machineId of new Set(appended.filter((event) => event.fromState !== event.toState).map((event) => event.machineId)))
      this.#notify(machineId);
    return appended;
  }

  /**
   * Replaces the machine's hardware view with what an inspection read, and appends the
   * event (moving the machine to `advanceTo` when given), in one transaction. A NIC MAC already owned by another machine is refused
   * (E_NIC_CONFLICT) rather than silently moved: it means two records for one server.
   */
  recordInventory(machineId: string, inventory: InventoryInput, event: EventInput, advanceTo?: MachineState): void {
    const nics = inventory.nics.map((nic) => ({ ...nic, mac: requireMac(nic.mac) }));
    this.#db
      .transaction(() => {
        const now = new Date().toISOString();
        const owners = this.#db.prepare<[string, string], { machine_id: string }>(
          'SELECT machine_id FROM nics WHERE mac = ? AND machine_id != ?',
        );
        for (const nic of nics) {
          const owner = owners.get(nic.mac, machineId);
          if (owner) throw new MetalboxError('E_NIC_CONFLICT', `NIC ${nic.mac} already belongs to machine ${owner.machine_id}`);
        }
        const { system, cpu, memory } = inventory;
        const updated = this.#db
          .prepare(
            `UPDATE machines SET system_path = ?, power = ?, manufacturer = ?, model = ?, serial = ?, uuid = ?, sku = ?,
               bios_version = ?, power_state = ?, cpu_count = ?, cpu_cores = ?, cpu_threads = ?, cpu_model = ?,
               memory_gib = ?, memory_dimms = ?, updated_at = ? WHERE id = ?`,
          )
          .run(
            inventory.systemPath,
            inventory.power,
            system.manufacturer,
            system.model,
            system.serial,
            system.uuid,
            system.sku,
            system.biosVersion,
            system.powerState,
            cpu.count,
            cpu.cores,
            cpu.threads,
            cpu.model,
            memory.totalGiB,
            memory.dimms,
            now,
            machineId,
          );
        if (updated.changes === 0) throw new MetalboxError('E_NOT_FOUND', `no machine with id ${machineId}`);
        if (inventory.bmc !== null) {
          this.#db
            .prepare(
              `UPDATE bmcs SET model = ?, firmware = ?, redfish_version = ?, vendor = ?, updated_at = ?
                WHERE id = (SELECT bmc_id FROM machines WHERE id = ?)`,
            )
            .run(inventory.bmc.model, inventory.bmc.firmware, inventory.bmc.redfishVersion, inventory.bmc.vendor, now, machineId);
        }
        this.#db.prepare('DELETE FROM nics WHERE machine_id = ?').run(machineId);
        this.#db.prepare('DELETE FROM drives WHERE machine_id = ?').run(machineId);
        const insertNic = this.#db.prepare('INSERT INTO nics (machine_id, mac, name, speed_mbps, link_status) VALUES (?, ?, ?, ?, ?)');
        for (const nic of nics) insertNic.run(machineId, nic.mac, nic.name, nic.speedMbps, nic.linkStatus);
        const insertDrive = this.#db.prepare(
          `INSERT INTO drives (machine_id, name, model, serial, capacity_bytes, media_type, protocol)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const drive of inventory.drives) {
          insertDrive.run(machineId, drive.name, drive.model, drive.serial, drive.capacityBytes, drive.mediaType, drive.protocol);
        }
        const state = this.#stateOf.get(machineId)!;
        if (advanceTo !== undefined && advanceTo !== state.state) this.#move(machineId, state.state, advanceTo, null, now);
        this.#append(machineId, now, state.state, advanceTo ?? state.state, event);
      })
      .immediate();
    this.#notify(machineId);
  }

  /**
   * Writes a state change, inside the caller's transaction, if the lifecycle has that move:
   * a move it lacks is a bug, refused before anything is written.
   */
  #move(machineId: string, from: MachineState, to: MachineState, reason: string | null, at: string): void {
    if (!canMove(from, to))
      throw new MetalboxError('E_CONFLICT', `machine ${machineId} cannot move from ${from} to ${to}: the lifecycle has no such move`);
    this.#setState.run(to, reason, at, at, machineId);
  }

  /** The machines of a BMC (one per Redfish system), oldest first. */
  ofBmc(bmcId: number): Array<{ id: string; systemPath: string | null; state: MachineState }> {
    return this.#db
      .prepare<[number], { id: string; system_path: string | null; state: MachineState }>(
        'SELECT id, system_path, state FROM machines WHERE bmc_id = ? ORDER BY rowid',
      )
      .all(bmcId)
      .map((row) => ({ id: row.id, systemPath: row.system_path, state: row.state }));
  }

  stateOf(machineId: string): MachineState | null {
    return this.#stateOf.get(machineId)?.state ?? null;
  }

  /**
   * A machine for a NIC that PXE-booted unknown (boot.unknown: discover): state
   * `discovered`, the NIC's MAC, and a discovery operation its agent's token is bound to.
   * The NIC's machine when it has one already; null when `max` machines wait for their
   * agent already (a flood of spoofed clients makes no more).
   */
  discover(mac: string, from: string, max: number): { machineId: string; created: boolean } | null {
    const nicMac = requireMac(mac);
    const result = this.#db
      .transaction(() => {
        const owner = this.#db.prepare<[string], string>('SELECT machine_id FROM nics WHERE mac = ?').pluck().get(nicMac);
        if (owner !== undefined) return { machineId: owner, created: false };
        const waiting = this.#db.prepare<[], number>("SELECT count(*) FROM machines WHERE state = 'discovered'").pluck().get()!;
        if (waiting >= max) return null;
        const now = new Date().toISOString();
        const id = newMachineId();
        const operationId = newOperationId();
        this.#db
          .prepare(
            `INSERT INTO machines (id, state, state_changed_at, created_at, updated_at, operation_id) VALUES (?, 'discovered', ?, ?, ?, ?)`,
          )
          .run(id, now, now, now, operationId);
        this.#db.prepare('INSERT INTO nics (machine_id, mac) VALUES (?, ?)').run(id, nicMac);
        this.#append(id, now, null, 'discovered', {
          type: 'discovered',
          message: `found by PXE: NIC ${nicMac} asked for its boot script from ${from}`,
          data: { mac: nicMac, from },
          operationId,
        });
        return { machineId: id, created: true };
      })
      .immediate();
    if (result?.created) this.#notify(result.machineId);
    return result;
  }

  /**
   * Another machine that is the same hardware as `machineId`: one that owns a NIC of
   * `macs`, else one with the same system UUID, else one with the same serial from the same
   * manufacturer. Null when there is none. Placeholder serials and UUIDs never reach here
   * (the inventories drop them), so two machines are never matched on an empty value.
   */
  sameHardware(
    machineId: string,
    identity: { macs: readonly string[]; uuid: string | null; serial: string | null; manufacturer: string | null },
  ): { id: string; by: string } | null {
    const byNic = this.#db.prepare<[string, string], string>('SELECT machine_id FROM nics WHERE mac = ? AND machine_id != ?').pluck();
    for (const mac of identity.macs) {
      const owner = byNic.get(mac, machineId);
      if (owner !== undefined) return { id: owner, by: `NIC ${mac}` };
    }
    if (identity.uuid !== null) {
      const owner = this.#db
        .prepare<[string, string], string>('SELECT id FROM machines WHERE uuid = ? AND id != ? ORDER BY rowid')
        .pluck()
        .get(identity.uuid, machineId);
      if (owner !== undefined) return { id: owner, by: `system UUID ${identity.uuid}` };
    }
    if (identity.serial !== null && identity.manufacturer !== null) {
      const owner = this.#db
        .prepare<[string, string, string], string>(
          'SELECT id FROM machines WHERE serial = ? AND manufacturer = ? AND id != ? ORDER BY rowid',
        )
        .pluck()
        .get(identity.serial, identity.manufacturer, machineId);
      if (owner !== undefined) return { id: owner, by: `serial ${identity.serial}` };
    }
    return null;
  }

  /**
   * Folds a machine PXE discovery made into the record of the same hardware (found by its
   * BMC, or discovered before through another NIC): the discovered record's NICs move over,
   * the record and its events go, and the survivor's timeline says so and it gets `warning`
   * (an agent's report is not proof: the operator should see the NICs it added). One transaction.
   */
  absorbDiscovered(discoveredId: string, intoId: string, event: EventInput, warning: string): void {
    this.#db
      .transaction(() => {
        const state = this.#stateOf.get(discoveredId)?.state;
        if (state !== 'discovered')
          throw new MetalboxError('E_CONFLICT', `machine ${discoveredId} is ${state ?? 'gone'}, not discovered: it is not merged`);
        const into = this.#stateOf.get(intoId);
        if (!into) throw new MetalboxError('E_NOT_FOUND', `no machine with id ${intoId}`);
        this.#db.prepare('UPDATE nics SET machine_id = ? WHERE machine_id = ?').run(intoId, discoveredId);
        this.#removeDiscovered(discoveredId);
        const now = new Date().toISOString();
        // An agent's report is the machine's word, not its BMC's: the operator sees the NICs it added.
        this.#db
          .prepare("UPDATE machines SET updated_at = ?, warnings = json_insert(warnings, '$[#]', ?) WHERE id = ?")
          .run(now, warning, intoId);
        this.#append(intoId, now, into.state, into.state, event);
      })
      .immediate();
    this.#notify(discoveredId);
    this.#notify(intoId);
  }

  /** The machine's facts beyond the summary columns (Redfish firmware and boot options, the agent's disks and ports), by key. */
  facts(machineId: string): Record<string, unknown> {
    const rows = this.#db
      .prepare<[string], { key: string; value: string }>('SELECT key, value FROM facts WHERE machine_id = ? ORDER BY key')
      .all(machineId);
    return Object.fromEntries(rows.map((row) => [row.key, JSON.parse(row.value) as unknown]));
  }

  /** Sets some of the machine's facts, keeping the others (setFacts replaces them all). */
  putFacts(machineId: string, facts: Record<string, unknown>): void {
    const upsert = this.#db.prepare(
      'INSERT INTO facts (machine_id, key, value) VALUES (?, ?, ?) ON CONFLICT (machine_id, key) DO UPDATE SET value = excluded.value',
    );
    this.#db
      .transaction(() => {
        for (const [key, value] of Object.entries(facts)) if (value !== undefined) upsert.run(machineId, key, JSON.stringify(value));
      })
      .immediate();
  }

  /** Removes the machines PXE discovery made whose agent never reported since before `cutoff` (ISO time), with their events; how many. */
  expireDiscovered(cutoff: string): string[] {
    const expired = this.#db
      .transaction(() => {
        const ids = this.#db
          .prepare<[string], string>("SELECT id FROM machines WHERE state = 'discovered' AND state_changed_at < ?")
          .pluck()
          .all(cutoff);
        for (const id of ids) this.#removeDiscovered(id);
        return ids;
      })
      .immediate();
    for (const id of expired) this.#notify(id);
    return expired;
  }

  /**
   * Forgets a machine (metalbox delete): its row, NICs, drives, facts, jobs and events, and
   * its BMC with that BMC's credentials when no other machine shares them, in one
   * transaction. A machine in use or under an operation (BUSY, or a transient state) is
   * refused with E_CONFLICT unless forced; forced, its jobs are dropped with it (a step
   * already sent to its BMC still runs there). Its NICs' MACs may be onboarded again after.
   */
  delete(machineId: string, options: { force: boolean }): MachineJson {
    const deleted = this.#db
      .transaction(() => {
        const machine = this.get(machineId);
        if (machine === null) throw new MetalboxError('E_NOT_FOUND', `no machine with id ${machineId}`);
        if (!options.force && (BUSY.includes(machine.state) || (TRANSIENT_STATES as readonly MachineState[]).includes(machine.state)))
          throw new MetalboxError(
            'E_CONFLICT',
            `machine ${machineId} is ${machine.state}: in use or under an operation; --force deletes it anyway (its jobs with it; the machine itself is not touched)`,
          );
        const { bmcId } = this.#db
          .prepare<[string], { bmcId: number | null }>('SELECT bmc_id AS bmcId FROM machines WHERE id = ?')
          .get(machineId)!;
        this.#db.prepare('INSERT INTO machine_deletions (machine_id) VALUES (?)').run(machineId);
        this.#db.prepare('DELETE FROM events WHERE machine_id = ?').run(machineId);
        this.#db.prepare('DELETE FROM jobs WHERE machine_id = ?').run(machineId);
        this.#db.prepare('DELETE FROM machines WHERE id = ?').run(machineId);
        this.#db.prepare('DELETE FROM machine_deletions WHERE machine_id = ?').run(machineId);
        if (bmcId !== null && this.#db.prepare('SELECT 1 FROM machines WHERE bmc_id = ?').get(bmcId) === undefined) {
          const { credentialId } = this.#db
            .prepare<[number], { credentialId: number | null }>('SELECT credential_id AS credentialId FROM bmcs WHERE id = ?')
            .get(bmcId)!;
          this.#db.prepare('DELETE FROM bmcs WHERE id = ?').run(bmcId);
          if (credentialId !== null && this.#db.prepare('SELECT 1 FROM bmcs WHERE credential_id = ?').get(credentialId) === undefined)
            this.#db.prepare('DELETE FROM credentials WHERE id = ?').run(credentialId);
        }
        return machine;
      })
      .immediate();
    this.#notify(machineId);
    return deleted;
  }

  /** Deletes a discovered machine inside the caller's transaction: its events first (the append-only trigger lets a discovered machine's go, and only while the machine is there), its rows after by cascade. */
  #removeDiscovered(machineId: string): void {
    this.#db.prepare('DELETE FROM events WHERE machine_id = ?').run(machineId);
    this.#db.prepare('DELETE FROM jobs WHERE machine_id = ?').run(machineId);
    this.#db.prepare('DELETE FROM machines WHERE id = ?').run(machineId);
  }

  /** A further system of a known BMC (a blade chassis, a multi-node box) becomes a machine of its own. */
  addSystem(bmcId: number, systemPath: string, state: MachineState, event: EventInput): string {
    const machineId = this.#db
      .transaction(() => {
        if (!INITIAL_STATES.includes(state))
          throw new MetalboxError(
            'E_CONFLICT',
            `a machine cannot start in ${state} (the lifecycle starts machines in ${INITIAL_STATES.join(' or ')})`,
          );
        const now = new Date().toISOString();
        const id = newMachineId();
        this.#db
          .prepare(
            `INSERT INTO machines (id, bmc_id, system_path, state, state_changed_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(id, bmcId, systemPath, state, now, now, now);
        this.#append(id, now, null, state, event);
        return id;
      })
      .immediate();
    this.#notify(machineId);
    return machineId;
  }

  /** Replaces the machine's health warnings (an inspection sets them afresh). */
  setWarnings(machineId: string, warnings: readonly string[]): void {
    this.#db.prepare('UPDATE machines SET warnings = ? WHERE id = ?').run(JSON.stringify(warnings), machineId);
  }

  /** Replaces the machine's facts (what inspection learned beyond the summary columns). */
  setFacts(machineId: string, facts: Record<string, unknown>): void {
    this.#db
      .transaction(() => {
        this.#db.prepare('DELETE FROM facts WHERE machine_id = ?').run(machineId);
        const insert = this.#db.prepare('INSERT INTO facts (machine_id, key, value) VALUES (?, ?, ?)');
        for (const [key, value] of Object.entries(facts)) if (value !== undefined) insert.run(machineId, key, JSON.stringify(value));
      })
      .immediate();
  }

  /**
   * Announces the machines changed inside a transaction that has now committed (see
   * Store.transaction); a rolled-back change is dropped instead.
   */
  flushDeferred(committed: boolean): void {
    const machineIds = [...this.#deferred];
    this.#deferred.clear();
    if (committed) for (const machineId of machineIds) this.#notify(machineId);
  }

  /**
   * After the commit, never inside it: a listener's failure cannot undo a state change,
   * and a listener never sees a change that an enclosing transaction may still roll back.
   */
  #notify(machineId: string): void {
    if (this.#db.inTransaction) {
      this.#deferred.add(machineId);
      return;
    }
    for (const listener of this.#listeners) listener(machineId);
  }

  #append(
    machineId: string,
    at: string,
    fromState: MachineState | null,
    toState: MachineState | null,
    event: EventInput,
  ): MachineEventJson {
    const data = event.data === undefined ? null : JSON.stringify(event.data);
    const operationId = event.operationId ?? null;
    const result = this.#appendEvent.run({
      machineId,
      at,
      type: event.type,
      fromState,
      toState,
      message: event.message,
      data,
      operationId,
    });
    return {
      id: Number(result.lastInsertRowid),
      machineId,
      at,
      type: event.type,
      fromState,
      toState,
      message: event.message,
      data: event.data ?? null,
      operationId,
    };
  }
}

function requireMac(input: string): string {
  const mac = normalizeMac(input);
  if (mac === null) throw new MetalboxError('E_BAD_REF', `not a MAC address: ${input}`);
  return mac;
}

function describeRef(ref: MachineRef): string {
  return ref.kind === 'id' ? ref.id : ref.mac;
}

function toEventJson(row: EventRow): MachineEventJson {
  return {
    id: row.id,
    machineId: row.machine_id,
    at: row.at,
    type: row.type,
    fromState: row.from_state,
    toState: row.to_state,
    message: row.message,
    data: row.data === null ? null : JSON.parse(row.data),
    operationId: row.operation_id,
  };
}
