/**
 * TFTP storm: N concurrent downloads of ipxe.efi at blksize 1428, lock-step and windowsize
 * 8, from metalbox, dnsmasq (tftp-max raised), tftpd-hpa and atftpd (maxthread raised), in
 * turn at each step. The load generator is bench/clients/tftp-pull.c, compiled at each run:
 * every transfer in one process on one epoll loop, each block compared with the file, its
 * own CPU in every row (a row where it passes 80 % of a core is no measurement).
 * Servers that do not know windowsize (tftpd-hpa, dnsmasq) leave it out of their OACK and
 * the transfer runs lock-step: that is what a firmware asking for a window gets from them.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  compileClient,
  GENERATOR_LIMIT,
  fixed,
  IPXE_DIR,
  lastJsonLine,
  launch,
  listening,
  NS,
  PEER_IP,
  PEERS,
  peerVersions,
  Report,
  runIn,
  SERVER_IP,
  SMOKE,
  startMetalbox,
  treeCpuSeconds,
  versionOf,
  workload,
  type Cell,
  type Proc,
} from './kit.js';

const FILE = 'ipxe.efi';
const COUNTS = SMOKE ? [1, 20] : [1, 50, 500, 2000];
const WINDOWS = [1, 8];
/** metalbox twice: transfers on its main thread (the default), and on two transfer threads (--tftp-threads 2). */
const PEER_SERVERS = ['dnsmasq', 'tftpd-hpa', 'atftpd'] as const;
const SERVERS = ['metalbox', 'metalbox 2 threads', ...PEER_SERVERS] as const;
/** The second metalbox's ports, beside the first's in the server namespace. */
const THREADED = { tftp: 6969, http: 8081 };

interface LoadResult {
  count: number;
  ok: number;
  failed: number;
  errors: Record<string, number>;
  seconds: number;
  bytes: number;
  p50Ms: number | null;
  maxMs: number | null;
  retransmits: number;
  cpuSeconds: number;
}

function startPeer(server: (typeof PEER_SERVERS)[number], dir: string, root: string): Proc {
  switch (server) {
    case 'dnsmasq':
      return launch(NS.peer, server, dir, 'dnsmasq', [
        '--keep-in-foreground',
        '--port=0',
        '--bind-interfaces',
        `--listen-address=${PEER_IP}`,
        '--enable-tftp',
        `--tftp-root=${root}`,
        '--tftp-max=5000',
        '--user=root',
        '--log-facility=-',
      ]);
    case 'tftpd-hpa':
      return launch(NS.peer, server, dir, join(PEERS, 'usr/sbin/in.tftpd'), [
        '--listen',
        '--foreground',
        '--address',
        `${PEER_IP}:69`,
        '--user',
        'root',
        '--secure',
        root,
      ]);
    case 'atftpd':
      return launch(NS.peer, server, dir, join(PEERS, 'usr/sbin/atftpd'), [
        '--daemon',
        '--no-fork',
        '--bind-address',
        PEER_IP,
        '--port',
        '69',
        '--maxthread',
        '5000',
        '--user',
        'root',
        '--group',
        'root',
        '--logfile',
        '-',
        root,
      ]);
  }
}

