import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { AGENT_MODULES, AGENT_TOOLS, buildAgentImage, modinfoDepends, moduleClosure, parseModulesDep } from '../../src/agent/build.js';
import { elfLinking } from '../../src/agent/elf.js';
import { tempDir } from '../helpers.js';

test('the agent image: Debian kernel and busybox-static, the drivers and the agent program; reproducible and cached', async (t) => {
  // The cache the labs boot the image from (lab/kit.ts installAgentImage): made here, they find it built.
  const labCache = fileURLToPath(new URL('../../../.cache/agent', import.meta.url));
  const image = buildAgentImage(labCache);

  await t.test('under 60 MB in all', () => {
    const total = image.manifest.bytes.kernel + image.manifest.bytes.initrd;
    t.diagnostic(
      `kernel ${image.manifest.bytes.kernel} + initrd ${image.manifest.bytes.initrd} bytes, ${image.manifest.modules.length} modules`,
    );
    assert.ok(total < 60_000_000, `${total} bytes`);
  });

  await t.test('the initramfs holds /init, busybox, the agent, and every driver asked for with modules.dep and modules.alias', () => {
    const dir = tempDir(t);
    const archive = join(dir, 'initrd.cpio');
    execFileSync('sh', ['-c', `cat > ${archive}`], { input: gunzipSync(readFileSync(image.initrd)) });
    const listed = new Set(
      execFileSync('busybox', ['cpio', '-t', '-F', archive], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .trim()
        .split('\n'),
    );
    const modules = `lib/modules/${image.manifest.kernel.release}`;
    for (const path of ['init', 'bin/busybox', 'bin/sh', 'usr/bin/metalbox-agent', `${modules}/modules.dep`, `${modules}/modules.alias`]) {
      assert.ok(listed.has(path), path);
    }
    for (const name of AGENT_MODULES) assert.ok(image.manifest.modules.includes(name), `${name} is in the image`);
    assert.ok(listed.has(`${modules}/kernel/drivers/net/virtio_net.ko`));
    assert.ok(listed.has(`${modules}/kernel/drivers/nvme/host/nvme-core.ko`), "nvme's dependency came along");
    assert.ok(listed.has(`${modules}/kernel/block/t10-pi.ko`), "and nvme-core's own (block integrity), outside drivers/");
  });

  await t.test('the tools busybox lacks run inside the image with only its own libraries (chroot into it)', (t) => {
    if (process.getuid?.() !== 0) return t.skip('chroot needs root');
    const root = tempDir(t);
    execFileSync('sh', ['-c', 'gunzip -c "$1" | busybox cpio -i -d -H newc 2>/dev/null', 'unpack', image.initrd], { cwd: root });
    for (const tool of AGENT_TOOLS) {
      assert.ok(
        image.manifest.tools.some((pkg) => pkg.name === tool.package),
        `${tool.package} is in the manifest`,
      );
      // Without a library or the loader, the chroot's exec fails before the tool prints anything.
      // hdparm knows only -V.
      const version = execFileSync('chroot', [root, `/${tool.path}`, tool.package === 'hdparm' ? '-V' : '--version'], { encoding: 'utf8' });
      const expected = {
        zstd: /Zstandard/,
        fdisk: /sfdisk from util-linux/,
        tcpdump: /tcpdump version 4\.\d+.*\nlibpcap version 1\./,
        'nvme-cli': /nvme version 2\./,
        hdparm: /hdparm v9\./,
      };
      assert.match(version, expected[tool.package], tool.path);
    }
  });

  await t.test('ELF linking read from the zstd binary as Debian ships it', () => {
    const zstd = image.manifest.tools.find((pkg) => pkg.name === 'zstd')!;
    const root = tempDir(t);
    execFileSync('sh', [
      '-c',
      'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" ./usr/bin/zstd',
      'x',
      join(labCache, 'packages', `zstd_${zstd.version}_${zstd.architecture}.deb`),
      root,
    ]);
    // As readelf -d and readelf -l print them for bookworm's zstd 1.5.4+dfsg2-5+deb12u1.
    assert.deepEqual(elfLinking(readFileSync(join(root, 'usr/bin/zstd'))), {
      interpreter: '/lib64/ld-linux-x86-64.so.2',
      needed: ['libz.so.1', 'liblzma.so.5', 'liblz4.so.1', 'libc.so.6'],
    });
    assert.throws(() => elfLinking(Buffer.from('#!/bin/sh\n'.padEnd(80)), 'init'), /init: not an ELF file/);
  });

  await t.test('asked again: the cached image, not built again', () => {
    const again = buildAgentImage(labCache);
    assert.equal(again.built, false);
    assert.equal(again.dir, image.dir);
  });

  await t.test('built from nothing (another cache, the same packages): the same bytes', () => {
    const second = join(tempDir(t), 'agent');
    cpSync(join(labCache, 'packages'), join(second, 'packages'), { recursive: true });
    const rebuilt = buildAgentImage(second);
    assert.equal(rebuilt.built, true);
    assert.deepEqual(rebuilt.manifest.sha256, image.manifest.sha256);
  });
});

test('module closure: the modules named and what they need, once each; names the kernel lacks are left out', () => {
  const dependencies = parseModulesDep(
    [
      'kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko',
      'kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko',
      'kernel/net/core/failover.ko:',
      'kernel/drivers/nvme/host/nvme.ko: kernel/drivers/nvme/host/nvme-core.ko',
      'kernel/drivers/nvme/host/nvme-core.ko:',
      'kernel/drivers/gpu/drm/radeon/radeon.ko: kernel/drivers/gpu/drm/drm.ko',
    ].join('\n'),
  );
  assert.deepEqual(moduleClosure(dependencies, ['virtio_net', 'nvme_core', 'no_such_driver']), [
    'kernel/drivers/net/net_failover.ko',
    'kernel/drivers/net/virtio_net.ko',
    'kernel/drivers/nvme/host/nvme-core.ko',
    'kernel/net/core/failover.ko',
  ]);
});

test("modinfo's depends: the names the kernel's build recorded, none when the entry is absent or empty", () => {
  const modinfo = (entries: string) => Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.from(`\0${entries}\0`, 'latin1')]);
  assert.deepEqual(modinfoDepends(modinfo('license=GPL\0depends=t10-pi,crc64-rocksoft\0intree=Y')), ['t10-pi', 'crc64-rocksoft']);
  assert.deepEqual(modinfoDepends(modinfo('license=GPL\0depends=\0intree=Y')), []);
  assert.deepEqual(modinfoDepends(modinfo('license=GPL\0intree=Y')), []);
});
