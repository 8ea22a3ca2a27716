/**
 * A fleet of mockup BMCs in one process (the onboarding tests' mockup server over DMTF's
 * public rack-mount tree), one port each, each with distinct NIC MACs and a latency per
 * request. Some can be broken as BMCs break: the first --failing refuse the password
 * (auth_failed at once), the next --hanging accept connections and never answer.
 * Prints `listening N` when all are up, and runs until SIGTERM.
 *
 *   node dist/bench/bmc-fleet.js --host IP --base-port 20000 --count 1000 --latency-ms 20 --failing 50 --hanging 50
 */
import { parseArgs } from 'node:util';
import { startMockup, type Mockup } from '../lab/redfish-mockup.js';

const BMC_TREE = 'dmtf-public-rackmount1';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    'base-port': { type: 'string', default: '20000' },
    count: { type: 'string', default: '1' },
    'latency-ms': { type: 'string', default: '20' },
    failing: { type: 'string', default: '0' },
    hanging: { type: 'string', default: '0' },
  },
});
if (!values.host) throw new Error('--host is required');
const count = Number(values.count);
const failing = Number(values.failing);
const hanging = Number(values.hanging);
const mockups: Mockup[] = [];
for (let index = 0; index < count; index++) {
  mockups.push(
    await startMockup({
      tree: BMC_TREE,
      host: values.host,
      port: Number(values['base-port']) + index,
      latencyMs: Number(values['latency-ms']),
      macSalt: index + 1,
      ...(index < failing ? { password: 'not-the-one-given' } : {}),
      ...(index >= failing && index < failing + hanging
        ? { hostile: { '/redfish/v1': { kind: 'hang' }, '/redfish/v1/': { kind: 'hang' } } }
        : {}),
    }),
  );
}
process.stdout.write(`listening ${mockups.length}\n`);
// Hanging BMCs hold their connections open: no graceful close to wait for.
process.on('SIGTERM', () => process.exit(0));
