import { cleanText } from '../lib/text.js';

/**
 * What ipmitool prints, read back into values: the bytes of a raw reply, why a command
 * failed, the FRU as `fru print` lays it out, and the IPMI records metalbox uses (chassis
 * status, boot flags, the system GUID). Pure, so each rule is tested against text
 * ipmitool printed for ipmi_sim and for hostile input alike.
 */

/** Why an IPMI exchange failed; onboarding maps these to auth_failed, bmc_unreachable and inspect_failed. */
export type IpmiFailure =
  | 'auth' // the session was refused: wrong name, wrong password, or a privilege the user lacks
  | 'cipher' // the BMC does not offer the cipher suite asked for (another may do)
  | 'unreachable' // no answer in time
  | 'refused' // the BMC answered the command with a completion code other than 0
  | 'protocol' // anything else ipmitool reported
  | 'missing-tool'; // ipmitool is not installed

export interface FailureReading {
  failure: IpmiFailure;
  /** The BMC's completion code (a command) or RMCP+ status (a session), when it sent one. */
  code: number | null;
  message: string;
}

/**
 * Reads ipmitool's error output (run with -v). The lines it prints for each kind of failure,
 * as ipmitool 1.8.19 (Debian 12) words them:
 *  - a command refused: `Unable to send RAW command (… rsp=0xcc): Invalid data field in request`
 *  - RMCP+ open session refused: `Error in open session response message : invalid authentication algorithm`
 *  - RAKP 2 with an error status: `RAKP 2 message indicates an error : unauthorized name`
 *  - RAKP 2 signed with another key: `RAKP 2 HMAC is invalid` (the BMC cannot say "wrong
 *    password": it signs RAKP 2 with the password it holds, and ipmitool's check fails)
 *  - nothing came back: `No response from remote controller` / `Get Auth Capabilities error`
 */
export function readFailure(stderr: string): FailureReading {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const find = (pattern: RegExp) => lines.map((line) => pattern.exec(line)).find((match) => match !== null) ?? null;

  const completion = find(/rsp=0x([0-9a-f]{2})\)\s*:?\s*(.*)$/i);
  if (completion !== null)
    return { failure: 'refused', code: Number.parseInt(completion[1]!, 16), message: clip(completion[2]) || 'refused' };
  // `fru print` words a refused FRU read this way, without the code.
  const absent = find(/Device not present \((.*)\)/i);
  if (absent !== null) return { failure: 'refused', code: null, message: `device not present: ${clip(absent[1])}` };
  const openSession = find(/open session response message\s*:\s*(.*)$/i);
  if (openSession !== null) {
    const reason = clip(openSession[1]);
    // RMCP+ status codes 0x11–0x13 and 0x0e: the suite asked for is not one the BMC has.
    const cipher = /algorithm|cipher suite/i.test(reason);
    return { failure: cipher ? 'cipher' : 'auth', code: rmcpStatusCode(reason), message: `open session refused: ${reason}` };
  }
  const rakp = find(/RAKP \d message indicates an error\s*:\s*(.*)$/i);
  if (rakp !== null) {
    const reason = clip(rakp[1]);
    return { failure: 'auth', code: rmcpStatusCode(reason), message: `session refused: ${reason}` };
  }
  if (lines.some((line) => /RAKP \d HMAC is invalid/i.test(line)))
    return {
      failure: 'auth',
      code: null,
      message: 'the password is wrong (the BMC signed its RAKP 2 answer with another key)',
    };
  if (
    lines.some((line) => /no response from remote controller|get auth capabilities error|unable to get channel cipher suites/i.test(line))
  )
    return { failure: 'unreachable', code: null, message: 'no answer from the BMC' };
  if (lines.some((line) => /insufficient privilege|privilege level/i.test(line)))
    return { failure: 'auth', code: null, message: clip(lines.find((line) => /privilege/i.test(line))) };
  const error = lines.filter((line) => !/^(Loading IANA|Running Get|Discovered IPMB|RAW REQ|\s*[0-9a-f]{2}( |$))/i.test(line));
  if (error.some((line) => /unable to establish/i.test(line)))
    return { failure: 'unreachable', code: null, message: 'no IPMI v2 / RMCP+ session could be established' };
  return { failure: 'protocol', code: null, message: clip(error.at(-1)) || 'ipmitool failed without saying why' };
}

/** The RMCP+ status codes ipmitool names (IPMI 2.0 table 13-15), back to their numbers. */
const RMCP_STATUS: Record<string, number> = {
  'insufficient resources to create a session': 0x01,
  'invalid session id': 0x02,
  'invalid payload type': 0x03,
  'invalid authentication algorithm': 0x04,
  'invalid integrity algorithm': 0x05,
  'no matching authentication payload': 0x06,
  'no matching integrity payload': 0x07,
  'inactive session id': 0x08,
  'invalid role': 0x09,
  'unauthorized role or privilege level requested': 0x0a,
  'insufficient resources to create a session at the requested role': 0x0b,
  'invalid name length': 0x0c,
  'unauthorized name': 0x0d,
  'unauthorized guid': 0x0e,
  'invalid integrity check value': 0x0f,
  'invalid confidentiality algorithm': 0x10,
  'no cipher suite match with proposed security algorithms': 0x11,
  'illegal or unrecognized parameter': 0x12,
};

function rmcpStatusCode(reason: string): number | null {
  return RMCP_STATUS[reason.toLowerCase()] ?? null;
}

/** ipmitool's words, bounded and without control characters: they reach the machine's events. */
function clip(text: string | undefined): string {
  return cleanText(text ?? '')?.slice(0, 200) ?? '';
}

