import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { newcArchive } from '../../src/agent/cpio.js';
import { tempDir } from '../helpers.js';

const ENTRIES = [
  { path: 'bin/busybox', kind: 'file', mode: 0o755, data: Buffer.from('#!/bin/sh\necho hi\n') },
  { path: 'bin', kind: 'directory' },
  { path: 'bin/sh', kind: 'symlink', target: 'busybox' },
  { path: 'init', kind: 'file', mode: 0o755, data: Buffer.from('x') },
] as const;

test('newc archive: busybox cpio lists and unpacks it, modes, links and contents intact', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'initrd.cpio'), newcArchive(ENTRIES));
  const listed = execFileSync('busybox', ['cpio', '-t', '-F', join(dir, 'initrd.cpio')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  assert.deepEqual(listed.trim().split('\n'), ['bin', 'bin/busybox', 'bin/sh', 'init'], 'in path order, parents first');
  const out = join(dir, 'out');
  execFileSync('sh', ['-c', `mkdir ${out} && cd ${out} && busybox cpio -i -d < ../initrd.cpio`], { stdio: 'ignore' });
  assert.equal(readFileSync(join(out, 'bin/busybox'), 'utf8'), '#!/bin/sh\necho hi\n');
  assert.equal(lstatSync(join(out, 'bin/busybox')).mode & 0o777, 0o755);
  assert.equal(readlinkSync(join(out, 'bin/sh')), 'busybox');
  assert.equal(readFileSync(join(out, 'init'), 'utf8'), 'x');
});

test('newc archive: the same entries in any order give the same bytes; the header fields are the ones the kernel reads', () => {
  const archive = newcArchive(ENTRIES, 1_700_000_000);
  assert.deepEqual(newcArchive([...ENTRIES].reverse(), 1_700_000_000), archive);
  // First entry "bin": magic, ino 1, mode 040755, uid 0, gid 0, nlink 2, mtime 0x6553f100, size 0, …, namesize 4 ("bin\0").
  const header = archive.subarray(0, 110).toString('ascii');
  assert.equal(header.slice(0, 6), '070701');
  const field = (index: number) => Number.parseInt(header.slice(6 + index * 8, 14 + index * 8), 16);
  assert.deepEqual(
    [field(0), field(1), field(2), field(3), field(4), field(5), field(6), field(11)],
    [1, 0o40755, 0, 0, 2, 0x6553f100, 0, 4],
  );
  // 110 + 4 name bytes = 114, padded to 116: the next header starts there.
  assert.equal(archive.subarray(116, 122).toString('ascii'), '070701');
  assert.equal(archive.length % 4, 0);
  assert.ok(archive.includes(Buffer.from('TRAILER!!!\0')), 'ends with the trailer');
});

test('newc archive: a duplicate, absolute or escaping path is refused', () => {
  assert.throws(
    () =>
      newcArchive([
        { path: 'a', kind: 'directory' },
        { path: 'a', kind: 'directory' },
      ]),
    /duplicate/,
  );
  assert.throws(() => newcArchive([{ path: '/etc', kind: 'directory' }]), /absolute/);
  assert.throws(() => newcArchive([{ path: 'a/../../x', kind: 'directory' }]), /escaping/);
});
