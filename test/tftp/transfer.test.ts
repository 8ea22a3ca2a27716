import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeTftp, encodeAck, encodeError } from '../../src/tftp/codec.js';
import { ReadTransfer, type TransferOutcome, type TransferSettings } from '../../src/tftp/transfer.js';

const settings = (overrides: Partial<TransferSettings> = {}): TransferSettings => ({
  blksize: 512,
  windowsize: 1,
  oack: new Map(),
  timeoutMs: 1000,
  maxRetries: 3,
  ...overrides,
});

/** Bytes 0, 1, 2, … so every block's content is checkable. */
const fileOf = (size: number) => Buffer.from(Array.from({ length: size }, (_, i) => i % 251));

interface Sent {
  opcode: number;
  block?: number;
  length?: number;
  index: number;
}

function run(file: Buffer, config: TransferSettings, client: (sent: Sent, transfer: ReadTransfer) => void) {
  const sent: Sent[] = [];
  const received: Buffer[] = [];
  let outcome: TransferOutcome | undefined;
  const transfer = new ReadTransfer(
    file,
    config,
    (datagram) => {
      const packet = decodeTftp(datagram);
      const index = sent.length;
      const entry: Sent =
        packet.opcode === 3 ? { opcode: 3, block: packet.block, length: packet.data.length, index } : { opcode: packet.opcode, index };
      if (packet.opcode === 3) received.push(Buffer.from(packet.data));
      sent.push(entry);
      queueMicrotask(() => client(entry, transfer));
    },
    (result) => (outcome = result),
  );
  transfer.start();
  return { sent, received, outcome: () => outcome, transfer };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('lock-step RFC 1350: 512-byte blocks, a short last block, and an empty one after an exact multiple', async (t) => {
  for (const [size, blocks] of [
    [1025, 3],
    [1024, 3],
    [0, 1],
    [511, 1],
  ] as const) {
    await t.test(`${size} bytes`, async () => {
      const file = fileOf(size);
      const { sent, received, outcome } = run(
        file,
        settings(),
        (entry, transfer) => entry.opcode === 3 && transfer.receive(encodeAck(entry.block!)),
      );
      await settle();
      assert.deepEqual(outcome(), { result: 'complete', blocks, retransmits: 0 }, `size ${size}`);
      assert.equal(sent.length, blocks);
      assert.deepEqual(Buffer.concat(received), file);
      assert.equal(sent.at(-1)!.length, size % 512, 'the last block is shorter than blksize');
    });
  }
});

test('OACK first, then windows of 4, acknowledged by their last block', async () => {
  const file = fileOf(10 * 1468 + 100); // 11 blocks
  const oack = new Map([
    ['blksize', '1468'],
    ['tsize', String(file.length)],
    ['windowsize', '4'],
  ]);
  const { sent, received, outcome } = run(file, settings({ blksize: 1468, windowsize: 4, oack }), (entry, transfer) => {
    if (entry.opcode === 6) transfer.receive(encodeAck(0));
    else if (entry.block === 4 || entry.block === 8 || entry.block === 11) transfer.receive(encodeAck(entry.block));
  });
  await settle();
  assert.deepEqual(outcome(), { result: 'complete', blocks: 11, retransmits: 0 });
  assert.deepEqual(
    sent.map((s) => (s.opcode === 6 ? 'oack' : s.block)),
    ['oack', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
  assert.deepEqual(Buffer.concat(received), file);
});

test('an ACK in the middle of a window restarts it after that block; duplicates are ignored', async () => {
  const file = fileOf(8 * 512 + 1); // 9 blocks
  let firstWindow = true;
  const { sent, outcome } = run(file, settings({ windowsize: 4 }), (entry, transfer) => {
    if (firstWindow && entry.block === 4) {
      firstWindow = false;
      transfer.receive(encodeAck(2)); // blocks 3 and 4 were lost
      transfer.receive(encodeAck(2)); // a duplicate: must not trigger a resend
      transfer.receive(encodeAck(1)); // an old one: ignored too
      return;
    }
    if (!firstWindow && (entry.block === 6 || entry.block === 9)) transfer.receive(encodeAck(entry.block));
  });
  await settle();
  assert.deepEqual(
    sent.map((s) => s.block),
    [1, 2, 3, 4, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.equal(outcome()!.result, 'complete');
});

test('block numbers roll over past 65535', async () => {
  const file = fileOf(70_000 * 8 + 3); // 70,001 blocks of 8 bytes
  const { received, outcome, sent } = run(file, settings({ blksize: 8, windowsize: 8 }), (entry, transfer) => {
    // The client only knows 16-bit numbers; it acks the last block of each window.
    if (entry.opcode === 3 && ((entry.index + 1) % 8 === 0 || entry.length! < 8)) transfer.receive(encodeAck(entry.block!));
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(outcome(), { result: 'complete', blocks: 70_001, retransmits: 0 });
  assert.equal(sent[65535]!.block, 0, 'absolute block 65536 goes on the wire as 0');
  assert.deepEqual(Buffer.concat(received), file);
});

test("EDK2's tsize probe: an error 8 after the OACK ends the transfer as aborted", async () => {
  const { outcome, sent } = run(fileOf(850_528), settings({ oack: new Map([['tsize', '850528']]) }), (entry, transfer) => {
    if (entry.opcode === 6) transfer.receive(encodeError(8, 'User aborted the transfer'));
  });
  await settle();
  assert.deepEqual(outcome(), { result: 'aborted', code: 8, message: 'User aborted the transfer', afterOack: true });
  assert.equal(sent.length, 1);
});

test('silence: the window is resent after each timeout, then the transfer gives up', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { sent, outcome } = run(fileOf(4 * 512), settings({ windowsize: 2, maxRetries: 3 }), () => {});
  assert.equal(sent.length, 2);
  for (let tick = 1; tick <= 3; tick++) {
    t.mock.timers.tick(1000);
    await settle();
    assert.equal(sent.length, 2 + tick * 2, `retransmission ${tick}`);
  }
  assert.equal(outcome(), undefined);
  t.mock.timers.tick(1000);
  await settle();
  assert.deepEqual(outcome(), { result: 'timeout', retransmits: 3 });
  t.mock.timers.tick(5000);
  await settle();
  assert.equal(sent.length, 8, 'nothing more after giving up');
});

test('an ACK read in the loop turn its timer fired in: no resend, no give-up', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  // The last window went out, the loop was busy past the timeout, and the client's final
  // ACK waits on the socket: the timer runs first in that turn, the ACK is read after it.
  const { sent, outcome, transfer } = run(fileOf(2 * 512 + 1), settings({ windowsize: 3, maxRetries: 0 }), () => {});
  assert.equal(sent.length, 3);
  t.mock.timers.tick(1000);
  transfer.receive(encodeAck(3));
  await settle();
  assert.deepEqual(outcome(), { result: 'complete', blocks: 3, retransmits: 0 });
  assert.equal(sent.length, 3, 'the window was not sent again');
});

test('a retransmission recovers a lost window', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let drops = 2;
  const { outcome, sent } = run(fileOf(2 * 512 + 1), settings({ windowsize: 3 }), (entry, transfer) => {
    if (entry.block === 3 && drops-- <= 0) transfer.receive(encodeAck(3));
  });
  await settle();
  for (let tick = 1; tick <= 2; tick++) {
    t.mock.timers.tick(1000);
    await settle();
  }
  assert.deepEqual(outcome(), { result: 'complete', blocks: 3, retransmits: 2 });
  assert.equal(sent.length, 9);
});
