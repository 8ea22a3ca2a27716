import type { SqliteDatabase } from './database.js';

/** A profile or server type applied through the API, as stored: its spec as given. */
export interface CatalogEntry<T> {
  name: string;
  spec: T;
  updatedAt: string;
}

/**
 * Profiles and server types applied through the API (docs/contracts.md, Profiles: the API's copy wins over
 * the config file's once set). Specs are stored as the JSON given, checked before.
 */
export class CatalogStore {
  constructor(private readonly db: SqliteDatabase) {}

  profiles<T>(): Array<CatalogEntry<T>> {
    return this.#list<T>('profiles');
  }

  serverTypes<T>(): Array<CatalogEntry<T>> {
    return this.#list<T>('server_types');
  }

  /** Inserts or replaces each entry, all in one transaction. */
  saveProfiles(entries: ReadonlyArray<{ name: string; spec: unknown }>): void {
    this.#save('profiles', entries);
  }

  saveServerTypes(entries: ReadonlyArray<{ name: string; spec: unknown }>): void {
    this.#save('server_types', entries);
  }

  /** Removes a profile applied through the API; whether there was one. */
  deleteProfile(name: string): boolean {
    return this.db.prepare("DELETE FROM profiles WHERE name = ? AND source = 'api'").run(name).changes > 0;
  }

  deleteServerType(name: string): boolean {
    return this.db.prepare("DELETE FROM server_types WHERE name = ? AND source = 'api'").run(name).changes > 0;
  }

  /** Machines whose own profile is `name` (at most `limit` of them, for the refusal's message). */
  machinesWithProfile(name: string, limit = 5): string[] {
    return this.db
      .prepare<[string, number], string>('SELECT id FROM machines WHERE profile = ? ORDER BY id LIMIT ?')
      .pluck()
      .all(name, limit);
  }

  #list<T>(table: 'profiles' | 'server_types'): Array<CatalogEntry<T>> {
    return this.db
      .prepare<[], { name: string; spec: string; updated_at: string }>(
        `SELECT name, spec, updated_at FROM ${table} WHERE source = 'api' ORDER BY created_at, name`,
      )
      .all()
      .map((row) => ({ name: row.name, spec: JSON.parse(row.spec) as T, updatedAt: row.updated_at }));
  }

  #save(table: 'profiles' | 'server_types', entries: ReadonlyArray<{ name: string; spec: unknown }>): void {
    const now = new Date().toISOString();
    const upsert = this.db.prepare(
      `INSERT INTO ${table} (name, spec, source, created_at, updated_at) VALUES (?, ?, 'api', ?, ?)
       ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, source = 'api', updated_at = excluded.updated_at`,
    );
    this.db
      .transaction(() => {
        for (const entry of entries) upsert.run(entry.name, JSON.stringify(entry.spec), now, now);
      })
      .immediate();
  }
}
