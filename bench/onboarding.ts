/**
 * Onboarding fleet: 1,000 mockup BMCs (20 ms per request) onboarded at once through the
 * API, with metalbox's defaults (100 onboardings at a time, 32 Redfish requests in flight,
 * one per BMC); then the same with 5% refusing the password and 5% hanging (connections
 * accepted, never answered). Wall time until the healthy ones are in and until all have
 * settled, and metalbox's peak RSS.
 */
import { join } from 'node:path';
import {
  apiToken,
  BENCH_JS,
  cpuSeconds,
  fixed,
  lastJsonLine,
  LOAD_IP,
  memoryMiB,
  NS,
  Report,
  runIn,
  SERVER_IP,
  SMOKE,
  startBmcFleet,
  startMetalbox,
  workload,
  type Cell,
} from './kit.js';

const BMCS = SMOKE ? 20 : 1000;
const DEADLINE_S = SMOKE ? 20 : 420;
/** BENCH_ONBOARDING_RUNS=healthy|broken: one of the two fleets (to profile or re-measure it alone). */
const RUNS = process.env.BENCH_ONBOARDING_RUNS ?? 'healthy,broken';

interface FleetResult {
  count: number;
  healthy: number;
  postedMs: number;
  healthyMs: number | null;
  settledMs: number | null;
  states: Record<string, number>;
  rejectedCount: number;
  rejected: string[];
}

async function main(): Promise<void> {
  await workload('onboarding', async (dir) => {
    const rows: Cell[][] = [];
    const commands: string[] = [];
    const broken = Math.max(1, Math.round(BMCS * 0.05));
    const fleets = [
      { name: 'all healthy', failing: 0, hanging: 0 },
      { name: `${broken} refuse the password, ${broken} hang`, failing: broken, hanging: broken },
    ];
    for (const { name, failing, hanging } of fleets.filter((fleet) => RUNS.includes(fleet.failing ? 'broken' : 'healthy'))) {
      const runDir = join(dir, failing ? 'broken' : 'healthy');
      const metalbox = await startMetalbox(runDir, { args: ['--no-dhcp-proxy', '--no-tftp'] });
      const fleetArgs = [
        '--host',
        LOAD_IP.server,
        '--base-port',
        '20000',
        '--count',
        String(BMCS),
        '--latency-ms',
        '20',
        '--failing',
        String(failing),
        '--hanging',
        String(hanging),
      ];
      const onboardArgs = [
        '--server',
        `http://${SERVER_IP}:8080`,
        '--bmc-ip',
        LOAD_IP.server,
        '--base-port',
        '20000',
        '--count',
        String(BMCS),
        '--healthy',
        String(BMCS - failing - hanging),
        '--deadline-s',
        String(DEADLINE_S),
      ];
      commands.push(`node dist/bench/bmc-fleet.js ${fleetArgs.join(' ')}`, `node dist/bench/onboard-fleet.js ${onboardArgs.join(' ')}`);
      const fleet = await startBmcFleet(runDir, fleetArgs);
      const cpuBefore = cpuSeconds(metalbox.pid);
      const run = await runIn(NS.load, process.execPath, [join(BENCH_JS, 'onboard-fleet.js'), ...onboardArgs], {
        env: { ...process.env, METALBOX_TOKEN: apiToken(metalbox.dataDir) },
        timeoutMs: (DEADLINE_S + 60) * 1000,
      });
      const serverCpu = cpuSeconds(metalbox.pid) - cpuBefore;
      const memory = memoryMiB(metalbox.pid);
      await fleet.stop();
      await metalbox.stop();
      const result = lastJsonLine<FleetResult>(run.stdout, `the onboarding client (exit ${run.code}, ${run.stderr.slice(-500)})`);
      if (result.rejectedCount > 0) throw new Error(`the API refused ${result.rejectedCount} onboardings: ${result.rejected.join('; ')}`);
      const seconds = (ms: number | null) => (ms === null ? `not within ${DEADLINE_S} s` : fixed(ms / 1000, 1));
      rows.push([
        name,
        BMCS,
        seconds(result.healthyMs),
        seconds(result.settledMs),
        JSON.stringify(result.states),
        fixed(serverCpu, 1),
        fixed(memory.peak, 0),
        fixed(memory.rss, 0),
      ]);
      process.stdout.write(`  ${rows.at(-1)!.join(' | ')}\n`);
    }
    const report = new Report(`Onboarding fleet: ${BMCS} mockup BMCs, 20 ms per Redfish request`, [
      'npm run bench:onboarding',
      `metalbox serve --listen ${SERVER_IP} --no-dhcp-proxy --no-tftp --log-level warn (onboarding.concurrency 100, redfish.maxInFlight 32, requestTimeoutMs 60000, attempts 5: the defaults)`,
      ...commands,
    ]);
    report.table(
      ['fleet', 'BMCs', 'healthy ones in (s)', 'all settled (s)', 'states at the end', 'server CPU s', 'peak RSS MiB', 'RSS after MiB'],
      rows,
    );
    report.write({});
  });
}

await main();
