import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { decodeTftp, encodeAck, encodeData, encodeRequest, Opcode } from '../../src/tftp/codec.js';
import { startServe, tempDir } from '../helpers.js';
import { sendRaw, tftpGet } from './client.js';

const run = promisify(execFile);
const IPXE_EFI = readFileSync(resolve('assets/ipxe/ipxe.efi'));
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function serveWithTftp(t: Parameters<typeof tempDir>[0], args: string[] = []) {
  const serve = await startServe(t, ['--data-dir', tempDir(t), '--no-dhcp-proxy', ...args]);
  assert.ok(serve.tftpPort > 0, serve.log());
  return serve;
}

for (const threads of [0, 2])
  test(`ipxe.efi over TFTP is byte-identical to the file, with the packaged clients and windowsize (${threads ? `${threads} transfer threads` : 'transfers on the main thread'})`, async (t) => {
    const serve = await serveWithTftp(t, ['--tftp-threads', String(threads)]);
    const dir = tempDir(t);
    const port = String(serve.tftpPort);

    // tftp-hpa: plain RFC 1350, 512-byte lock-step.
    await run('tftp', ['-m', 'binary', '127.0.0.1', port, '-c', 'get', 'ipxe.efi', join(dir, 'hpa.efi')]);
    assert.equal(sha256(readFileSync(join(dir, 'hpa.efi'))), sha256(IPXE_EFI), 'tftp-hpa');

    // atftp with blksize and tsize (RFC 2348, 2349).
    await run('atftp', [
      '--option',
      'blksize 1428',
      '--option',
      'tsize 0',
      '-g',
      '-r',
      'ipxe.efi',
      '-l',
      join(dir, 'atftp.efi'),
      '127.0.0.1',
      port,
    ]);
    assert.equal(sha256(readFileSync(join(dir, 'atftp.efi'))), sha256(IPXE_EFI), 'atftp');

    // curl with --tftp-blksize.
    await run('curl', ['-sS', '--tftp-blksize', '1428', '-o', join(dir, 'curl.efi'), `tftp://127.0.0.1:${port}/ipxe.efi`]);
    assert.equal(sha256(readFileSync(join(dir, 'curl.efi'))), sha256(IPXE_EFI), 'curl');

    // RFC 7440 windowsize, which none of the packaged clients speaks.
    const windowed = await tftpGet(
      serve.tftpPort,
      'ipxe.efi',
      new Map([
        ['blksize', '1428'],
        ['tsize', '0'],
        ['windowsize', '8'],
      ]),
    );
    assert.deepEqual(
      [...windowed.oack!],
      [
        ['blksize', '1428'],
        ['tsize', String(IPXE_EFI.length)],
        ['windowsize', '8'],
      ],
    );
    assert.equal(sha256(windowed.data!), sha256(IPXE_EFI));
    // 850,528 / 1,428 = 595.6 → 596 DATA blocks + the OACK.
    assert.equal(windowed.datagrams, 597);

    const stats = (await (await serve.fetch(`/api/v1/stats`)).json()) as {
      tftp: { outcomes: Record<string, number>; active: number; threads: { threads: number; active: number[]; failed: number } };
    };
    assert.deepEqual(stats.tftp.outcomes, { complete: 4 });
    assert.equal(stats.tftp.active, 0);
    assert.deepEqual(stats.tftp.threads, { threads, active: Array(threads).fill(0), failed: 0 });
  });

