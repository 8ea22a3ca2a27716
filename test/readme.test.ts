import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SETTINGS } from '../src/config/settings.js';
import { MACHINE_STATES } from '../src/store/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test('the README documents every setting with its key, flag and environment variable', () => {
  for (const setting of SETTINGS) {
    assert.ok(readme.includes(`\`${setting.path}\``), `config key ${setting.path}`);
    if (setting.flag) assert.ok(readme.includes(`\`${setting.flag.split(' ')[0]}\``), `flag of ${setting.path}`);
    if (setting.env) assert.ok(readme.includes(`\`${setting.env}\``), `env of ${setting.path}`);
  }
});

test('the README lists every lifecycle state', () => {
  for (const state of MACHINE_STATES) assert.ok(readme.includes(`\`${state}\``), state);
});

test('CI runs the README test command', () => {
  const command = /Run the tests:\s+```sh\n(.+)\n```/.exec(readme)?.[1];
  assert.ok(command, 'the README names a test command');
  assert.ok(readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8').includes(command), command);
});

test('citations in the code point inside the repository: docs that exist, no founding design or shared notes', () => {
  const root = new URL('../../', import.meta.url);
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter(
    (path) => /^(src|test|lab|bench)\/.*\.ts$/.test(path) && path !== 'test/readme.test.ts',
  ); // this file spells the patterns
  assert.ok(files.length > 50, `${files.length} sources read`);
  for (const path of files) {
    const text = readFileSync(new URL(path, root), 'utf8');
    assert.doesNotMatch(text, /DESIGN \u00a7|shared\/notes|notes\/[\w-]+\.md/, path);
    for (const [, doc] of text.matchAll(/\b(docs\/[\w-]+\.md)/g)) assert.ok(existsSync(new URL(doc!, root)), `${path} cites ${doc}`);
  }
});
