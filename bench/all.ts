/**
 * `npm run bench [-- workload …]`: runs the workloads (all by default) one after another,
 * each in a process of its own, so one's leftovers never weigh on the next's figures.
 * BENCH_SMOKE=1 (npm run bench:smoke) runs each at a size of seconds.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BENCH_JS } from './kit.js';

const WORKLOADS = ['dhcp', 'tftp', 'http', 'image', 'storm', 'onboarding', 'footprint'];
const chosen = process.argv.slice(2);
const unknown = chosen.filter((name) => !WORKLOADS.includes(name));
if (unknown.length > 0) {
  process.stderr.write(`unknown workload ${unknown.join(', ')}: choose from ${WORKLOADS.join(', ')}\n`);
  process.exit(2);
}
const failed: string[] = [];
for (const name of chosen.length > 0 ? chosen : WORKLOADS) {
  process.stdout.write(`\n=== bench ${name} ===\n`);
  const started = Date.now();
  const run = spawnSync(process.execPath, [join(BENCH_JS, `${name}.js`)], { stdio: 'inherit' });
  process.stdout.write(
    `=== bench ${name}: ${run.status === 0 ? 'done' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s ===\n`,
  );
  if (run.status !== 0) failed.push(name);
}
if (failed.length > 0) {
  process.stderr.write(`failed: ${failed.join(', ')}\n`);
  process.exit(1);
}
