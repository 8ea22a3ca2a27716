/** One answer to "which IP has this MAC", with where it came from and how old it is. */
export interface Candidate {
  ip: string;
  source: string;
  /** Seconds since the source last saw the pair; null when it does not say (the neighbour table). */
  ageSeconds: number | null;
}

/** What one resolver found, and a short account of it for the operator when it found nothing. */
export interface Finding {
  candidates: Candidate[];
  note: string;
}

export interface Resolver {
  readonly name: string;
  /** Local and free (a table or a file): always consulted, so that disagreements show. */
  readonly passive: boolean;
  find(mac: string, signal: AbortSignal): Promise<Finding>;
}

export interface Resolution {
  /** The address to use: the first candidate in resolver order; null when nobody knows the MAC. */
  chosen: Candidate | null;
  candidates: Candidate[];
  /** Each resolver asked, with what it said. */
  tried: Array<{ resolver: string; note: string }>;
  /** Set when resolvers named different addresses: reported, never silently settled. */
  conflict: string | null;
}

/**
 * MAC → IP, per docs/contracts.md, Finding a BMC's address. The passive resolvers (DHCP observations, the neighbour table,
 * lease files) are all read; only when none knows the MAC are the active ones asked in
 * order (a sweep of the BMC subnets, the UniFi controller), stopping at the first answer.
 */
export class BmcLocator {
  constructor(private readonly resolvers: readonly Resolver[]) {}

  async locate(mac: string, signal: AbortSignal): Promise<Resolution> {
    const tried: Resolution['tried'] = [];
    const found = new Map<Resolver, Candidate[]>();
    const ask = async (resolver: Resolver) => {
      try {
        const finding = await resolver.find(mac, signal);
        tried.push({
          resolver: resolver.name,
          note: finding.candidates.length > 0 ? finding.candidates.map(describe).join(', ') : finding.note,
        });
        if (finding.candidates.length > 0) found.set(resolver, finding.candidates);
      } catch (error) {
        signal.throwIfAborted();
        tried.push({ resolver: resolver.name, note: `failed: ${(error as Error).message}` });
      }
    };
    for (const resolver of this.resolvers.filter((resolver) => resolver.passive)) await ask(resolver);
    for (const resolver of this.resolvers.filter((resolver) => !resolver.passive)) {
      if (found.size > 0) break;
      await ask(resolver);
    }
    const candidates = this.resolvers.flatMap((resolver) => found.get(resolver) ?? []);
    const addresses = [...new Set(candidates.map((candidate) => candidate.ip))];
    return {
      chosen: candidates[0] ?? null,
      candidates,
      tried,
      conflict: addresses.length > 1 ? `resolvers disagree: ${candidates.map(describe).join(', ')}` : null,
    };
  }
}

export function describe(candidate: Candidate): string {
  return `${candidate.ip} (${candidate.source}${candidate.ageSeconds === null ? '' : `, ${formatAge(candidate.ageSeconds)} old`})`;
}

function formatAge(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}
