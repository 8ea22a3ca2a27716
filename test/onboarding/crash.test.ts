import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { JobJson, MachineEventJson, MachineJson } from '../../src/store/index.js';
import { startServe, tempDir, type Serving } from '../helpers.js';
import { startMockup, type Mockup } from '../../lab/redfish-mockup.js';

const BMCS = 50;
const KILLS = 4;
const TREE = 'hpe-ilo5-proliant-dl325-gen10plus-fc';

test(`crash safety: ${BMCS} onboardings, the server killed -9 ${KILLS} times at random moments, all ready after restart without duplicates`, {
  timeout: 240_000,
}, async (t) => {
  // 50 distinct BMCs: the same tree with the fourth octet of every MAC XORed with 1..50.
  const mockups: Mockup[] = [];
  for (let index = 1; index <= BMCS; index++) mockups.push(await startMockup({ tree: TREE, latencyMs: 30, macSalt: index }));
  t.after(() => Promise.all(mockups.map((mockup) => mockup.close())));
  const dataDir = join(tempDir(t), 'data');
  const serve = () => startServe(t, ['--data-dir', dataDir, '--no-dhcp-proxy', '--no-tftp'], { METALBOX_ONBOARDING_BACKOFF_MS: '200' });
  let serving: Serving = await serve();
  const token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim();

  const bmcMac = (index: number) => `02:00:00:00:10:${index.toString(16).padStart(2, '0')}`;
  for (let index = 1; index <= BMCS; index++) {
    const response = await serving.fetch(`/api/v1/onboardings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        bmcMac: bmcMac(index),
        ip: '127.0.0.1',
        port: mockups[index - 1]!.port,
        scheme: 'http',
        username: 'admin',
        password: 'password',
      }),
    });
    assert.equal(response.status, 202);
  }

  // The first kill lands early (resolving, connecting, the first scrapes); the others when
  // a random number of machines is ready, i.e. while the rest are committing their results.
  const targets = Array.from({ length: KILLS - 1 }, () => 5 + Math.floor(Math.random() * 40)).sort((a, b) => a - b);
  for (let kill = 1; kill <= KILLS; kill++) {
    const started = Date.now();
    const states = new Map<string, number>();
    const count = async () => {
      states.clear();
      for (const machine of (await (await serving.fetch(`/api/v1/machines`)).json()) as MachineJson[])
        states.set(machine.state, (states.get(machine.state) ?? 0) + 1);
      return states.get('ready') ?? 0;
    };
    if (kill === 1) {
      await sleep(200 + Math.floor(Math.random() * 1300));
      await count();
    } else {
      while ((await count()) < targets[kill - 2]! && Date.now() - started < 60_000) await sleep(20);
    }
    t.diagnostic(
      `kill -9 number ${kill}, ${Date.now() - started} ms after start, machines: ${[...states].map(([state, n]) => `${n} ${state}`).join(', ')}`,
    );
    await serving.stop('SIGKILL');
    serving = await serve();
  }

  let machines: MachineJson[] = [];
  for (const deadline = Date.now() + 180_000; Date.now() < deadline; await sleep(500)) {
    machines = (await (await serving.fetch(`/api/v1/machines`)).json()) as MachineJson[];
    if (machines.length === BMCS && machines.every((machine) => machine.state === 'ready')) break;
  }
  assert.deepEqual(
    machines.map((machine) => machine.state),
    Array(BMCS).fill('ready'),
  );
  assert.deepEqual(
    machines.map((machine) => machine.bmc!.mac).sort(),
    Array.from({ length: BMCS }, (_, index) => bmcMac(index + 1)).sort(),
  );
  const nics = machines.flatMap((machine) => machine.nics.map((nic) => nic.mac));
  assert.equal(nics.length, BMCS * 8, 'each DL325 has 8 NIC MACs');
  assert.equal(new Set(nics).size, nics.length, 'no NIC twice');

  for (const machine of machines) {
    const events = (await (await serving.fetch(`/api/v1/machines/${machine.id}/events?limit=1000`)).json()) as MachineEventJson[];
    const steps = events.filter((event) => event.fromState !== event.toState).map((event) => `${event.fromState ?? '-'}→${event.toState}`);
    // Every transition exactly once, whatever the kills interrupted.
    assert.deepEqual(
      steps,
      ['-→enrolled', 'enrolled→resolving', 'resolving→connecting', 'connecting→inspecting', 'inspecting→classifying', 'classifying→ready'],
      machine.id,
    );
    assert.equal(events.filter((event) => event.type === 'inventory').length, 1, machine.id);
  }
  for (let id = 1; id <= BMCS; id++) {
    const job = (await (await serving.fetch(`/api/v1/onboardings/${id}`)).json()) as JobJson;
    assert.equal(job.status, 'succeeded', `job ${id}`);
  }
  assert.equal((await serving.fetch(`/api/v1/onboardings/${BMCS + 1}`)).status, 404, 'no job twice');
  await serving.stop();

  const db = new Database(join(dataDir, 'metalbox.db'), { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  assert.equal(db.prepare('SELECT count(*) FROM machines').pluck().get(), BMCS);
  assert.equal(db.prepare('SELECT count(DISTINCT bmc_id) FROM raw_resources').pluck().get(), BMCS, 'raw Redfish JSON kept per BMC');
});
