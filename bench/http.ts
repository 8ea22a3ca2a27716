/**
 * HTTP: iPXE scripts generated for a fleet of 10,000 machines (each request a random
 * machine's MAC, so every answer is a decision, a template render and a callback token),
 * against nginx serving a static file of the same size, the ceiling for any HTTP server
 * here; then the installer's kernel and initrd streamed to 50 clients at once, against
 * nginx's sendfile. wrk is the load generator; the two servers alternate, round by round.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fleetMac, seedFleet } from './fleet.js';
import {
  ASSET_BYTES,
  BENCH_JS,
  BENCH_PROFILE,
  benchAssets,
  fixed,
  launch,
  listening,
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
  GENERATOR_LIMIT,
  versionOf,
  workload,
  type Cell,
  type Proc,
} from './kit.js';

const MACHINES = SMOKE ? 200 : 10_000;
const SECONDS = SMOKE ? 2 : 10;
const ROUNDS = SMOKE ? 1 : 2;
const CONNECTIONS = { script: 64, file: 50 };
/** BENCH_HTTP_CASES=script|files: one half of the workload (to profile or re-measure it alone). */
const CASES = process.env.BENCH_HTTP_CASES ?? 'script,files';

interface WrkResult {
  requestsPerSecond: number;
  p99Ms: number;
  bytesPerSecond: number;
  errors: number;
}

const UNIT: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, us: 0.001, ms: 1, s: 1000 };

export function parseWrk(output: string): WrkResult {
  const quantity = (pattern: RegExp) => {
    const match = pattern.exec(output);
    return match ? Number(match[1]) * (UNIT[match[2]!] ?? Number.NaN) : Number.NaN;
  };
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  return {
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? Number.NaN),
    p99Ms: quantity(/^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m),
    bytesPerSecond: quantity(/Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/),
    errors: (errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0) + Number(non2xx?.[1] ?? 0),
  };
}

