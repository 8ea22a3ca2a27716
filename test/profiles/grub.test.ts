import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grubBootstrap, grubFailure, grubKernelConfig, grubLocalBoot, grubPerCpuConfig, grubWord } from '../../src/profiles/grub.js';
import { chooseLoader, compileProfiles } from '../../src/profiles/profiles.js';
import type { TemplateVariables } from '../../src/profiles/template.js';
import type { MachineJson } from '../../src/store/index.js';
import { templateMachine } from '../helpers.js';

const variables = (machine: MachineJson): TemplateVariables => ({
  mac: 'b4:7a:f1:00:11:22',
  serverUrl: 'http://10.77.0.1:8080',
  filesUrl: 'http://10.77.0.1:8081',
  callbackUrl: 'http://10.77.0.1:8080/callback/m-0000000000ab/tok',
  agentUrl: null,
  metadataUrl: null,
  machineId: 'm-0000000000ab',
  machine,
});

test('grubWord: one literal word, a quote in it closed, escaped and reopened; control characters dropped', () => {
  assert.equal(grubWord('console=ttyS0'), "'console=ttyS0'");
  assert.equal(grubWord("it's"), `'it'\\''s'`);
  assert.equal(grubWord('a\nb\u0007c'), "'abc'");
  assert.equal(grubWord('${root}; reboot'), "'${root}; reboot'");
});

test('the bootstrap sources the configuration of the MAC GRUB booted from, else hands back to the firmware', () => {
  assert.equal(
    grubBootstrap(),
    [
      '# metalbox: each machine reads the configuration written for the MAC it booted from',
      'source /grub/machines/${net_default_mac}.cfg',
      "echo 'metalbox: no configuration for this machine; back to the firmware'",
      'exit 1',
      '',
    ].join('\n'),
  );
  assert.equal(grubLocalBoot(), "echo 'metalbox: booting from local disk'\nexit\n");
  assert.equal(grubFailure("profile x: it's broken\n; reboot"), "echo 'metalbox: profile x: it'\\''s broken; reboot'\nexit 1\n");
});

test('a kernel profile with loader grub: TFTP paths under /assets/, one word per parameter, no initrd= names', () => {
  const profiles = compileProfiles(
    {
      debian: {
        loader: 'grub',
        kernel: 'debian/linux',
        initrd: ['debian/initrd.gz', 'debian/fw.cpio'],
        cmdline: 'console=ttyS0  serial={{ machine.system.serial }} done={{ callbackUrl }}',
      },
    },
    { assetsDir: '/nonexistent', warn: () => {} },
  );
  const profile = profiles.get('debian')!;
  assert.equal(profile.loader, 'grub');
  // The serial tries to end the word, end the command and expand a GRUB variable: every
  // piece stays inside a word (`$` is dropped by the template, as for iPXE).
  const text = profile.grub(variables(templateMachine("x'; reboot; echo '${root}\nset")));
  assert.equal(
    text,
    [
      "echo 'metalbox: m-0000000000ab (b4:7a:f1:00:11:22) boots profile debian'",
      "linux '/assets/debian/linux' 'console=ttyS0' 'serial=x'\\'';' 'reboot;' 'echo' ''\\''{root}set' 'done=http://10.77.0.1:8080/callback/m-0000000000ab/tok'",
      "initrd '/assets/debian/initrd.gz' '/assets/debian/fw.cpio'",
      'boot',
      "echo 'metalbox: profile debian did not boot; leaving it to the firmware'\\''s next boot entry'",
      'exit 1',
      '',
    ].join('\n'),
  );
  // The same profile still boots with iPXE when iPXE asks (a machine whose firmware runs iPXE).
  assert.match(
    profile.script(variables(templateMachine('CZ1'))),
    /^kernel http:\/\/10\.77\.0\.1:8081\/assets\/debian\/linux initrd=initrd\.gz/m,
  );
});

test('the default loader comes from netboot.loader; an iPXE script or a URL cannot boot with GRUB', () => {
  const options = { loader: 'grub', assetsDir: '/nonexistent', warn: () => {} } as const;
  const defaulted = compileProfiles({ k: { kernel: 'k' }, own: { kernel: 'http://x/k', loader: 'ipxe' } }, options);
  assert.deepEqual([defaulted.get('k')!.loader, defaulted.get('own')!.loader], ['grub', 'ipxe']);
  assert.throws(() => compileProfiles({ k: { kernel: 'http://x/k' } }, { loader: 'grub' }), /profile k: loader grub reads files over TFTP/);
  assert.throws(
    () => compileProfiles({ s: { script: '#!ipxe\nexit', loader: 'grub' } }),
    /profile s: an iPXE script boots with iPXE only; for loader grub give kernel, initrd and cmdline/,
  );
  const script = compileProfiles({ s: { script: '#!ipxe\nexit' } }).get('s')!;
  assert.throws(() => script.grub(variables(templateMachine('x'))), /profile s is an iPXE script: it boots with iPXE only/);
});

