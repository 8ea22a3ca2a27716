/**
 * `node mockup-main.js --tree T [--host H] [--port N] [--latency MS] [--mac-salt N]`:
 * one mockup BMC as its own process, so a test can run it inside a network namespace
 * (`ip netns exec`) whose interface has the BMC's MAC. Prints `listening <url>` when ready.
 */
import { parseArgs } from 'node:util';
import { startMockup } from '../../lab/redfish-mockup.js';

const { values } = parseArgs({
  options: {
    tree: { type: 'string' },
    host: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '80' },
    latency: { type: 'string', default: '0' },
    'mac-salt': { type: 'string', default: '0' },
  },
});
if (!values.tree) throw new Error('--tree is required');
const mockup = await startMockup({
  tree: values.tree,
  host: values.host,
  port: Number(values.port),
  latencyMs: Number(values.latency),
  macSalt: Number(values['mac-salt']),
});
process.stdout.write(`listening ${mockup.url}\n`);
const stop = () => void mockup.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
