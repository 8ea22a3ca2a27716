/**
 * ProxyDHCP storm: perfdhcp sends PXE DISCOVERs (UEFI x86-64, the options EDK2 sends) at
 * rising rates, to metalbox and to dnsmasq in proxy mode, step by step in turn. perfdhcp
 * always poses as a relay (giaddr = its address, source port 67), so offers come back
 * unicast to giaddr:67. Each step reports perfdhcp's counts and delays, the CPU both sides
 * used, and the receive-buffer overflows each side's kernel counted (where drops happen).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seedFleet } from './fleet.js';
import {
  BENCH_PROFILE,
  cpuSeconds,
  DISCOVERY_PROFILE,
  fixed,
  inNs,
  IPXE_DIR,
  launch,
  listening,
  NS,
  PEER_IP,
  Report,
  runIn,
  SERVER_IP,
  SMOKE,
  startMetalbox,
  versionOf,
  workload,
  type Cell,
  type Proc,
} from './kit.js';

/** BENCH_DHCP_RATES=10000,15000: those steps alone (to profile or re-measure them). */
const RATES =
  process.env.BENCH_DHCP_RATES?.split(',').map(Number) ?? (SMOKE ? [500] : [1000, 2500, 5000, 7500, 10_000, 12_500, 15_000, 20_000]);
/** Machines in metalbox's inventory while it answers: the DISCOVERs come from unknown MACs, answered by discovery. */
const FLEET = SMOKE ? 1000 : 100_000;
/**
 * perfdhcp's thread mode (-g, BENCH_PERFDHCP_THREADS=single|multi). It busy-polls either
 * way; with two threads (its default on a multi-core host) it took 130–200 % of this 2-core
 * machine and left the server a fraction of one core. One thread takes one core.
 */
const PERFDHCP_THREADS = process.env.BENCH_PERFDHCP_THREADS ?? 'single';
const SECONDS = SMOKE ? 2 : 10;
const hex = (text: string) => Buffer.from(text, 'latin1').toString('hex');
/** EDK2's PXE options (pxe-lab §5): 60 vendor class, 93 arch 7, 94 UNDI 3.0, 97 a GUID. */
const PXE_OPTIONS = [
  `60,${hex('PXEClient:Arch:00007:UNDI:003000')}`,
  '93,0007',
  '94,010300',
  `97,00${'000a58424d1111224283330000000000'.slice(0, 32)}`,
];

export interface PerfdhcpStep {
  rate: number;
  sent: number;
  received: number;
  drops: number;
  avgMs: number;
  maxMs: number;
}

export function parsePerfdhcp(output: string): Omit<PerfdhcpStep, 'rate'> & { achieved: number } {
  const number = (label: string) => Number(new RegExp(`${label}:\\s+([\\d.]+)`).exec(output)?.[1] ?? Number.NaN);
  return {
    achieved: number('Rate'),
    sent: number('sent packets'),
    received: number('received packets'),
    drops: number('drops'),
    avgMs: number('avg delay'),
    maxMs: number('max delay'),
  };
}

/** The kernel's UDP receive-buffer overflows in a namespace (per-namespace counters). */
function rcvbufErrors(ns: string): number {
  const snmp = inNs(ns, 'cat', '/proc/net/snmp')
    .split('\n')
    .filter((line) => line.startsWith('Udp:'));
  const [names, values] = snmp.map((line) => line.split(/\s+/));
  return Number(values?.[names?.indexOf('RcvbufErrors') ?? -1] ?? Number.NaN);
}

function dnsmasqConfig(dir: string, name: string, quiet: boolean): string {
  const file = join(dir, `${name}.conf`);
  writeFileSync(
    file,
    [
      'port=0',
      'interface=eth0',
      'bind-interfaces',
      'dhcp-range=10.88.1.0,proxy',
      'pxe-service=X86-64_EFI,"metalbox",snponly.efi',
      `log-facility=${join(dir, `${name}.dhcp.log`)}`,
      'user=root',
      ...(quiet ? ['quiet-dhcp'] : []),
      '',
    ].join('\n'),
  );
  return file;
}

