import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodePacket, encodePacket, Option, type DhcpPacket } from '../../src/dhcp-proxy/codec.js';
import { ProxyDhcpHandler, type ResponderSettings } from '../../src/dhcp-proxy/responder.js';
import type { Loader, LoaderChoice } from '../../src/profiles/profiles.js';
import { EDK2_UUID, edk2Discover, edk2Request4011, ipxeBiosDiscover } from './fixtures.js';

const SETTINGS: ResponderSettings = {
  serverIp: '192.0.2.1',
  httpBase: 'http://192.0.2.1:8080',
  uefiBinary: 'snponly.efi',
  grub: new Set(['x64', 'arm64']),
};
const CLIENT = { address: '0.0.0.0', port: 68 };

function handler(
  known: string[] = ['52:54:00:77:00:e1', '52:54:00:77:00:b1'],
  settings = SETTINGS,
  loader: Loader | LoaderChoice = 'ipxe',
) {
  const snooped: string[] = [];
  const choice = typeof loader === 'string' ? { loader } : loader;
  const h = new ProxyDhcpHandler(
    settings,
    (mac) => (known.includes(mac) ? choice : null),
    (packet) => snooped.push(packet.xid.toString(16)),
  );
  return { h, snooped };
}

/** A copy of a fixture with some options changed (undefined removes one). */
function variant(bytes: Buffer, changes: Record<number, string | undefined>, header: Partial<DhcpPacket> = {}): Buffer {
  const packet = { ...decodePacket(bytes), ...header };
  for (const [code, hex] of Object.entries(changes)) {
    if (hex === undefined) packet.options.delete(Number(code));
    else packet.options.set(Number(code), Buffer.from(hex, 'hex'));
  }
  return encodePacket(packet);
}

const hex = (packet: DhcpPacket, code: number) => packet.options.get(code)?.toString('hex');

test('UEFI PXE DISCOVER: broadcast offer, no option 43, no address, snponly.efi', () => {
  const { h } = handler();
  const reply = h.handle(edk2Discover, 'dhcp', CLIENT)!;
  assert.ok(reply);
  assert.deepEqual(reply.destination, { address: '255.255.255.255', port: 68 });
  const offer = decodePacket(reply.bytes);
  assert.equal(offer.op, 2);
  assert.equal(offer.xid, 0x1c0ffee1);
  assert.equal(offer.flags, 0x8000);
  assert.equal(offer.yiaddr, '0.0.0.0');
  assert.equal(offer.ciaddr, '0.0.0.0');
  assert.equal(offer.siaddr, '192.0.2.1');
  assert.equal(offer.sname, '192.0.2.1');
  assert.equal(offer.file, 'snponly.efi');
  assert.equal(offer.chaddr.subarray(0, 6).toString('hex'), '5254007700e1');
  assert.equal(hex(offer, Option.MESSAGE_TYPE), '02');
  assert.equal(hex(offer, Option.SERVER_ID), 'c0000201');
  assert.equal(offer.options.get(Option.VENDOR_CLASS)!.toString(), 'PXEClient');
  assert.equal(offer.options.has(Option.VENDOR_SPECIFIC), false);
  assert.equal(hex(offer, Option.CLIENT_UUID), EDK2_UUID);
  assert.equal(reply.client.firmware, 'uefi');
});

test('UEFI REQUEST on 4011: ACK unicast to the source address and port; ipxe.efi selectable', () => {
  const source = { address: '10.77.0.101', port: 4011 };
  for (const uefiBinary of ['snponly.efi', 'ipxe.efi'] as const) {
    const { h } = handler(undefined, { ...SETTINGS, uefiBinary });
    const reply = h.handle(edk2Request4011, 'pxe', source)!;
    assert.deepEqual(reply.destination, source);
    const ack = decodePacket(reply.bytes);
    assert.equal(hex(ack, Option.MESSAGE_TYPE), '05');
    assert.equal(ack.ciaddr, '10.77.0.101');
    assert.equal(ack.yiaddr, '0.0.0.0');
    assert.equal(ack.file, uefiBinary);
    assert.equal(ack.flags, 0);
    assert.equal(ack.options.has(Option.VENDOR_SPECIFIC), false);
  }
});

