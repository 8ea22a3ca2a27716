/**
 * Boot storm, end to end: 10,000 simulated UEFI PXE clients (bench/storm-client.ts) arrive
 * over 60 seconds, each a machine being provisioned (state preparing, profile bench), and
 * go DISCOVER → 4011 → TFTP snponly.efi → iPXE DISCOVER → chain → script. Then the same
 * storm on a fresh store while 200 BMCs are onboarded at the same moment (20 ms per Redfish
 * request), to show that the hot paths do not wait on Redfish or the database.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seedFleet } from './fleet.js';
import {
  apiToken,
  BENCH_JS,
  BENCH_PROFILE,
  cpuSeconds,
  fixed,
  IPXE_DIR,
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

const CLIENTS = SMOKE ? 200 : 10_000;
const SPREAD_S = SMOKE ? 5 : Number(process.env.BENCH_STORM_SPREAD_S ?? 60);
const ONBOARDINGS = SMOKE ? 10 : 200;
/** BENCH_STORM_RUNS=alone|onboarding: one of the two runs (to profile or re-measure it alone). */
const RUNS = { alone: [false], onboarding: [true] }[process.env.BENCH_STORM_RUNS ?? ''] ?? [false, true];

interface StormResult {
  clients: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  wallSeconds: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  dhcpRetries: number;
}

async function main(): Promise<void> {
  await workload('storm', async (dir) => {
    const sha256 = createHash('sha256')
      .update(readFileSync(join(IPXE_DIR, 'snponly.efi')))
      .digest('hex');
    const rows: Cell[][] = [];
    const commands: string[] = [];
    for (const withOnboarding of RUNS) {
      const runDir = join(dir, withOnboarding ? 'with-onboarding' : 'storm');
      const macs = seedFleet(join(runDir, 'data'), CLIENTS, { state: 'preparing', profile: 'bench' });
      const macFile = join(runDir, 'macs.txt');
      writeFileSync(macFile, `${macs.join('\n')}\n`);
      const metalbox = await startMetalbox(runDir, { config: { profiles: { bench: BENCH_PROFILE }, ipxeDir: IPXE_DIR } });
      const cpuBefore = cpuSeconds(metalbox.pid);
      const stormArgs = [
        join(BENCH_JS, 'storm-client.js'),
        '--server',
        SERVER_IP,
        '--bind',
        LOAD_IP.server,
        '--macs',
        macFile,
        '--spread-s',
        String(SPREAD_S),
        '--sha256',
        sha256,
      ];
      const fleetArgs = ['--host', LOAD_IP.server, '--base-port', '20000', '--count', String(ONBOARDINGS), '--latency-ms', '20'];
      const onboardArgs = [
        '--server',
        `http://${SERVER_IP}:8080`,
        '--bmc-ip',
        LOAD_IP.server,
        '--base-port',
        '20000',
        '--count',
        String(ONBOARDINGS),
        '--deadline-s',
        '300',
      ];
      if (commands.length === 0) commands.push(`node dist/bench/storm-client.js ${stormArgs.slice(1).join(' ').replaceAll(runDir, 'DIR')}`);
      let onboarding: ReturnType<typeof runIn> | null = null;
      let fleet = null;
      if (withOnboarding) {
        commands.push(
          `node dist/bench/bmc-fleet.js ${fleetArgs.join(' ')}`,
          `node dist/bench/onboard-fleet.js ${onboardArgs.join(' ')}   (started with the storm)`,
        );
        fleet = await startBmcFleet(runDir, fleetArgs);
        onboarding = runIn(NS.load, process.execPath, [join(BENCH_JS, 'onboard-fleet.js'), ...onboardArgs], {
          env: { ...process.env, METALBOX_TOKEN: apiToken(metalbox.dataDir) },
          timeoutMs: 400_000,
        });
      }
      const storm = await runIn(NS.load, process.execPath, stormArgs, { timeoutMs: (SPREAD_S + 300) * 1000 });
      const serverCpu = cpuSeconds(metalbox.pid) - cpuBefore;
      const result = lastJsonLine<StormResult>(storm.stdout, `the storm client (exit ${storm.code}, ${storm.stderr.slice(-500)})`);
      const onboardRun = onboarding ? await onboarding : null;
      const onboarded = onboardRun
        ? lastJsonLine<{ settledMs: number | null; states: Record<string, number> }>(
            onboardRun.stdout,
            `the onboarding client (exit ${onboardRun.code}, ${onboardRun.stderr.slice(-500)})`,
          )
        : null;
      const memory = memoryMiB(metalbox.pid);
      await fleet?.stop();
      await metalbox.stop();
      rows.push([
        withOnboarding ? `with ${ONBOARDINGS} onboardings` : 'storm alone',
        result.clients,
        result.ok,
        result.failed,
        Object.entries(result.failures)
          .map(([reason, n]) => `${n}× ${reason}`)
          .join('; ') || '–',
        fixed(result.wallSeconds, 1),
        fixed(result.p50Ms, 0),
        fixed(result.p90Ms, 0),
        fixed(result.p99Ms, 0),
        fixed(result.maxMs, 0),
        result.dhcpRetries,
        fixed((100 * serverCpu) / result.wallSeconds, 0),
        fixed((100 * storm.cpu) / result.wallSeconds, 0),
        fixed(memory.peak, 0),
        onboarded
          ? `${onboarded.settledMs === null ? 'not all' : `all in ${fixed(onboarded.settledMs / 1000, 1)} s`}: ${JSON.stringify(onboarded.states)}`
          : '–',
      ]);
      process.stdout.write(`  ${rows.at(-1)!.slice(0, 6).join(' | ')}\n`);
    }
    const report = new Report(`Boot storm: ${CLIENTS} simulated UEFI PXE clients arriving over ${SPREAD_S} s`, [
      'npm run bench:storm',
      `metalbox serve --listen ${SERVER_IP} --log-level warn; ${CLIENTS} machines preparing with profile bench (each boot also writes its boot events and moves it to netbooting)`,
      ...commands,
    ]);
    report.table(
      [
        'run',
        'clients',
        'booted',
        'failed',
        'failures',
        'wall s',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'max ms',
        'DHCP retries',
        'server CPU %',
        'client CPU %',
        'server peak RSS MiB',
        'onboarding',
      ],
      rows,
    );
    report.note(
      "A client's time runs from its first DISCOVER to its machine's script; wall s from the first arrival to the last script. CPU % is of one core over the wall time; the load generators share the 2 cores with the server.",
    );
    report.write({});
  });
}

await main();