async function main(): Promise<void> {
  await workload('dhcp', async (dir) => {
    seedFleet(join(dir, 'data'), FLEET, { state: 'provisioned', profile: 'bench' });
    const metalbox = await startMetalbox(dir, {
      config: {
        boot: { unknown: 'discover', discoveryProfile: 'discovery' },
        profiles: { discovery: DISCOVERY_PROFILE, bench: BENCH_PROFILE },
        ipxeDir: IPXE_DIR,
      },
    });
    await listening(NS.server, metalbox, { udp: [67, 4011] });
    // The two dnsmasq runs cannot share port 67: each step starts the one it measures.
    const rows: Cell[][] = [];
    const perServer = new Map<string, PerfdhcpStep[]>();
    const command = (local: string, target: string, rate: number) => [
      '-4',
      '-l',
      local,
      '-r',
      String(rate),
      '-p',
      String(SECONDS),
      '-W',
      '1000000',
      '-R',
      '1000000',
      '-g',
      PERFDHCP_THREADS,
      '-i',
      ...PXE_OPTIONS.flatMap((option) => ['-o', option]),
      target,
    ];
    for (const rate of RATES) {
      for (const server of ['metalbox', 'dnsmasq', 'dnsmasq quiet-dhcp']) {
        let proc: Proc = metalbox;
        if (server !== 'metalbox') {
          const quiet = server.endsWith('quiet-dhcp');
          const name = server.replace(' ', '-');
          proc = launch(NS.peer, name, dir, 'dnsmasq', ['--keep-in-foreground', '-C', dnsmasqConfig(dir, name, quiet)]);
          await listening(NS.peer, proc, { udp: [67] });
        }
        const ns = server === 'metalbox' ? NS.server : NS.peer;
        const overflowsBefore = rcvbufErrors(ns);
        const generatorOverflowsBefore = rcvbufErrors(NS.load);
        const cpuBefore = cpuSeconds(proc.pid);
        const run = await runIn(
          NS.load,
          'perfdhcp',
          command(server === 'metalbox' ? 'eth0' : 'eth1', server === 'metalbox' ? SERVER_IP : PEER_IP, rate),
          { timeoutMs: (SECONDS + 30) * 1000 },
        );
        const serverCpu = cpuSeconds(proc.pid) - cpuBefore;
        const overflows = rcvbufErrors(ns) - overflowsBefore;
        const generatorOverflows = rcvbufErrors(NS.load) - generatorOverflowsBefore;
        if (server !== 'metalbox') await proc.stop();
        const result = parsePerfdhcp(run.stdout);
        if (Number.isNaN(result.sent)) throw new Error(`perfdhcp printed no statistics (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
        const step = { rate, ...result };
        perServer.set(server, [...(perServer.get(server) ?? []), step]);
        rows.push([
          rate,
          server,
          fixed(result.achieved, 0),
          result.sent,
          result.received,
          result.drops,
          fixed((100 * result.drops) / Math.max(1, result.sent), 2),
          fixed(result.avgMs, 3),
          fixed(result.maxMs, 1),
          overflows,
          generatorOverflows,
          fixed((100 * serverCpu) / SECONDS, 0),
          fixed((100 * run.cpu) / SECONDS, 0),
        ]);
        process.stdout.write(`  ${server} @ ${rate}/s: ${result.received}/${result.sent} answered, avg ${result.avgMs} ms\n`);
      }
    }
    await metalbox.stop();

    const report = new Report('ProxyDHCP storm: PXE DISCOVERs at rising rates', [
      'npm run bench:dhcp',
      `perfdhcp ${command('eth0', SERVER_IP, RATES[0]!).join(' ')}   (rate per step; eth1/${PEER_IP} for the peer)`,
      `metalbox serve --listen ${SERVER_IP} --log-level warn, config boot.unknown discover (answers every MAC, as dnsmasq's proxy does), ${FLEET} machines in the inventory (provisioned; perfdhcp's MACs are others)`,
      'dnsmasq -C: port=0, bind-interfaces, dhcp-range=10.88.1.0,proxy, pxe-service=X86-64_EFI,"metalbox",snponly.efi, log-facility=FILE (and a second run with quiet-dhcp)',
    ]);
    report.table(
      [
        'rate/s',
        'server',
        'achieved/s',
        'sent',
        'answered',
        'drops',
        'drop %',
        'avg ms',
        'max ms',
        'server rcvbuf overflows',
        'perfdhcp rcvbuf overflows',
        'server CPU %',
        'perfdhcp CPU %',
      ],
      rows,
    );
    const zeroDropCeiling = (server: string) =>
      Math.max(0, ...(perServer.get(server) ?? []).filter((step) => step.drops === 0).map((step) => step.rate));
    const slowest = Math.max(...(perServer.get('metalbox') ?? []).filter((step) => step.rate <= 5000).map((step) => step.avgMs));
    report.note(
      [
        `Highest step with zero drops: metalbox ${zeroDropCeiling('metalbox')}/s, dnsmasq ${zeroDropCeiling('dnsmasq')}/s, dnsmasq quiet-dhcp ${zeroDropCeiling('dnsmasq quiet-dhcp')}/s.`,
        `metalbox's worst average delay up to 5,000/s: ${fixed(slowest, 3)} ms (target < 1 ms).`,
        "Rcvbuf overflows are the kernel's UDP RcvbufErrors in each namespace: a drop counted on the perfdhcp side is an answer that arrived and found perfdhcp's socket buffer full.",
        `CPU % is of one core over the step (perfdhcp busy-polls, in ${PERFDHCP_THREADS === 'single' ? 'one thread: near 100 %' : 'two threads: near 100–200 %'} whatever the rate; its own sending and receiving keep up, as its achieved rate and rcvbuf overflows show).`,
      ].join(' '),
    );
    report.write({
      dnsmasq: versionOf('dnsmasq', ['--version'])
        .replace(/^Dnsmasq version /, '')
        .split(' ')[0]!,
      perfdhcp: versionOf('perfdhcp', ['-v']).replace('VERSION: ', ''),
    });
  });
}

await main();
