import { deflateRawSync } from 'node:zlib';
import type { SqliteDatabase } from './database.js';

/** How metalbox talks to a BMC: Redfish over HTTPS, or IPMI 2.0 over LAN (RMCP+). */
export type BmcProtocol = 'redfish' | 'ipmi';

/** Each protocol as `show`, `power status` and the console name it. */
export const BMC_PROTOCOL_NAMES: Record<BmcProtocol, string> = { redfish: 'Redfish', ipmi: 'IPMI' };

/** How to reach a BMC and what it said about itself; never the password (see CredentialStore). */
export interface BmcRecord {
  id: number;
  mac: string;
  protocol: BmcProtocol;
  ip: string | null;
  ipSource: string | null;
  ipSeenAt: string | null;
  scheme: 'https' | 'http';
  port: number | null;
  insecure: boolean;
  /** SHA-256 of the BMC's TLS certificate, pinned at first contact. */
  tlsFingerprint: string | null;
  credentialId: number | null;
  vendor: string | null;
  redfishVersion: string | null;
  serviceUuid: string | null;
}

export interface BmcConnection {
  protocol?: BmcProtocol;
  scheme?: 'https' | 'http';
  port?: number | null;
  insecure?: boolean;
  tlsFingerprint?: string | null;
  credentialId?: number | null;
}

interface BmcRow {
  id: number;
  mac: string;
  protocol: BmcProtocol;
  ip: string | null;
  ip_source: string | null;
  ip_seen_at: string | null;
  scheme: 'https' | 'http';
  port: number | null;
  insecure: number;
  tls_fingerprint: string | null;
  credential_id: number | null;
  vendor: string | null;
  redfish_version: string | null;
  service_uuid: string | null;
}

/** The BMCs: their address, how to talk to them, and the raw Redfish resources they served. */
export class BmcStore {
  readonly #db: SqliteDatabase;
  readonly #byMachine;
  readonly #upsertRaw;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#byMachine = db.prepare<[string], BmcRow>('SELECT b.* FROM bmcs b JOIN machines m ON m.bmc_id = b.id WHERE m.id = ?');
    this.#upsertRaw = db.prepare(
      `INSERT INTO raw_resources (bmc_id, path, status, body, fetched_at) VALUES (?, ?, 200, ?, ?)
       ON CONFLICT (bmc_id, path) DO UPDATE SET status = excluded.status, body = excluded.body, fetched_at = excluded.fetched_at`,
    );
  }

  /** The BMC of a machine. */
  ofMachine(machineId: string): BmcRecord | null {
    const row = this.#byMachine.get(machineId);
    return row ? toRecord(row) : null;
  }

  setAddress(bmcId: number, ip: string, source: string): void {
    const now = new Date().toISOString();
    this.#db.prepare('UPDATE bmcs SET ip = ?, ip_source = ?, ip_seen_at = ?, updated_at = ? WHERE id = ?').run(ip, source, now, now, bmcId);
  }

  /** Changes how the BMC is reached; keys left out stay as they are. */
  setConnection(bmcId: number, connection: BmcConnection): void {
    const columns: Array<[string, unknown]> = [];
    if (connection.protocol !== undefined) columns.push(['protocol', connection.protocol]);
    if (connection.scheme !== undefined) columns.push(['scheme', connection.scheme]);
    if (connection.port !== undefined) columns.push(['port', connection.port]);
    if (connection.insecure !== undefined) columns.push(['insecure', connection.insecure ? 1 : 0]);
    if (connection.tlsFingerprint !== undefined) columns.push(['tls_fingerprint', connection.tlsFingerprint]);
    if (connection.credentialId !== undefined) columns.push(['credential_id', connection.credentialId]);
    if (columns.length === 0) return;
    this.#db
      .prepare(`UPDATE bmcs SET ${columns.map(([column]) => `${column} = ?`).join(', ')}, updated_at = ? WHERE id = ?`)
      .run(...columns.map(([, value]) => value), new Date().toISOString(), bmcId);
  }

  /** What the service root (Redfish) or Get Device ID (IPMI: its IPMI version in place of Redfish's) says of the BMC. */
  setService(bmcId: number, service: { vendor: string | null; redfishVersion: string | null; uuid: string | null }): void {
    this.#db
      .prepare('UPDATE bmcs SET vendor = ?, redfish_version = ?, service_uuid = ?, updated_at = ? WHERE id = ?')
      .run(service.vendor, service.redfishVersion, service.uuid, new Date().toISOString(), bmcId);
  }

  /** Keeps each resource's JSON, raw-deflate-compressed (RAW_DEFLATE); a path read again replaces its row. */
  saveRawResources(bmcId: number, resources: ReadonlyMap<string, string>): void {
    const now = new Date().toISOString();
    for (const [path, json] of resources) this.#upsertRaw.run(bmcId, path, deflateRawSync(json, RAW_DEFLATE), now);
  }
}

/**
 * zlib's defaults (32 KB window, memLevel 8) allocate ~270 KB per call: above glibc's mmap
 * threshold, so the first frees raise the threshold and later ones land in and fragment
 * the main heap, which grew 57 MiB over 30,000 resources of an onboarding fleet. An 8 KB
 * window and memLevel 5 take ~40 KB; Redfish resources are a few KB, so the ratio holds.
 */
const RAW_DEFLATE = { windowBits: 13, memLevel: 5 } as const;

function toRecord(row: BmcRow): BmcRecord {
  return {
    id: row.id,
    mac: row.mac,
    protocol: row.protocol,
    ip: row.ip,
    ipSource: row.ip_source,
    ipSeenAt: row.ip_seen_at,
    scheme: row.scheme,
    port: row.port,
    insecure: row.insecure === 1,
    tlsFingerprint: row.tls_fingerprint,
    credentialId: row.credential_id,
    vendor: row.vendor,
    redfishVersion: row.redfish_version,
    serviceUuid: row.service_uuid,
  };
}