test("EDK2's tsize probe then the real download: normal, and not logged as a failure", async (t) => {
  const serve = await serveWithTftp(t);
  const probe = await tftpGet(
    serve.tftpPort,
    'ipxe.efi',
    new Map([
      ['tsize', '0'],
      ['blksize', '1468'],
      ['windowsize', '4'],
    ]),
    { abortAfterOack: true },
  );
  assert.equal(probe.oack!.get('tsize'), '850528');
  const real = await tftpGet(
    serve.tftpPort,
    'ipxe.efi',
    new Map([
      ['blksize', '1468'],
      ['windowsize', '4'],
    ]),
  );
  assert.equal(sha256(real.data!), sha256(IPXE_EFI));
  await new Promise((resolve) => setTimeout(resolve, 100));
  const stats = (await (await serve.fetch(`/api/v1/stats`)).json()) as { tftp: { outcomes: Record<string, number> } };
  assert.deepEqual(stats.tftp.outcomes, { aborted: 1, complete: 1 });
  assert.doesNotMatch(serve.log(), /"level":(40|50)[^\n]*tftp/, 'no warning or error for the probe');
});

test('hostile names are refused with a TFTP error, counted, and logged once a minute per client; writes refused; garbage unanswered', async (t) => {
  const serve = await serveWithTftp(t);
  const refusedNames = [
    '../etc/passwd',
    '../../../../etc/shadow',
    'ipxe/../../etc/passwd',
    '/../etc/passwd',
    '..\\..\\windows\\win.ini',
    'ipxe.efi\\..\\..\\x',
    'ipxe.efi\n',
    `${'a/'.repeat(130)}x`,
    '..',
  ];
  const missingNames = ['/etc/passwd', '%2e%2e%2fetc%2fpasswd', '..%2f..%2fetc%2fpasswd', 'IPXE.EFI'];
  for (const name of refusedNames) {
    const { error } = await tftpGet(serve.tftpPort, name);
    assert.deepEqual(error, { code: 2, message: 'access violation' }, JSON.stringify(name));
  }
  for (const name of missingNames) {
    const { error } = await tftpGet(serve.tftpPort, name);
    assert.deepEqual(error, { code: 1, message: 'file not found' }, JSON.stringify(name));
  }
  // A NUL inside the name ends it at the NUL: "ipxe.efi\0../../etc/passwd" is ipxe.efi in
  // octet mode "../../etc/passwd", a bad mode; it gets no answer at all.
  assert.deepEqual(await sendRaw(serve.tftpPort, Buffer.from('\0\x01ipxe.efi\0../../etc/passwd\0', 'latin1')), []);
  const write = await sendRaw(serve.tftpPort, encodeRequest(2, 'ipxe.efi'));
  assert.equal(write.length, 1);
  assert.equal(write[0]!.toString('latin1'), '\0\x05\0\x02read-only server\0');
  for (const garbage of [Buffer.alloc(0), Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0, 4, 0, 1]), Buffer.alloc(2000, 0xff)]) {
    assert.deepEqual(await sendRaw(serve.tftpPort, garbage, 100), [], 'no answer to garbage');
  }
  const log = serve.log();
  // Nine refusals from one client in a minute: the first is logged, the rest counted.
  assert.equal(log.match(/"msg":"tftp: name refused"/g)?.length, 1, log);
  assert.ok(log.includes(`"name":${JSON.stringify(refusedNames[0])}`));
  const stats = (await (await serve.fetch(`/api/v1/stats`)).json()) as { tftp: { refused: Record<string, number> } };
  assert.deepEqual(stats.tftp.refused, {
    'bad-name': refusedNames.length,
    'not-found': missingNames.length,
    'bad-mode': 1,
    'write-request': 1,
    'too-short': 1,
    'bad-opcode': 2,
    'not-a-request': 1,
  });
});