test('iPXE DISCOVER gets the HTTP script URL, which breaks the chain loop', () => {
  const { h } = handler();
  const reply = h.handle(ipxeBiosDiscover, 'dhcp', CLIENT)!;
  const offer = decodePacket(reply.bytes);
  assert.equal(offer.file, 'http://192.0.2.1:8080/boot.ipxe');
  assert.equal(hex(offer, Option.VENDOR_SPECIFIC), '060108ff', 'arch 0: discovery control 8');
  assert.equal(hex(offer, Option.CLIENT_UUID), '000a58424d1111224283330000000000b1');
  // Detected by option 175 alone, and by an RFC 3004 user class alone.
  assert.equal(
    decodePacket(h.handle(variant(ipxeBiosDiscover, { [Option.USER_CLASS]: undefined }), 'dhcp', CLIENT)!.bytes).file,
    'http://192.0.2.1:8080/boot.ipxe',
  );
  assert.equal(
    decodePacket(
      h.handle(variant(ipxeBiosDiscover, { [Option.IPXE]: undefined, [Option.USER_CLASS]: '0469505845' }), 'dhcp', CLIENT)!.bytes,
    ).file,
    'http://192.0.2.1:8080/boot.ipxe',
  );
});

test('BIOS PXE ROM (not iPXE): option 43 = 06 01 08 ff and undionly.kpxe', () => {
  const { h } = handler();
  const bios = variant(ipxeBiosDiscover, { [Option.USER_CLASS]: undefined, [Option.IPXE]: undefined });
  const offer = decodePacket(h.handle(bios, 'dhcp', CLIENT)!.bytes);
  assert.equal(offer.file, 'undionly.kpxe');
  assert.equal(hex(offer, Option.VENDOR_SPECIFIC), '060108ff');
});

test('UEFI HTTP boot: HTTPClient echoed and an http URL', () => {
  const { h } = handler();
  const httpBoot = variant(edk2Discover, {
    [Option.VENDOR_CLASS]: Buffer.from('HTTPClient:Arch:00016:UNDI:003001').toString('hex'),
    [Option.CLIENT_ARCH]: '0010',
  });
  const offer = decodePacket(h.handle(httpBoot, 'dhcp', CLIENT)!.bytes);
  assert.equal(offer.options.get(Option.VENDOR_CLASS)!.toString(), 'HTTPClient');
  assert.equal(offer.file, 'http://192.0.2.1:8080/ipxe/snponly.efi');
});

