import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileThreads, type FileThreadOptions } from '../../src/ipxe/file-threads.js';
import { LISTEN_BACKLOG } from '../../src/lib/net.js';
import { tempDir } from '../helpers.js';

/** Three chunks and a bit: the download crosses chunk boundaries (file-chunks.ts reads 1 MiB at a time). */
const IMAGE = randomBytes(3 * 2 ** 20 + 5);

function options(t: test.TestContext, more: Partial<FileThreadOptions> = {}) {
  const assetsDir = tempDir(t);
  writeFileSync(join(assetsDir, 'image.raw'), IMAGE);
  const sent: Array<[string, string, number]> = [];
  const failures: Error[] = [];
  const given: FileThreadOptions = {
    threads: 2,
    address: '127.0.0.1',
    firstPort: 0,
    assetsDir,
    cacheBytes: 2 ** 20,
    sent: (...download) => sent.push(download),
    onThreadFailed: (error) => failures.push(error),
    ...more,
  };
  return { given, sent, failures };
}

test('machines are given the threads in turn, each serves the files byte-identical and reports the downloads', async (t) => {
  const { given, sent } = options(t);
  const threads = await FileThreads.start(given);
  t.after(() => threads.stop());
  const [first, second] = threads.stats().ports;
  assert.ok(first && second && first !== second);
  // The host of the machine's serverUrl is kept, the port is the thread's.
  const urls = [0, 1, 2].map(() => threads.filesUrl('http://10.77.0.1:8080'));
  assert.deepEqual(urls, [`http://10.77.0.1:${first}`, `http://10.77.0.1:${second}`, `http://10.77.0.1:${first}`]);
  assert.equal(threads.filesUrl('http://[fd00::1]:8080'), `http://[fd00::1]:${second}`);
  // Each thread's port queues a storm's connections as the HTTP port does (ss shows a listening socket's backlog as its Send-Q).
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  for (const port of [first, second]) {
    const [, , backlog] = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' })
      .trim()
      .split(/\s+/);
    assert.equal(Number(backlog), Math.min(LISTEN_BACKLOG, somaxconn), `port ${port}'s backlog`);
  }

  for (const port of [first, second]) {
    const response = await fetch(`http://127.0.0.1:${port}/assets/image.raw`);
    assert.equal(response.headers.get('content-length'), String(IMAGE.length));
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(IMAGE));
  }
  const tail = await fetch(`http://127.0.0.1:${second}/assets/image.raw`, { headers: { range: 'bytes=3145728-' } });
  assert.equal(tail.status, 206);
  assert.deepEqual(Buffer.from(await tail.arrayBuffer()), IMAGE.subarray(3 * 2 ** 20));
  assert.equal((await fetch(`http://127.0.0.1:${first}/assets/%2e%2e/etc/passwd`)).status, 404);
  assert.equal((await fetch(`http://127.0.0.1:${first}/api/v1/machines`)).status, 404, 'a file thread serves /assets/ and nothing else');

  // Two downloads from byte 0, one on each thread; the range and the 404s are none.
  assert.deepEqual(sent, [
    ['127.0.0.1', 'image.raw', IMAGE.length],
    ['127.0.0.1', 'image.raw', IMAGE.length],
  ]);
  // The bytes come once a second: the first thread sent the image, the second the image and its last 5 bytes.
  const expectedBytes = [IMAGE.length, IMAGE.length + 5];
  const deadline = Date.now() + 5000;
  const reported = () => threads.stats().bytesSent.every((bytes, index) => bytes === expectedBytes[index]);
  while (!reported() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(threads.stats(), {
    threads: 2,
    ports: [first, second],
    sent: [1, 1],
    bytesSent: expectedBytes,
    failed: 0,
  });
});

test('a thread that fails is dropped, and machines are given the HTTP port again', async (t) => {
  // A thread that says it listens on port 1, and exits a moment later.
  const dies = new URL(
    `data:text/javascript,${encodeURIComponent(
      "import { parentPort } from 'node:worker_threads'; parentPort.postMessage({ kind: 'listening', port: 1 }); setTimeout(() => process.exit(3), 100);",
    )}`,
  );
  const { given, failures } = options(t, { threads: 1, script: dies });
  const threads = await FileThreads.start(given);
  t.after(() => threads.stop());
  assert.equal(threads.filesUrl('http://10.77.0.1:8080'), 'http://10.77.0.1:1');
  while (failures.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.match(failures[0]!.message, /exited with 3/);
  assert.equal(threads.filesUrl('http://10.77.0.1:8080'), 'http://10.77.0.1:8080');
  assert.deepEqual(threads.stats(), { threads: 0, ports: [], sent: [], bytesSent: [], failed: 1 });
});

test('a port that cannot be bound fails the start with the port and the setting named', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const { given } = options(t, { threads: 1, firstPort: port });
  await assert.rejects(FileThreads.start(given), (error: NodeJS.ErrnoException) => {
    assert.match(error.message, new RegExp(`cannot serve /assets/ on port ${port}: .*EADDRINUSE.*http\\.fileThreads`));
    assert.equal(error.code, 'EADDRINUSE');
    return true;
  });
});
