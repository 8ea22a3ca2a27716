import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseRange } from '../../src/ipxe/http-files.js';
import { chainScript, compileProfiles, localBootScript } from '../../src/profiles/profiles.js';
import { Template, TemplateError, type TemplateVariables } from '../../src/profiles/template.js';
import { templateMachine, tempDir } from '../helpers.js';

const variables = (): TemplateVariables => ({
  mac: 'b4:7a:f1:00:11:22',
  serverUrl: 'http://10.77.0.1:8080',
  // A file thread's port: files under /assets/ are named there, everything else on serverUrl.
  filesUrl: 'http://10.77.0.1:8081',
  callbackUrl: 'http://10.77.0.1:8080/callback/m-0000000000ab/tok',
  agentUrl: 'http://10.77.0.1:8080/agent/v1/m-0000000000ab/tok',
  metadataUrl: 'http://10.77.0.1:8080/metadata/m-0000000000ab/tok/',
  machineId: 'm-0000000000ab',
  machine: templateMachine(),
});

test('templates fill names, leave iPXE settings alone and defang BMC values', () => {
  const template = new Template(
    'ks={{ serverUrl }}/ks/{{mac}} sn={{ machine.system.serial }} nic0={{ machine.nics.0.mac }} sku=[{{ machine.system.sku }}] cores={{ machine.cpu.cores }} ip=${ip}',
  );
  assert.deepEqual(template.names, [
    'serverUrl',
    'mac',
    'machine.system.serial',
    'machine.nics.0.mac',
    'machine.system.sku',
    'machine.cpu.cores',
  ]);
  assert.equal(
    template.render(variables()),
    // serial "CZJ$1{x}\nshell" loses the $ and the newline; the null sku renders empty
    'ks=http://10.77.0.1:8080/ks/b4:7a:f1:00:11:22 sn=CZJ1{x}shell nic0=b4:7a:f1:00:11:22 sku=[] cores=64 ip=${ip}',
  );
});

test('unknown names are refused when the template is made; missing values when it renders', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['{{ hostname }}', /unknown variable \{\{ hostname \}\}/],
    ['{{ machine.system.colour }}', /the machine has no field colour/],
    ['{{ machine.nics.first.mac }}', /a list needs an index, not first/],
    ['{{ machine.system }}', /not a plain value/],
    ['{{ mac.vendor }}', /mac has no fields/],
    ['{{ machine.id.x }}', /past a plain value/],
    ['{{ a b }}', /is not a variable name/],
    ['console={{ mac }', /unbalanced/],
  ];
  for (const [source, message] of bad) {
    await t.test(source, () =>
      assert.throws(
        () => new Template(source),
        (error) => error instanceof TemplateError && message.test(error.message),
      ),
    );
  }
  assert.throws(
    () => new Template('{{ machine.nics.3.mac }}').render(variables()),
    /machine\.nics\.3\.mac \}\} has no value for machine m-0000000000ab/,
  );
  assert.throws(() => new Template('{{ callbackUrl }}').render({ ...variables(), callbackUrl: null }), /callbackUrl \}\} has no value/);
});

test('a kernel profile becomes a script with named initrds, asset URLs and a fallback', (t) => {
  const assetsDir = join(tempDir(t), 'assets');
  mkdirSync(join(assetsDir, 'debian'), { recursive: true });
  writeFileSync(join(assetsDir, 'debian', 'linux'), 'k');
  const warnings: string[] = [];
  const profiles = compileProfiles(
    {
      debian: {
        kernel: 'debian/linux',
        initrd: ['debian/initrd.gz', 'http://mirror.example/fw.cpio'],
        cmdline: 'console=ttyS0 done={{ callbackUrl }}',
      },
      bare: { kernel: 'http://mirror.example/vmlinuz' },
    },
    { assetsDir, warn: (message) => warnings.push(message) },
  );
  assert.deepEqual(warnings, [`profile debian: initrd ${join(assetsDir, 'debian/initrd.gz')} does not exist (yet)`]);
  assert.deepEqual(profiles.get('debian')!.assets, { kernel: 'debian/linux', initrds: ['debian/initrd.gz'] });
  // Only profiles naming machine.* make the script path read the machine's record.
  assert.equal(profiles.get('debian')!.readsMachine, false);
  assert.equal(compileProfiles({ serial: { script: '#!ipxe\necho {{ machine.system.serial }}' } }).get('serial')!.readsMachine, true);
  assert.equal(
    profiles.get('debian')!.script(variables()),
    [
      '#!ipxe',
      'echo metalbox: m-0000000000ab (b4:7a:f1:00:11:22) boots profile debian',
      'kernel http://10.77.0.1:8081/assets/debian/linux initrd=initrd.gz initrd=fw.cpio console=ttyS0 done=http://10.77.0.1:8080/callback/m-0000000000ab/tok || goto failed',
      'initrd --name initrd.gz http://10.77.0.1:8081/assets/debian/initrd.gz || goto failed',
      'initrd --name fw.cpio http://mirror.example/fw.cpio || goto failed',
      'boot || goto failed',
      ':failed',
      "echo metalbox: profile debian did not boot; leaving it to the firmware's next boot entry",
      'exit 1',
      '',
    ].join('\n'),
  );
  assert.match(profiles.get('bare')!.script(variables()), /^kernel http:\/\/mirror\.example\/vmlinuz \|\| goto failed$/m);

  // A command line that names its initrd, as Debian's installer docs write it: kept, none added.
  const own = compileProfiles({
    d: { kernel: 'http://mirror.example/linux', initrd: 'http://mirror.example/d-i/initrd.gz', cmdline: 'initrd=initrd.gz auto=true' },
  });
  assert.match(
    own.get('d')!.script(variables()),
    /^kernel http:\/\/mirror\.example\/linux initrd=initrd\.gz auto=true \|\| goto failed\ninitrd --name initrd\.gz http:\/\/mirror\.example\/d-i\/initrd\.gz \|\| goto failed$/m,
  );
});