async function main(): Promise<void> {
  await workload('tftp', async (dir) => {
    const root = join(dir, 'tftproot');
    mkdirSync(root);
    copyFileSync(join(IPXE_DIR, FILE), join(root, FILE));
    const bytes = readFileSync(join(root, FILE));
    const pull = compileClient(dir, 'tftp-pull');
    const metalbox = await startMetalbox(dir, { config: { ipxeDir: IPXE_DIR }, args: ['--no-dhcp-proxy', '--tftp-max-transfers', '5000'] });
    const threadedDir = join(dir, 'threaded');
    mkdirSync(threadedDir);
    const threaded = await startMetalbox(threadedDir, {
      config: { ipxeDir: IPXE_DIR },
      args: [
        '--no-dhcp-proxy',
        '--tftp-max-transfers',
        '5000',
        '--tftp-threads',
        '2',
        '--tftp-port',
        String(THREADED.tftp),
        '--http-port',
        String(THREADED.http),
      ],
    });

    const rows: Cell[][] = [];
    const rates = new Map<string, number>();
    const loadArgs = (server: string, count: number, windowsize: number, port = 69) => [
      server,
      String(port),
      FILE,
      String(count),
      '1428',
      String(windowsize),
      join(root, FILE),
    ];
    // Untimed: a JIT-compiled server is what a storm meets (the C peers need no warming).
    await runIn(NS.load, pull, loadArgs(SERVER_IP, 20, 8), { timeoutMs: 60_000 });
    await runIn(NS.load, pull, loadArgs(SERVER_IP, 20, 8, THREADED.tftp), { timeoutMs: 60_000 });
    for (const count of COUNTS) {
      for (const windowsize of WINDOWS) {
        for (const server of SERVERS) {
          const proc = server === 'metalbox' ? metalbox : server === 'metalbox 2 threads' ? threaded : startPeer(server, dir, root);
          const ours = proc === metalbox || proc === threaded;
          if (!ours) await listening(NS.peer, proc, { udp: [69] });
          const cpuBefore = treeCpuSeconds(proc.pid);
          const run = await runIn(
            NS.load,
            pull,
            loadArgs(ours ? SERVER_IP : PEER_IP, count, windowsize, proc === threaded ? THREADED.tftp : 69),
            { timeoutMs: 600_000 },
          );
          // tftpd-hpa serves each transfer in a child it never waits for: that CPU is nowhere to read.
          const serverCpu = server === 'tftpd-hpa' ? Number.NaN : treeCpuSeconds(proc.pid) - cpuBefore;
          if (!ours) await proc.stop();
          const result = lastJsonLine<LoadResult>(run.stdout, `the load generator (exit ${run.code}, ${run.stderr.slice(-500)})`);
          const mbps = result.bytes / result.seconds / 1e6;
          const generatorShare = result.cpuSeconds / result.seconds;
          const measured = generatorShare <= GENERATOR_LIMIT;
          if (measured) rates.set(`${server}|${count}|${windowsize}`, mbps);
          rows.push([
            count,
            windowsize === 1 ? 'lock-step' : `window ${windowsize}`,
            server,
            fixed(mbps, 1),
            fixed(result.seconds, 2),
            `${result.ok}/${result.count}`,
            Object.entries(result.errors)
              .map(([reason, n]) => `${n}× ${reason}`)
              .join('; ') || '–',
            result.retransmits,
            fixed(result.p50Ms ?? Number.NaN, 0),
            fixed(result.maxMs ?? Number.NaN, 0),
            fixed((serverCpu / result.seconds) * 100, 0),
            `${fixed(100 * generatorShare, 0)}${measured ? '' : ' (not a measurement)'}`,
          ]);
          process.stdout.write(`  ${server} N=${count} w=${windowsize}: ${fixed(mbps)} MB/s, ${result.ok}/${result.count} ok\n`);
        }
      }
    }
    await metalbox.stop();
    await threaded.stop();

    const report = new Report(`TFTP storm: N concurrent downloads of ${FILE} (${bytes.length} bytes), blksize 1428`, [
      'npm run bench:tftp',
      `tftp-pull IP 69 ${FILE} N 1428 1|8 DIR/${FILE}   (gcc -O2 bench/clients/tftp-pull.c, from ns ${NS.load})`,
      `metalbox serve --listen ${SERVER_IP} --no-dhcp-proxy --tftp-max-transfers 5000 --log-level warn`,
      `metalbox serve --listen ${SERVER_IP} --no-dhcp-proxy --tftp-max-transfers 5000 --tftp-threads 2 --tftp-port ${THREADED.tftp} --http-port ${THREADED.http} --log-level warn   (metalbox 2 threads)`,
      `dnsmasq --port=0 --bind-interfaces --listen-address=${PEER_IP} --enable-tftp --tftp-root=DIR --tftp-max=5000`,
      `in.tftpd --listen --foreground --address ${PEER_IP}:69 --user root --secure DIR`,
      `atftpd --daemon --no-fork --bind-address ${PEER_IP} --port 69 --maxthread 5000 --user root --group root --logfile - DIR`,
    ]);
    report.table(
      [
        'N',
        'mode',
        'server',
        'MB/s',
        'seconds',
        'verified',
        'failures',
        'client retransmits',
        'p50 ms',
        'max ms',
        'server CPU %',
        'generator CPU %',
      ],
      rows,
    );
    const verdicts: string[] = [];
    for (const count of COUNTS) {
      for (const windowsize of WINDOWS) {
        const own = rates.get(`metalbox|${count}|${windowsize}`) ?? 0;
        const threads = rates.get(`metalbox 2 threads|${count}|${windowsize}`) ?? 0;
        const best = Math.max(...PEER_SERVERS.map((server) => rates.get(`${server}|${count}|${windowsize}`) ?? 0));
        verdicts.push(
          `N=${count} ${windowsize === 1 ? 'lock-step' : `window ${windowsize}`}: metalbox ${fixed(own / best, 2)}× the best peer, with 2 threads ${fixed(threads / best, 2)}× (${fixed(threads / own, 2)}× one thread)`,
        );
      }
    }
    const speedup = (rates.get('metalbox|1|8') ?? 0) / (rates.get('metalbox|1|1') ?? 1);
    report.note(
      `${verdicts.join('; ')}. One client, windowsize 8 against lock-step on metalbox: ${fixed(speedup, 1)}×. MB/s is verified bytes over the wall time of the whole step; CPU % is of one core (tftpd-hpa's is not sampled: each transfer runs in a child it never waits for).`,
    );
    report.write({
      ...peerVersions(),
      dnsmasq: versionOf('dnsmasq', ['--version'])
        .replace(/^Dnsmasq version /, '')
        .split(' ')[0]!,
    });
  });
}

await main();