async function main(): Promise<void> {
  await workload('http', async (dir) => {
    const macs = seedFleet(join(dir, 'data'), MACHINES, { state: 'netbooting', profile: 'bench' });
    // No DHCP here, so no machine's address is known: first-use binds each operation to the
    // load generator's address, the first to ask, as on a network where metalbox sees no DHCP.
    const metalbox = await startMetalbox(dir, {
      config: { profiles: { bench: BENCH_PROFILE }, boot: { addressTrust: 'first-use' } },
      args: ['--no-dhcp-proxy', '--no-tftp'],
    });
    const assets = benchAssets(dir);

    const sample = await runIn(NS.load, 'curl', ['-sf', `http://${SERVER_IP}:8080/boot.ipxe?mac=${fleetMac(0)}&platform=efi`]);
    if (!sample.stdout.includes('kernel'))
      throw new Error(`the script of ${fleetMac(0)} is not an installer's:\n${sample.stdout}${sample.stderr}`);
    writeFileSync(join(assets, 'boot.ipxe'), 'x'.repeat(Buffer.byteLength(sample.stdout)));
    writeFileSync(join(dir, 'macs.txt'), `${macs.join('\n')}\n`);
    const lua = join(dir, 'random-mac.lua');
    writeFileSync(
      lua,
      `
local macs = {}
for line in io.lines("${join(dir, 'macs.txt')}") do macs[#macs + 1] = line end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function() return wrk.format("GET", "/boot.ipxe?mac=" .. macs[math.random(#macs)] .. "&platform=efi") end
`,
    );

    const nginxes = [1, 'auto'] as const;
    const servers: Array<{ name: string; start: () => Promise<Proc>; url: string; keep?: boolean; scriptOnly?: boolean }> = [
      { name: 'metalbox', start: async () => metalbox, url: `http://${SERVER_IP}:8080`, keep: true },
      ...nginxes.map((workers) => ({
        name: `nginx (${workers} worker${workers === 1 ? '' : 's'})`,
        start: async () => {
          const proc = startNginx(dir, assets, workers);
          await listening(NS.peer, proc, { tcp: [80] });
          return proc;
        },
        url: `http://${PEER_IP}`,
      })),
    ];
    servers.push({
      name: 'node:http static',
      start: async () => {
        const proc = launch(NS.peer, 'node-static', dir, process.execPath, [
          join(BENCH_JS, 'node-static.js'),
          PEER_IP,
          '8081',
          join(assets, 'boot.ipxe'),
        ]);
        await listening(NS.peer, proc, { tcp: [8081] });
        return proc;
      },
      url: `http://${PEER_IP}:8081`,
      scriptOnly: true,
    });
    const cases = [
      {
        name: 'iPXE script',
        connections: CONNECTIONS.script,
        path: () => '/boot.ipxe',
        script: (server: string) => (server === 'metalbox' ? lua : null),
      },
      {
        name: `kernel (${ASSET_BYTES['bench/vmlinuz'] / 2 ** 20} MiB)`,
        connections: CONNECTIONS.file,
        path: (server: string) => (server === 'metalbox' ? '/assets/bench/vmlinuz' : '/bench/vmlinuz'),
        script: () => null,
      },
      {
        name: `initrd (${ASSET_BYTES['bench/initrd.img'] / 2 ** 20} MiB)`,
        connections: CONNECTIONS.file,
        path: (server: string) => (server === 'metalbox' ? '/assets/bench/initrd.img' : '/bench/initrd.img'),
        script: () => null,
      },
    ];
    const selected = cases.filter((_testCase, index) => CASES.includes(index === 0 ? 'script' : 'files'));
    const rows: Cell[][] = [];
    const best = new Map<string, WrkResult>();
    const commands = new Set<string>();
    for (const testCase of selected) {
      for (let round = 1; round <= ROUNDS; round++) {
        for (const server of servers) {
          if (server.scriptOnly && testCase !== cases[0]) continue;
          const proc = await server.start();
          const script = testCase.script(server.name);
          // --timeout: a 30 MiB body shared 50 ways takes longer than wrk's default 2 s, for nginx too.
          const args = [
            '-t2',
            `-c${testCase.connections}`,
            `-d${SECONDS}s`,
            '--timeout',
            '30s',
            '--latency',
            ...(script ? ['-s', script] : []),
            `${server.url}${testCase.path(server.name)}`,
          ];
          commands.add(`wrk ${args.join(' ').replace(dir, 'DIR')}`);
          const cpuBefore = treeCpuSeconds(proc.pid);
          const run = await runIn(NS.load, 'wrk', args, { timeoutMs: (SECONDS + 30) * 1000 });
          const serverCpu = treeCpuSeconds(proc.pid) - cpuBefore;
          if (!server.keep) await proc.stop();
          const result = parseWrk(run.stdout);
          if (Number.isNaN(result.requestsPerSecond))
            throw new Error(`wrk printed no result (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
          const key = `${testCase.name}|${server.name}`;
          const measured = run.cpu / SECONDS <= GENERATOR_LIMIT;
          if (measured && (!best.has(key) || best.get(key)!.requestsPerSecond < result.requestsPerSecond)) best.set(key, result);
          rows.push([
            testCase.name,
            round,
            server.name,
            fixed(result.requestsPerSecond, 0),
            fixed(result.p99Ms, 2),
            fixed(result.bytesPerSecond / 1e6, 1),
            result.errors,
            fixed((100 * serverCpu) / SECONDS, 0),
            `${fixed((100 * run.cpu) / SECONDS, 0)}${measured ? '' : ' (not a measurement)'}`,
          ]);
          process.stdout.write(
            `  ${testCase.name} ${server.name}: ${fixed(result.requestsPerSecond, 0)} req/s, ${fixed(result.bytesPerSecond / 1e6)} MB/s\n`,
          );
        }
      }
    }
    await metalbox.stop();

    const report = new Report(`HTTP: iPXE scripts for ${MACHINES} machines, and installer files, against nginx`, [
      'npm run bench:http',
      ...commands,
      `metalbox serve --listen ${SERVER_IP} --no-dhcp-proxy --no-tftp --log-level warn --assets-dir DIR; ${MACHINES} machines netbooting with profile bench (kernel, initrd, cmdline with {{ mac }} and {{ callbackUrl }})`,
      "nginx -c FILE: worker_processes 1 | auto, access_log off, sendfile on, tcp_nopush on, root DIR (boot.ipxe: a static file of the script's size)",
      `node dist/bench/node-static.js ${PEER_IP} 8081 DIR/boot.ipxe   (node:http, the same bytes from memory)`,
    ]);
    report.table(['what', 'round', 'server', 'requests/s', 'p99 ms', 'MB/s', 'errors', 'server CPU %', 'wrk CPU %'], rows);
    // NaN (printed –) when either side has no round where wrk stayed under the limit.
    const ratio = (testCase: string, measure: (result: WrkResult) => number, peer: string) => {
      const ours = best.get(`${testCase}|metalbox`);
      const theirs = best.get(`${testCase}|${peer}`);
      return ours && theirs ? measure(ours) / measure(theirs) : Number.NaN;
    };
    if (selected.includes(cases[0]!)) {
      const nodeCeiling = ratio(cases[0]!.name, (result) => result.requestsPerSecond, 'node:http static');
      report.note(
        `iPXE script: metalbox ${fixed(nodeCeiling, 2)}× node:http answering a static buffer (Node's own ceiling on this machine).`,
      );
    }
    const ratios = selected.map((testCase) => {
      const index = cases.indexOf(testCase);
      const measure = index === 0 ? (result: WrkResult) => result.requestsPerSecond : (result: WrkResult) => result.bytesPerSecond;
      return `${testCase.name}: metalbox ${fixed(ratio(testCase.name, measure, 'nginx (1 worker)'), 2)}× nginx with 1 worker, ${fixed(ratio(testCase.name, measure, 'nginx (auto workers)'), 2)}× with one per core (best rounds, ${index === 0 ? 'requests/s' : 'MB/s'})`;
    });
    report.note(
      `${ratios.join('; ')}; – where no round of one side had wrk under ${100 * GENERATOR_LIMIT} % of a core. nginx's CPU is its master's and workers'. Servers and wrk share the 2 cores.`,
    );
    report.write({ ...peerVersions(), wrk: versionOf('wrk', ['-v']).split(' ').slice(0, 2).join(' ') });
  });
}

await main();
