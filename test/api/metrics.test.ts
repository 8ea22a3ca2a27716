import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { OperationDurations } from '../../src/api/metrics.js';
import type { MachineState } from '../../src/lifecycle/lifecycle.js';
import { prepareDataDir, Store } from '../../src/store/index.js';
import { seedMachine, startServe, tempDir } from '../helpers.js';

const PROMTOOL = '.cache/tools/promtool';

test('operation durations: from the state that starts one to the state that ends it, by outcome; other moves measure nothing', () => {
  let now = 0;
  const durations = new OperationDurations(() => now);
  const walk = (machineId: string, steps: Array<[number, MachineState | null]>) => {
    for (const [at, state] of steps) {
      now = at;
      durations.changed(machineId, state);
    }
  };
  // Onboarding: enrolled at 0, ready at 65 s.
  walk('m1', [
    [0, 'enrolled'],
    [1000, 'resolving'],
    [2000, 'connecting'],
    [3000, 'inspecting'],
    [60_000, 'classifying'],
    [65_000, 'ready'],
  ]);
  // A deploy that fails in booting, 130 s after it started; first seen ready (no span).
  walk('m2', [
    [100_000, 'ready'],
    [110_000, 'deploying'],
    [210_000, 'booting'],
    [240_000, 'deploy_failed'],
  ]);
  // The agent's inspection of a ready machine passes through inspecting: not an onboarding.
  walk('m3', [
    [0, 'ready'],
    [5000, 'inspecting'],
    [50_000, 'ready'],
  ]);
  // An install whose machine is deleted half-way, and one whose state repeats: nothing.
  walk('m4', [
    [0, 'preparing'],
    [1000, 'netbooting'],
    [2000, null],
  ]);
  const family = durations.family();
  assert.equal(family.type, 'histogram');
  if (family.type !== 'histogram') return;
  const byLabels = Object.fromEntries(
    family.histograms.map(({ labels, histogram }) => [`${labels!.operation}|${labels!.outcome}`, histogram]),
  );
  assert.deepEqual(Object.keys(byLabels).sort(), ['deploy|failed', 'onboarding|ok']);
  // Buckets 5, 15, 30, 60, 120, 300, …: 65 s first fits 120, 130 s first fits 300.
  assert.deepEqual(byLabels['onboarding|ok']!.cumulative, [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.equal(byLabels['onboarding|ok']!.sum, 65);
  assert.deepEqual(byLabels['deploy|failed']!.cumulative, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
  assert.equal(byLabels['deploy|failed']!.sum, 130);
});

test('GET /metrics: the metrics token or the API token, counters that move with traffic, and output promtool accepts', async (t) => {
  assert.ok(existsSync(PROMTOOL), `${PROMTOOL} is missing: run scripts/install-deps (it fetches promtool)`);
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  seedMachine(store, '94:40:c9:00:00:01', '52:54:00:77:01:01', { state: 'ready' });
  seedMachine(store, '94:40:c9:00:00:02', '52:54:00:77:01:02', { state: 'netbooting' });
  store.close();
  const serve = await startServe(t, ['--data-dir', dataDir]);
  const metricsToken = readFileSync(join(dataDir, 'metrics-token'), 'utf8').trim();
  const scrape = (token?: string) =>
    fetch(`${serve.url}/metrics`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

  assert.equal((await scrape()).status, 401);
  assert.equal((await scrape('not-the-token')).status, 401);
  assert.equal((await serve.fetch('/metrics')).status, 200, 'the API token reads the metrics too');
  const machines = await fetch(`${serve.url}/api/v1/machines`, { headers: { authorization: `Bearer ${metricsToken}` } });
  assert.equal(machines.status, 401, 'the metrics token opens nothing else');

  // Two scripts for an unknown MAC (404) and one for the ready machine (200, local boot).
  await fetch(`${serve.url}/boot.ipxe?mac=52:54:00:77:01:99`);
  await fetch(`${serve.url}/boot.ipxe?mac=52:54:00:77:01:99`);
  await fetch(`${serve.url}/boot.ipxe?mac=52:54:00:77:01:01`);
  const response = await scrape(metricsToken);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await response.text();
  const lines = text.split('\n');
  for (const expected of [
    'metalbox_boot_scripts_total{status="404"} 2',
    'metalbox_boot_scripts_total{status="200"} 1',
    'metalbox_machines{state="ready"} 1',
    'metalbox_machines{state="netbooting"} 1',
    'metalbox_machines{state="active"} 0', // every state, machines or not: a graph or an alert never meets a missing series
    'metalbox_jobs{status="queued"} 0',
    'metalbox_store_degraded 0',
    'metalbox_tftp_active_transfers 0',
  ])
    assert.ok(lines.includes(expected), `${expected}\n--- in ---\n${text}`);
  assert.match(text, /^process_resident_memory_bytes \d+$/m);

  const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  assert.equal(await serve.stop(), 0);
  assert.ok(!serve.log().includes(metricsToken), 'the metrics token is never logged');
});
