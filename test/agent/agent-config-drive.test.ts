import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configDrive } from '../../src/agent/config-drive.js';
import { tempDir } from '../helpers.js';

const AGENT = fileURLToPath(new URL('../../../agent/metalbox-agent', import.meta.url));
const MIB = 1024 * 1024;
const META_DATA = 'instance-id: m-1\nlocal-hostname: m-1\n';

interface SfdiskTable {
  partitiontable: { label: string; lastlba?: number; partitions: Array<{ start: number; size: number; type: string }> };
}

/**
 * An image as a distribution publishes it (4 MiB, one 2 MiB partition from 1 MiB, its table
 * made by sfdisk), written at the start of a 16 MiB file disk as write-image leaves it.
 */
function diskWithImage(t: Parameters<typeof tempDir>[0], label: 'gpt' | 'dos'): string {
  const image = join(tempDir(t), 'image.raw');
  writeFileSync(image, Buffer.alloc(4 * MIB));
  execFileSync('sfdisk', ['-q', image], { input: `label: ${label}\nstart=2048, size=4096, type=L\n` });
  const disk = join(tempDir(t), 'disk');
  writeFileSync(disk, Buffer.concat([readFileSync(image), Buffer.alloc(12 * MIB)]));
  return disk;
}

async function runConfigDrive(t: Parameters<typeof tempDir>[0], disk: string, status = 200) {
  const drive = configDrive([
    ['meta-data', Buffer.from(META_DATA)],
    ['user-data', Buffer.from('#cloud-config\n')],
  ]);
  const server = createServer((_request, response) => response.writeHead(status, { 'content-length': drive.length }).end(drive));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/config-drive`;
  // Asynchronously: the server above runs on this process's event loop.
  return new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile('busybox', ['sh', AGENT, 'config-drive', disk, url], (error, stdout, stderr) =>
      resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const table = (disk: string) => (JSON.parse(execFileSync('sfdisk', ['-J', disk], { encoding: 'utf8' })) as SfdiskTable).partitiontable;

test("config-drive: a partition after the image's, holding the CIDATA filesystem; a GPT's backup moved to the disk's end first", async (t) => {
  for (const label of ['gpt', 'dos'] as const) {
    await t.test(label, async (t) => {
      const disk = diskWithImage(t, label);
      const result = await runConfigDrive(t, disk);
      assert.equal(result.status, 0, result.stderr);
      const after = table(disk);
      assert.equal(after.label, label);
      // The image's partition is untouched; the new one is 2 MiB (4096 sectors) right after it, at sector 6144 (3 MiB).
      assert.deepEqual(
        after.partitions.map((partition) => [partition.start, partition.size]),
        [
          [2048, 4096],
          [6144, 4096],
        ],
      );
      assert.match(result.stdout, /config drive: partition at sector 6144/);
      // GPT: the backup header is on the disk's last sector now (16 MiB = 32768 sectors; usable to 32768 - 34).
      if (label === 'gpt') assert.equal(after.lastlba, 32768 - 34);
      execFileSync('sfdisk', ['-V', disk]);
      // The filesystem at that offset reads as the drive metalbox made.
      const offset = `${disk}@@${6144 * 512}`;
      assert.equal(execFileSync('mtype', ['-i', offset, '::meta-data'], { encoding: 'utf8' }), META_DATA);
      assert.match(execFileSync('blkid', ['-o', 'export', '-p', '-O', String(6144 * 512), disk], { encoding: 'utf8' }), /^LABEL=CIDATA$/m);
    });
  }
});

test('config-drive: not fetched, the disk is left as it was and the reason is given', async (t) => {
  const disk = diskWithImage(t, 'gpt');
  const before = readFileSync(disk);
  const result = await runConfigDrive(t, disk, 404);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /config drive: not fetched from metalbox/);
  assert.ok(readFileSync(disk).equals(before));
});
