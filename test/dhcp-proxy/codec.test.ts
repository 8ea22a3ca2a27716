import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  clientArchitectures,
  clientMac,
  clientUuidOption,
  decodePacket,
  decodeSubOptions,
  DhcpDecodeError,
  encodePacket,
  encodeSubOptions,
  messageType,
  Option,
  requestedIp,
  userClasses,
  vendorClass,
  type DhcpPacket,
} from '../../src/dhcp-proxy/codec.js';
import { EDK2_PRL, edk2Discover, edk2Request4011, IPXE_175, ipxeBiosDiscover } from './fixtures.js';

test('EDK2 DISCOVER decodes to what the firmware sent', () => {
  const packet = decodePacket(edk2Discover);
  assert.equal(packet.op, 1);
  assert.equal(packet.xid, 0x1c0ffee1);
  assert.equal(packet.flags, 0x8000);
  assert.equal(packet.ciaddr, '0.0.0.0');
  assert.equal(clientMac(packet), '52:54:00:77:00:e1');
  assert.equal(messageType(packet), 1);
  assert.equal(vendorClass(packet), 'PXEClient:Arch:00007:UNDI:003000');
  assert.deepEqual(clientArchitectures(packet), [7]);
  assert.deepEqual([...packet.options.get(Option.CLIENT_NDI)!], [1, 3, 0]);
  assert.equal(clientUuidOption(packet)!.toString('hex'), '000a58424d1111224283330000000000e1');
  assert.equal(packet.options.get(Option.PARAMETER_REQUEST_LIST)!.toString('hex'), EDK2_PRL);
  assert.equal(packet.options.get(Option.MAX_MESSAGE_SIZE)!.readUInt16BE(0), 1472);
  assert.deepEqual(userClasses(packet), []);
  assert.deepEqual([...packet.options.keys()], [53, 57, 55, 97, 94, 93, 60], 'wire order kept');
});

test('EDK2 REQUEST to 4011 carries ciaddr and no server id', () => {
  const packet = decodePacket(edk2Request4011);
  assert.equal(messageType(packet), 3);
  assert.equal(packet.ciaddr, '10.77.0.101');
  assert.equal(packet.options.has(Option.SERVER_ID), false);
  assert.equal(packet.options.get(Option.MAX_MESSAGE_SIZE)!.readUInt16BE(0), 65280);
});

test('iPXE DISCOVER: bare user class, option 175 sub-options, client id', () => {
  const packet = decodePacket(ipxeBiosDiscover);
  assert.deepEqual(userClasses(packet), ['iPXE']);
  assert.deepEqual(clientArchitectures(packet), [0]);
  assert.equal(vendorClass(packet), 'PXEClient:Arch:00000:UNDI:002001');
  const ipxe = decodeSubOptions(packet.options.get(Option.IPXE)!)!;
  assert.equal(ipxe.get(177)!.toString('hex'), '011af41000');
  assert.deepEqual([...ipxe.get(235)!], [1, 0, 0]);
  assert.deepEqual([...ipxe.get(0x13)!], [1], 'HTTP feature');
  assert.deepEqual([...ipxe.get(0x10)!], [2], 'PXE extensions version 2');
  assert.equal(packet.options.get(Option.IPXE)!.toString('hex'), IPXE_175);
  assert.equal(packet.options.get(Option.CLIENT_ID)!.toString('hex'), '015254007700b1');
});

test('captured requests re-encode to the same bytes', () => {
  for (const bytes of [edk2Discover, edk2Request4011, ipxeBiosDiscover]) {
    assert.equal(encodePacket(decodePacket(bytes), { minLength: bytes.length }).toString('hex'), bytes.toString('hex'));
  }
});

test('user class: RFC 3004 length-prefixed form and the bare form', () => {
  const withUserClass = (hex: string) => {
    const packet = decodePacket(edk2Discover);
    packet.options.set(Option.USER_CLASS, Buffer.from(hex, 'hex'));
    return userClasses(decodePacket(encodePacket(packet)));
  };
  assert.deepEqual(withUserClass('0469505845'), ['iPXE'], 'RFC 3004: length 4 then iPXE');
  assert.deepEqual(withUserClass('046950584509546f6f6c6b69743a31'), ['iPXE', 'Toolkit:1']);
  assert.deepEqual(withUserClass('69505845'), ['iPXE'], 'bare, as iPXE sends it');
  assert.deepEqual(withUserClass('0a69505845'), ['\niPXE'], 'a length that overruns is not the RFC form');
});

test('pad bytes between options and a missing End are handled', () => {
  const bytes = Buffer.from(edk2Discover);
  // Rewrite the options area: pad, 53, pad pad, 93, then no End at all.
  const options = Buffer.from('00' + '350101' + '0000' + '5d020007', 'hex');
  const short = Buffer.concat([bytes.subarray(0, 240), options]);
  const packet = decodePacket(short);
  assert.equal(messageType(packet), 1);
  assert.deepEqual(clientArchitectures(packet), [7]);
  assert.deepEqual([...packet.options.keys()], [53, 93]);
});

test('repeated options concatenate and long options split at 255 (RFC 3396)', () => {
  const packet = decodePacket(edk2Discover);
  const long = Buffer.alloc(300, 0xab);
  packet.options.set(224, long);
  const bytes = encodePacket(packet);
  const start = bytes.indexOf(Buffer.from([224, 255]), 240);
  assert.ok(start > 0);
  assert.deepEqual([...bytes.subarray(start + 257, start + 259)], [224, 45], 'second instance carries the 45 left');
  assert.deepEqual(decodePacket(bytes).options.get(224), long);
});

