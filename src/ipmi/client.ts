import { spawn } from 'node:child_process';
import {
  type BootFlags,
  bootFlagsData,
  deviceIdOf,
  type FruIdentity,
  type IpmiFailure,
  macOf,
  powerStateOf,
  readBootFlags,
  readFailure,
  readFru,
  readRawBytes,
  systemGuidOf,
} from './replies.js';

/**
 * An IPMI 2.0 (RMCP+) client that drives Debian's ipmitool, one process per command
 * (docs/DEPENDENCIES.md says why ipmitool and not a protocol of metalbox's own). The
 * password never reaches a command line or the environment: ipmitool reads it with
 * `-f /dev/stdin` from a pipe, so neither `ps` nor /proc/<pid>/environ shows it. Commands are sent raw (netfn, command, data) and their bytes decoded in
 * replies.ts, so a BMC's completion code reaches the caller as a number.
 */

export class IpmiError extends Error {
  override readonly name = 'IpmiError';
  constructor(
    readonly failure: IpmiFailure,
    message: string,
    /** The completion code or RMCP+ status the BMC sent, when it sent one. */
    readonly code: number | null = null,
  ) {
    super(message);
  }
}

export interface IpmiTarget {
  host: string;
  port?: number | null;
  username: string;
  password: string;
}

export interface IpmiOptions {
  /** The RMCP+ cipher suites to try, in order: 17 (HMAC-SHA256, AES-128) where the BMC offers it, else 3 (HMAC-SHA1, AES-128). */
  cipherSuites: number[];
  /** ipmitool's -N: seconds before a request is sent again. */
  retransmitSeconds: number;
  /** ipmitool's -R: how many times a request is sent before giving up. */
  retries: number;
  /** The ipmitool binary (a path in tests). */
  command: string;
}

export const IPMI_DEFAULTS: IpmiOptions = { cipherSuites: [17, 3], retransmitSeconds: 2, retries: 3, command: 'ipmitool' };

export const IPMI_PORT = 623;

export type ChassisAction = 'off' | 'on' | 'cycle' | 'reset';
/** Chassis Control's data byte (IPMI 2.0 §28.3). */
const CHASSIS_CONTROL: Record<ChassisAction, number> = { off: 0x00, on: 0x01, cycle: 0x02, reset: 0x03 };

/** The LAN channels tried for the BMC's MAC: 1 on most BMCs, 2 on HPE iLO, 8 on some Intel boards. */
const LAN_CHANNELS = [1, 2, 3, 8] as const;

export class IpmiClient {
  readonly options: IpmiOptions;
  /** The cipher suite the BMC accepted, once one has. */
  #cipher: number | null = null;
  readonly #running = new Set<ReturnType<typeof spawn>>();

  constructor(
    readonly target: IpmiTarget,
    options: Partial<IpmiOptions> = {},
  ) {
    this.options = { ...IPMI_DEFAULTS, ...options };
  }

  get cipherSuite(): number | null {
    return this.#cipher;
  }

