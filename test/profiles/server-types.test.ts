import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServerTypes, type ServerTypeConfig } from '../../src/profiles/server-types.js';
import { Store, type MachineJson } from '../../src/store/index.js';
import { seedMachine, tempDir } from '../helpers.js';

/** The DL360 of test/helpers.ts: HPE, ProLiant DL360 Gen10 Plus, 2 CPUs, 64 cores, 512 GiB, one 960197124096-byte drive, one NIC, no SKU… */
function dl360(t: { after(fn: () => void): void }): MachineJson {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  return store.machines.get(seedMachine(store, '02:00:00:00:00:01', 'b4:7a:f1:00:11:22'))!;
}

const PROFILES = new Set(['hpe-installer', 'generic']);

test('the most specific matching type wins; numbers, comparisons, globs and equality', (t) => {
  const machine = dl360(t);
  const types = new ServerTypes(
    [
      { name: 'any-hpe', match: { 'system.manufacturer': 'HPE' }, profile: 'generic' },
      {
        name: 'big-hpe',
        match: { 'system.manufacturer': 'HPE', 'cpu.cores': '>=64', 'memory.totalGiB': '>256' },
        profile: 'hpe-installer',
      },
      { name: 'dl360', match: { 'system.model': 'proliant dl3?0*', 'cpu.count': 2 } },
      { name: 'small', match: { 'cpu.cores': '<64', 'drives.count': '==1' } },
    ],
    PROFILES,
  );
  const result = types.classify(machine);
  assert.equal(result.type, 'big-hpe');
  assert.equal(result.profile, 'hpe-installer');
  assert.equal(result.tie, null);
  assert.deepEqual(
    result.verdicts.map((verdict) => [verdict.type, verdict.matched, verdict.specificity]),
    [
      ['any-hpe', true, 1],
      ['big-hpe', true, 3],
      ['dl360', true, 2],
      ['small', false, 2],
    ],
  );
  assert.deepEqual(result.verdicts[1]!.reasons, [
    'system.manufacturer is "HPE", == "HPE"',
    'cpu.cores is 64, >= 64',
    'memory.totalGiB is 512, > 256',
  ]);
  assert.deepEqual(result.verdicts[3]!.reasons, ['cpu.cores is 64, not < 64']);
});

test('equally specific matches are a tie, not a choice; no match says why for each type', (t) => {
  const machine = dl360(t);
  const tie = new ServerTypes(
    [
      { name: 'by-cores', match: { 'system.manufacturer': 'HPE', 'cpu.cores': 64 } },
      { name: 'by-memory', match: { 'system.manufacturer': 'H*', 'memory.totalGiB': '>=512' } },
      { name: 'loose', match: { 'nics.count': 1 } },
    ],
    PROFILES,
  ).classify(machine);
  assert.deepEqual([tie.type, tie.profile, tie.tie], [null, null, ['by-cores', 'by-memory']]);

  const none = new ServerTypes(
    [
      { name: 'dell', match: { 'system.manufacturer': 'Dell Inc.' } },
      { name: 'with-sku', match: { 'system.sku': 'P3*', 'cpu.count': '!=2' } },
      { name: 'huge-disk', match: { 'drives.totalBytes': '>=1000000000000' } },
    ],
    PROFILES,
  ).classify(machine);
  assert.equal(none.type, null);
  assert.deepEqual(
    none.verdicts.map((verdict) => verdict.reasons[0]),
    [
      'system.manufacturer is "HPE", not == "Dell Inc."',
      'cpu.count is 2, not != 2', // the SKU glob held; a failed type shows the matcher that failed
      'drives.totalBytes is 960197124096, not >= 1000000000000',
    ],
  );
  assert.equal(none.verdicts[1]!.reasons.length, 1);
});

test('bad server types stop the start with the type and the reason', async (t) => {
  const cases: Array<[ServerTypeConfig[], RegExp]> = [
    [[{ name: 'a', match: { 'cpu.corez': 4 } }], /serverTypes a: no fact named cpu\.corez \(facts: system\.manufacturer, /],
    [[{ name: 'a', match: {}, profile: 'missing' }], /serverTypes a: no profile named missing/],
    [
      [
        { name: 'a', match: {} },
        { name: 'a', match: {} },
      ],
      /serverTypes: a is defined twice/,
    ],
    [[{ name: 'a', match: { 'cpu.cores': '>= many' } }], /cpu\.cores: ">= many" compares with something that is not a number/],
  ];
  for (const [types, pattern] of cases) {
    await t.test(String(pattern), () => assert.throws(() => new ServerTypes(types, PROFILES), pattern));
  }
});
