import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

/**
 * Stand-ins for nvme-cli and hdparm, the one fake here: no NVMe namespace or ATA drive can
 * be formatted on this machine (files stand for disks). They print what nvme-cli 2.3's
 * id-ctrl and hdparm 9.65's -I print (the lines the agent reads), log every call, and
 * "erase" by zeroing the whole file, as the real commands leave a disk.
 */
function secureEraseTools(
  t: Parameters<typeof tempDir>[0],
  options: { oacs: string; ata: 'erasable' | 'frozen' | 'none'; formatFails?: boolean },
) {
  const bin = tempDir(t);
  const log = join(bin, 'calls.log');
  const zero = 'dd if=/dev/zero of="$dev" bs=1M count=$(($(stat -c %s "$dev") / 1048576)) conv=notrunc 2>/dev/null';
  writeFileSync(
    join(bin, 'nvme'),
    `#!/bin/sh
echo "nvme $*" >>"${log}"
case "$1" in
id-ctrl) printf 'NVME Identify Controller:\\nvid       : 0x144d\\noacs      : ${options.oacs}\\nacl       : 7\\n' ;;
format)
  ${options.formatFails ? `echo 'NVMe status: Invalid Field in Command: A reserved coded value or an unsupported value in a defined field(0x4002)' >&2; exit 2` : `dev=$2; ${zero}`} ;;
esac
`,
    { mode: 0o755 },
  );
  const security = {
    erasable:
      'Security: \\n\\tMaster password revision code = 65534\\n\\t\\tsupported\\n\\tnot\\tenabled\\n\\tnot\\tlocked\\n\\tnot\\tfrozen\\n\\tnot\\texpired: security count\\n\\t\\tsupported: enhanced erase\\n\\t2min for SECURITY ERASE UNIT. 2min for ENHANCED SECURITY ERASE UNIT.\\n',
    frozen:
      'Security: \\n\\tMaster password revision code = 65534\\n\\t\\tsupported\\n\\tnot\\tenabled\\n\\tnot\\tlocked\\n\\t\\tfrozen\\n\\tnot\\texpired: security count\\n',
    none: '',
  }[options.ata];
  writeFileSync(
    join(bin, 'hdparm'),
    `#!/bin/sh
echo "hdparm $*" >>"${log}"
case "$1" in
-I) printf 'ATA device, with non-removable media\\n\\tModel Number:       MTFDDAV240TDU\\n${security}Logical Unit WWN Device Identifier: 500a0751e1234567\\n' ;;
--user-master) case "$3" in --security-erase*) dev=$5; ${zero} ;; esac ;;
esac
`,
    { mode: 0o755 },
  );
  return { path: `${bin}:${process.env.PATH}`, calls: () => readFileSync(log, 'utf8').replaceAll(`${dirname(log)}`, 'BIN') };
}

/** 200 MiB files full of 0xaa named as the kernel names disks (the agent picks the erase by the name), in one folder. */
function fileDisks(t: Parameters<typeof tempDir>[0], names: string[]): { dir: string; disks: string[] } {
  const dir = tempDir(t);
  const disks = names.map((name) => {
    const disk = join(dir, name);
    writeFileSync(disk, Buffer.alloc(200 * MIB, 0xaa));
    return disk;
  });
  return { dir, disks };
}

test('wipe --secure: an NVMe disk is formatted and an ATA disk secure-erased by themselves, then wiped; a virtio disk only wiped', (t) => {
  const { dir, disks } = fileDisks(t, ['nvme0n1', 'sda', 'vda']);
  // OACS 0x17: bit 1, Format NVM, is set.
  const tools = secureEraseTools(t, { oacs: '0x17', ata: 'erasable' });
  const result = spawnSync('busybox', ['sh', AGENT, 'wipe', '--secure', ...disks], { encoding: 'utf8', env: { PATH: tools.path } });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(
    result.stdout,
    `${disks[0]} false nvme-format\n${disks[1]} false ata-enhanced-erase\n${disks[2]} false unsupported:not-nvme-or-ata\n`,
  );
  assert.equal(
    tools.calls().replaceAll(dir, 'DIR'),
    [
      'nvme id-ctrl DIR/nvme0n1',
      'nvme format DIR/nvme0n1 --ses=1 --force',
      'hdparm -I DIR/sda',
      'hdparm --user-master u --security-set-pass metalbox DIR/sda',
      'hdparm --user-master u --security-erase-enhanced metalbox DIR/sda',
      '',
    ].join('\n'),
  );
  for (const disk of disks.slice(0, 2)) assert.ok(isZero(readFileSync(disk)), `${disk}: erased whole`);
  const virtio = readFileSync(disks[2]!);
  assert.ok(isZero(virtio.subarray(0, 64 * MIB)) && isFill(virtio.subarray(64 * MIB, 136 * MIB)), 'the virtio disk: its ends only');
});

test('wipe --secure: a controller without Format NVM, a frozen drive and one without ATA security are wiped the ordinary way, and say why', (t) => {
  const { disks } = fileDisks(t, ['nvme0n1', 'sda']);
  const frozen = secureEraseTools(t, { oacs: '0x5', ata: 'frozen' });
  const result = spawnSync('busybox', ['sh', AGENT, 'wipe', '--secure', ...disks], { encoding: 'utf8', env: { PATH: frozen.path } });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, `${disks[0]} false unsupported:no-format-nvm\n${disks[1]} false unsupported:ata-frozen\n`);
  assert.doesNotMatch(frozen.calls(), /format|security-/, 'nothing asked of the disks but to identify themselves');
  for (const disk of disks) assert.ok(isFill(readFileSync(disk).subarray(64 * MIB, 136 * MIB)), `${disk}: not erased whole`);

  const none = secureEraseTools(t, { oacs: '0x17', ata: 'none' });
  const plain = spawnSync('busybox', ['sh', AGENT, 'wipe', '--secure', disks[1]!], { encoding: 'utf8', env: { PATH: none.path } });
  assert.equal(plain.stdout, `${disks[1]} false unsupported:no-ata-security\n`);
});

test('wipe --secure: a format the controller offers but fails stops the wipe with its status; without --secure the tools are never called', (t) => {
  const { disks } = fileDisks(t, ['nvme0n1', 'sda']);
  const failing = secureEraseTools(t, { oacs: '0x17', ata: 'erasable', formatFails: true });
  const result = spawnSync('busybox', ['sh', AGENT, 'wipe', '--secure', ...disks], { encoding: 'utf8', env: { PATH: failing.path } });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /wipe: .*nvme0n1: nvme format --ses=1 failed: NVMe status: Invalid Field in Command/);
  assert.doesNotMatch(failing.calls(), /hdparm/, 'the disks after it are left for the next attempt');

  const ordinary = secureEraseTools(t, { oacs: '0x17', ata: 'erasable' });
  const plain = spawnSync('busybox', ['sh', AGENT, 'wipe', ...disks], { encoding: 'utf8', env: { PATH: ordinary.path } });
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(plain.stdout, `${disks[0]} false\n${disks[1]} false\n`);
  assert.throws(() => ordinary.calls(), /ENOENT/, 'no call logged');
});
