import { join } from 'node:path';
import { openDatabase, type SqliteDatabase } from './database.js';
import { MachineStore } from './machines.js';
import { ObservationStore } from './observations.js';

export { MachineStore } from './machines.js';
export { ObservationStore, type ObservationJson } from './observations.js';
export type { BootEntry, EnrollInput, EventInput, InventoryInput, MachineEventInput, MachineFilter } from './machines.js';
export { prepareDataDir, lockDataDir } from './data-dir.js';
export { MACHINE_STATES, type MachineState } from './states.js';
export type * from './types.js';

export const DATABASE_FILE = 'metalbox.db';

/** The inventory: one SQLite file in the data dir, and its repositories. */
export class Store {
  readonly machines: MachineStore;
  readonly observations: ObservationStore;

  private constructor(readonly db: SqliteDatabase, readonly path: string) {
    this.machines = new MachineStore(db);
    this.observations = new ObservationStore(db);
  }

  static open(dataDir: string): Store {
    const path = join(dataDir, DATABASE_FILE);
    return new Store(openDatabase(path), path);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
