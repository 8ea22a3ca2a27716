import { join } from 'node:path';
import { ensureSecretFile } from '../lib/secret-file.js';
import { CredentialStore, SECRET_KEY_FILE } from './credentials.js';
import { openDatabase, type SqliteDatabase } from './database.js';
import { MachineStore } from './machines.js';
import { ObservationStore } from './observations.js';
import { BmcStore } from './bmcs.js';
import { JobStore } from './jobs.js';
import { CatalogStore } from './catalog.js';
import { StoreHealth } from './health.js';

export { MachineStore } from './machines.js';
export { ObservationStore, type ObservationJson } from './observations.js';
export { BMC_PROTOCOL_NAMES, BmcStore, type BmcProtocol, type BmcRecord, type BmcConnection } from './bmcs.js';
export { JobStore, type JobJson, type JobStatus } from './jobs.js';
export { CatalogStore, type CatalogEntry } from './catalog.js';
export { CredentialStore, SECRET_KEY_FILE, type Credential } from './credentials.js';
export type { BootEntry, EnrollInput, EventInput, InventoryInput, MachineEventInput, MachineFilter } from './machines.js';
export { prepareDataDir, lockDataDir } from './data-dir.js';
export { StoreHealth, storageProblemOf, type StorageFailure } from './health.js';
export { WalCheckpointer, type CheckpointStats } from './checkpointer.js';
export { MACHINE_STATES, type MachineState } from '../lifecycle/lifecycle.js';
export type * from './types.js';

export const DATABASE_FILE = 'metalbox.db';

/** The inventory: one SQLite file in the data dir, and its repositories. */
export class Store {
  readonly machines: MachineStore;
  readonly observations: ObservationStore;
  readonly credentials: CredentialStore;
  readonly bmcs: BmcStore;
  readonly jobs: JobStore;
  readonly catalog: CatalogStore;
  /** Whether the database can be written now; every write path reports to it. */
  readonly health: StoreHealth;

  private constructor(
    readonly db: SqliteDatabase,
    readonly path: string,
    secretKey: Buffer,
  ) {
    this.machines = new MachineStore(db);
    this.observations = new ObservationStore(db);
    this.credentials = new CredentialStore(db, secretKey);
    this.bmcs = new BmcStore(db);
    this.jobs = new JobStore(db);
    this.catalog = new CatalogStore(db);
    this.health = new StoreHealth(db, path);
  }

  /**
   * Runs `work` as one transaction across the repositories (a step's result, its machine
   * event and its job's progress commit together or not at all). Machine-change listeners
   * hear of the changes only after the commit.
   */
  transaction<T>(work: () => T): T {
    let committed = false;
    try {
      const result = this.health.guard(() => this.db.transaction(work).immediate());
      committed = true;
      return result;
    } finally {
      this.machines.flushDeferred(committed);
    }
  }

  static open(dataDir: string): Store {
    const path = join(dataDir, DATABASE_FILE);
    const db = openDatabase(path);
    try {
      return new Store(db, path, Buffer.from(ensureSecretFile(join(dataDir, SECRET_KEY_FILE)), 'base64url'));
    } catch (error) {
      db.close();
      throw error;
    }
  }

  close(): void {
    this.health.stop();
    if (this.db.open) this.db.close();
  }
}