/** A client socket that records every datagram it gets, decoded, with the port it came from. */
async function rawClient(t: Parameters<typeof tempDir>[0]) {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.after(() => socket.close());
  const arrived: Array<{ port: number; packet: ReturnType<typeof decodeTftp> }> = [];
  socket.on('message', (message, from) => arrived.push({ port: from.port, packet: decodeTftp(message) }));
  const send = (bytes: Buffer, port: number) => socket.send(bytes, port, '127.0.0.1');
  return { arrived, send };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const threads of [0, 2])
  test(`a retransmitted RRQ is absorbed, before or after the first ACK; another request from the same port ends the transfer it had (${threads} transfer threads)`, async (t) => {
    const serve = await serveWithTftp(t, ['--tftp-threads', String(threads)]);
    const client = await rawClient(t);
    const { arrived } = client;
    const send = (bytes: Buffer, port = serve.tftpPort) => client.send(bytes, port);
    const fromPort = (port: number) => arrived.filter((datagram) => datagram.port === port);
    const windowed = encodeRequest(
      Opcode.RRQ,
      'ipxe.efi',
      new Map([
        ['blksize', '1428'],
        ['windowsize', '4'],
      ]),
    );

    // A firmware whose answer is late sends the same RRQ again: one transfer, one OACK.
    send(windowed);
    await wait(50);
    send(windowed);
    await wait(300);
    assert.deepEqual(
      arrived.map((datagram) => datagram.packet.opcode),
      [Opcode.OACK],
    );
    const first = arrived[0]!.port;

    // The client acknowledges it: blocks 1–4 (one window) come from that TID.
    send(encodeAck(0), first);
    await wait(200);
    assert.deepEqual(
      fromPort(first).map(({ packet }) => (packet.opcode === Opcode.DATA ? packet.block : -1)),
      [-1, 1, 2, 3, 4],
    );

    // A copy of the RRQ read after the client's first ACK (they arrive on different sockets):
    // still a retransmission. No new TID answers, and the transfer goes on: ACK 4 → blocks 5–8.
    arrived.length = 0;
    send(windowed);
    send(encodeAck(4), first);
    await wait(300);
    assert.deepEqual(
      arrived.map(({ port, packet }) => [port, packet.opcode === Opcode.DATA ? packet.block : -1]),
      [5, 6, 7, 8].map((block) => [first, block]),
    );

    // Another file from that port: the client started over. A new TID answers, and the old
    // one stays silent past its 1 s retransmission timeout.
    arrived.length = 0;
    send(encodeRequest(Opcode.RRQ, 'undionly.kpxe'));
    await wait(1300);
    assert.deepEqual(fromPort(first), [], 'the old transfer stopped');
    const second = arrived.filter((datagram) => datagram.port !== first);
    assert.ok(
      second.length > 0 && second[0]!.packet.opcode === Opcode.DATA && second[0]!.packet.block === 1,
      'undionly.kpxe block 1 from a new TID',
    );

    const stats = (await (await serve.fetch(`/api/v1/stats`)).json()) as {
      tftp: { outcomes: Record<string, number>; active: number; retransmittedRequests: number };
    };
    assert.deepEqual(stats.tftp.outcomes, { cancelled: 1 });
    assert.equal(stats.tftp.retransmittedRequests, 2);
    assert.equal(stats.tftp.active, 1);
  });

for (const threads of [0, 2])
  test(`a client that sends DATA during a read gets error 4 from the transfer before its socket closes (${threads} transfer threads)`, async (t) => {
    const serve = await serveWithTftp(t, ['--tftp-threads', String(threads)]);
    const { arrived, send } = await rawClient(t);

    send(encodeRequest(Opcode.RRQ, 'ipxe.efi', new Map([['blksize', '1428']])), serve.tftpPort);
    await wait(200);
    assert.equal(arrived[0]?.packet.opcode, Opcode.OACK);
    const transfer = arrived[0]!.port;
    arrived.length = 0;
    // A write's DATA on a read transfer's TID. The error used to be sent and the socket
    // closed in the same tick, and dgram dropped the unsent error.
    send(encodeData(1, Buffer.from('not a read')), transfer);
    await wait(200);
    assert.deepEqual(arrived, [{ port: transfer, packet: { opcode: Opcode.ERROR, code: 4, message: 'expected an ACK' } }]);
    const stats = (await (await serve.fetch('/api/v1/stats')).json()) as { tftp: { outcomes: Record<string, number> } };
    assert.equal(stats.tftp.outcomes['protocol-error'], 1);
  });
