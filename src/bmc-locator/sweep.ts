import { createSocket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { MetalboxError } from '../lib/errors.js';
import type { Finding, Resolver } from './locator.js';
import type { Neighbour } from './neighbours.js';

export interface SweepOptions {
  /** Probes per second, across all subnets. */
  ratePerSecond: number;
  /** How long to wait after the last probe for the answers to land in the table. */
  settleMs: number;
  /** A sweep this recent is not repeated: a hundred onboardings at once share one. */
  freshMs: number;
}

export const SWEEP_DEFAULTS: SweepOptions = { ratePerSecond: 200, settleMs: 1500, freshMs: 60_000 };

/** The largest subnet swept: a /20. Anything wider is a typo or a job for DHCP snooping. */
export const MAX_SWEEP_ADDRESSES = 4096;

/** The UDP discard port: a probe needs no listener, only the kernel's ARP resolution on the way out. */
const PROBE_PORT = 9;

/**
 * An active sweep of the configured BMC subnets: one UDP datagram to each address makes
 * the kernel resolve it by ARP, so every live BMC lands in the neighbour table, which is
 * then read again. Rate-limited; one sweep at a time; recent results are reused.
 */
export class SweepResolver implements Resolver {
  readonly name = 'sweep';
  readonly passive = false;
  readonly #subnets: Array<{ text: string; hosts: string[]; covered: Set<string> }>;
  readonly #options: SweepOptions;
  #running: Promise<void> | null = null;
  #sweptAt = -Infinity;
  /** Addresses probed so far, for the stats. */
  probes = 0;

  constructor(
    subnets: readonly string[],
    private readonly read: () => Promise<Neighbour[]>,
    options: Partial<SweepOptions> = {},
  ) {
    this.#subnets = subnets.map((text) => {
      const hosts = hostsOf(text);
      return { text, hosts, covered: new Set(hosts) };
    });
    this.#options = { ...SWEEP_DEFAULTS, ...options };
  }

  /** For GET /api/v1/stats. */
  stats(): { probes: number } {
    return { probes: this.probes };
  }

  async find(mac: string, signal: AbortSignal): Promise<Finding> {
    if (this.#subnets.length === 0) return { candidates: [], note: 'no BMC subnets configured (bmc.subnets)' };
    if (Date.now() - this.#sweptAt > this.#options.freshMs) {
      this.#running ??= this.#sweep().finally(() => {
        this.#running = null;
      });
      await abortable(this.#running, signal);
    }
    const candidates = (await this.read())
      .filter((neighbour) => neighbour.mac === mac && this.#covers(neighbour.ip))
      .map((neighbour) => ({ ip: neighbour.ip, source: this.name, ageSeconds: (Date.now() - this.#sweptAt) / 1000 }));
    const addresses = this.#subnets.reduce((total, subnet) => total + subnet.hosts.length, 0);
    return {
      candidates,
      note: `no answer from this MAC in ${this.#subnets.map((subnet) => subnet.text).join(', ')} (${addresses} addresses probed)`,
    };
  }

  #covers(ip: string): boolean {
    return this.#subnets.some((subnet) => subnet.covered.has(ip));
  }

  async #sweep(): Promise<void> {
    const socket = createSocket('udp4');
    // Unreachable hosts come back as asynchronous send errors: expected, not fatal.
    socket.on('error', () => undefined);
    const probe = Buffer.from([0]);
    const perTick = Math.max(1, Math.round(this.#options.ratePerSecond / 50));
    try {
      const hosts = this.#subnets.flatMap((subnet) => subnet.hosts);
      for (let index = 0; index < hosts.length; index += perTick) {
        for (const host of hosts.slice(index, index + perTick)) {
          socket.send(probe, PROBE_PORT, host, () => undefined);
          this.probes++;
        }
        await sleep(20);
      }
      await sleep(this.#options.settleMs);
      this.#sweptAt = Date.now();
    } finally {
      socket.close();
    }
  }
}

/** The host addresses of an IPv4 CIDR (without network and broadcast below /31). */
export function hostsOf(cidr: string): string[] {
  const match = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr.trim());
  const prefix = match ? Number(match[2]) : NaN;
  if (!match || !isIPv4(match[1]!) || prefix > 32)
    throw new MetalboxError('E_CONFIG', `bmc.subnets: ${cidr} is not an IPv4 subnet like 10.0.8.0/24`);
  const size = 2 ** (32 - prefix);
  if (size > MAX_SWEEP_ADDRESSES)
    throw new MetalboxError(
      'E_CONFIG',
      `bmc.subnets: ${cidr} has ${size} addresses; sweeps stop at ${MAX_SWEEP_ADDRESSES} (a /20): list smaller subnets`,
    );
  const base = match[1]!.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
  const network = base - (base % size);
  const first = size > 2 ? 1 : 0;
  const last = size > 2 ? size - 2 : size - 1;
  const hosts: string[] = [];
  for (let offset = first; offset <= last; offset++) {
    const value = network + offset;
    hosts.push([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.'));
  }
  return hosts;
}

async function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
