import assert from 'node:assert/strict';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAgentImage } from '../../src/agent/image.js';
import { agentProfile } from '../../src/agent/profile.js';
import type { TemplateVariables } from '../../src/profiles/template.js';
import { tempDir } from '../helpers.js';
import { standInImage } from './kit.js';

const variables: TemplateVariables = {
  mac: '52:54:00:77:04:a1',
  serverUrl: 'http://10.77.4.1:8080',
  filesUrl: 'http://10.77.4.1:8080',
  callbackUrl: null,
  agentUrl: 'http://10.77.4.1:8080/agent/v1/m-1/tok',
  metadataUrl: null,
  machineId: 'm-1',
  machine: null,
};

test("the newest image of each CPU, damaged ones passed over; iPXE boots amd64's, GRUB each CPU's own", (t) => {
  const dir = tempDir(t);
  const cache = join(dir, 'agent');
  const at = (key: string, seconds: number) => utimesSync(join(cache, key, 'manifest.json'), seconds, seconds);
  // An amd64 image from before images named their CPU, a newer amd64 one, an arm64 one, and a newest arm64 one damaged.
  standInImage(dir, 'a000000000000001');
  at('a000000000000001', 1000);
  standInImage(dir, 'a000000000000002', 'amd64');
  at('a000000000000002', 2000);
  standInImage(dir, 'b000000000000001', 'arm64');
  at('b000000000000001', 1500);
  standInImage(dir, 'b000000000000002', 'arm64');
  writeFileSync(join(cache, 'b000000000000002', 'initrd.gz'), 'not what the manifest says');
  at('b000000000000002', 3000);

  const image = loadAgentImage(cache)!;
  assert.deepEqual(
    [...image.builds].map(([arch, build]) => [arch, build.kernelPath, build.initrdPath]),
    // Newest first: the damaged arm64 (passed over), the newer amd64, the good arm64; the old amd64 is not needed.
    [
      ['amd64', '/agent/a000000000000002/vmlinuz', '/agent/a000000000000002/initrd.gz'],
      ['arm64', '/agent/b000000000000001/vmlinuz', '/agent/b000000000000001/initrd.gz'],
    ],
  );
  assert.deepEqual([...image.files.keys()].sort(), [
    '/agent/a000000000000002/initrd.gz',
    '/agent/a000000000000002/vmlinuz',
    '/agent/b000000000000001/initrd.gz',
    '/agent/b000000000000001/vmlinuz',
  ]);

  const profile = agentProfile(image, { lldpSeconds: 30, loader: 'ipxe' });
  assert.match(profile.script(variables), /^kernel http:\/\/10\.77\.4\.1:8080\/agent\/a000000000000002\/vmlinuz initrd=initrd\.gz /m);
  const grub = profile.grub(variables);
  assert.match(grub, /^if \[ "\$\{grub_cpu\}" = 'x86_64' \]; then\n {2}linux '\/agent\/a000000000000002\/vmlinuz' /m);
  assert.match(grub, /^elif \[ "\$\{grub_cpu\}" = 'arm64' \]; then\n {2}linux '\/agent\/b000000000000001\/vmlinuz' /m);

  // Only an arm64 image: GRUB on x86 is told there is none for its CPU, and iPXE (x86 only) has nothing to boot.
  const armOnly = join(dir, 'arm-only');
  standInImage(armOnly, 'c000000000000001', 'arm64');
  const arm = agentProfile(loadAgentImage(join(armOnly, 'agent'))!, { lldpSeconds: 30, loader: 'grub' });
  assert.throws(() => arm.script(variables), /there is no amd64 agent image for iPXE to boot \(metalbox agent build --arch amd64\)/);
  assert.match(
    arm.grub(variables),
    /^if \[ "\$\{grub_cpu\}" = 'arm64' \]; then\n[\s\S]*^else\n {2}echo 'metalbox: no agent image for this CPU \(built: arm64; metalbox agent build --arch\)'\n {2}exit 1\nfi$/m,
  );
  assert.equal(loadAgentImage(join(dir, 'none')), null);
});
