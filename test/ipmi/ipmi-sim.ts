import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';

/**
 * OpenIPMI's ipmi_sim (Debian package openipmi) as a real IPMI 2.0 BMC on loopback: RMCP+
 * sessions with its own authentication, the chassis and LAN commands answered by its
 * emulator. What a BMC would do to hardware goes to a shell program (ipmi_sim's
 * chassis_control and lan_config_program hooks) that keeps the power state and boot
 * device in files, so a test reads what the BMC was told to do.
 */

export const IPMI_SIM = '/usr/bin/ipmi_sim';
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
  mkdirSync(join(dir, 'state'));
  writeFileSync(join(dir, 'power'), options.power === 'on' ? '1\n' : '0\n');
  writeFileSync(join(dir, 'boot'), 'default\n');
  writeFileSync(
    join(dir, 'chassis'),
    `#!/bin/sh
# ipmi_sim's chassis_control hook: "<mc> get <name>..." prints name:value lines, "<mc> set <name> <value>..." keeps them.
dir=${JSON.stringify(dir)}
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
  case $1 in power|boot) echo "$2" > "$dir/$1";; reset) ;; *) exit 1;; esac
  shift 2
done
`,
  );
  const mac = options.mac ?? '52:54:00:12:34:56';
  writeFileSync(
    join(dir, 'lan'),
    `#!/bin/sh
# ipmi_sim's lan_config_program hook: the LAN parameters a real BMC reads from its NIC.
op=$1; shift
[ "$op" = get ] || exit 0
for name in "$@"; do
  case $name in
    mac_addr) echo "mac_addr:${mac}";;
    ip_addr) echo "ip_addr:127.0.0.1";;
    ip_addr_src) echo "ip_addr_src:static";;
    subnet_mask) echo "subnet_mask:255.0.0.0";;
    default_gw_ip_addr|backup_gw_ip_addr) echo "$name:0.0.0.0";;
    default_gw_mac_addr|backup_gw_mac_addr) echo "$name:00:00:00:00:00:00";;
  esac
done
`,
  );
  chmodSync(join(dir, 'chassis'), 0o755);
  chmodSync(join(dir, 'lan'), 0o755);
  writeFileSync(
    join(dir, 'lan.conf'),
    [
      'name "metalbox-test"',
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr 127.0.0.1 ${port}`,
      '    priv_limit admin',
      '    allowed_auths_callback none md5',
      '    allowed_auths_user md5',
      '    allowed_auths_operator md5',
      '    allowed_auths_admin md5',
      `    guid ${options.guid ?? '0123456789abcdef0123456789abcdef'}`,
      `    lan_config_program "${join(dir, 'lan')}"`,
      '  endlan',
      `  chassis_control "${join(dir, 'chassis')} 0x20"`,
      // ipmi_sim's names and passwords are one quoted word each: no spaces.
      `  user 2 true "${username}" "${password}" admin 10 none md2 md5 straight`,
      '',
    ].join('\n'),
  );
  const commands = ['mc_setbmc 0x20', 'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr', 'sel_enable 0x20 1000 0x0a'];
  if (options.fru) {
    const image = fruImage(options.fru);
    commands.push(`mc_add_fru_data 0x20 0 ${image.length} data ${[...image].map((byte) => `0x${byte.toString(16)}`).join(' ')}`);
  }
  commands.push('mc_enable 0x20');
  writeFileSync(join(dir, 'sim.emu'), `${commands.join('\n')}\n`);

  const child = spawn(IPMI_SIM, ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'sim.emu'), '-s', join(dir, 'state'), '-n'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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

/**
 * A FRU image with a product info area only (Platform Management FRU Information Storage
 * Definition v1.0 §8 and §11): common header, then manufacturer, product name, part number,
 * version, serial, asset tag and FRU file id as 8-bit ASCII type/length fields, the end
 * marker, padding to 8 bytes and a zero checksum.
 */
export function fruImage(fru: { manufacturer: string; product: string; serial: string; partNumber?: string }): Buffer {
  const field = (text: string) => Buffer.concat([Buffer.from([0xc0 | text.length]), Buffer.from(text, 'latin1')]);
  let area = Buffer.concat([
    Buffer.from([0x01, 0x00, 0x00]),
    field(fru.manufacturer),
    field(fru.product),
    field(fru.partNumber ?? ''),
    field('1.0'),
    field(fru.serial),
    field(''),
    field(''),
    Buffer.from([0xc1]),
  ]);
  const length = Math.ceil((area.length + 1) / 8) * 8;
  area = Buffer.concat([area, Buffer.alloc(length - area.length)]);
  area[1] = length / 8;
  area[length - 1] = checksum(area.subarray(0, length - 1));
  const header = Buffer.from([0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]);
  header[7] = checksum(header.subarray(0, 7));
  return Buffer.concat([header, area]);
}

function checksum(bytes: Uint8Array): number {
  return (0x100 - (bytes.reduce((sum, byte) => sum + byte, 0) & 0xff)) & 0xff;
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