test('option overload (52) reads options from the file and sname fields', () => {
  const bytes = Buffer.from(edk2Discover);
  Buffer.from('0c0468616c6fff', 'hex').copy(bytes, 108); // hostname "halo" in the file field
  const withOverload = Buffer.concat([bytes.subarray(0, 240), Buffer.from('3401013501 01ff'.replace(/ /g, ''), 'hex')]);
  const packet = decodePacket(withOverload);
  assert.equal(packet.options.get(Option.HOSTNAME)!.toString(), 'halo');
  assert.equal(packet.file, '');
  const bad = Buffer.concat([bytes.subarray(0, 240), Buffer.from('340109ff', 'hex')]);
  assert.throws(
    () => decodePacket(bad),
    (e: unknown) => e instanceof DhcpDecodeError && e.reason === 'bad-overload',
  );
});

test('malformed packets are rejected with a reason', async (t) => {
  const cases: Array<[string, Buffer, string]> = [
    ['empty', Buffer.alloc(0), 'too-short'],
    ['header only', edk2Discover.subarray(0, 239), 'too-short'],
    ['jumbo', Buffer.concat([edk2Discover, Buffer.alloc(5000)]), 'too-long'],
    ['op 3', Object.assign(Buffer.from(edk2Discover), { 0: 3 }), 'bad-op'],
    ['hlen 17', Object.assign(Buffer.from(edk2Discover), { 2: 17 }), 'bad-hlen'],
    ['cookie', Object.assign(Buffer.from(edk2Discover), { 236: 0 }), 'bad-cookie'],
    ['length past the end', Buffer.concat([edk2Discover.subarray(0, 240), Buffer.from('3510', 'hex')]), 'option-overrun'],
    ['code without length', Buffer.concat([edk2Discover.subarray(0, 240), Buffer.from('35', 'hex')]), 'option-overrun'],
  ];
  for (const [name, bytes, reason] of cases) {
    await t.test(name, () => {
      assert.throws(
        () => decodePacket(bytes),
        (e: unknown) => e instanceof DhcpDecodeError && e.reason === reason,
        name,
      );
    });
  }
});

test('encoding refuses what cannot be put on the wire', () => {
  const packet: DhcpPacket = { ...decodePacket(edk2Discover) };
  assert.throws(() => encodePacket({ ...packet, file: 'x'.repeat(128) }), /file is longer than 127 bytes/);
  for (const address of ['10.0.0.256', '10.0.0', '10.0.0.1.2', '10..0.1', '10.0.0.1 ', '1000.0.0.1', '10.0.0.-1', '', '.10.0.0'])
    assert.throws(() => encodePacket({ ...packet, siaddr: address }), /not an IPv4 address/, JSON.stringify(address));
  // Written at offset 20 (siaddr), leading zeros read as decimal.
  assert.deepEqual([...encodePacket({ ...packet, siaddr: '255.0.010.9' }).subarray(20, 24)], [255, 0, 10, 9]);
  assert.throws(() => encodeSubOptions([[1, Buffer.alloc(256)]]), /longer than 255/);
  assert.equal(encodeSubOptions([[6, Buffer.from([8])]]).toString('hex'), '060108ff', 'the BIOS PXE discovery-control option');
  // 240 bytes of header and cookie + 3 for option 53 + End = 244: padded to the BOOTP minimum.
  assert.equal(encodePacket({ ...packet, options: new Map([[53, Buffer.from([2])]]) }).length, 300);
  assert.equal(encodePacket(packet).length, 347, '240 + options 3+4+37+19+5+4+34 + End: no padding needed');
  assert.equal(requestedIp(packet), null);
});

test('fuzz: 100,000 random and mutated packets never throw anything but DhcpDecodeError', () => {
  const seeds = [edk2Discover, edk2Request4011, ipxeBiosDiscover];
  let decoded = 0;
  let rejected = 0;
  const random = randomBytes(4 * 1024 * 1024);
  let cursor = 0;
  const next = () => random[cursor++ % random.length]!;
  for (let i = 0; i < 100_000; i++) {
    let bytes: Buffer;
    if (i % 4 === 0) {
      bytes = random.subarray(cursor % random.length, (cursor % random.length) + (next() << 2));
      cursor += 1024;
    } else {
      bytes = Buffer.from(seeds[i % seeds.length]!);
      for (let flips = 1 + (next() & 7); flips > 0; flips--) bytes[((next() << 8) | next()) % bytes.length] = next();
      if (next() < 32) bytes = bytes.subarray(0, (next() << 1) % bytes.length);
    }
    try {
      const packet = decodePacket(bytes);
      decoded++;
      // Everything a decoded packet offers must be readable without throwing.
      messageType(packet);
      vendorClass(packet);
      userClasses(packet);
      clientArchitectures(packet);
      clientUuidOption(packet);
      clientMac(packet);
      requestedIp(packet);
      const ipxe = packet.options.get(Option.IPXE);
      if (ipxe) decodeSubOptions(ipxe);
    } catch (error) {
      if (!(error instanceof DhcpDecodeError)) throw error;
      rejected++;
    }
  }
  assert.equal(decoded + rejected, 100_000);
  assert.ok(decoded > 10_000 && rejected > 10_000, `both paths exercised: ${decoded} decoded, ${rejected} rejected`);
});
