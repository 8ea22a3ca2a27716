/**
 * Footprint: start-up time (spawn → HTTP, TFTP and ProxyDHCP sockets bound) and idle RSS of `metalbox serve` with
 * an empty store and with 100,000 machines, and the wall time of `metalbox ls -o json`
 * listing those 100,000 through the API (the CLI process, end to end).
 */
import { join } from 'node:path';
import { seedFleet } from './fleet.js';
import {
  apiToken,
  BENCH_PROFILE,
  CLI,
  fixed,
  IPXE_DIR,
  memoryMiB,
  NS,
  Report,
  runIn,
  SERVER_IP,
  SMOKE,
  startMetalbox,
  workload,
  type Cell,
} from './kit.js';

const FLEET = SMOKE ? 1000 : 100_000;
const IDLE_S = SMOKE ? 1 : 10;
// V8's memory reducer shrinks the heap of a process that has gone idle (measured here: an empty
// serve stays at 94 MiB to 15 s and is at 74 MiB from 20 s, the young generation given back):
// the figure after it is the one an appliance waiting for machines lives at.
const SETTLED_S = SMOKE ? 2 : 30;
const LS_RUNS = 3;

async function main(): Promise<void> {
  await workload('footprint', async (dir) => {
    const rows: Cell[][] = [];
    let seedSeconds = 0;
    const lsTimes: number[] = [];
    for (const machines of [0, FLEET]) {
      const runDir = join(dir, String(machines));
      if (machines > 0) {
        const started = performance.now();
        seedFleet(join(runDir, 'data'), machines, { state: 'provisioned', profile: 'bench' });
        seedSeconds = (performance.now() - started) / 1000;
      }
      const metalbox = await startMetalbox(runDir, { config: { profiles: { bench: BENCH_PROFILE }, ipxeDir: IPXE_DIR } });
      await new Promise((resolve) => setTimeout(resolve, IDLE_S * 1000));
      const idle = memoryMiB(metalbox.pid);
      await new Promise((resolve) => setTimeout(resolve, (SETTLED_S - IDLE_S) * 1000));
      const settled = memoryMiB(metalbox.pid);
      if (machines > 0) {
        const env = { ...process.env, METALBOX_TOKEN: apiToken(metalbox.dataDir) };
        for (let run = 0; run < LS_RUNS; run++) {
          const started = performance.now();
          const ls = await runIn(NS.load, process.execPath, [CLI, 'ls', '-o', 'json', '--server', `http://${SERVER_IP}:8080`], {
            env,
            timeoutMs: 120_000,
          });
          lsTimes.push((performance.now() - started) / 1000);
          const listed = (JSON.parse(ls.stdout) as unknown[]).length;
          if (listed !== machines) throw new Error(`ls listed ${listed} machines, not ${machines}:\n${ls.stderr}`);
        }
      }
      const afterLs = memoryMiB(metalbox.pid);
      await metalbox.stop();
      rows.push([
        machines,
        fixed(metalbox.startMs / 1000, 2),
        fixed(idle.rss, 0),
        fixed(settled.rss, 0),
        machines > 0 ? fixed(afterLs.peak, 0) : '–',
      ]);
      process.stdout.write(`  ${rows.at(-1)!.join(' | ')}\n`);
    }
    const sorted = [...lsTimes].sort((a, b) => a - b);
    const report = new Report(`Footprint: start-up, idle RSS, and ls of ${FLEET} machines`, [
      'npm run bench:footprint',
      `metalbox serve --listen ${SERVER_IP} --log-level warn (ProxyDHCP, TFTP, HTTP, API, engine: everything on)`,
      `metalbox ls -o json --server http://${SERVER_IP}:8080   (from ns ${NS.load}, ${LS_RUNS} runs)`,
    ]);
    report.table(
      [
        'machines in the store',
        'start-up s (spawn → all sockets bound)',
        `idle RSS MiB (after ${IDLE_S} s)`,
        `idle RSS MiB (after ${SETTLED_S} s)`,
        'peak RSS MiB after the ls runs',
      ],
      rows,
    );
    report.note(
      `metalbox ls -o json of ${FLEET} machines: ${sorted.map((seconds) => fixed(seconds, 2)).join(', ')} s (median ${fixed(sorted[Math.floor(sorted.length / 2)]!, 2)} s), the CLI process from spawn to exit. Seeding them took ${fixed(seedSeconds, 1)} s (not a product path).`,
    );
    report.write({});
  });
}

await main();
