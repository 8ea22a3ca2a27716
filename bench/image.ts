/**
 * Deploy images: N agents pulling one 2 GiB image at the same moment, as a rack being
 * deployed does, from metalbox's /assets/ against nginx's sendfile serving the same file.
 * The load generator is bench/clients/http-pull.c (one process, one epoll loop, bodies
 * discarded in the kernel), so it costs a fraction of what either server does; its own CPU
 * is in every row, and a row where it passes 80 % of a core is marked as no measurement.
 *
 * Each step runs for a fixed window with all N downloads in flight (aggregate MB/s over the
 * window, and how evenly the agents got their bytes); then, at N=100, each server sends the
 * whole image to every agent, timed to the last one's end. metalbox runs twice: as it is
 * (shared chunks, http.fileCacheMiB 256) and with http.fileCacheMiB 0, each download reading
 * its own chunks, to show what the sharing is worth.
 */
import { createReadStream, createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import {
  compileClient,
  fixed,
  GENERATOR_LIMIT,
  lastJsonLine,
  listening,
  memoryMiB,
  NS,
  PEER_IP,
  peerVersions,
  Report,
  runIn,
  SERVER_IP,
  SMOKE,
  startMetalbox,
  startNginx,
  treeCpuSeconds,
  versionOf,
  workload,
  type Cell,
  type Proc,
} from './kit.js';

const IMAGE_BYTES = SMOKE ? 64 * 2 ** 20 : 2 * 2 ** 30;
const AGENTS = SMOKE ? [10] : [100, 400];
const WINDOW_SECONDS = SMOKE ? 2 : 20;
const ROUNDS = SMOKE ? 1 : 2;
/** Whole-image runs: every agent to the end of the image (N=100 only: 400 × 2 GiB is minutes per server). */
const WHOLE_AGENTS = SMOKE ? 10 : 100;

interface PullResult {
  bytes: number;
  seconds: number;
  finished: number;
  failed: number;
  unfinished: number;
  unanswered: number;
  minBytes: number;
  medianBytes: number;
  maxBytes: number;
  cpuSeconds: number;
}

interface Server {
  name: string;
  start: () => Promise<Proc>;
  host: string;
  /** Where the agents download from. */
  ports: number[];
  /** Where the new request of each step goes (metalbox's HTTP port). */
  probePort: number;
  path: string;
}

/** A small answer (metalbox's /healthz, a 3-byte file of that name for nginx): how long a new connection waits while the image flows. */
const PROBE_PATH = '/healthz';

/** The slowest of three requests on new connections, made one after the other, in ms. */
async function probeMs(url: string): Promise<number> {
  let slowest = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    const run = await runIn(NS.load, 'curl', ['-sf', '-o', '/dev/null', '-w', '%{time_total}', '--max-time', '60', url]);
    slowest = Math.max(slowest, run.code === 0 ? Number(run.stdout) * 1000 : Number.POSITIVE_INFINITY);
  }
  return slowest;
}

