import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { tempDir } from '../helpers.js';

const AGENT = fileURLToPath(new URL('../../../agent/metalbox-agent', import.meta.url));
const MIB = 1024 * 1024;
/** The image: 3 MiB of noise, as published raw and gzipped. */
const IMAGE = randomBytes(3 * MIB);
const FILES = new Map([
  ['/image.raw', IMAGE],
  ['/image.raw.gz', gzipSync(IMAGE)],
  ['/image.raw.zst', execFileSync('zstd', ['-q', '-c'], { input: IMAGE, maxBuffer: 8 * MIB })],
]);
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The agent's write-image on a file standing for a 16 MiB disk full of 0xaa (a disk of the tests needs no root). */
async function writeImage(t: Parameters<typeof tempDir>[0], path: string, checksum: string, format: string) {
  const server = createServer((request, response) => {
    const body = FILES.get(request.url ?? '');
    if (body === undefined) return response.writeHead(404).end();
    response.writeHead(200, { 'content-length': body.length });
    response.end(request.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const disk = join(tempDir(t), 'disk');
  writeFileSync(disk, Buffer.alloc(16 * MIB, 0xaa));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  // Spawned asynchronously: the image server above runs on this process's event loop.
  const result = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile('busybox', ['sh', AGENT, 'write-image', url, checksum, format, disk], (error, stdout, stderr) =>
      resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  return { ...result, disk: readFileSync(disk), url };
}

const zeros = (length: number) => Buffer.alloc(length);

test('write-image: raw, gzipped and zstd images land on the disk byte for byte; the rest of a small disk is wiped', async (t) => {
  for (const [path, format] of [
    ['/image.raw', 'raw'],
    ['/image.raw.gz', 'raw.gz'],
    ['/image.raw.zst', 'raw.zst'],
  ] as const) {
    await t.test(format, async () => {
      const result = await writeImage(t, path, sha256(FILES.get(path)!), format);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`: ${3 * MIB} bytes written, sha256 ${sha256(FILES.get(path)!)}`));
      // The disk's ends (all of a 16 MiB disk) were zeroed before the image went on.
      assert.ok(result.disk.equals(Buffer.concat([IMAGE, zeros(13 * MIB)])));
    });
  }
});

test('write-image: a checksum that differs fails with both sums, and leaves the disk wiped, not half-written', async (t) => {
  const wrong = '0'.repeat(64);
  const result = await writeImage(t, '/image.raw.gz', wrong, 'raw.gz');
  assert.equal(result.status, 1);
  assert.match(result.stderr, new RegExp(`sha256 ${sha256(FILES.get('/image.raw.gz')!)}, expected ${wrong}`));
  assert.ok(result.disk.equals(zeros(16 * MIB)));
});

test('write-image: decided before writing: an image that is not there, a format it does not write; the disk untouched', async (t) => {
  await t.test('404', async () => {
    const result = await writeImage(t, '/missing.raw', '0'.repeat(64), 'raw');
    assert.equal(result.status, 1);
    assert.match(result.stderr, /missing\.raw: not found, or no answer/);
    assert.ok(result.disk.equals(Buffer.alloc(16 * MIB, 0xaa)));
  });
  await t.test('qcow2', async () => {
    const result = await writeImage(t, '/image.raw', sha256(IMAGE), 'qcow2');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /image format qcow2: the agent writes raw, raw\.gz, raw\.xz and raw\.zst/);
    assert.ok(result.disk.equals(Buffer.alloc(16 * MIB, 0xaa)));
  });
});
