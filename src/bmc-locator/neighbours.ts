import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { normalizeMac } from '../lib/mac.js';
import type { Finding, Resolver } from './locator.js';

export interface Neighbour {
  ip: string;
  mac: string;
  device: string;
}

/** ATF_COM: the kernel has the hardware address (incomplete entries hold 00:00:00:00:00:00). */
const COMPLETE = 0x2;

/** The complete IPv4 entries of /proc/net/arp. Lines that do not parse are skipped. */
export function parseArpTable(text: string): Neighbour[] {
  const neighbours: Neighbour[] = [];
  for (const line of text.split('\n').slice(1)) {
    const [ip, , flags, hwAddress, , device] = line.trim().split(/\s+/);
    const mac = hwAddress === undefined ? null : normalizeMac(hwAddress);
    if (ip === undefined || !isIPv4(ip) || mac === null || device === undefined) continue;
    if ((Number.parseInt(flags ?? '0', 16) & COMPLETE) === 0) continue;
    neighbours.push({ ip, mac, device });
  }
  return neighbours;
}

export async function readNeighbours(path = '/proc/net/arp'): Promise<Neighbour[]> {
  return parseArpTable(await readFile(path, 'utf8'));
}

/** The kernel's neighbour table: whom this host has talked to on its segments lately. */
export class NeighbourTableResolver implements Resolver {
  readonly name = 'neighbour-table';
  readonly passive = true;

  constructor(private readonly read: () => Promise<Neighbour[]> = readNeighbours) {}

  async find(mac: string): Promise<Finding> {
    const candidates = (await this.read())
      .filter((neighbour) => neighbour.mac === mac)
      .map((neighbour) => ({ ip: neighbour.ip, source: this.name, ageSeconds: null }));
    return { candidates, note: 'not in the neighbour table' };
  }
}
