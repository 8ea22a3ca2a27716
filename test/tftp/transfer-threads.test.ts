import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'node:test';
import { decodeTftp, encodeAck, Opcode } from '../../src/tftp/codec.js';
import type { TransferOutcome } from '../../src/tftp/transfer.js';
import { TransferThreads } from '../../src/tftp/transfer-threads.js';

const FILE = randomBytes(100_000);
const SETTINGS = { blksize: 1428, windowsize: 1, oack: new Map<string, string>(), timeoutMs: 1000, maxRetries: 3 };

/** A lock-step TFTP client without the request: the transfer is handed to the threads directly, DATA block 1 first. */
async function client(): Promise<{ socket: Socket; port: number; received: Promise<Buffer> }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const blocks: Buffer[] = [];
  const received = new Promise<Buffer>((resolve) => {
    socket.on('message', (message, from) => {
      const packet = decodeTftp(message);
      if (packet.opcode !== Opcode.DATA || packet.block !== blocks.length + 1) return;
      blocks.push(Buffer.from(packet.data));
      socket.send(encodeAck(packet.block), from.port, from.address);
      if (packet.data.length < SETTINGS.blksize) resolve(Buffer.concat(blocks));
    });
  });
  return { socket, port: socket.address().port, received };
}

function threads(count: number, script?: URL) {
  const failures: Error[] = [];
  const pool = new TransferThreads(new Map([['file', FILE]]), {
    address: '127.0.0.1',
    threads: count,
    onSocketError: (error) => assert.fail(error),
    onThreadFailed: (error) => failures.push(error),
    ...(script ? { script } : {}),
  });
  return { pool, failures };
}

test('transfers go to the thread running fewest, arrive byte-identical, and their outcomes come back', async (t) => {
  const { pool } = threads(2);
  t.after(() => pool.stop());
  const clients = await Promise.all([client(), client(), client(), client()]);
  t.after(() => {
    for (const { socket } of clients) socket.close();
  });
  const outcomes: Array<Promise<TransferOutcome>> = clients.map(
    ({ port }) => new Promise((resolve) => pool.start('file', { client: { address: '127.0.0.1', port }, settings: SETTINGS }, resolve)),
  );
  assert.deepEqual(pool.stats(), { threads: 2, active: [2, 2], failed: 0 });
  for (const { received } of clients) assert.ok((await received).equals(FILE));
  // 100,000 / 1,428 = 70.03 → 71 blocks, the last one 40 bytes.
  for (const outcome of await Promise.all(outcomes)) assert.deepEqual(outcome, { result: 'complete', blocks: 71, retransmits: 0 });
  assert.deepEqual(pool.stats(), { threads: 2, active: [0, 0], failed: 0 });
});

test('a thread that fails ends its transfers as thread-stopped, and the main thread carries the next ones', async (t) => {
  // A thread that dies at its first transfer.
  const dies = new URL(
    `data:text/javascript,${encodeURIComponent("import { parentPort } from 'node:worker_threads'; parentPort.once('message', () => process.exit(3));")}`,
  );
  const { pool, failures } = threads(1, dies);
  t.after(() => pool.stop());
  const first = await client();
  t.after(() => first.socket.close());
  const outcome = await new Promise<TransferOutcome>((resolve) =>
    pool.start('file', { client: { address: '127.0.0.1', port: first.port }, settings: SETTINGS }, resolve),
  );
  assert.deepEqual(outcome, { result: 'cancelled', reason: 'thread-stopped' });
  assert.match(failures[0]?.message ?? '', /exited with 3/);
  assert.deepEqual(pool.stats(), { threads: 0, active: [], failed: 1 });

  const second = await client();
  t.after(() => second.socket.close());
  const done = new Promise<TransferOutcome>((resolve) =>
    pool.start('file', { client: { address: '127.0.0.1', port: second.port }, settings: SETTINGS }, resolve),
  );
  assert.ok((await second.received).equals(FILE));
  assert.equal((await done).result, 'complete');
});
