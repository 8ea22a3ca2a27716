import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { Catalog } from '../../src/profiles/catalog.js';
import { Store } from '../../src/store/index.js';
import { seedMachine, tempDir } from '../helpers.js';
import { startAppliance } from '../onboarding/appliance.js';
import { startMockup } from '../../lab/redfish-mockup.js';

const CONFIG = {
  profiles: {
    lab: { kernel: 'http://mirror.example/vmlinuz', initrd: 'http://mirror.example/initrd', cmdline: 'mbx.done={{ callbackUrl }}' },
  },
  serverTypes: [{ name: 'hpe', match: { 'system.manufacturer': 'HPE' }, profile: 'lab' }],
};

test('profiles and server types applied through the API win over the config by name, and outlive a restart', (t) => {
  const dir = tempDir(t);
  const store = Store.open(dir);
  t.after(() => store.close());
  const catalog = new Catalog(store.catalog, CONFIG, {});
  catalog.applyProfiles({
    lab: { script: '#!ipxe\nchain {{ serverUrl }}/x/{{ mac }}\n' },
    rescue: { kernel: 'http://mirror.example/rescue', cmdline: '' },
  });
  catalog.applyServerTypes([{ name: 'big-hpe', match: { 'system.manufacturer': 'HPE', 'cpu.cores': '>=64' }, profile: 'rescue' }]);
  // The shared map is updated in place: netboot sees the new script at once.
  assert.equal(
    catalog.profiles.get('lab')!.script({
      mac: 'aa:bb:cc:dd:ee:ff',
      serverUrl: 'http://m:8080',
      filesUrl: 'http://m:8080',
      callbackUrl: null,
      agentUrl: null,
      metadataUrl: null,
      machineId: null,
      machine: null,
    }),
    '#!ipxe\nchain http://m:8080/x/aa:bb:cc:dd:ee:ff\n',
  );

  const reopened = new Catalog(store.catalog, CONFIG, {});
  assert.deepEqual(
    reopened.listProfiles().map((view) => [view.name, view.source]),
    [
      ['lab', 'api'],
      ['rescue', 'api'],
    ],
  );
  assert.deepEqual(
    reopened.listServerTypes().map((view) => [view.name, view.source]),
    [
      ['hpe', 'config'],
      ['big-hpe', 'api'],
    ],
  );
  // The DL360 of the helpers: HPE with 64 cores, so the more specific big-hpe wins.
  const machine = store.machines.get(seedMachine(store, '02:00:00:00:00:01', 'b4:7a:f1:00:11:22'))!;
  assert.equal(reopened.serverTypes.classify(machine).type, 'big-hpe');
});

test('profiles apply / types apply / types check through the CLI: bad input exits 2 and changes nothing; ties exit 1', async (t) => {
  const app = await startAppliance(t, CONFIG);
  const file = (name: string, content: unknown) => {
    const path = join(app.dir, name);
    writeFileSync(path, typeof content === 'string' ? content : YAML.stringify(content));
    return path;
  };
  for (const [content, reason] of [
    [{ profiles: { bad: { kernel: 'http://m/k', cmdline: 'x={{ nope }}' } } }, /profile bad: unknown variable \{\{ nope \}\}/],
    [{ profiles: { bad: { script: '#!ipxe\necho {{ mac \n' } } }, /profile bad: unbalanced/],
    [{ profiles: { bad: { kernel: '../etc/passwd' } } }, /must be an http\(s\) URL or a relative path/],
    ['profiles: [1, 2]\n', /must be object/],
    ['nothing: here\n', /expected a top-level profiles: map/],
  ] as const) {
    await t.test(String(reason), async () => {
      const result = await app.cli(['profiles', 'apply', '-f', file('bad.yaml', content)]);
      assert.equal(result.code, 2, `${JSON.stringify(content)}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, reason);
    });
  }
  const listed = await app.cli(['profiles', 'ls', '-o', 'json']);
  assert.deepEqual(
    (JSON.parse(listed.stdout) as Array<{ name: string; source: string }>).map((view) => [view.name, view.source]),
    [['lab', 'config']],
    'nothing was applied',
  );

  const applied = await app.cli([
    'profiles',
    'apply',
    '-f',
    file('good.yaml', { profiles: { rescue: { kernel: 'http://m/rescue', cmdline: 'console=ttyS0' } } }),
  ]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /Applied profile rescue\./);
  assert.match((await app.cli(['profiles', 'show', 'rescue'])).stdout, /source: api/);

  for (const [types, reason] of [
    [[{ name: 'x', match: { 'cpu.cores': '>=8' }, profile: 'nope' }], /no profile named nope/],
    [[{ name: 'x', match: { 'cpu.sockets': 2 } }], /no fact named cpu\.sockets/],
  ] as const) {
    await t.test(String(reason), async () => {
      const result = await app.cli(['types', 'apply', '-f', file('types.yaml', { serverTypes: types })]);
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stderr, reason);
    });
  }
  // One machine: DMTF's tower, a Contoso 3500 (read from its tree).
  const bmc = await startMockup({ tree: 'dmtf-public-tower' });
  t.after(() => bmc.close());
  const onboarded = await app.cli([...app.onboardArgs('02:00:00:00:00:81', bmc.port), '--wait']);
  assert.equal(onboarded.code, 0, onboarded.stdout + onboarded.stderr);
  const clean = await app.cli([
    'types',
    'apply',
    '-f',
    file('types.yaml', { serverTypes: [{ name: 'contoso', match: { 'system.manufacturer': 'contoso' }, profile: 'rescue' }] }),
  ]);
  assert.equal(clean.code, 0, clean.stderr);
  const list = await app.cli(['types', 'ls']);
  assert.match(list.stdout, /hpe\s+config\s+lab\s+system\.manufacturer=HPE/);
  assert.match(list.stdout, /contoso\s+api\s+rescue\s+system\.manufacturer=contoso/);
  const first = await app.cli(['types', 'check']);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /^1 machine: hpe 0, contoso 0; 1 unmatched/m, 'equality is exact: contoso is not Contoso');

  // Two types of one specificity that the same machine matches: a tie, which check reports and fails on.
  const tied = await app.cli([
    'types',
    'apply',
    '-f',
    file('types.yaml', {
      serverTypes: [
        { name: 'contoso', match: { 'system.manufacturer': 'Contoso' }, profile: 'rescue' },
        { name: 'model-3500', match: { 'system.model': '3500' } },
      ],
    }),
  ]);
  assert.equal(tied.code, 0, tied.stderr);
  const check = await app.cli(['types', 'check']);
  assert.equal(check.code, 1, check.stdout + check.stderr);
  assert.match(check.stdout, /tie: machine m-[0-9a-z]+ matches contoso and model-3500 equally: make one more specific/);
});
