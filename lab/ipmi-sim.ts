/**
 * OpenIPMI's ipmi_sim (Debian package openipmi) set up as a server's BMC (lab and test code,
 * not product): a real IPMI 2.0 (RMCP+) implementation whose hardware is a program of ours.
 * ipmi_sim runs `chassis_control` for power and boot device ("<mc> get <name>..." prints
 * name:value lines; "<mc> set <name> <value>..." acts) and `lan_config_program` for the LAN
 * parameters a BMC reads from its NIC (its MAC). The test harness (test/ipmi/ipmi-sim.ts)
 * keeps power and boot in files; the lab's BMC (lab/bmc.ts) turns them into its QEMU VM's.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const IPMI_SIM = '/usr/bin/ipmi_sim';

export interface IpmiSimConfig {
  address: string;
  port: number;
  /** ipmi_sim's names and passwords are one quoted word each: no spaces. */
  username: string;
  password: string;
  /** The BMC's own MAC, answered on LAN channel 1. */
  mac: string;
  /** The 16-byte system GUID as sent on the wire (least significant byte first), 32 hex digits. */
  guid: string;
  fru?: { manufacturer: string; product: string; serial: string; partNumber?: string } | undefined;
  /** The chassis_control program's shell text (a script body; `$1` is the MC address). */
  chassis: string;
}

/** Writes ipmi_sim's config, command file, LAN program and chassis program into `dir`; returns ipmi_sim's arguments. */
export function writeIpmiSim(dir: string, config: IpmiSimConfig): string[] {
  mkdirSync(join(dir, 'state'), { recursive: true });
  const chassis = join(dir, 'chassis');
  const lan = join(dir, 'lan');
  writeFileSync(chassis, `#!/bin/sh\n${config.chassis}`);
  writeFileSync(
    lan,
    `#!/bin/sh
# ipmi_sim's lan_config_program: the LAN parameters a BMC reads from its NIC.
op=$1; shift
[ "$op" = get ] || exit 0
for name in "$@"; do
  case $name in
    mac_addr) echo "mac_addr:${config.mac}";;
    ip_addr) echo "ip_addr:${config.address}";;
    ip_addr_src) echo "ip_addr_src:dhcp";;
    subnet_mask) echo "subnet_mask:255.255.255.0";;
    default_gw_ip_addr|backup_gw_ip_addr) echo "$name:0.0.0.0";;
    default_gw_mac_addr|backup_gw_mac_addr) echo "$name:00:00:00:00:00:00";;
  esac
done
`,
  );
  chmodSync(chassis, 0o755);
  chmodSync(lan, 0o755);
  writeFileSync(
    join(dir, 'lan.conf'),
    [
      'name "metalbox-lab"',
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr ${config.address} ${config.port}`,
      '    priv_limit admin',
      '    allowed_auths_callback none md5',
      '    allowed_auths_user md5',
      '    allowed_auths_operator md5',
      '    allowed_auths_admin md5',
      `    guid ${config.guid}`,
      `    lan_config_program "${lan}"`,
      '  endlan',
      `  chassis_control "${chassis} 0x20"`,
      `  user 2 true "${config.username}" "${config.password}" admin 10 none md2 md5 straight`,
      '',
    ].join('\n'),
  );
  // A BMC (0x20), IPMI 2.0, firmware 9.08, MontaVista's IANA number (OpenIPMI's own), with SEL and FRU 0.
  const commands = ['mc_setbmc 0x20', 'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr', 'sel_enable 0x20 1000 0x0a'];
  if (config.fru) {
    const image = fruImage(config.fru);
    commands.push(`mc_add_fru_data 0x20 0 ${image.length} data ${[...image].map((byte) => `0x${byte.toString(16)}`).join(' ')}`);
  }
  commands.push('mc_enable 0x20');
  writeFileSync(join(dir, 'sim.emu'), `${commands.join('\n')}\n`);
  return ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'sim.emu'), '-s', join(dir, 'state'), '-n'];
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
