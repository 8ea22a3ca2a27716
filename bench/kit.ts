/**
 * What every benchmark shares: the network (servers and load generators in namespaces of
 * their own, real UDP and TCP through veth pairs), processes measured from /proc, and the
 * report each workload prints and appends to bench/RESULTS.md.
 *
 *   ns mbb-load  eth0 10.88.0.2 ── veth ── ns mbb-srv   eth0 10.88.0.1  metalbox serve
 *                eth1 10.88.1.2 ── veth ── ns mbb-peer  eth0 10.88.1.1  the peer (dnsmasq, tftpd-hpa, atftpd, nginx)
 *
 * Both servers stay up side by side, so a workload alternates them step by step under the
 * same load generator; only ratios measured in one run mean anything on a shared 2-core VM.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import YAML from 'yaml';
import { ROOT } from '../lab/guest.js';
import { readApiToken } from '../src/api/token.js';
import { deleteNamespaces, inNs, sh, stop } from '../lab/kit.js';

export { inNs, sh };

/** BENCH_SMOKE=1: every workload at a size that runs in seconds (CI keeps the harness working). */
export const SMOKE = process.env.BENCH_SMOKE === '1';
export const NS = { server: 'mbb-srv', peer: 'mbb-peer', load: 'mbb-load' } as const;
export const SERVER_IP = '10.88.0.1';
export const PEER_IP = '10.88.1.1';
export const LOAD_IP = { server: '10.88.0.2', peer: '10.88.1.2' } as const;
export const PEERS = join(ROOT, '.cache/bench/peers');
export const CLI = join(ROOT, 'dist/src/cli/main.js');
export const BENCH_JS = join(ROOT, 'dist/bench');
export const IPXE_DIR = join(ROOT, 'assets/ipxe');

