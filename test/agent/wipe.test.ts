import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers.js';

const AGENT = fileURLToPath(new URL('../../../agent/metalbox-agent', import.meta.url));
const MIB = 1024 * 1024;

/** A 200 MiB file disk full of 0xaa with a GPT of two partitions: 1–100 MiB and 100–150 MiB. */
function usedDisk(t: Parameters<typeof tempDir>[0]): string {
  const disk = join(tempDir(t), 'disk');
  writeFileSync(disk, Buffer.alloc(200 * MIB, 0xaa));
  execFileSync('sfdisk', ['-q', disk], { input: 'label: gpt\nstart=2048, size=202752, type=L\nstart=204800, size=102400, type=L\n' });
  return disk;
}

const isZero = (bytes: Buffer) => bytes.every((byte) => byte === 0);
const isFill = (bytes: Buffer) => bytes.every((byte) => byte === 0xaa);

test("wipe: the disk's first and last 64 MiB and each partition's first MiB are zeroed; nothing else is written", (t) => {
  const disk = usedDisk(t);
  // A file is not a block device: no discard, so the disk reports discarded false.
  const result = spawnSync('busybox', ['sh', AGENT, 'wipe', disk], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, `${disk} false\n`);
  const bytes = readFileSync(disk);
  assert.ok(isZero(bytes.subarray(0, 64 * MIB)), 'the first 64 MiB: the protective MBR, the GPT and the first partition start');
  assert.ok(isZero(bytes.subarray(136 * MIB)), 'the last 64 MiB: the backup GPT');
  // The second partition starts at sector 204800 (100 MiB): its first MiB zeroed, the rest as it was.
  assert.ok(isFill(bytes.subarray(64 * MIB, 100 * MIB)), 'between: untouched');
  assert.ok(isZero(bytes.subarray(100 * MIB, 101 * MIB)));
  assert.ok(isFill(bytes.subarray(101 * MIB, 136 * MIB)));
  // Nothing left for sfdisk or blkid to find.
  assert.notEqual(spawnSync('sfdisk', ['-d', disk]).status, 0);
  assert.equal(spawnSync('blkid', ['-p', disk]).status, 2, 'blkid: nothing found');
});

test('wipe: a disk that is not there fails with its name; disks before it were wiped', (t) => {
  const disk = usedDisk(t);
  const missing = join(tempDir(t), 'no-such-disk');
  const result = spawnSync('busybox', ['sh', AGENT, 'wipe', disk, missing], { encoding: 'utf8' });
  assert.equal(result.status, 1);
  assert.match(result.stderr, new RegExp(`wipe: ${missing}: no such disk`));
  assert.ok(isZero(readFileSync(disk).subarray(0, 64 * MIB)));
});
