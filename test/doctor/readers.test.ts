import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodePacket, MessageType, Option, type DhcpPacket } from '../../src/dhcp-proxy/codec.js';
import { blockedPorts } from '../../src/doctor/firewall.js';
import { socketsOnPort } from '../../src/doctor/port-holders.js';
import { readAnswer } from '../../src/doctor/pxe-probe.js';

test('/proc/net tables: the sockets on a port, TCP only when listening', () => {
  // The shape of /proc/net/udp and /proc/net/tcp on Linux 6.x (columns cut after the inode).
  const udp = [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  100: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41234 2 0000000000000000 0',
    '  200: 0100007F:0045 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41240 2 0000000000000000 0',
  ].join('\n');
  assert.deepEqual(socketsOnPort(udp, 'udp', 67), [{ protocol: 'udp', port: 67, inode: 41234 }]); // 0x43
  assert.deepEqual(socketsOnPort(udp, 'udp', 69), [{ protocol: 'udp', port: 69, inode: 41240 }]); // 0x45
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5001 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:1F90 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000     0        0 5002 1 0000000000000000 20 4 30 10 -1',
  ].join('\n');
  assert.deepEqual(
    socketsOnPort(tcp, 'tcp', 8080),
    [{ protocol: 'tcp', port: 8080, inode: 5001 }],
    'the established connection is not a holder',
  );
});

test('nftables: the first rule naming a port decides, sets and ranges count, th matches any protocol, a drop policy catches the rest', () => {
  const ruleset = `table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		udp dport { 67, 4011 } accept
		th dport 60-70 drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
	}
}
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
	}
}`;
  const served = [
    { protocol: 'udp' as const, port: 67 },
    { protocol: 'udp' as const, port: 4011 },
    { protocol: 'udp' as const, port: 69 },
    { protocol: 'tcp' as const, port: 8080 },
  ];
  assert.deepEqual(blockedPorts(ruleset, served), [
    { protocol: 'udp', port: 69, by: 'inet filter input: th dport 60-70 drop' },
    { protocol: 'tcp', port: 8080, by: 'inet filter input: policy drop, and no rule names tcp 8080' },
  ]);
  assert.deepEqual(blockedPorts('', served), [], 'no ruleset, nothing dropped');
  assert.deepEqual(
    blockedPorts(
      'table inet f {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp dport 67 drop\n\t}\n}',
      served,
    ),
    [],
    'a TCP rule does not drop UDP 67',
  );
});

test('probe answers: a plain DHCP offer, a PXE server handing out a boot file, a ProxyDHCP; other transactions ignored', () => {
  const XID = 0x1234abcd;
  const offer = (more: Partial<DhcpPacket>, options: Array<[number, Buffer]> = []): Buffer =>
    encodePacket({
      op: 2,
      htype: 1,
      hlen: 6,
      hops: 0,
      xid: XID,
      secs: 0,
      flags: 0x8000,
      ciaddr: '0.0.0.0',
      yiaddr: '10.99.7.120',
      siaddr: '0.0.0.0',
      giaddr: '0.0.0.0',
      chaddr: Buffer.alloc(16),
      sname: '',
      file: '',
      options: new Map([
        [Option.MESSAGE_TYPE, Buffer.from([MessageType.OFFER])],
        [Option.SERVER_ID, Buffer.from([10, 99, 7, 2])],
        ...options,
      ]),
      ...more,
    });
  assert.deepEqual(readAnswer(offer({}), XID), { server: '10.99.7.2', offersAddress: true, nextServer: null, bootFile: null, pxe: false });
  assert.deepEqual(readAnswer(offer({ siaddr: '10.99.7.2', file: 'pxelinux.0' }), XID), {
    server: '10.99.7.2',
    offersAddress: true,
    nextServer: '10.99.7.2',
    bootFile: 'pxelinux.0',
    pxe: true,
  });
  // A ProxyDHCP: no address, vendor class PXEClient, the boot file in option 67.
  assert.deepEqual(
    readAnswer(
      offer({ yiaddr: '0.0.0.0' }, [
        [Option.VENDOR_CLASS, Buffer.from('PXEClient')],
        [Option.BOOTFILE, Buffer.from('undionly.kpxe\0')],
      ]),
      XID,
    ),
    { server: '10.99.7.2', offersAddress: false, nextServer: null, bootFile: 'undionly.kpxe', pxe: true },
  );
  assert.equal(readAnswer(offer({}), XID + 1), null, 'another transaction');
  assert.equal(readAnswer(Buffer.from('not dhcp'), XID), null);
});
