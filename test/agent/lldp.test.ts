import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeLldpFrame } from '../../src/agent/lldp.js';

/** Ethernet to the LLDP multicast address from a switch port's MAC, ethertype 0x88cc. */
const HEADER = '0180c200000e' + '001c73aabbcc' + '88cc';
/** A TLV: 7 bits of type and 9 of length, then the value (hex). */
const tlv = (type: number, value: string) => ((type << 9) | (value.length / 2)).toString(16).padStart(4, '0') + value;
const ascii = (text: string) => Buffer.from(text, 'latin1').toString('hex');
const CHASSIS_MAC = tlv(1, '04' + '001c73aabbcc');
const PORT_NAME = tlv(2, `05${ascii('Ethernet7')}`);
const TTL = tlv(3, '0078');

test('addresses: a chassis ID given as an IPv4 address, management addresses of both families', () => {
  const frame =
    HEADER +
    tlv(1, '05' + '01' + 'c0000201') + // network address, family 1: 192.0.2.1
    PORT_NAME +
    TTL +
    // address string of 17 (subtype + 16), family 2, 2001:db8::12, ifIndex numbering 7, no OID
    tlv(8, '11' + '02' + '20010db8000000000000000000000012' + '02' + '00000007' + '00') +
    tlv(8, '05' + '01' + '0a000c02' + '02' + '00000007' + '00') +
    tlv(0, '');
  assert.deepEqual(decodeLldpFrame(frame), {
    chassisId: '192.0.2.1',
    chassisIdSubtype: 'address',
    portId: 'Ethernet7',
    portIdSubtype: 'interface-name',
    portDescription: null,
    systemName: null,
    systemDescription: null,
    managementAddresses: ['2001:db8::12', '10.0.12.2'],
    vlan: null,
  });
});

test('text is bounded and loses control characters; tcpdump-style spacing is accepted', () => {
  // A 300-byte system name (the TLV allows 511): the first 255 bytes are kept.
  const long = 'x'.repeat(300);
  const spaced = `${HEADER}${CHASSIS_MAC}${PORT_NAME}${TTL}${tlv(5, ascii(long))}${tlv(4, ascii('\u001b[31mred\u001b[0m'))}`.replace(
    /(.{4})/g,
    '$1 ',
  );
  const decoded = decodeLldpFrame(spaced);
  assert.ok(typeof decoded !== 'string', String(decoded));
  assert.equal(decoded.systemName, 'x'.repeat(255));
  assert.equal(decoded.portDescription, '[31mred[0m');
});

test('frames that are not a neighbour: each refused with its reason, never a partial one', () => {
  const cases: Array<[string, string, ReturnType<typeof decodeLldpFrame>]> = [
    ['odd number of digits', `${HEADER}0`, 'not-hex'],
    ['not hex at all', 'hello, switch', 'not-hex'],
    ['larger than a jumbo frame', '00'.repeat(9217), 'not-hex'],
    ['shorter than an Ethernet header', '0180c200000e001c73aa', 'too-short'],
    ['IPv4, not LLDP', `0180c200000e001c73aabbcc0800${CHASSIS_MAC}`, 'not-lldp'],
    ['a VLAN tag, then IPv4', `0180c200000e001c73aabbcc810000640800${CHASSIS_MAC}`, 'not-lldp'],
    // The system name says 9 bytes; 4 follow.
    ['a TLV longer than the frame', `${HEADER}${CHASSIS_MAC}${PORT_NAME}${TTL}0a09${ascii('leaf')}`, 'tlv-overruns-frame'],
    ['no chassis ID', `${HEADER}${PORT_NAME}${TTL}`, 'missing-chassis-id'],
    ['no port ID', `${HEADER}${CHASSIS_MAC}${TTL}`, 'missing-port-id'],
    ['no TTL', `${HEADER}${CHASSIS_MAC}${PORT_NAME}`, 'missing-ttl'],
    ['a MAC chassis ID of five bytes', `${HEADER}${tlv(1, '04001c73aabb')}${PORT_NAME}${TTL}`, 'bad-id'],
    ['an ID subtype 0 (reserved)', `${HEADER}${tlv(1, `00${ascii('x')}`)}${PORT_NAME}${TTL}`, 'bad-id'],
    ['an interface name of control characters only', `${HEADER}${CHASSIS_MAC}${tlv(2, '050708')}${TTL}`, 'bad-id'],
  ];
  for (const [what, frame, expected] of cases) assert.equal(decodeLldpFrame(frame), expected, what);
});

test('TLVs after the end TLV are not read, and a port VLAN of 0 is no VLAN', () => {
  const frame = `${HEADER}${CHASSIS_MAC}${PORT_NAME}${TTL}${tlv(127, '0080c2010000')}${tlv(0, '')}${tlv(5, ascii('after-the-end'))}`;
  const decoded = decodeLldpFrame(frame);
  assert.ok(typeof decoded !== 'string', String(decoded));
  assert.equal(decoded.systemName, null);
  assert.equal(decoded.vlan, null);
});