async function writeImage(path: string): Promise<void> {
  const out = createWriteStream(path);
  for (let written = 0; written < IMAGE_BYTES; written += 2 ** 24) {
    if (!out.write(randomBytes(2 ** 24))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function main(): Promise<void> {
  await workload('image', async (dir) => {
    const pull = compileClient(dir, 'http-pull');
    const assets = join(dir, 'assets');
    const image = join(assets, 'images/deploy.raw');
    mkdirSync(join(assets, 'images'), { recursive: true });
    writeFileSync(join(assets, PROBE_PATH.slice(1)), 'ok\n');
    await writeImage(image);
    // Both servers read the image from the page cache: warmed once, before any step.
    for await (const _chunk of createReadStream(image, { highWaterMark: 2 ** 24 }));

    const metalbox = (fileCacheMiB: number, fileThreads = 0): Server => ({
      name: fileThreads > 0 ? `metalbox (${fileThreads} file threads)` : fileCacheMiB === 0 ? 'metalbox (fileCacheMiB 0)' : 'metalbox',
      start: () =>
        startMetalbox(dir, {
          config: { http: { fileCacheMiB } },
          args: ['--no-dhcp-proxy', '--no-tftp', ...(fileThreads > 0 ? ['--file-threads', String(fileThreads)] : [])],
        }),
      host: SERVER_IP,
      // The file threads' ports, agents spread over them in turn as metalbox names them to machines.
      ports: fileThreads > 0 ? Array.from({ length: fileThreads }, (_, index) => 8081 + index) : [8080],
      probePort: 8080,
      path: '/assets/images/deploy.raw',
    });
    const nginx = (workers: 1 | 'auto'): Server => ({
      name: `nginx (${workers === 1 ? '1 worker' : 'auto workers'})`,
      start: async () => {
        const proc = startNginx(dir, assets, workers);
        await listening(NS.peer, proc, { tcp: [80] });
        return proc;
      },
      host: PEER_IP,
      ports: [80],
      probePort: 80,
      path: '/images/deploy.raw',
    });
    const servers = [metalbox(256), nginx(1), metalbox(256, 2), metalbox(0), nginx('auto')];

    const rows: Cell[][] = [];
    const commands = new Set<string>();
    const best = new Map<string, { mbPerSecond: number; cpuPerGb: number }>();
    const step = async (server: Server, agents: number, seconds: number, round: number | 'whole') => {
      const proc = await server.start();
      const args = [server.host, server.ports.join(','), server.path, String(agents), String(seconds)];
      commands.add(`http-pull ${args.join(' ')}`);
      const cpuBefore = treeCpuSeconds(proc.pid);
      const pulling = runIn(NS.load, pull, args, { timeoutMs: (seconds + 60) * 1000 });
      await new Promise((resolve) => setTimeout(resolve, (Math.min(seconds, WINDOW_SECONDS) * 1000) / 2));
      const probe = await probeMs(`http://${server.host}:${server.probePort}${PROBE_PATH}`);
      const run = await pulling;
      const serverCpu = treeCpuSeconds(proc.pid) - cpuBefore;
      const peakMiB = server.name.startsWith('metalbox') ? memoryMiB(proc.pid).peak : Number.NaN;
      await proc.stop();
      const result = lastJsonLine<PullResult>(run.stdout, 'http-pull');
      const gigabytes = result.bytes / 1e9;
      const generatorShare = result.cpuSeconds / result.seconds;
      const measured = generatorShare <= GENERATOR_LIMIT && result.failed === 0;
      const mbPerSecond = result.bytes / 1e6 / result.seconds;
      const cpuPerGb = serverCpu / gigabytes;
      if (measured && round !== 'whole') {
        const key = `${agents}|${server.name}`;
        const previous = best.get(key);
        if (!previous || previous.mbPerSecond < mbPerSecond) best.set(key, { mbPerSecond, cpuPerGb });
      }
      const mib = (bytes: number) => fixed(bytes / 2 ** 20, 0);
      rows.push([
        agents,
        round,
        server.name,
        fixed(mbPerSecond, 0),
        fixed(result.seconds, 1),
        `${result.finished} / ${result.failed} / ${result.unanswered}`,
        `${mib(result.minBytes)} / ${mib(result.medianBytes)} / ${mib(result.maxBytes)}`,
        fixed((100 * serverCpu) / result.seconds, 0),
        fixed(cpuPerGb, 3),
        fixed(probe, 0),
        `${fixed(100 * generatorShare, 0)}${measured ? '' : ' (not a measurement)'}`,
        fixed(peakMiB, 0),
      ]);
      process.stdout.write(`  ${agents} agents, ${round}, ${server.name}: ${fixed(mbPerSecond, 0)} MB/s, ${fixed(cpuPerGb, 3)} CPU s/GB\n`);
    };

    for (const agents of AGENTS) {
      for (let round = 1; round <= ROUNDS; round++) {
        for (const server of servers) await step(server, agents, WINDOW_SECONDS, round);
      }
    }
    for (const server of servers) await step(server, WHOLE_AGENTS, 600, 'whole');

    const report = new Report(
      `Deploy images: ${AGENTS.join(' and ')} agents pulling one ${IMAGE_BYTES / 2 ** 30} GiB image at once, against nginx`,
      [
        'npm run bench:image',
        ...commands,
        `metalbox serve --listen ${SERVER_IP} --no-dhcp-proxy --no-tftp --log-level warn --assets-dir DIR [--file-threads 2] (config http.fileCacheMiB 256, the default, or 0)`,
        'nginx -c FILE: worker_processes 1 | auto, access_log off, sendfile on, tcp_nopush on, root DIR',
        `gcc -O2 bench/clients/http-pull.c (HOST PORT[,PORT] PATH AGENTS SECONDS; bodies dropped with recv MSG_TRUNC; with two ports, agents alternate)`,
        'curl -sf -o /dev/null -w %{time_total} http://SERVER/healthz   (three times, half-way through each step)',
      ],
    );
    report.table(
      [
        'agents',
        'round',
        'server',
        'MB/s',
        'seconds',
        'finished / failed / no answer yet',
        'MiB per agent min / median / max',
        'server CPU %',
        'server CPU s per GB',
        'new request ms (slowest of 3)',
        'generator CPU %',
        'metalbox peak RSS MiB',
      ],
      rows,
    );
    const notes = AGENTS.map((agents) => {
      const of = (name: string) => best.get(`${agents}|${name}`);
      const ours = of('metalbox');
      const ratio = (peer: string) => {
        const theirs = of(peer);
        return ours && theirs
          ? `${fixed(ours.mbPerSecond / theirs.mbPerSecond, 2)}× ${peer}'s MB/s at ${fixed(ours.cpuPerGb / theirs.cpuPerGb, 2)}× its CPU per GB`
          : `no measured pair with ${peer}`;
      };
      const threads = of('metalbox (2 file threads)');
      const nginxOne = of('nginx (1 worker)');
      const withThreads =
        threads && nginxOne && ours
          ? `with 2 file threads ${fixed(threads.mbPerSecond / nginxOne.mbPerSecond, 2)}× nginx (1 worker) at ${fixed(threads.cpuPerGb / nginxOne.cpuPerGb, 2)}× its CPU per GB (${fixed(threads.mbPerSecond / ours.mbPerSecond, 2)}× metalbox on its HTTP port)`
          : 'no measured pair with 2 file threads';
      return `${agents} agents: metalbox ${ratio('nginx (1 worker)')}; ${ratio('nginx (auto workers)')}; ${ratio('metalbox (fileCacheMiB 0)')}; ${withThreads}`;
    });
    report.note(`Best measured rounds of the windows. ${notes.join('. ')}. Servers and the generator share the 2 cores.`);
    report.write({ ...peerVersions(), gcc: versionOf('gcc', ['--version']) });
  });
}

await main();
