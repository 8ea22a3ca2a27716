/** Shared by the labs: commands, daemons and waiting, inside network namespaces the labs create. */
import { type AgentArch, buildAgentImage } from '../src/agent/build.js';
import { type MachineEventJson, prepareDataDir } from '../src/store/index.js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function sh(command: string, args: string[], options: { input?: string } = {}): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...options });
}
export const inNs = (ns: string, command: string, ...args: string[]) => sh('ip', ['netns', 'exec', ns, command, ...args]);

/** A long-running process in a namespace, its output in a log file. */
export function daemon(ns: string, log: string, command: string, args: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  const write = (chunk: Buffer) => {
    chunks.push(chunk.toString());
    writeFileSync(log, chunks.join(''));
  };
  child.stdout!.on('data', write);
  child.stderr!.on('data', write);
  return child;
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * QEMU (`vm.command`: qemu-system-x86_64 or -aarch64) with `vm.args` in the switch namespace `ns` (its log `<dir>/<name>.qemu.log`), added to
 * `children`: resolves with the seconds until it exits (the lab's guests power off when
 * done), or fails after `timeoutMs` with `logs()`.
 */
export function runVm(
  children: ChildProcess[],
  ns: string,
  dir: string,
  vm: { name: string; command: string; args: string[] },
  timeoutMs: number,
  logs: () => string,
): Promise<number> {
  const { name } = vm;
  const child = daemon(ns, join(dir, `${name}.qemu.log`), vm.command, vm.args);
  children.push(child);
  const started = Date.now();
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${name} VM did not power off within ${timeoutMs / 1000} s\n${logs()}`)), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done((Date.now() - started) / 1000);
    });
  });
}

/** The metalbox CLI of this build (dist/lab → dist/src/cli). */
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/**
 * `metalbox serve <args>` in namespace `ns`, its log in `<dir>/metalbox.log`, added to
 * `children` (so the lab's teardown stops it, served or not); resolves once it serves.
 */
export async function serveInNs(children: ChildProcess[], ns: string, dir: string, args: string[], logs: () => string): Promise<void> {
  const log = join(dir, 'metalbox.log');
  children.push(daemon(ns, log, process.execPath, [CLI, 'serve', ...args]));
  await waitFor('metalbox to serve', () => existsSync(log) && readFileSync(log, 'utf8').includes('serving on'), 20_000, logs);
}

/** Polls `probe` (sync or async) until it gives a truthy value, or fails after `timeoutMs` with `detail()`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  detail: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}\n${detail()}`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

/** Deletes the namespaces (and with them their veths, taps and bridges); missing ones are fine. */
export function deleteNamespaces(names: Iterable<string>): void {
  for (const ns of names) {
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {
      // not created
    }
  }
}

export interface LabRun {
  /** The run's files: logs, configs, the data dir. Removed after a pass unless LAB_KEEP is set. */
  dir: string;
  /** Daemons stopped, newest first, when the test ends. */
  children: ChildProcess[];
  passed(): void;
  /** The last lines of the named log files of the run, for failure messages. */
  tails(files: readonly string[], lines?: number): string;
}

/** A lab run's directory and teardown: stop the daemons, delete the namespaces, keep the files after a failure. */
export function labRun(t: { after(fn: () => Promise<void>): void }, prefix: string, namespaces: () => Iterable<string>): LabRun {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const children: ChildProcess[] = [];
  let passed = false;
  t.after(async () => {
    for (const child of children.reverse()) await stop(child);
    deleteNamespaces(namespaces());
    if (passed && !process.env.LAB_KEEP) rmSync(dir, { recursive: true, force: true });
    else console.log(`lab files kept in ${dir}`);
  });
  return {
    dir,
    children,
    passed: () => {
      passed = true;
    },
    tails: (files, lines = 40) =>
      files
        .map((file) => {
          const path = join(dir, file);
          return existsSync(path)
            ? `--- ${file} ---\n${readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n')}`
            : `--- ${file}: none ---`;
        })
        .join('\n'),
  };
}

/** One namespace on the segment: a veth from br0 (in the switch namespace) to its eth0. */
export interface SegmentPort {
  ns: string;
  /** The veth's name on the switch side. */
  port: string;
  address?: string | null;
  mac?: string | null;
  /** The interface's name in its namespace (eth0); a router joining two segments names its two. */
  ifname?: string;
}

/**
 * A private L2 segment: the switch namespace with bridge br0 (no STP delay, no multicast
 * snooping), each port's namespace linked to it, and tap devices for VMs. Every namespace
 * gets lo up and IPv6 off: the segments imitate IPv4-only provisioning networks (iPXE still
 * sends Router Solicitations and waits ~16 s for an answer that never comes).
 */
export function createSegment(switchNs: string, ports: readonly SegmentPort[], taps: readonly string[] = []): void {
  // A namespace on two segments (a relay, a router) is made by the first.
  const existing = new Set(
    sh('ip', ['netns', 'list'])
      .split('\n')
      .map((line) => line.split(' ')[0]),
  );
  for (const ns of new Set([switchNs, ...ports.map((port) => port.ns)])) {
    if (existing.has(ns)) continue;
    sh('ip', ['netns', 'add', ns]);
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    inNs(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  }
  sh('ip', ['-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
  sh('ip', ['-n', switchNs, 'link', 'set', 'br0', 'up']);
  for (const { ns, port, address, mac, ifname = 'eth0' } of ports) {
    sh('ip', ['-n', switchNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns]);
    sh('ip', ['-n', switchNs, 'link', 'set', port, 'master', 'br0', 'up']);
    if (mac) sh('ip', ['-n', ns, 'link', 'set', ifname, 'address', mac]);
    if (address) sh('ip', ['-n', ns, 'addr', 'add', address, 'dev', ifname]);
    sh('ip', ['-n', ns, 'link', 'set', ifname, 'up']);
  }
  for (const tap of taps) {
    sh('ip', ['-n', switchNs, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    sh('ip', ['-n', switchNs, 'link', 'set', tap, 'master', 'br0', 'up']);
  }
}

/**
 * A curl header file (`curl -H @file`) with the API token of `dataDir`: the token stays out
 * of every command line (ps). Written beside the data dir, 0600.
 */
export function apiHeader(dataDir: string): string {
  const file = join(dataDir, '..', 'api-header');
  writeFileSync(file, `Authorization: Bearer ${readFileSync(join(dataDir, 'api-token'), 'utf8').trim()}\n`, { mode: 0o600 });
  return file;
}

/**
 * The labs' stand-in for the site's ordinary DHCP server: dnsmasq's config for addresses
 * `<subnet>.100` to `.150` of a /24, with no router (unless `router`: a relayed segment's
 * clients reach metalbox through it), no DNS and no PXE (metalbox's ProxyDHCP does the
 * booting), written to `<dir>/dnsmasq.conf`; returns its path. `nextServer` names metalbox
 * as next-server (with shim's file) to the MACs given, as a site does for the GRUB path:
 * Debian's signed GRUB finds its TFTP server only in the site server's answer.
 */
export function siteDhcpConfig(
  dir: string,
  subnet: string,
  options: { nextServer?: ReadonlyArray<{ macs: readonly string[]; server: string; file: string }>; router?: string } = {},
): string {
  const { nextServer = [], router } = options;
  const path = join(dir, 'dnsmasq.conf');
  writeFileSync(
    path,
    [
      'port=0',
      'interface=eth0',
      'bind-interfaces',
      `dhcp-range=${subnet}.100,${subnet}.150,255.255.255.0,1h`,
      'dhcp-authoritative',
      // dnsmasq's ping check delays a first offer by ~3 s, which races EDK2's offer collection.
      'no-ping',
      `dhcp-option=3${router ? `,${router}` : ''}`,
      'dhcp-option=6',
      `dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`,
      'user=root',
      'log-dhcp',
      'log-facility=-',
      'no-resolv',
      'no-hosts',
      ...nextServer.flatMap(({ macs, server, file }, index) => [
        ...macs.map((mac) => `dhcp-host=${mac},set:next-server-${index}`),
        `dhcp-boot=tag:next-server-${index},${file},,${server}`,
      ]),
      '',
    ].join('\n'),
  );
  return path;
}

/** The host's one link into a lab's segment: a veth on the switch's bridge with a private address, no route beyond its subnet. */
export function addHostLink(link: string, switchNs: string, address: string): void {
  sh('ip', ['link', 'add', link, 'type', 'veth', 'peer', 'name', 'sw-host', 'netns', switchNs]);
  sh('ip', ['-n', switchNs, 'link', 'set', 'sw-host', 'master', 'br0', 'up']);
  sh('ip', ['addr', 'add', address, 'dev', link]);
  sh('ip', ['link', 'set', link, 'up']);
}

/** Waits until the lab's metalbox answers /healthz over the host link. */
export async function untilServing(serverUrl: string, timeoutMs: number, run: string): Promise<void> {
  await until('metalbox to serve', timeoutMs, async () => (await fetch(`${serverUrl}/healthz`).catch(() => null))?.ok === true, run);
}

/** A lab's failure in one line for the CLI, saying where the logs are. */
export class LabError extends Error {}

/** A lab's API client: plain fetch to the lab's metalbox. */
export class LabApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string | null,
  ) {}

  async get<T>(path: string): Promise<T> {
    const response = await fetch(`${this.baseUrl}${path}`, { headers: { authorization: `Bearer ${this.token}` } });
    if (!response.ok) throw new LabError(`GET ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
    });
    if (!response.ok) throw new LabError(`POST ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }
}

/** A machine's events, printed as they come, and waited on. */
export class Timeline {
  #after = 0;

  constructor(
    private readonly api: LabApi,
    private readonly machineId: string,
    private readonly print: (event: MachineEventJson) => void,
  ) {}

  /** From now on: the events already there (an earlier run's) are not printed. */
  async skipToNow(): Promise<void> {
    for (;;) {
      const page = await this.api.get<MachineEventJson[]>(`/api/v1/machines/${this.machineId}/events?after=${this.#after}&limit=1000`);
      this.#after = page.at(-1)?.id ?? this.#after;
      if (page.length < 1000) return;
    }
  }

  /** Prints events until one satisfies `done` (returned) or the deadline passes (null). */
  async until(deadlineMs: number, done: (event: MachineEventJson) => boolean, run: string): Promise<MachineEventJson | null> {
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline) {
      for (const event of await this.api.get<MachineEventJson[]>(
        `/api/v1/machines/${this.machineId}/events?after=${this.#after}&limit=1000`,
      )) {
        this.#after = event.id;
        this.print(event);
        if (done(event)) return event;
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    process.stdout.write(`  (no end within ${deadlineMs / 1000} s; logs in ${run})\n`);
    return null;
  }
}

/** waitFor, failing as a LabError that says where the logs are. */
export async function until(what: string, timeoutMs: number, probe: () => boolean | Promise<boolean>, run: string): Promise<void> {
  await waitFor(what, probe, timeoutMs).catch((error: Error) => {
    throw new LabError(`${error.message.trim()}; logs in ${run}`);
  });
}

/** Builds metalbox's agent image for `arch` (cached in .cache/agent for every lab) and puts it in `dataDir`, where serve finds it; its key. */
export function installAgentImage(dataDir: string, root: string, arch: AgentArch = 'amd64'): string {
  prepareDataDir(dataDir);
  const agent = buildAgentImage(join(root, '.cache/agent'), () => {}, arch);
  cpSync(agent.dir, join(dataDir, 'agent', basename(agent.dir)), { recursive: true });
  return basename(agent.dir);
}