test('the GRUB loader: signed shim by TFTP to UEFI PXE; HTTP boot and BIOS keep iPXE, and arm64 has only GRUB', () => {
  const { h } = handler(undefined, SETTINGS, 'grub');
  const httpBoot = (arch: string) =>
    variant(edk2Discover, {
      [Option.VENDOR_CLASS]: Buffer.from(`HTTPClient:Arch:${String(Number.parseInt(arch, 16)).padStart(5, '0')}:UNDI:003001`).toString(
        'hex',
      ),
      [Option.CLIENT_ARCH]: arch,
    });
  const answer = (packet: Buffer) => h.handle(packet, 'dhcp', CLIENT);
  assert.equal(answer(edk2Discover)!.bootFile, 'shimx64.efi');
  assert.equal(answer(edk2Discover)!.loader, 'grub');
  // Debian's signed GRUB has no HTTP client: an HTTP boot client gets iPXE, and says why.
  const http = answer(httpBoot('0010'))!;
  assert.deepEqual([http.bootFile, http.loader, http.insteadOf], ['http://192.0.2.1:8080/ipxe/snponly.efi', 'ipxe', 'grub']);
  const arm = answer(variant(edk2Discover, { [Option.CLIENT_ARCH]: '000b' }))!;
  assert.deepEqual([arm.bootFile, arm.loader, arm.insteadOf], ['shimaa64.efi', 'grub', undefined]);
  assert.equal(answer(httpBoot('0013')), null, 'arm64 HTTP boot: no loader at all');
  assert.match(h.lastRefusal!.reason, /no loader for arm64 UEFI HTTP boot: Debian's signed GRUB cannot boot over HTTP/);
  const bios = answer(variant(ipxeBiosDiscover, { [Option.USER_CLASS]: undefined, [Option.IPXE]: undefined }))!;
  assert.deepEqual([bios.bootFile, bios.loader, bios.insteadOf], ['undionly.kpxe', 'ipxe', 'grub']);
  // iPXE is running already: its script, whatever the loader.
  assert.equal(answer(ipxeBiosDiscover)!.bootFile, 'http://192.0.2.1:8080/boot.ipxe');

  // With the iPXE loader, arm64 falls back to GRUB (Debian's iPXE is x86 only), and says so.
  const { h: ipxe } = handler();
  const armIpxe = ipxe.handle(variant(edk2Discover, { [Option.CLIENT_ARCH]: '000b' }), 'dhcp', CLIENT)!;
  assert.deepEqual([armIpxe.bootFile, armIpxe.loader, armIpxe.insteadOf], ['shimaa64.efi', 'grub', 'ipxe']);
});

test('a machine whose agent read Secure Boot on: GRUB with the reason; no answer where only the unsigned iPXE could boot it', () => {
  const because = 'Secure Boot is on (its agent read it): the signed GRUB, not iPXE';
  const { h } = handler(undefined, SETTINGS, { loader: 'grub', because });
  const pxe = h.handle(edk2Discover, 'dhcp', CLIENT)!;
  assert.deepEqual([pxe.bootFile, pxe.loader, pxe.because], ['shimx64.efi', 'grub', because]);
  // HTTP boot has iPXE only here: handing it over would be refused by the firmware, so nothing is.
  const httpBoot = variant(edk2Discover, {
    [Option.VENDOR_CLASS]: Buffer.from('HTTPClient:Arch:00016:UNDI:003001').toString('hex'),
    [Option.CLIENT_ARCH]: '0010',
  });
  assert.equal(h.handle(httpBoot, 'dhcp', CLIENT), null);
  assert.equal(h.lastDrop, 'unsigned-loader');
  assert.equal(h.lastRefusal?.reason, `${because}, and architecture 16 has no grub loader`);

  const refused = 'Secure Boot is on (its agent read it) and profile script-only boots with iPXE only (it is an iPXE script)';
  const { h: none } = handler(undefined, SETTINGS, { refused });
  assert.equal(none.handle(edk2Discover, 'dhcp', CLIENT), null);
  assert.deepEqual([none.lastDrop, none.lastRefusal?.reason, none.drops.get('unsigned-loader')], ['unsigned-loader', refused, 1]);
});

test('an architecture with no loader gets silence, counted, and the reason for its timeline', () => {
  const { h } = handler(undefined, { ...SETTINGS, grub: new Set(['x64']) });
  // arm64 without GRUB's arm64 images, IA32 UEFI (6), and a PXE client claiming HTTP boot's arch.
  const cases: Array<[string, RegExp]> = [
    ['000b', /no loader for arm64 UEFI: GRUB's signed images are not installed \(run scripts\/fetch-grub\)/],
    ['0006', /no loader for client architecture 6/],
    ['0010', /architecture 16 \(x64 UEFI HTTP boot\) asked as a PXE client/],
  ];
  for (const [arch, reason] of cases) {
    assert.equal(h.handle(variant(edk2Discover, { [Option.CLIENT_ARCH]: arch }), 'dhcp', CLIENT), null, arch);
    assert.equal(h.lastDrop, 'unsupported-arch');
    assert.equal(h.lastRefusal?.client.mac, '52:54:00:77:00:e1');
    assert.match(h.lastRefusal?.reason ?? '', reason);
  }
  assert.equal(h.drops.get('unsupported-arch'), 3);
  // An unknown machine is not told why: no timeline to write to, and no answer either way.
  const { h: none } = handler([]);
  assert.equal(none.handle(variant(edk2Discover, { [Option.CLIENT_ARCH]: '0006' }), 'dhcp', CLIENT), null);
  assert.deepEqual([none.lastDrop, none.lastRefusal], ['no-boot-decision', null]);
});

test('a relayed DISCOVER is answered through the relay', () => {
  const { h } = handler();
  const relayed = variant(edk2Discover, {}, { giaddr: '198.51.100.1', hops: 1 });
  const reply = h.handle(relayed, 'dhcp', { address: '198.51.100.1', port: 67 })!;
  assert.deepEqual(reply.destination, { address: '198.51.100.1', port: 67 });
  assert.equal(decodePacket(reply.bytes).giaddr, '198.51.100.1');
});

test('option 97 is echoed only when it is a 17-byte type-0 GUID', async (t) => {
  const { h } = handler();
  for (const bad of [`00${'aa'.repeat(35)}`, `01${'aa'.repeat(16)}`, `00${'aa'.repeat(15)}`]) {
    await t.test(bad, () => {
      const offer = decodePacket(h.handle(variant(edk2Discover, { [Option.CLIENT_UUID]: bad }), 'dhcp', CLIENT)!.bytes);
      assert.equal(offer.options.has(Option.CLIENT_UUID), false, bad.length.toString());
    });
  }
  const intel = decodePacket(h.handle(variant(edk2Discover, { [Option.CLIENT_UUID]: undefined }), 'dhcp', CLIENT)!.bytes);
  assert.equal(intel.file, 'snponly.efi', 'ROMs that omit 97 still boot');
});

test('silence, counted by reason: non-PXE clients, unknown machines, wrong port, no binary, garbage', () => {
  const { h, snooped } = handler();
  const udhcpc = variant(edk2Discover, {
    [Option.VENDOR_CLASS]: Buffer.from('udhcp 1.36.1').toString('hex'),
    [Option.CLIENT_ARCH]: undefined,
  });
  assert.equal(h.handle(udhcpc, 'dhcp', CLIENT), null);
  assert.equal(h.handle(variant(edk2Discover, { [Option.CLIENT_ARCH]: undefined }), 'dhcp', CLIENT), null);
  const stranger = Buffer.from(edk2Discover);
  stranger[33] = 0x99; // chaddr 52:54:00:77:00:99
  assert.equal(h.handle(stranger, 'dhcp', CLIENT), null);
  assert.equal(h.handle(edk2Request4011, 'dhcp', CLIENT), null, 'REQUESTs on 67 are the site server’s');
  assert.equal(h.handle(edk2Discover, 'pxe', CLIENT), null, 'DISCOVERs do not go to 4011');
  assert.equal(h.handle(variant(edk2Discover, { [Option.CLIENT_ARCH]: '0006' }), 'dhcp', CLIENT), null, 'IA32 UEFI: no binary');
  assert.equal(h.handle(Buffer.from('hello'), 'dhcp', CLIENT), null);
  assert.deepEqual(Object.fromEntries(h.drops), {
    'not-pxe-vendor': 1,
    'no-arch': 1,
    'no-boot-decision': 1,
    'not-for-listener': 2,
    'unsupported-arch': 1,
    'too-short': 1,
  });
  assert.equal(h.answered, 0);
  assert.equal(snooped.length, 6, 'every well-formed packet is snooped, PXE or not; garbage is not');
});
