import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pathBetween } from '../src/lifecycle/lifecycle.js';
import type { InventoryInput, MachineEventJson, MachineJson, MachineState, Store } from '../src/store/index.js';
import { edk2Request4011 } from './dhcp-proxy/fixtures.js';

export const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** A fresh directory removed when the test ends. */
export function tempDir(t: { after(fn: () => void): void }, prefix = 'metalbox-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI as an operator would, without the caller's METALBOX_* variables. */
export function runCli(args: string[], env: Record<string, string> = {}, options: { uid?: number; gid?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface Serving {
  url: string;
  /** UDP ports of the ProxyDHCP responder, when it runs. */
  dhcpPort: number;
  pxePort: number;
  tftpPort: number;
  child: ChildProcess;
  log: () => string;
  /** fetch of a path of this server, with the API token of its data dir. */
  fetch: (path: string, init?: RequestInit) => Promise<Response>;
  /** Resolves with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Starts `metalbox serve` on a free port and waits for its "serving" log line. */
export function startServe(t: { after(fn: () => unknown): void }, args: string[], env: Record<string, string> = {}): Promise<Serving> {
  return new Promise((resolve, reject) => {
    // Ephemeral ports everywhere: a test never binds the host's real DHCP port.
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--listen', '127.0.0.1', '--http-port', '0', '--dhcp-port', '0', '--pxe-port', '0', '--tftp-port', '0', ...args],
      {
        env: cleanEnv(env),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    };
    t.after(() => stop('SIGKILL'));
    // A deadline against a hang, not a speed check: one start takes ~1.8 s on this machine's
    // two cores, and the mockup test starts ten at once (measured 12–15 s, old builds too).
    const timer = setTimeout(() => reject(new Error(`serve did not start in 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        const ports = /"proxyDhcp":\{"advertise":"[^"]+","dhcp":(\d+),"pxe":(\d+)\}/.exec(output);
        const tftp = /"tftp":\{"port":(\d+)/.exec(output);
        const url = match[1]!;
        const tokenFile = /"tokenFile":"([^"]+)"/.exec(output)![1]!;
        const authorized = (path: string, init: RequestInit = {}) =>
          fetch(`${url}${path}`, {
            ...init,
            headers: {
              ...(init.headers as Record<string, string> | undefined),
              authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`,
            },
          });
        resolve({
          url,
          dhcpPort: Number(ports?.[1] ?? 0),
          pxePort: Number(ports?.[2] ?? 0),
          tftpPort: Number(tftp?.[1] ?? 0),
          child,
          log: () => output,
          fetch: authorized,
          stop,
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before serving:\n${output}`));
    });
  });
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('METALBOX_')) env[key] = value;
  return { ...env, ...extra };
}

/**
 * A server as an inspection would record it. The expected JSON in the tests is written
 * out by hand from these values, never produced by the code under test.
 */
export function dl360Inventory(): InventoryInput {
  return {
    systemPath: '/redfish/v1/Systems/1',
    bmc: { model: 'iLO 5', firmware: '2.55', redfishVersion: '1.6.0', vendor: 'HPE' },
    power: 'On',
    system: {
      manufacturer: 'HPE',
      model: 'ProLiant DL360 Gen10 Plus',
      serial: 'CZJ1234ABC',
      uuid: '30363150-3530-584d-5131-303130303132',
      sku: 'P39999-B21',
      biosVersion: 'U46',
      powerState: 'On',
    },
    cpu: { count: 2, cores: 64, threads: 128, model: 'Intel(R) Xeon(R) Gold 6338' },
    memory: { totalGiB: 512, dimms: 16 },
    drives: [
      { name: 'NVMe 1', model: 'MZXL5960HBLA', serial: 'S6EXNA0T100001', capacityBytes: 960197124096, mediaType: 'SSD', protocol: 'NVMe' },
    ],
    nics: [
      { mac: 'B4:7A:F1:00:11:22', name: 'NIC.1.1', speedMbps: 25000, linkStatus: 'LinkUp' },
      { mac: 'b4-7a-f1-00-11-23', name: 'NIC.1.2', speedMbps: 25000, linkStatus: 'LinkDown' },
    ],
  };
}

/**
 * An assets dir under `dir` as the netboot tests serve it: lab/vmlinuz of `kernelBytes`
 * bytes (a pattern, so a shifted or truncated copy shows), lab/initrd.gz, and lab/escape, a
 * symlink to a file outside the dir that must never be served.
 */
export function labAssets(dir: string, kernelBytes: number): { assetsDir: string; kernel: Buffer } {
  const assetsDir = join(dir, 'assets');
  mkdirSync(join(assetsDir, 'lab'), { recursive: true });
  const kernel = Buffer.from(Array.from({ length: kernelBytes }, (_, index) => (index * 7) % 251));
  writeFileSync(join(assetsDir, 'lab', 'vmlinuz'), kernel);
  writeFileSync(join(assetsDir, 'lab', 'initrd.gz'), 'initrd bytes');
  writeFileSync(join(dir, 'secret'), 'outside the assets dir');
  symlinkSync(join(dir, 'secret'), join(assetsDir, 'lab', 'escape'));
  return { assetsDir, kernel };
}

/**
 * The machine record a profile template reads (the JSON of docs/contracts.md), netbooting,
 * whose BMC reported `serial`: by default one holding `$`, braces and a newline, which no
 * template may pass on as an iPXE setting or a new line.
 */
export function templateMachine(serial = 'CZJ$1{x}\nshell'): MachineJson {
  return {
    id: 'm-0000000000ab',
    state: 'netbooting',
    stateReason: null,
    power: 'On',
    bmc: null,
    system: { manufacturer: 'HPE', model: 'ProLiant', serial, uuid: null, sku: null, biosVersion: null, powerState: null },
    cpu: { count: 2, cores: 64, threads: 128, model: null },
    memory: { totalGiB: 512, dimms: 16 },
    drives: [],
    nics: [{ mac: 'b4:7a:f1:00:11:22', name: 'NIC.1.1', speedMbps: 25000, linkStatus: 'LinkUp' }],
    serverType: null,
    profile: 'debian',
    maintenance: false,
    warnings: [],
    createdAt: '2026-11-21T00:00:00.000Z',
    updatedAt: '2026-11-21T00:00:00.000Z',
  };
}

/**
 * A machine as onboarding and provisioning would leave it: enrolled with `bmcMac`, the DL360
 * inventory with `nicMac` as its only NIC, and, when asked, a profile and a state.
 */
export function seedMachine(
  store: Store,
  bmcMac: string,
  nicMac: string,
  options: { profile?: string; state?: MachineState } = {},
): string {
  const { id } = store.machines.enroll({ bmcMac });
  store.machines.recordInventory(
    id,
    { ...dl360Inventory(), nics: [{ mac: nicMac, name: 'NIC.1.1', speedMbps: null, linkStatus: null }] },
    { type: 'inventory', message: 'inspected' },
  );
  if (options.profile) store.machines.setProfile(id, options.profile, { type: 'profile', message: `profile ${options.profile}` });
  if (options.state) moveTo(store, id, options.state);
  return id;
}

/**
 * Moves a machine to `state` along the lifecycle's own moves (the store refuses any other),
 * the last with `event` and `reason`. Entering `preparing` starts an operation, as
 * `provision` does: installing machines' callback tokens are bound to it.
 */
export function moveTo(store: Store, id: string, state: MachineState, last: { message?: string; reason?: string | null } = {}): void {
  const path = pathBetween(store.machines.stateOf(id)!, state);
  if (path === null) throw new Error(`the lifecycle has no way to ${state}`);
  for (const [index, step] of path.entries()) {
    const final = index === path.length - 1;
    const event = { type: 'state', message: final && last.message !== undefined ? last.message : step };
    if (step === 'preparing') store.machines.startOperation(id, `op-seed-${id}`, [store.machines.stateOf(id)!], step, event);
    else store.machines.transition(id, step, final ? (last.reason ?? null) : null, event);
  }
}

/**
 * What a booting machine's firmware does before it fetches a script: EDK2's PXE request on
 * the ProxyDHCP's PXE port, sent from `from` with `mac` as chaddr (fixture from the lab's
 * OVMF). It tells metalbox that `from` is that NIC's address; waits until it was read.
 */
export async function claimAddress(serve: Serving, from: string, mac: string): Promise<Buffer | null> {
  const packet = Buffer.from(edk2Request4011);
  Buffer.from(from.split('.').map(Number)).copy(packet, 12); // ciaddr: the address it holds
  Buffer.from(mac.replace(/[:-]/g, ''), 'hex').copy(packet, 28);
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => socket.bind(0, from, resolve));
    // The ACK comes back when the MAC is a machine's; without one, a short wait is all there is.
    const answered = new Promise<Buffer>((resolve) => socket.once('message', resolve));
    await new Promise<void>((resolve, reject) =>
      socket.send(packet, serve.pxePort, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
    );
    return await Promise.race([answered, new Promise<null>((resolve) => setTimeout(() => resolve(null), 300))]);
  } finally {
    socket.close();
  }
}

/** A machine's events once `until` holds of them (boot events reach the store in batches), or as they are after 5 s. */
export async function eventsOf(serve: Serving, id: string, until: (events: MachineEventJson[]) => boolean): Promise<MachineEventJson[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const events = (await (await serve.fetch(`/api/v1/machines/${id}/events`)).json()) as MachineEventJson[];
    if (until(events) || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Whether user nobody can run the built CLI from where this checkout lives (a clone in a 0700 mktemp dir: no). */
export function nobodyCanRunCli(): boolean {
  let dir = CLI;
  do {
    dir = dirname(dir);
    if ((statSync(dir).mode & 0o001) === 0) return false;
  } while (dir !== '/');
  return true;
}

/** GET of a path from a chosen source address: fetch cannot pick one. */
export function getFrom(from: string, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress: from }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
