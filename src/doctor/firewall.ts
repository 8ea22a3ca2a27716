/** A port metalbox serves, as the firewall sees it. */
export interface ServedPort {
  protocol: 'udp' | 'tcp';
  port: number;
}

/** Why a port would not reach metalbox: the rule that drops it, or the input chain's policy. */
export interface Blocked extends ServedPort {
  by: string;
}

/**
 * The ports of `served` that nftables' input hook would drop, read from `nft list ruleset`.
 * Pure, and a reading, not an evaluation: in each input chain, the first rule naming the
 * port (`udp dport 69`, `th dport { 67, 4011 }`, ranges) decides; a port no rule names
 * falls to the chain's policy. Rules that match on something else (an interface, a
 * conntrack state) are not weighed, so an input chain with policy drop may be reported
 * for a port some broader rule accepts: the report names the policy, which is what to
 * look at.
 */
export function blockedPorts(ruleset: string, served: readonly ServedPort[]): Blocked[] {
  const blocked: Blocked[] = [];
  for (const chain of inputChains(ruleset)) {
    for (const target of served) {
      const rule = chain.rules.find((line) => namesPort(line, target));
      if (rule !== undefined) {
        if (/\b(drop|reject)\b/.test(rule)) blocked.push({ ...target, by: `${chain.name}: ${rule.trim()}` });
      } else if (chain.policy === 'drop')
        blocked.push({ ...target, by: `${chain.name}: policy drop, and no rule names ${target.protocol} ${target.port}` });
    }
  }
  return blocked;
}

interface Chain {
  name: string;
  policy: 'accept' | 'drop';
  rules: string[];
}

function inputChains(ruleset: string): Chain[] {
  const chains: Chain[] = [];
  let table = '';
  let current: (Chain & { input: boolean }) | null = null;
  for (const raw of ruleset.split('\n')) {
    const line = raw.trim();
    const tableMatch = /^table (\S+ \S+) \{$/.exec(line);
    if (tableMatch) table = tableMatch[1]!;
    const chainMatch = /^chain (\S+) \{$/.exec(line);
    if (chainMatch) {
      current = { name: `${table} ${chainMatch[1]}`, policy: 'accept', rules: [], input: false };
      continue;
    }
    if (current === null) continue;
    if (line === '}') {
      if (current.input) chains.push({ name: current.name, policy: current.policy, rules: current.rules });
      current = null;
      continue;
    }
    if (/\bhook input\b/.test(line)) {
      current.input = true;
      if (/\bpolicy drop\b/.test(line)) current.policy = 'drop';
      continue;
    }
    if (line !== '') current.rules.push(line);
  }
  return chains;
}

/** Whether a rule line matches the port by destination: `udp dport 69`, `tcp dport { 80, 8080 }`, `th dport 60-70`. */
function namesPort(line: string, target: ServedPort): boolean {
  for (const match of line.matchAll(/\b(udp|tcp|th) dport (\{[^}]*\}|\d+(?:-\d+)?)/g)) {
    // th (transport header) names the port of any protocol.
    if (match[1] !== 'th' && match[1] !== target.protocol) continue;
    const items = match[2]!
      .replace(/[{}]/g, '')
      .split(',')
      .map((item) => item.trim());
    for (const item of items) {
      const [low, high] = item.split('-').map(Number) as [number, number | undefined];
      if (target.port >= low && target.port <= (high ?? low)) return true;
    }
  }
  return false;
}
