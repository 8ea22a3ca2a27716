import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  confineName,
  decodeTftp,
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  negotiate,
  TftpDecodeError,
} from '../../src/tftp/codec.js';

/** EDK2's first read request in the lab (docs/lab.md): the tsize probe. */
const EDK2_PROBE = Buffer.from('\0\x01ipxe.efi\0octet\0tsize\x000\0blksize\x001468\0windowsize\x004\0', 'latin1');

test('EDK2 read request: name, mode and options', () => {
  const packet = decodeTftp(EDK2_PROBE);
  assert.equal(packet.opcode, 1);
  if (packet.opcode !== 1) return;
  assert.equal(packet.filename, 'ipxe.efi');
  assert.equal(packet.mode, 'octet');
  assert.deepEqual(
    [...packet.options],
    [
      ['tsize', '0'],
      ['blksize', '1468'],
      ['windowsize', '4'],
    ],
  );
  assert.deepEqual(decodeTftp(encodeRequest(1, 'ipxe.efi', packet.options)), packet, 'encodes back to the same request');
});

test('negotiation: blksize clamped to MTU − 32, tsize answered, windowsize capped, bad values ignored', () => {
  const limits = { maxBlksize: 1468, maxWindowsize: 64, fileSize: 850528 };
  const edk2 = negotiate(
    new Map([
      ['tsize', '0'],
      ['blksize', '1468'],
      ['windowsize', '4'],
    ]),
    limits,
  );
  assert.deepEqual(
    [...edk2.accepted],
    [
      ['blksize', '1468'],
      ['tsize', '850528'],
      ['windowsize', '4'],
    ],
  );
  assert.equal(edk2.blksize, 1468);
  assert.equal(edk2.windowsize, 4);
  const greedy = negotiate(
    new Map([
      ['blksize', '65464'],
      ['windowsize', '100'],
      ['timeout', '3'],
    ]),
    limits,
  );
  assert.deepEqual([greedy.blksize, greedy.windowsize, greedy.timeout], [1468, 64, 3]);
  const odd = negotiate(
    new Map([
      ['blksize', '4'],
      ['timeout', '0'],
      ['windowsize', '0'],
      ['tsize', 'x'],
      ['multicast', ''],
    ]),
    limits,
  );
  assert.deepEqual([...odd.accepted], [], 'nothing acceptable: no OACK, plain RFC 1350');
  assert.deepEqual([odd.blksize, odd.windowsize, odd.timeout], [512, 1, null]);
  assert.equal(negotiate(new Map([['blksize', '1024']]), limits).blksize, 1024, 'a smaller request is honoured');
});

test('packets encode to the RFC 1350 / 2347 bytes', () => {
  assert.equal(encodeAck(0x1234).toString('hex'), '00041234');
  assert.equal(encodeData(65536 + 7, Buffer.from('hi')).toString('hex'), '000300076869', 'block numbers roll over at 16 bits');
  assert.equal(encodeError(1, 'File not found').toString('hex'), `00050001${Buffer.from('File not found').toString('hex')}00`);
  assert.equal(
    encodeOack(
      new Map([
        ['blksize', '1468'],
        ['tsize', '850528'],
      ]),
    ).toString('latin1'),
    '\0\x06blksize\x001468\0tsize\x00850528\0',
  );
  assert.deepEqual(decodeTftp(Buffer.from('\0\x05\0\x08User aborted the transfer\0', 'latin1')), {
    opcode: 5,
    code: 8,
    message: 'User aborted the transfer',
  });
  assert.deepEqual(decodeTftp(Buffer.from('\0\x05\0\x08no terminator', 'latin1')), { opcode: 5, code: 8, message: 'no terminator' });
});

