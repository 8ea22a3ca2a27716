import { stat, readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { normalizeMac } from '../lib/mac.js';
import type { Candidate, Finding, Resolver } from './locator.js';

export type LeaseFormat = 'dnsmasq' | 'isc' | 'kea';

export interface Lease {
  ip: string;
  mac: string;
  /** When the lease runs out; null for infinite leases. */
  expiresAt: Date | null;
}

/**
 * dnsmasq's lease file: `<expiry epoch> <mac> <ip> <hostname> <client-id>` per line,
 * expiry 0 for an infinite lease. Non-Ethernet hardware addresses (InfiniBand) are skipped.
 */
export function parseDnsmasqLeases(text: string): Lease[] {
  const leases: Lease[] = [];
  for (const line of text.split('\n')) {
    const [expiry, hw, ip] = line.trim().split(/\s+/);
    const mac = hw === undefined ? null : normalizeMac(hw);
    if (expiry === undefined || !/^\d+$/.test(expiry) || mac === null || ip === undefined || !isIPv4(ip)) continue;
    leases.push({ ip, mac, expiresAt: expiry === '0' ? null : new Date(Number(expiry) * 1000) });
  }
  return leases;
}

/**
 * ISC dhcpd's dhcpd.leases: `lease <ip> { … }` blocks, appended as leases change, so the
 * last block of an address wins. Only active bindings count (`binding state free` is a
 * released lease). `ends` is `<weekday> YYYY/MM/DD HH:MM:SS` in UTC, or `never`.
 */
export function parseIscLeases(text: string): Lease[] {
  const byIp = new Map<string, Lease | null>();
  const block = /lease\s+(\d+\.\d+\.\d+\.\d+)\s*\{([^}]*)\}/g;
  for (const match of text.matchAll(block)) {
    const ip = match[1]!;
    const body = match[2]!;
    if (!isIPv4(ip)) continue;
    const hardware = /hardware\s+ethernet\s+([0-9A-Fa-f:]+)\s*;/.exec(body);
    const mac = hardware ? normalizeMac(hardware[1]!) : null;
    const binding = /(?:^|[\s;])binding\s+state\s+(\w+)\s*;/.exec(body)?.[1];
    const ends = /(?:^|[\s;])ends\s+(?:never|\d\s+(\d{4})\/(\d{2})\/(\d{2})\s+(\d{2}):(\d{2}):(\d{2}))\s*;/.exec(body);
    if (mac === null || (binding !== undefined && binding !== 'active')) {
      byIp.set(ip, null);
      continue;
    }
    const expiresAt =
      ends?.[1] === undefined
        ? null
        : new Date(Date.UTC(Number(ends[1]), Number(ends[2]) - 1, Number(ends[3]), Number(ends[4]), Number(ends[5]), Number(ends[6])));
    byIp.set(ip, { ip, mac, expiresAt });
  }
  return [...byIp.values()].filter((lease): lease is Lease => lease !== null);
}

/**
 * Kea's memfile CSV (kea-leases4.csv): a header names the columns (address, hwaddr, expire,
 * state, …); rows are appended as leases change, so the last row of an address wins.
 * State 0 is an assigned lease; 1 declined, 2 expired-reclaimed.
 */
export function parseKeaLeases(text: string): Lease[] {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const header = lines[0]?.split(',').map((name) => name.trim()) ?? [];
  const column = (name: string) => header.indexOf(name);
  const [address, hwaddr, expire, state] = [column('address'), column('hwaddr'), column('expire'), column('state')];
  if (address < 0 || hwaddr < 0) return [];
  const byIp = new Map<string, Lease | null>();
  for (const line of lines.slice(1)) {
    const fields = line.split(',');
    const ip = fields[address]?.trim() ?? '';
    if (!isIPv4(ip)) continue;
    const mac = normalizeMac(fields[hwaddr]?.trim() ?? '');
    const assigned = state < 0 || (fields[state]?.trim() ?? '0') === '0';
    const expiry = expire < 0 ? NaN : Number(fields[expire]);
    byIp.set(
      ip,
      mac === null || !assigned ? null : { ip, mac, expiresAt: Number.isFinite(expiry) && expiry > 0 ? new Date(expiry * 1000) : null },
    );
  }
  return [...byIp.values()].filter((lease): lease is Lease => lease !== null);
}

const PARSERS: Record<LeaseFormat, (text: string) => Lease[]> = { dnsmasq: parseDnsmasqLeases, isc: parseIscLeases, kea: parseKeaLeases };

/** Lease files of the site's DHCP server, read when they change; expired leases are ignored. */
export class LeaseFileResolver implements Resolver {
  readonly name = 'lease-files';
  readonly passive = true;
  readonly #cache = new Map<string, { mtimeMs: number; size: number; leases: Lease[] }>();

  constructor(private readonly files: ReadonlyArray<{ format: LeaseFormat; path: string }>) {}

  async find(mac: string): Promise<Finding> {
    if (this.files.length === 0) return { candidates: [], note: 'no lease files configured (discovery.leaseFiles)' };
    const now = Date.now();
    const candidates: Candidate[] = [];
    const notes: string[] = [];
    for (const file of this.files) {
      let leases: Lease[];
      try {
        leases = await this.#read(file.format, file.path);
      } catch (error) {
        notes.push(`${file.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        continue;
      }
      for (const lease of leases) {
        if (lease.mac !== mac || (lease.expiresAt !== null && lease.expiresAt.getTime() < now)) continue;
        candidates.push({ ip: lease.ip, source: `${this.name}:${file.format}`, ageSeconds: null });
      }
      notes.push(`${file.path}: no active lease`);
    }
    return { candidates, note: notes.join('; ') };
  }

  async #read(format: LeaseFormat, path: string): Promise<Lease[]> {
    const info = await stat(path);
    const cached = this.#cache.get(path);
    if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached.leases;
    const leases = PARSERS[format](await readFile(path, 'utf8'));
    this.#cache.set(path, { mtimeMs: info.mtimeMs, size: info.size, leases });
    return leases;
  }
}
