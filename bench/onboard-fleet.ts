/**
 * Onboards a fleet of BMCs through the REST API, as `metalbox onboard --ip` would one by
 * one, and watches the inventory until every machine has settled (ready or unclassified,
 * or a failure state) or the deadline passes. Prints one JSON line: when the healthy ones
 * were all in, when all had settled, and the states at the end.
 *
 *   METALBOX_TOKEN=… node dist/bench/onboard-fleet.js --server URL --bmc-ip IP --base-port 20000 --count 1000 --healthy 900
 */
import { parseArgs } from 'node:util';
import { FAILED_STATES } from '../src/lifecycle/lifecycle.js';
import { fleetMac } from './fleet.js';

/** Onboarded BMCs get MACs of their own prefix, apart from the seeded fleet's 02:bc. */
export const ONBOARDED_BMC_PREFIX = '02:bd';
const SETTLED = ['ready', 'unclassified', ...FAILED_STATES];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      'bmc-ip': { type: 'string' },
      'base-port': { type: 'string', default: '20000' },
      count: { type: 'string', default: '1' },
      healthy: { type: 'string' },
      'deadline-s': { type: 'string', default: '600' },
    },
  });
  const token = process.env.METALBOX_TOKEN;
  if (!values.server || !values['bmc-ip'] || !token) throw new Error('--server, --bmc-ip and METALBOX_TOKEN are required');
  const count = Number(values.count);
  const healthy = Number(values.healthy ?? count);
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const started = performance.now();
  const elapsed = () => performance.now() - started;

  let next = 0;
  const rejected: string[] = [];
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < count) {
        const index = next++;
        const response = await fetch(`${values.server}/api/v1/onboardings`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            bmcMac: fleetMac(index, ONBOARDED_BMC_PREFIX),
            ip: values['bmc-ip'],
            port: Number(values['base-port']) + index,
            scheme: 'http',
            username: 'admin',
            password: 'password',
          }),
        });
        if (response.status !== 202) rejected.push(`${response.status} ${await response.text()}`);
      }
    }),
  );
  const postedMs = elapsed();

  let healthyMs: number | null = null;
  let settledMs: number | null = null;
  let states: Record<string, number> = {};
  const deadline = Number(values['deadline-s']) * 1000;
  // One list per settled state (plus the transient ones only at the end): the whole inventory
  // every poll would be the watcher's load on the server, not the onboardings'.
  const list = async (state?: string) => {
    const response = await fetch(`${values.server}/api/v1/machines${state ? `?state=${state}` : ''}`, { headers });
    return (await response.json()) as Array<{ state: string; bmc: { mac: string } | null }>;
  };
  /** The onboarded machines (not a seeded fleet's) by state. */
  const countStates = (machines: Array<{ state: string; bmc: { mac: string } | null }>) => {
    const counts: Record<string, number> = {};
    for (const machine of machines)
      if (machine.bmc?.mac.startsWith(ONBOARDED_BMC_PREFIX)) counts[machine.state] = (counts[machine.state] ?? 0) + 1;
    return counts;
  };
  while (elapsed() < deadline) {
    states = countStates((await Promise.all(SETTLED.map((state) => list(state)))).flat());
    const good = (states.ready ?? 0) + (states.unclassified ?? 0);
    const settled = Object.values(states).reduce((sum, n) => sum + n, 0);
    if (healthyMs === null && good >= healthy) healthyMs = elapsed();
    if (settled >= count) {
      settledMs = elapsed();
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  if (settledMs === null) states = countStates(await list());
  process.stdout.write(
    `${JSON.stringify({ count, healthy, postedMs, healthyMs, settledMs, states, rejected: rejected.slice(0, 5), rejectedCount: rejected.length })}\n`,
  );
}

await main();