test('Secure Boot on: GRUB where iPXE was asked and GRUB can boot the profile; refused, with the reason, where only iPXE can', () => {
  const profiles = compileProfiles(
    {
      assets: { kernel: 'k', initrd: 'i' },
      url: { kernel: 'k', initrd: 'http://mirror/i' },
      script: { script: '#!ipxe\nexit' },
      grub: { kernel: 'k', loader: 'grub' },
    },
    { assetsDir: '/nonexistent', warn: () => {} },
  );
  const get = (name: string) => profiles.get(name)!;
  assert.deepEqual([get('assets').ipxeOnly, get('grub').ipxeOnly], [null, null]);
  assert.equal(get('url').ipxeOnly, 'it names http://mirror/i, and GRUB reads files over TFTP from metalbox only');
  assert.equal(get('script').ipxeOnly, 'it is an iPXE script');
  // Secure Boot off, or unknown: the profile decides.
  assert.deepEqual(chooseLoader('ipxe', false, get('script')), { loader: 'ipxe' });
  assert.deepEqual(chooseLoader('grub', true, get('grub')), { loader: 'grub' });
  const grub = { loader: 'grub', because: 'Secure Boot is on (its agent read it): the signed GRUB, not iPXE' };
  assert.deepEqual(chooseLoader('ipxe', true, get('assets')), grub);
  // A local boot (and metalbox's agent) boots nothing of a profile's: GRUB can always.
  assert.deepEqual(chooseLoader('ipxe', true, null), grub);
  assert.deepEqual(chooseLoader('ipxe', true, get('script')), {
    refused:
      'Secure Boot is on (its agent read it) and profile script boots with iPXE only (it is an iPXE script), which is not signed: serve its kernel and initrds from --assets-dir, or turn Secure Boot off',
  });
  assert.match(
    (chooseLoader('ipxe', true, get('url')) as { refused: string }).refused,
    /profile url boots with iPXE only \(it names http:\/\/mirror\/i/,
  );
  // What GRUB cannot boot it refuses to write, even when asked.
  assert.throws(() => get('url').grub(variables(templateMachine('x'))), /profile url: GRUB cannot boot it: it names http:\/\/mirror\/i/);
});

test('grubKernelConfig with no command line and no initrd', () => {
  assert.equal(
    grubKernelConfig({ banner: 'b', kernelPath: '/agent/a1/vmlinuz', initrdPaths: [], cmdline: '  ', failure: 'f' }),
    "echo 'b'\nlinux '/agent/a1/vmlinuz'\nboot\necho 'f'\nexit 1\n",
  );
});

test("a kernel per CPU, chosen by GRUB's ${grub_cpu}; a CPU with none is told so and handed back to the firmware", () => {
  assert.equal(
    grubPerCpuConfig({
      banner: 'm-1 (b4:7a:f1:00:11:22) boots the agent',
      cmdline: "console=ttyS0 mbx.url=http://10.77.0.1:8080/agent/v1/m-1/t'k",
      failure: 'did not boot',
      missing: 'no agent image for this CPU',
      kernels: [
        { grubCpu: 'x86_64', kernelPath: '/agent/aaaa/vmlinuz', initrdPaths: ['/agent/aaaa/initrd.gz'] },
        { grubCpu: 'arm64', kernelPath: '/agent/bbbb/vmlinuz', initrdPaths: ['/agent/bbbb/initrd.gz'] },
      ],
    }),
    [
      "echo 'm-1 (b4:7a:f1:00:11:22) boots the agent'",
      `if [ "\${grub_cpu}" = 'x86_64' ]; then`,
      "  linux '/agent/aaaa/vmlinuz' 'console=ttyS0' 'mbx.url=http://10.77.0.1:8080/agent/v1/m-1/t'\\''k'",
      "  initrd '/agent/aaaa/initrd.gz'",
      `elif [ "\${grub_cpu}" = 'arm64' ]; then`,
      "  linux '/agent/bbbb/vmlinuz' 'console=ttyS0' 'mbx.url=http://10.77.0.1:8080/agent/v1/m-1/t'\\''k'",
      "  initrd '/agent/bbbb/initrd.gz'",
      'else',
      "  echo 'no agent image for this CPU'",
      '  exit 1',
      'fi',
      'boot',
      "echo 'did not boot'",
      'exit 1',
      '',
    ].join('\n'),
  );
});
