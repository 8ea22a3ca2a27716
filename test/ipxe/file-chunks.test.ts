import assert from 'node:assert/strict';
import { truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { CHUNK_BYTES, FileChunkCache } from '../../src/ipxe/file-chunks.js';
import { openConfined } from '../../src/ipxe/http-files.js';
import { tempDir } from '../helpers.js';

/** 2.5 chunks of bytes that differ from chunk to chunk and within one (the position modulo 251, a prime). */
const SIZE = 2 * CHUNK_BYTES + CHUNK_BYTES / 2;
const pattern = (size: number, salt = 0) => Buffer.from(Array.from({ length: size }, (_, index) => (index + salt) % 251));

async function opened(dir: string, name: string) {
  const file = await openConfined(dir, name);
  assert.ok(file, `${name} opens`);
  return file;
}

test('a file is sent whole and by ranges across chunk boundaries, and its handle is closed at the end', async (t) => {
  const dir = tempDir(t);
  const bytes = pattern(SIZE);
  writeFileSync(join(dir, 'image.raw'), bytes);
  const cache = new FileChunkCache(8 * CHUNK_BYTES);

  const whole = await opened(dir, 'image.raw');
  assert.deepEqual(await buffer(cache.stream(whole, { start: 0, end: SIZE - 1 })), bytes);
  assert.equal(whole.handle.fd, -1, 'closed once sent');

  // 10 bytes before the first boundary to 10 after the second: parts of three chunks.
  const across = await opened(dir, 'image.raw');
  const range = { start: CHUNK_BYTES - 10, end: 2 * CHUNK_BYTES + 9 };
  assert.deepEqual(await buffer(cache.stream(across, range)), bytes.subarray(range.start, range.end + 1));
  // The last byte alone, in the short third chunk.
  const last = await opened(dir, 'image.raw');
  assert.deepEqual(await buffer(cache.stream(last, { start: SIZE - 1, end: SIZE - 1 })), bytes.subarray(SIZE - 1));
  // Three chunks read once; the range then found all three held, the last byte the third.
  // One download from byte 0; sent: the file, the range (a chunk and 20 bytes) and one byte.
  assert.deepEqual(cache.stats(), { hits: 4, misses: 3, heldBytes: SIZE, downloads: 1, bytesSent: SIZE + CHUNK_BYTES + 20 + 1 });
});

test('downloads at the same moment share each chunk read, and a budget holds only the newest chunks', async (t) => {
  const dir = tempDir(t);
  const bytes = pattern(SIZE);
  writeFileSync(join(dir, 'image.raw'), bytes);

  const shared = new FileChunkCache(8 * CHUNK_BYTES);
  const both = await Promise.all(
    [1, 2].map(async () => buffer(shared.stream(await opened(dir, 'image.raw'), { start: 0, end: SIZE - 1 }))),
  );
  for (const got of both) assert.deepEqual(got, bytes);
  assert.deepEqual(
    shared.stats(),
    { hits: 3, misses: 3, heldBytes: SIZE, downloads: 2, bytesSent: 2 * SIZE },
    'each of the 3 chunks read once for two downloads',
  );

  // A budget of one chunk: one after the other, the second download finds the first chunk
  // gone (the third pushed it out) and reads all three again; one chunk stays held.
  const small = new FileChunkCache(CHUNK_BYTES);
  for (let round = 0; round < 2; round++) {
    assert.deepEqual(await buffer(small.stream(await opened(dir, 'image.raw'), { start: 0, end: SIZE - 1 })), bytes);
  }
  assert.deepEqual(small.stats(), { hits: 0, misses: 6, heldBytes: CHUNK_BYTES / 2, downloads: 2, bytesSent: 2 * SIZE });

  // Budget 0 keeps nothing, and still sends every byte.
  const none = new FileChunkCache(0);
  assert.deepEqual(await buffer(none.stream(await opened(dir, 'image.raw'), { start: 0, end: SIZE - 1 })), bytes);
  assert.deepEqual(none.stats(), { hits: 0, misses: 3, heldBytes: 0, downloads: 1, bytesSent: SIZE });
});

test('a file rewritten under the same name is sent as it is now, never from the old chunks', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'vmlinuz');
  writeFileSync(path, pattern(SIZE));
  const cache = new FileChunkCache(8 * CHUNK_BYTES);
  await buffer(cache.stream(await opened(dir, 'vmlinuz'), { start: 0, end: SIZE - 1 }));

  const rewritten = pattern(SIZE, 7);
  writeFileSync(path, rewritten);
  utimesSync(path, new Date(2026, 0, 2), new Date(2026, 0, 2));
  assert.deepEqual(await buffer(cache.stream(await opened(dir, 'vmlinuz'), { start: 0, end: SIZE - 1 })), rewritten);
  assert.equal(cache.stats().misses, 6);
});

test('a file that shrinks while it is sent ends the download with an error and closes the file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'image.raw');
  writeFileSync(path, pattern(SIZE));
  const cache = new FileChunkCache(8 * CHUNK_BYTES);
  const file = await opened(dir, 'image.raw');
  truncateSync(path, CHUNK_BYTES);
  await assert.rejects(buffer(cache.stream(file, { start: 0, end: SIZE - 1 })), /chunk 1 has 0 of 1048576 bytes/);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(file.handle.fd, -1);
  assert.equal(cache.stats().heldBytes, CHUNK_BYTES, 'the failed chunk is not kept');
});

test('downloads write at most 16 MiB in one turn of the event loop, so connections are accepted in between', async (t) => {
  const dir = tempDir(t);
  const size = 8 * CHUNK_BYTES;
  writeFileSync(join(dir, 'image.raw'), pattern(size));
  const cache = new FileChunkCache(16 * CHUNK_BYTES);
  await buffer(cache.stream(await opened(dir, 'image.raw'), { start: 0, end: size - 1 })); // every chunk held from now on

  // Four downloads of 8 MiB from memory: unpaced, all 32 MiB would go out in the turn they start.
  const perTurn: number[] = [0];
  let ticking = true;
  const tick = () => {
    if (!ticking) return;
    perTurn.push(0);
    setImmediate(tick);
  };
  setImmediate(tick);
  const streams = await Promise.all(
    [1, 2, 3, 4].map(async () => cache.stream(await opened(dir, 'image.raw'), { start: 0, end: size - 1 })),
  );
  const done = streams.map(
    (stream) =>
      new Promise<void>((resolve, reject) => {
        stream.on('data', (piece: Buffer) => {
          perTurn[perTurn.length - 1]! += piece.length;
        });
        stream.on('end', resolve);
        stream.on('error', reject);
      }),
  );
  await Promise.all(done);
  ticking = false;
  assert.equal(
    perTurn.reduce((sum, bytes) => sum + bytes, 0),
    4 * size,
  );
  assert.ok(Math.max(...perTurn) <= 16 * CHUNK_BYTES, `at most 16 MiB a turn, got ${Math.max(...perTurn)}`);
  assert.ok(perTurn.filter((bytes) => bytes > 0).length >= 2, 'the 32 MiB took two turns or more');
});
