import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { MetalboxError } from '../lib/errors.js';
import type { SqliteDatabase } from './database.js';

export const SECRET_KEY_FILE = 'secret-key';

export interface Credential {
  username: string;
  password: string;
}

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * BMC credentials, the password sealed with AES-256-GCM under a key file in the data dir
 * (0600): a copy of the database alone reveals no password. The username is bound into
 * the seal, so a row's secret cannot be moved to another user.
 */
export class CredentialStore {
  readonly #insert;
  readonly #select;

  constructor(
    db: SqliteDatabase,
    private readonly key: Buffer,
  ) {
    if (key.length !== 32)
      throw new MetalboxError(
        'E_DATA_DIR',
        `the secret key must be 32 bytes, it is ${key.length}: restore ${SECRET_KEY_FILE} from a backup`,
      );
    this.#insert = db.prepare<[string, Buffer, string, string]>(
      'INSERT INTO credentials (username, secret, created_at, updated_at) VALUES (?, ?, ?, ?)',
    );
    this.#select = db.prepare<[number], { username: string; secret: Buffer }>('SELECT username, secret FROM credentials WHERE id = ?');
  }

  save(credential: Credential): number {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(`metalbox-credential\0${credential.username}`));
    const sealed = Buffer.concat([nonce, cipher.update(credential.password, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    const now = new Date().toISOString();
    return Number(this.#insert.run(credential.username, sealed, now, now).lastInsertRowid);
  }

  /** The credential with its password; E_DATA_DIR when the key does not open it (a replaced key file). */
  read(id: number): Credential | null {
    const row = this.#select.get(id);
    if (!row) return null;
    const nonce = row.secret.subarray(0, NONCE_BYTES);
    const tag = row.secret.subarray(row.secret.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonce);
    decipher.setAAD(Buffer.from(`metalbox-credential\0${row.username}`));
    decipher.setAuthTag(tag);
    try {
      const password = Buffer.concat([
        decipher.update(row.secret.subarray(NONCE_BYTES, row.secret.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
      return { username: row.username, password };
    } catch {
      throw new MetalboxError(
        'E_DATA_DIR',
        `credential ${id} does not open with ${SECRET_KEY_FILE}: was the key file replaced? onboard the BMC again with its password`,
      );
    }
  }
}