  /** Stops every command under way (its ipmitool is killed): a step past its deadline. */
  abort(): void {
    for (const child of this.#running) {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Ended already.
      }
    }
  }

  /** One raw command; the reply's data bytes (the completion code is checked by ipmitool). */
  async raw(netfn: number, command: number, data: readonly number[] = []): Promise<number[]> {
    const stdout = await this.#run(['raw', hex(netfn), hex(command), ...data.map(hex)]);
    try {
      return readRawBytes(stdout);
    } catch (error) {
      throw new IpmiError('protocol', (error as Error).message);
    }
  }

  async powerState(): Promise<'On' | 'Off'> {
    return this.#decode(await this.raw(0x00, 0x01), powerStateOf);
  }

  async chassisControl(action: ChassisAction): Promise<void> {
    await this.raw(0x00, 0x02, [CHASSIS_CONTROL[action]]);
  }

  /** A one-time boot from `device`, with the EFI flag for a machine that boots UEFI. */
  async setBootDevice(device: 'pxe' | 'disk' | 'cdrom', efi: boolean): Promise<void> {
    await this.raw(0x00, 0x08, [0x05, ...bootFlagsData(device, efi)]);
  }

  async bootFlags(): Promise<BootFlags> {
    return this.#decode(await this.raw(0x00, 0x09, [0x05, 0x00, 0x00]), readBootFlags);
  }

  async systemGuid(): Promise<string | null> {
    return systemGuidOf(await this.raw(0x06, 0x37));
  }

  async deviceId(): Promise<ReturnType<typeof deviceIdOf>> {
    return this.#decode(await this.raw(0x06, 0x01), deviceIdOf);
  }

  /** The BMC's own MAC, from the first LAN channel that has one; null when none answers. */
  async mac(): Promise<string | null> {
    for (const channel of LAN_CHANNELS) {
      try {
        const mac = macOf(await this.raw(0x0c, 0x02, [channel, 0x05, 0x00, 0x00]));
        if (mac !== null) return mac;
      } catch (error) {
        // A channel that is not LAN answers with a completion code; another failure ends the search.
        if (!(error instanceof IpmiError) || error.failure !== 'refused') throw error;
      }
    }
    return null;
  }

  /** The machine's identity from FRU device 0; empty fields when the BMC has no FRU 0. */
  async fru(): Promise<FruIdentity> {
    try {
      return readFru(await this.#run(['fru', 'print', '0']));
    } catch (error) {
      if (error instanceof IpmiError && error.failure === 'refused') return readFru('');
      throw error;
    }
  }

  #decode<T>(reply: number[], decode: (reply: number[]) => T): T {
    try {
      return decode(reply);
    } catch (error) {
      throw new IpmiError('protocol', (error as Error).message);
    }
  }

  /** Runs ipmitool with each cipher suite in turn until the BMC accepts one. */
  async #run(args: string[]): Promise<string> {
    const suites = this.#cipher !== null ? [this.#cipher] : this.options.cipherSuites;
    let refusal: IpmiError | null = null;
    for (const suite of suites) {
      try {
        const stdout = await this.#spawn(suite, args);
        this.#cipher = suite;
        return stdout;
      } catch (error) {
        if (!(error instanceof IpmiError) || error.failure !== 'cipher') throw error;
        refusal = error;
      }
    }
    throw new IpmiError(
      'auth',
      `the BMC accepts none of the cipher suites ${suites.join(', ')} (${refusal?.message ?? 'refused'})`,
      refusal?.code ?? null,
    );
  }

  #spawn(suite: number, args: string[]): Promise<string> {
    const { host, port, username, password } = this.target;
    const { retransmitSeconds, retries, command } = this.options;
    const argv = [
      ...['-I', 'lanplus', '-H', host, '-p', String(port ?? IPMI_PORT), '-U', username, '-f', '/dev/stdin'],
      ...['-C', String(suite), '-N', String(retransmitSeconds), '-R', String(retries), '-v'],
      ...args,
    ];
    return new Promise((resolve, reject) => {
      // Node's stdio "pipes" are socket pairs, which ipmitool cannot open as /dev/fd/N. A
      // shell reads the password line from one and hands it on through a real pipe; the
      // value stays in an unexported shell variable (printf is a builtin: no process, no argv).
      const child = spawn('sh', ['-c', 'IFS= read -r secret; printf %s "$secret" | "$0" "$@"', command, ...argv], {
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group, so a cancelled step stops ipmitool too, not only the shell.
        detached: true,
      });
      this.#running.add(child);
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let size = 0;
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        // A BMC cannot make metalbox hold more than this of one answer.
        size += chunk.length;
        if (size <= 1024 * 1024) into.push(chunk);
      };
      child.stdout!.on('data', collect(stdout));
      child.stderr!.on('data', collect(stderr));
      // ipmitool may exit before reading it (a bad argument): the pipe's EPIPE is not metalbox's error.
      child.stdin!.on('error', () => {});
      child.stdin!.end(`${password}\n`);
      child.on('error', (error) => {
        this.#running.delete(child);
        reject(new IpmiError('protocol', `sh: ${error.message}`));
      });
      child.on('close', (status, signal) => {
        this.#running.delete(child);
        const out = Buffer.concat(stdout).toString('utf8');
        if (status === 0) return resolve(out);
        if (signal !== null) return reject(new IpmiError('unreachable', `ipmitool stopped (${signal}): the step was cancelled`));
        // The shell's "command not found".
        if (status === 127)
          return reject(new IpmiError('missing-tool', `${command} is not installed (Debian package ipmitool): IPMI needs it`));
        // `fru print` reports a refused read on stdout, the rest goes to stderr.
        const reading = readFailure(`${Buffer.concat(stderr).toString('utf8')}\n${out}`);
        reject(new IpmiError(reading.failure, reading.message, reading.code));
      });
    });
  }
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}
