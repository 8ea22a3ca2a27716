import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IPMI_SIM, writeIpmiSim } from '../../lab/ipmi-sim.js';
import { tempDir } from '../helpers.js';

/**
 * OpenIPMI's ipmi_sim as a real IPMI 2.0 BMC on loopback (lab/ipmi-sim.ts writes its
 * setup): RMCP+ sessions with its own authentication, the chassis and LAN commands answered
 * by its emulator. What a BMC would do to hardware goes to a shell program that keeps the
 * power state and boot device in files, so a test reads what the BMC was told to do.
 */

export const haveIpmi = existsSync(IPMI_SIM) && spawnSync('ipmitool', ['-V']).status === 0;

export interface IpmiSimOptions {
  username?: string;
  password?: string;
  /** The BMC's own MAC on LAN channel 1. */
  mac?: string;
  /** Config text for the 16-byte GUID, 32 hex digits (ipmi_sim's `guid`). */
  guid?: string;
  fru?: { manufacturer: string; product: string; serial: string; partNumber?: string };
  power?: 'on' | 'off';
  /** The chassis refuses every boot device (its program fails), as a board that takes no EFI flag does. */
  refuseBoot?: boolean;
}

export interface IpmiSim {
  port: number;
  username: string;
  password: string;
  /** What the chassis hook holds now: power "0"/"1", boot device name. */
  power(): string;
  boot(): string;
  /** Every call of the chassis hook, in order ("set power 1", "get power"…). */
  chassisLog(): string[];
  stop(): void;
}

export async function startIpmiSim(t: { after(fn: () => unknown): void }, options: IpmiSimOptions = {}): Promise<IpmiSim> {
  const dir = tempDir(t, 'metalbox-ipmi-sim-');
  const username = options.username ?? 'admin';
  const password = options.password ?? 'lab-secret';
  const port = await freeUdpPort();
  writeFileSync(join(dir, 'power'), options.power === 'on' ? '1\n' : '0\n');
  writeFileSync(join(dir, 'boot'), 'default\n');
  const args = writeIpmiSim(dir, {
    address: '127.0.0.1',
    port,
    username,
    password,
    mac: options.mac ?? '52:54:00:12:34:56',
    guid: options.guid ?? '0123456789abcdef0123456789abcdef',
    fru: options.fru,
    // Power and boot device kept in files, each call logged.
    chassis: `dir=${JSON.stringify(dir)}
shift
op=$1; shift
echo "$op $*" >> "$dir/chassis.log"
if [ "$op" = get ]; then
  for name in "$@"; do
    case $name in power|boot) echo "$name:$(cat "$dir/$name")";; esac
  done
  exit 0
fi
while [ $# -ge 2 ]; do
  case $1 in ${options.refuseBoot ? 'boot) exit 1;; power' : 'power|boot'}) echo "$2" > "$dir/$1";; reset) ;; *) exit 1;; esac
  shift 2
done
`,
  });
  const child = spawn(IPMI_SIM, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  t.after(stop);
  await waitForListener(port, () => output);
  const read = (name: string) => readFileSync(join(dir, name), 'utf8').trim();
  return {
    port,
    username,
    password,
    power: () => read('power'),
    boot: () => read('boot'),
    chassisLog: () => (existsSync(join(dir, 'chassis.log')) ? read('chassis.log').split('\n') : []),
    stop,
  };
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** ipmi_sim binds its LAN port after reading its files: wait until /proc/net/udp lists it. */
async function waitForListener(port: number, output: () => string): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (let tries = 0; tries < 100; tries++) {
    if (readFileSync('/proc/net/udp', 'utf8').includes(`0100007F:${hex}`)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`ipmi_sim did not bind 127.0.0.1:${port}: ${output()}`);
}