test('malformed packets are rejected with a reason', async (t) => {
  const cases: Array<[string, string]> = [
    ['\0\x01', 'too-short'],
    ['\0\x09abcd', 'bad-opcode'],
    ['\0\x01file-without-terminator', 'unterminated-string'],
    ['\0\x01file\0octet', 'unterminated-string'],
    ['\0\x01file\0', 'unterminated-string'],
    ['\0\x01file\0binary\0', 'bad-mode'],
    ['\0\x01file\0octet\0blksize\0', 'bad-options'],
  ];
  for (const [text, reason] of cases) {
    await t.test(JSON.stringify(text), () => {
      assert.throws(
        () => decodeTftp(Buffer.from(text, 'latin1')),
        (e: unknown) => e instanceof TftpDecodeError && e.reason === reason,
        JSON.stringify(text),
      );
    });
  }
  assert.throws(
    () => decodeTftp(Buffer.alloc(70000, 1)),
    (e: unknown) => e instanceof TftpDecodeError && e.reason === 'too-long',
  );
});

test('names are confined to the TFTP root', async (t) => {
  const hostile: Array<[string, string]> = [
    ['../etc/passwd', 'parent-segment'],
    ['ipxe/../../etc/shadow', 'parent-segment'],
    ['/../etc/passwd', 'parent-segment'],
    ['..', 'parent-segment'],
    ['..\\..\\windows\\win.ini', 'backslash'],
    ['ipxe.efi\\..\\x', 'backslash'],
    ['ipxe.efi\nsecond-line', 'control-character'],
    ['ipxe\u0000.efi', 'control-character'],
    ['a'.repeat(256), 'too-long'],
    ['/', 'empty'],
    ['./././', 'empty'],
  ];
  for (const [name, refused] of hostile) {
    await t.test(JSON.stringify(name.slice(0, 40)), () => assert.deepEqual(confineName(name), { refused }));
  }
  // Names that are odd but stay inside the root resolve to root-relative paths.
  assert.deepEqual(confineName('/etc/passwd'), { path: 'etc/passwd' }, 'absolute means root-relative, never the host root');
  assert.deepEqual(confineName('//undionly.kpxe'), { path: 'undionly.kpxe' });
  assert.deepEqual(confineName('%2e%2e%2fetc%2fpasswd'), { path: '%2e%2e%2fetc%2fpasswd' }, 'no URL decoding: a literal name');
  assert.deepEqual(confineName('./efi/./snponly.efi'), { path: 'efi/snponly.efi' });
});

test('fuzz: 100,000 random and mutated datagrams never throw anything but TftpDecodeError', () => {
  const seeds = [
    EDK2_PROBE,
    encodeAck(3),
    encodeError(8, 'abort'),
    encodeOack(new Map([['blksize', '1468']])),
    encodeData(1, Buffer.alloc(32, 7)),
  ];
  const random = randomBytes(2 * 1024 * 1024);
  let cursor = 0;
  const next = () => random[cursor++ % random.length]!;
  let decoded = 0;
  let rejected = 0;
  for (let i = 0; i < 100_000; i++) {
    let bytes: Buffer;
    if (i % 3 === 0) {
      const start = (((next() << 8) | next()) * 16) % random.length;
      bytes = random.subarray(start, start + (next() % 96));
    } else {
      bytes = Buffer.from(seeds[i % seeds.length]!);
      for (let flips = 1 + (next() & 3); flips > 0; flips--) bytes[next() % bytes.length] = next() & 1 ? 0 : next();
      if (next() < 40) bytes = bytes.subarray(0, next() % (bytes.length + 1));
    }
    try {
      const packet = decodeTftp(bytes);
      decoded++;
      if (packet.opcode === 1) {
        negotiate(packet.options, { maxBlksize: 1468, maxWindowsize: 64, fileSize: 1000 });
        confineName(packet.filename);
      }
    } catch (error) {
      if (!(error instanceof TftpDecodeError)) throw error;
      rejected++;
    }
  }
  assert.ok(decoded > 10_000 && rejected > 10_000, `both paths exercised: ${decoded} decoded, ${rejected} rejected`);
});
