import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
