import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodePacket, encodePacket, Option } from '../../src/dhcp-proxy/codec.js';
import { ProxyDhcpHandler } from '../../src/dhcp-proxy/responder.js';
import { readPcapUdp } from './pcap.js';

/**
 * DHCP traffic captured on the lab's bridge (npm run test:lab with LAB_CAPTURE=1): QEMU's
 * iPXE BIOS ROM, OVMF's EDK2 PXE client, snponly.efi's iPXE, busybox udhcpc in the guests,
 * dnsmasq as the site server, and metalbox's answers, which both firmwares booted from.
 */
const capture = readPcapUdp(fileURLToPath(new URL('../../../test/dhcp-proxy/captures/lab-bios-uefi.pcap', import.meta.url)));
const BIOS = '52:54:00:77:00:b1';
const UEFI = '52:54:00:77:00:e1';

const summary = (payload: Buffer) => {
  const packet = decodePacket(payload);
  return {
    packet,
    type: packet.options.get(Option.MESSAGE_TYPE)?.[0],
    mac: [...packet.chaddr.subarray(0, 6)].map((byte) => byte.toString(16).padStart(2, '0')).join(':'),
    vendor: packet.options.get(Option.VENDOR_CLASS)?.toString() ?? '',
  };
};

test('every captured packet decodes and re-encodes to the same bytes', () => {
  assert.equal(capture.length, 25);
  for (const { payload, from } of capture) {
    assert.equal(encodePacket(decodePacket(payload), { minLength: payload.length }).toString('hex'), payload.toString('hex'), from);
  }
});

test('the captured clients get the answers the lab booted with; others get silence', () => {
  const h = new ProxyDhcpHandler(
    { serverIp: '10.77.0.1', httpBase: 'http://10.77.0.1:8080', uefiBinary: 'snponly.efi', grub: new Set() },
    (mac) => (mac === BIOS || mac === UEFI ? { loader: 'ipxe' } : null),
  );
  const answers: string[] = [];
  for (const { from, to, payload } of capture) {
    const [address, port] = from.split(':');
    const listener = to.endsWith(':4011') ? 'pxe' : 'dhcp';
    const reply = h.handle(payload, listener, { address: address!, port: Number(port) });
    const { type, mac, vendor } = summary(payload);
    if (reply === null) continue;
    const answer = decodePacket(reply.bytes);
    assert.equal(answer.yiaddr, '0.0.0.0', 'never an address');
    assert.equal(answer.siaddr, '10.77.0.1', 'always siaddr (2019 iPXE drops proxy offers without it)');
    assert.deepEqual([...answer.options.get(Option.SERVER_ID)!], [10, 77, 0, 1]);
    answers.push(`${mac} ${type} ${vendor} -> ${answer.file} to ${reply.destination.address}:${reply.destination.port}`);
  }
  assert.deepEqual(answers, [
    `${BIOS} 1 PXEClient:Arch:00000:UNDI:002001 -> http://10.77.0.1:8080/boot.ipxe to 255.255.255.255:68`, // QEMU's iPXE ROM
    `${UEFI} 1 PXEClient:Arch:00007:UNDI:003000 -> snponly.efi to 255.255.255.255:68`, // EDK2
    `${UEFI} 3 PXEClient:Arch:00007:UNDI:003000 -> snponly.efi to 10.77.0.120:4011`, // EDK2 asks again on 4011
    `${UEFI} 1 PXEClient:Arch:00007:UNDI:003010 -> http://10.77.0.1:8080/boot.ipxe to 255.255.255.255:68`, // snponly.efi's iPXE
  ]);
  // REQUESTs to the site server on 67, dnsmasq's and our own replies, udhcpc: no answer.
  assert.deepEqual(Object.fromEntries(h.drops), { 'not-for-listener': 3, 'not-a-request': 14, 'not-pxe-vendor': 4 });
});

test("metalbox's captured offers and ACK have the shapes of docs/netboot.md", () => {
  const ours = capture.filter(({ from }) => from.startsWith('10.77.0.1:')).map(({ payload, to }) => ({ to, ...summary(payload) }));
  assert.equal(ours.length, 4);
  for (const { packet, vendor, mac } of ours) {
    assert.equal(vendor, 'PXEClient');
    // BIOS (arch 0) gets discovery control 8, as dnsmasq sends it too; UEFI never gets 43.
    assert.equal(packet.options.get(Option.VENDOR_SPECIFIC)?.toString('hex'), mac === BIOS ? '060108ff' : undefined, mac);
  }
  const ack = ours.find(({ to }) => to === '10.77.0.120:4011')!;
  assert.equal(ack.type, 5);
  assert.equal(ack.packet.file, 'snponly.efi');
});
