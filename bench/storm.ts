/**
 * Boot storm, end to end: 10,000 simulated UEFI PXE clients arrive over 30 seconds, each a
 * machine being provisioned (state preparing, profile bench), and go DISCOVER → 4011 →
 * TFTP snponly.efi → iPXE DISCOVER → chain → script. Then the same storm on a fresh store
 * while 200 BMCs are onboarded at the same moment (20 ms per Redfish request), to show that
 * the hot paths do not wait on Redfish or the database. The clients are
 * bench/clients/storm-pull.c, compiled at each run: one process, one epoll loop.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seedFleet } from './fleet.js';
import {
  apiToken,
  BENCH_JS,
  BENCH_PROFILE,
  compileClient,
  cpuSeconds,
  fixed,
  GENERATOR_LIMIT,
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
/** 10,000 machines over 30 s: the wall-time target (40 s) leaves 10 s for the last arrivals' boots. */
const SPREAD_S = SMOKE ? 5 : Number(process.env.BENCH_STORM_SPREAD_S ?? 30);
const ONBOARDINGS = SMOKE ? 10 : 200;
interface StormRun {
  name: 'alone' | 'threads' | 'onboarding';
  label: string;
  /** serve's flags beyond the bench's own. */
  args: string[];
  onboarding: boolean;
}
const ALL_RUNS: StormRun[] = [
  { name: 'alone', label: 'storm alone', args: [], onboarding: false },
  // The transfers on a thread of their own: the main thread keeps DHCP, HTTP and the store.
  { name: 'threads', label: 'storm alone, --tftp-threads 1', args: ['--tftp-threads', '1'], onboarding: false },
  { name: 'onboarding', label: `with ${ONBOARDINGS} onboardings`, args: [], onboarding: true },
];
/** BENCH_STORM_RUNS=alone,threads,onboarding: some of the runs (to profile or re-measure them alone). */
const RUNS = ALL_RUNS.filter((run) => (process.env.BENCH_STORM_RUNS ?? 'alone,threads,onboarding').split(',').includes(run.name));

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
  tftpRetransmits: number;
  cpuSeconds: number;
}

async function main(): Promise<void> {
  await workload('storm', async (dir) => {
    const stormPull = compileClient(dir, 'storm-pull');
    const rows: Cell[][] = [];
    const commands: string[] = [];
    for (const run of RUNS) {
      const runDir = join(dir, run.name);
      const macs = seedFleet(join(runDir, 'data'), CLIENTS, { state: 'preparing', profile: 'bench' });
      const macFile = join(runDir, 'macs.txt');
      writeFileSync(macFile, `${macs.join('\n')}\n`);
      const metalbox = await startMetalbox(runDir, { config: { profiles: { bench: BENCH_PROFILE }, ipxeDir: IPXE_DIR }, args: run.args });
      const cpuBefore = cpuSeconds(metalbox.pid);
      const stormArgs = [SERVER_IP, LOAD_IP.server, macFile, String(SPREAD_S), join(IPXE_DIR, 'snponly.efi')];
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
      if (commands.length === 0)
        commands.push(
          `storm-pull ${stormArgs.join(' ').replaceAll(runDir, 'DIR')}   (gcc -O2 bench/clients/storm-pull.c, from ns ${NS.load})`,
        );
      let onboarding: ReturnType<typeof runIn> | null = null;
      let fleet = null;
      if (run.onboarding) {
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
      const storm = await runIn(NS.load, stormPull, stormArgs, { timeoutMs: (SPREAD_S + 300) * 1000 });
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
        run.label,
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
        result.tftpRetransmits,
        fixed((100 * serverCpu) / result.wallSeconds, 0),
        `${fixed((100 * result.cpuSeconds) / result.wallSeconds, 0)}${result.cpuSeconds / result.wallSeconds > GENERATOR_LIMIT ? ' (not a measurement)' : ''}`,
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
        'TFTP retransmits',
        'server CPU %',
        'client CPU %',
        'server peak RSS MiB',
        'onboarding',
      ],
      rows,
    );
    report.note(
      `A client's time runs from its first DISCOVER to its machine's script; wall s from the first arrival to the last client's end. CPU % is of one core over the wall time; the load generators share the 2 cores with the server, and a run whose client passes ${100 * GENERATOR_LIMIT} % of a core is marked as no measurement.`,
    );
    report.write({});
  });
}

await main();
