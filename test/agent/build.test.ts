import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { AGENT_MODULES, buildAgentImage, moduleClosure, parseModulesDep } from '../../src/agent/build.js';
import { tempDir } from '../helpers.js';

test('the agent image: Debian kernel and busybox-static, the drivers and the agent program; reproducible and cached', async (t) => {
  const first = join(tempDir(t), 'agent');
  const image = buildAgentImage(first);
  assert.equal(image.built, true);

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
  });

  await t.test('asked again: the cached image, not built again', () => {
    const again = buildAgentImage(first);
    assert.equal(again.built, false);
    assert.equal(again.dir, image.dir);
  });

  await t.test('built again from nothing (another cache, the same packages): the same bytes', () => {
    const second = join(tempDir(t), 'agent');
    cpSync(join(first, 'packages'), join(second, 'packages'), { recursive: true });
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