/** The bytes of `ipmitool raw`'s answer: hex pairs over one or more lines. */
export function readRawBytes(stdout: string): number[] {
  const bytes: number[] = [];
  for (const token of stdout.split(/\s+/)) {
    if (token === '') continue;
    if (!/^[0-9a-f]{2}$/i.test(token)) throw new Error(`not a byte in ipmitool's raw answer: ${JSON.stringify(token.slice(0, 20))}`);
    bytes.push(Number.parseInt(token, 16));
  }
  return bytes;
}

/** Get Chassis Status (IPMI 2.0 §28.2): byte 1 bit 0 is "power is on". */
export function powerStateOf(reply: readonly number[]): 'On' | 'Off' {
  if (reply.length < 1) throw new Error('a Get Chassis Status answer without its power byte');
  return (reply[0]! & 0x01) === 1 ? 'On' : 'Off';
}

export type BootDevice = 'none' | 'pxe' | 'disk' | 'cdrom' | 'bios' | 'other';

/** Boot device selector values of boot flags byte 2, bits 5:2 (IPMI 2.0 table 28-14). */
const DEVICE_SELECTOR: Record<number, BootDevice> = { 0: 'none', 1: 'pxe', 2: 'disk', 5: 'cdrom', 6: 'bios' };
const SELECTOR_OF: Record<'pxe' | 'disk' | 'cdrom', number> = { pxe: 0x1, disk: 0x2, cdrom: 0x5 };

export interface BootFlags {
  valid: boolean;
  persistent: boolean;
  efi: boolean;
  device: BootDevice;
}

/**
 * The data of Set System Boot Options parameter 5 (boot flags) for a one-time boot:
 * byte 1 valid (bit 7), next boot only (bit 6 clear), EFI (bit 5) when the machine boots
 * UEFI; byte 2 the device; bytes 3–5 zero (no BIOS overrides).
 */
export function bootFlagsData(device: 'pxe' | 'disk' | 'cdrom', efi: boolean): number[] {
  return [0x80 | (efi ? 0x20 : 0), SELECTOR_OF[device] << 2, 0, 0, 0];
}

/** Get System Boot Options parameter 5: version byte, parameter byte, then the five flag bytes. */
export function readBootFlags(reply: readonly number[]): BootFlags {
  if (reply.length < 4 || (reply[1]! & 0x7f) !== 5) throw new Error('not a boot flags (parameter 5) answer');
  const flags = reply[2]!;
  return {
    valid: (flags & 0x80) !== 0,
    persistent: (flags & 0x40) !== 0,
    efi: (flags & 0x20) !== 0,
    device: DEVICE_SELECTOR[(reply[3]! >> 2) & 0x0f] ?? 'other',
  };
}

/**
 * Get System GUID (App 0x37) as a UUID string. IPMI sends the GUID least significant byte
 * first (IPMI 2.0 §20.8 and its GUID format note), so the text form is the bytes reversed,
 * as ipmitool's `mc guid` prints it. Null for all zeros or all ones: no GUID set.
 */
export function systemGuidOf(reply: readonly number[]): string | null {
  if (reply.length !== 16) return null;
  if (reply.every((byte) => byte === 0) || reply.every((byte) => byte === 0xff)) return null;
  const hex = [...reply]
    .reverse()
    .map((byte) => byte.toString(16).padStart(2, '0'))
    .join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Get LAN Configuration Parameters, parameter 5 (MAC address): revision byte, then six bytes. */
export function macOf(reply: readonly number[]): string | null {
  if (reply.length < 7) return null;
  const mac = reply.slice(1, 7);
  if (mac.every((byte) => byte === 0) || mac.every((byte) => byte === 0xff)) return null;
  return mac.map((byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/** Get Device ID (App 0x01): the firmware revision, the IPMI version and the manufacturer's IANA number. */
export function deviceIdOf(reply: readonly number[]): { firmware: string; ipmiVersion: string; manufacturerId: number } {
  if (reply.length < 11) throw new Error('a Get Device ID answer shorter than 11 bytes');
  const minor = reply[3]!;
  return {
    firmware: `${reply[2]! & 0x7f}.${((minor >> 4) & 0x0f).toString()}${(minor & 0x0f).toString()}`,
    ipmiVersion: `${reply[4]! & 0x0f}.${(reply[4]! >> 4) & 0x0f}`,
    manufacturerId: reply[6]! | (reply[7]! << 8) | ((reply[8]! & 0x0f) << 16),
  };
}

export interface FruIdentity {
  manufacturer: string | null;
  model: string | null;
  serial: string | null;
  partNumber: string | null;
}

/**
 * The machine's identity from `ipmitool fru print 0`: the product area first (what the
 * vendor sells), the board's where the product area lacks a field, the chassis serial last.
 * Values are cleaned and bounded like every string a BMC sends.
 */
export function readFru(text: string): FruIdentity {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z][A-Za-z ]{1,40}?)\s*:\s?(.*)$/.exec(line);
    if (match === null) continue;
    const key = match[1]!.trim().toLowerCase();
    if (!fields.has(key)) fields.set(key, match[2]!);
  }
  const first = (...keys: string[]) => {
    for (const key of keys) {
      const value = cleanText(fields.get(key))?.slice(0, 255);
      if (value) return value;
    }
    return null;
  };
  return {
    manufacturer: first('product manufacturer', 'board mfg'),
    model: first('product name', 'board product'),
    serial: first('product serial', 'board serial', 'chassis serial'),
    partNumber: first('product part number', 'board part number', 'chassis part number'),
  };
}