test('a discovery profile may name {{ callbackUrl }} and {{ agentUrl }}: machines PXE discovery finds have a record and an operation', () => {
  const profiles = compileProfiles(
    { p: { kernel: 'http://x/k', cmdline: 'cb={{ callbackUrl }} agent={{ agentUrl }}' } },
    { discoveryProfile: 'p' },
  );
  assert.match(
    profiles.get('p')!.script(variables()),
    /cb=http:\/\/10\.77\.0\.1:8080\/callback\/m-0000000000ab\/tok agent=http:\/\/10\.77\.0\.1:8080\/agent\/v1\/m-0000000000ab\/tok/,
  );
});

test('profile mistakes stop the start with the profile and the fix', async (t) => {
  const cases: Array<[Parameters<typeof compileProfiles>[0], Parameters<typeof compileProfiles>[1], RegExp]> = [
    [
      { p: { kernel: '../etc/shadow' } },
      { assetsDir: '/srv' },
      /profile p: kernel "\.\.\/etc\/shadow" must be an http\(s\) URL or a relative path/,
    ],
    [{ p: { kernel: '/boot/vmlinuz' } }, { assetsDir: '/srv' }, /must be an http\(s\) URL or a relative path/],
    [{ p: { kernel: 'vmlinuz' } }, {}, /profile p: kernel vmlinuz is a path under --assets-dir, and --assets-dir is not set/],
    [{ p: { initrd: 'x' } }, {}, /profile p: needs a kernel/],
    [
      { p: { kernel: 'http://x/k', initrd: ['http://x/a/initrd.gz', 'http://x/b/initrd.gz'] } },
      {},
      /profile p: two initrds are named initrd\.gz/,
    ],
    [{ p: { kernel: 'http://x/k', initrd: 'http://x/initrd/' } }, {}, /initrd URL http:\/\/x\/initrd\/ must end in a file name/],
    [{ p: { script: '#!ipxe\nexit', kernel: 'http://x/k' } }, {}, /either script, or kernel/],
    [{ p: { script: 'chain http://x' } }, {}, /script must start with #!ipxe/],
    [
      { p: { kernel: 'http://x/k', cmdline: '{{ machine.serial }}' } },
      {},
      /profile p: unknown variable \{\{ machine\.serial \}\}: the machine has no field serial/,
    ],
    [
      { p: { kernel: 'http://x/k' } },
      { discoveryProfile: 'q' },
      /boot\.discoveryProfile names profile q, which the config does not define/,
    ],
    [{ 'metalbox-agent': { kernel: 'http://x/k' } }, {}, /profile metalbox-agent: the name is metalbox's own agent's; choose another/],
  ];
  for (const [profiles, options, message] of cases) {
    await t.test(String(message), () => assert.throws(() => compileProfiles(profiles, options), message));
  }
});

test('chain and local-boot scripts', () => {
  assert.equal(
    chainScript('http://10.77.0.1:8080'),
    '#!ipxe\nchain http://10.77.0.1:8080/boot.ipxe?mac=${mac:hexhyp}&arch=${buildarch}&platform=${platform}\n',
  );
  assert.match(localBootScript('exit', 'pcbios'), /\nexit\n$/);
  assert.match(localBootScript('sanboot', 'pcbios'), /\nsanboot --no-describe --drive 0x80 \|\| exit\n$/);
  assert.match(localBootScript('sanboot', 'efi'), /\nexit\n$/, 'UEFI has no BIOS drive 0x80');
});

test('Range headers: one range, suffixes, clamping, and what is ignored or unsatisfiable', () => {
  assert.equal(parseRange(undefined, 100), null);
  assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-500', 100), { start: 0, end: 99 });
  assert.deepEqual(parseRange('bytes=50-5000', 100), { start: 50, end: 99 });
  assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=9-0', 100), null, 'an invalid range is ignored');
  assert.equal(parseRange('bytes=0-1,5-6', 100), null, 'several ranges: the whole body');
  assert.equal(parseRange('items=0-1', 100), null);
});