export function createNetwork(): void {
  deleteNamespaces(Object.values(NS));
  for (const ns of Object.values(NS)) {
    sh('ip', ['netns', 'add', ns]);
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    inNs(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  }
  const link = (ns: string, address: string, loadSide: string, loadAddress: string) => {
    sh('ip', ['-n', NS.load, 'link', 'add', loadSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    sh('ip', ['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', NS.load, 'addr', 'add', `${loadAddress}/24`, 'dev', loadSide]);
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', NS.load, 'link', 'set', loadSide, 'up']);
  };
  link(NS.server, SERVER_IP, 'eth0', LOAD_IP.server);
  link(NS.peer, PEER_IP, 'eth1', LOAD_IP.peer);
}

export function destroyNetwork(): void {
  deleteNamespaces(Object.values(NS));
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** User + system CPU seconds a process has used (threads included), or NaN once it is gone. */
export function cpuSeconds(pid: number, withReapedChildren = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime; cutime and cstime: children it has waited for.
    const ticks = Number(fields[11]) + Number(fields[12]) + (withReapedChildren ? Number(fields[13]) + Number(fields[14]) : 0);
    return ticks / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU seconds of a process and of every child it has had: those running (nginx's workers)
 * and those it has waited for (tftpd-hpa's process per transfer); NaN once it is gone.
 */
export function treeCpuSeconds(pid: number): number {
  let children: number[] = [];
  try {
    children = readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return Number.NaN;
  }
  return children.reduce((sum, child) => sum + treeCpuSeconds(child), cpuSeconds(pid, true));
}

/** A load generator above this share of a core may be what limits a step: such a row is marked, and no ratio uses it. */
export const GENERATOR_LIMIT = 0.8;

/** Compiles one of bench/clients' C load generators with Debian's gcc into the run's dir. */
export function compileClient(dir: string, name: string): string {
  const binary = join(dir, name);
  sh('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, join(ROOT, 'bench/clients', `${name}.c`)]);
  return binary;
}

/** Resident memory now and at its peak, in MiB. */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** A server or load generator started in a namespace (`ip netns exec` execs it: same pid). */
export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  logFile: string;
  log(): string;
  stop(): Promise<void>;
}

/** Every process started in a namespace and not yet exited: a failed workload kills them. */
const started = new Set<ChildProcess>();

function spawnIn(ns: string, command: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, command, ...args], options);
  started.add(child);
  child.on('exit', () => started.delete(child));
  return child;
}

export function launch(ns: string, name: string, dir: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const logFile = join(dir, `${name}.log`);
  const output = openSync(logFile, 'a');
  const child = spawnIn(ns, command, args, { stdio: ['ignore', output, output], env });
  return { name, child, pid: child.pid!, logFile, log: () => readFileSync(logFile, 'utf8'), stop: () => stop(child) };
}

/**
 * Waits until the namespace has sockets listening on the ports (TCP `tcp`, UDP `udp`),
 * polling every 20 ms: start-up times are read off it.
 */
export async function listening(ns: string, proc: Proc, ports: { tcp?: number[]; udp?: number[] }, timeoutMs = 60_000): Promise<void> {
  const has = (table: string, port: number) => new RegExp(`:${port}\\s`).test(table);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited with ${proc.child.exitCode}:\n${proc.log().slice(-2000)}`);
    const tcp = ports.tcp ? inNs(ns, 'ss', '-Hltn') : '';
    const udp = ports.udp ? inNs(ns, 'ss', '-Hlun') : '';
    if ((ports.tcp ?? []).every((port) => has(tcp, port)) && (ports.udp ?? []).every((port) => has(udp, port))) return;
    if (Date.now() > deadline)
      throw new Error(`${proc.name} is not listening on ${JSON.stringify(ports)} after ${timeoutMs / 1000} s:\n${proc.log().slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs a command in a namespace to its end; its stdout, or an error with its output. */
export function runIn(
  ns: string,
  command: string,
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ stdout: string; stderr: string; pid: number; cpu: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawnIn(ns, command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    let cpu = 0;
    // The CPU a process used is readable only while it runs: sample until it exits.
    const sampler = setInterval(() => {
      const now = cpuSeconds(child.pid!);
      if (!Number.isNaN(now)) cpu = now;
    }, 100);
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      clearTimeout(timer);
      resolve({ stdout, stderr, pid: child.pid!, cpu, code });
    });
  });
}

/** The last line a load generator printed, parsed as the JSON result it ends with. */
export function lastJsonLine<T>(stdout: string, what: string): T {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  if (!line.startsWith('{')) throw new Error(`${what} printed no result:\n${stdout.slice(-2000)}`);
  return JSON.parse(line) as T;
}

/** bench/bmc-fleet.js in the load namespace, once it says all its BMCs listen. */
export async function startBmcFleet(dir: string, args: string[]): Promise<Proc> {
  const fleet = launch(NS.load, 'bmc-fleet', dir, process.execPath, [join(BENCH_JS, 'bmc-fleet.js'), ...args]);
  for (let waited = 0; !fleet.log().includes('listening'); waited += 100) {
    if (waited > 60_000 || fleet.child.exitCode !== null) throw new Error(`the BMC fleet did not start:\n${fleet.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return fleet;
}

/** metalbox serve in its namespace, with a config file and a data dir of the run. */
export async function startMetalbox(
  dir: string,
  options: { config?: Record<string, unknown>; args?: string[]; dataDir?: string } = {},
): Promise<Proc & { dataDir: string; startMs: number }> {
  const dataDir = options.dataDir ?? join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const assets = join(dir, 'assets');
  mkdirSync(assets, { recursive: true });
  const config = join(dir, 'metalbox.yaml');
  writeFileSync(config, YAML.stringify(options.config ?? {}));
  const started = Date.now();
  // BENCH_CPU_PROF=DIR: a V8 CPU profile of the server per run (written when it exits), for bench/profile-top.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  // BENCH_SERVER_NODE_FLAGS="--trace-gc ...": node flags for the server alone (its log is DIR/metalbox.log).
  profile.push(...(process.env.BENCH_SERVER_NODE_FLAGS?.split(' ').filter(Boolean) ?? []));
  const proc = launch(NS.server, 'metalbox', dir, process.execPath, [
    ...profile,
    CLI,
    'serve',
    '--data-dir',
    dataDir,
    '--config',
    config,
    '--listen',
    SERVER_IP,
    '--assets-dir',
    assets,
    '--log-level',
    'warn',
    ...(options.args ?? []),
    // BENCH_SERVER_ARGS="--tftp-threads 2": serve flags for every metalbox of the run (to try one before making it a row of its own).
    ...(process.env.BENCH_SERVER_ARGS?.split(' ').filter(Boolean) ?? []),
  ]);
  // Up means every socket the run uses is bound: HTTP is bound first and ProxyDHCP last,
  // and a storm started on the HTTP port alone had its first clients' DISCOVERs refused
  // (ICMP port unreachable) and retried 4 s later.
  const args = options.args ?? [];
  const port = (flag: string, otherwise: number) => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) : otherwise);
  const udp = [...(args.includes('--no-dhcp-proxy') ? [] : [67, 4011]), ...(args.includes('--no-tftp') ? [] : [port('--tftp-port', 69)])];
  const http = port('--http-port', 8080);
  const fileThreads = Array.from({ length: port('--file-threads', 0) }, (_, index) => http + 1 + index);
  await listening(NS.server, proc, { tcp: [http, ...fileThreads], udp });
  return { ...proc, dataDir, startMs: Date.now() - started };
}

/** nginx serving `root` with sendfile, 1 worker or one per core, in the peer namespace on port 80. */
export function startNginx(dir: string, root: string, workers: number | 'auto'): Proc {
  const prefix = join(dir, `nginx-${workers}`);
  const config = join(dir, `nginx-${workers}.conf`);
  writeFileSync(
    config,
    `
user root;
worker_processes ${workers};
daemon off;
pid ${prefix}.pid;
error_log ${prefix}.error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server { listen ${PEER_IP}:80; root ${root}; }
}
`,
  );
  return launch(NS.peer, `nginx-${workers}`, dir, join(PEERS, 'usr/sbin/nginx'), ['-e', `${prefix}.error.log`, '-c', config]);
}

/** Sizes of the installer files: about those of Debian's netboot kernel and a small initrd. */
export const ASSET_BYTES = { 'bench/vmlinuz': 14 * 2 ** 20, 'bench/initrd.img': 30 * 2 ** 20 } as const;

/** Fills the run's assets dir with BENCH_PROFILE's kernel and initrd (random bytes), for the workloads that fetch them. */
export function benchAssets(dir: string): string {
  const assets = join(dir, 'assets');
  for (const [name, size] of Object.entries(ASSET_BYTES)) {
    const path = join(assets, name);
    if (existsSync(path)) continue;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, randomBytes(size));
  }
  return assets;
}

/** The API token metalbox wrote into its data dir, for the load generators that call the API. */
export function apiToken(dataDir: string): string {
  const token = readApiToken(dataDir);
  if (token === null) throw new Error(`no API token in ${dataDir}`);
  return token;
}

/** A profile that boots a kernel and initrd from --assets-dir, with the installer's callback. */
export const BENCH_PROFILE = {
  kernel: 'bench/vmlinuz',
  initrd: 'bench/initrd.img',
  cmdline: 'console=ttyS0 ip=dhcp mbx.mac={{ mac }} mbx.done={{ callbackUrl }}',
};

/** Unknown machines boot this one (boot.unknown discover): no callback, they have no record. */
export const DISCOVERY_PROFILE = {
  kernel: BENCH_PROFILE.kernel,
  initrd: BENCH_PROFILE.initrd,
  cmdline: 'console=ttyS0 ip=dhcp mbx.mac={{ mac }}',
};

export function scratchDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `metalbox-bench-${name}-`));
}

export function removeDir(dir: string): void {
  if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
}

export type Cell = string | number;

/** A workload's report: tables and notes, printed and appended to bench/RESULTS.md with the run's facts. */
export class Report {
  readonly #parts: string[] = [];

  constructor(
    readonly title: string,
    readonly commands: string[],
  ) {}

  table(headers: string[], rows: Cell[][]): void {
    const line = (cells: Cell[]) => `| ${cells.map((cell) => String(cell)).join(' | ')} |`;
    this.#parts.push([line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n'));
    process.stdout.write(`${this.#parts.at(-1)}\n\n`);
  }

  note(text: string): void {
    this.#parts.push(text);
    process.stdout.write(`${text}\n\n`);
  }

  /** Appends to bench/RESULTS.md, or in smoke runs to BENCH_RESULTS (default: a file in /tmp) to keep the record clean. */
  write(versions: Record<string, string>): void {
    const file = process.env.BENCH_RESULTS ?? (SMOKE ? join(tmpdir(), 'metalbox-bench-smoke.md') : join(ROOT, 'bench/RESULTS.md'));
    const facts = [
      `## ${this.title}${SMOKE ? ' (smoke size)' : ''}`,
      '',
      `- date: ${new Date().toISOString()}`,
      `- machine: ${machine()}`,
      `- versions: ${Object.entries({ metalbox: metalboxVersion(), node: process.version, ...versions })
        .map(([name, version]) => `${name} ${version}`)
        .join(', ')}`,
      `- commands:`,
      ...this.commands.map((command) => `  - \`${command}\``),
      '',
    ];
    appendFileSync(file, `${[...facts, ...this.#parts.flatMap((part) => [part, ''])].join('\n')}\n`);
    process.stdout.write(`(appended to ${file})\n`);
  }
}

function machine(): string {
  const cores = cpus();
  const rmem = readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim();
  return `${cores.length} × ${cores[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, rmem_max ${rmem}`;
}

function metalboxVersion(): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  let commit = '';
  try {
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    // A run of code that is not committed says so: its figures belong to no commit.
    const changed = git('status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/RESULTS.md') !== '';
    commit = ` (${git('rev-parse', '--short', 'HEAD')}${changed ? ' with uncommitted changes' : ''})`;
  } catch {
    // not a checkout
  }
  return `${pkg.version}${commit}`;
}

/** The first line a peer prints of its version, or what failed. */
export function versionOf(command: string, args: string[]): string {
  try {
    const out = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n')[0]!.trim();
  } catch (error) {
    const out = `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`.trim();
    return out.split('\n')[0] ?? 'unknown';
  }
}

/** Versions of the unpacked peers, as scripts/bench-deps recorded them. */
export function peerVersions(): Record<string, string> {
  const file = join(PEERS, 'VERSIONS');
  if (!existsSync(file)) return {};
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' ') as [string, string]),
  );
}

/** Runs a workload: network up, the body, network down whatever happens. */
export async function workload(name: string, body: (dir: string) => Promise<void>): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmarks create network namespaces: run them as root');
  const dir = scratchDir(name);
  createNetwork();
  try {
    await body(dir);
    removeDir(dir);
  } catch (error) {
    process.stderr.write(`bench ${name} failed; its files are in ${dir}\n`);
    throw error;
  } finally {
    // A workload that failed half-way leaves its servers and generators running: a stray
    // server would share the CPU with every later run.
    for (const child of started) child.kill('SIGKILL');
    destroyNetwork();
  }
}

export const fixed = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : '–');
