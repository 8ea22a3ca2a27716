import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CONFIG_DRIVE_BYTES, configDrive, shortName } from '../../src/agent/config-drive.js';
import { tempDir } from '../helpers.js';

/** The files of a machine's NoCloud seed, one of them past a cluster (512 bytes) so its chain has several links. */
const FILES = [
  ['meta-data', Buffer.from('instance-id: m-1\nlocal-hostname: m-1\n')],
  ['user-data', Buffer.from(`#cloud-config\nwrite_files:\n  - path: /etc/motd\n    content: "${'x'.repeat(1500)}"\n`)],
  ['network-config', Buffer.from('version: 2\nethernets: {}\n')],
] as const;

test('config drive: real FAT tools read what metalbox wrote (fsck.fat clean, blkid sees CIDATA, mtools reads each file by its long name)', (t) => {
  const file = join(tempDir(t), 'cidata.img');
  const image = configDrive(FILES);
  assert.equal(image.length, CONFIG_DRIVE_BYTES);
  writeFileSync(file, image);
  // -n: check only; it exits non-zero on any inconsistency (FAT copies that differ, a bad chain, a lost cluster).
  execFileSync('fsck.fat', ['-n', file]);
  const blkid = execFileSync('blkid', ['-o', 'export', file], { encoding: 'utf8' });
  assert.match(blkid, /^LABEL=CIDATA$/m);
  assert.match(blkid, /^TYPE=vfat$/m);
  assert.match(blkid, /^SEC_TYPE=msdos$/m, 'FAT12');
  for (const [name, data] of FILES) assert.equal(execFileSync('mtype', ['-i', file, `::${name}`], { encoding: 'utf8' }), data.toString());
  const listing = execFileSync('mdir', ['-i', file, '-b', '::'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
  assert.deepEqual(listing, ['::/meta-data', '::/network-config', '::/user-data']);
});

test('config drive: the same files give the same bytes; other files another volume id', () => {
  assert.ok(configDrive(FILES).equals(configDrive(FILES)));
  const other = configDrive([['meta-data', Buffer.from('instance-id: m-2\n')]]);
  // The volume id: bytes 39..42 of the boot sector (FAT12/16 extended BPB).
  assert.notDeepEqual(other.subarray(39, 43), configDrive(FILES).subarray(39, 43));
});

test('config drive: more than it holds is refused with the sizes', () => {
  // 2 MiB less the boot sector, two 12-sector FATs and 8 root sectors: 4063 clusters of 512 bytes.
  assert.throws(() => configDrive([['big', Buffer.alloc(4064 * 512)]]), {
    code: 'E_DEPLOY',
    message: 'the metadata files need 2080768 bytes; a config drive holds 2080256',
  });
  assert.doesNotThrow(() => configDrive([['big', Buffer.alloc(4063 * 512)]]));
});

test('short names: six characters, ~N, three of the extension; unique in the directory', () => {
  const taken = new Set<string>();
  assert.equal(shortName('user-data', taken), 'USER-D~1   ');
  assert.equal(shortName('user-data', taken), 'USER-D~2   ');
  assert.equal(shortName('preseed.cfg', taken), 'PRESEE~1CFG');
  assert.equal(shortName('ignition.json', taken), 'IGNITI~1JSO');
  assert.equal(shortName('+++', taken), 'FILE~1     ');
});
