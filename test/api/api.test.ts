import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { pino } from 'pino';
import { buildApi } from '../../src/api/app.js';
import { requireToken } from '../../src/api/auth.js';
import { Store } from '../../src/store/index.js';
import { dl360Inventory, moveTo, tempDir } from '../helpers.js';

const authed = (url: string) => ({ url, headers: { authorization: `Bearer ${TOKEN}` } });
const TOKEN = 'test-token-0123456789';

function api(t: Parameters<typeof tempDir>[0]) {
  const store = Store.open(tempDir(t));
  const app = buildApi({ store, token: TOKEN, logger: pino({ level: 'silent' }), version: '0.0.0-test' });
  t.after(async () => {
    await app.close();
    store.close();
  });
  return { store, app };
}

test('GET /healthz', async (t) => {
  const { app } = api(t);
  const response = await app.inject('/healthz');
  assert.equal(response.statusCode, 200);
  assert.deepEqual(response.json(), { status: 'ok', version: '0.0.0-test' });
});

test('GET /api/v1/machines: empty, then filtered by state and q', async (t) => {
  const { app, store } = api(t);
  assert.deepEqual((await app.inject(authed('/api/v1/machines'))).json(), []);
  const a = store.machines.enroll({ bmcMac: '02:00:00:00:00:0a' });
  const b = store.machines.enroll({ bmcMac: '02:00:00:00:00:0b' });
  store.machines.recordInventory(b.id, dl360Inventory(), { type: 'inventory', message: 'inspected' });
  moveTo(store, b.id, 'ready', { message: 'classified' });

  const ids = async (query: string) =>
    ((await app.inject(authed(`/api/v1/machines${query}`))).json() as Array<{ id: string }>).map((m) => m.id);
  assert.deepEqual(await ids(''), [a.id, b.id]);
  assert.deepEqual(await ids('?state=ready'), [b.id]);
  assert.deepEqual(await ids('?q=CZJ1234ABC'), [b.id]);
  assert.deepEqual(await ids('?q=b4:7a:f1:00:11:23'), [b.id]);

  const bad = await app.inject(authed('/api/v1/machines?state=rebooting'));
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().code, 'E_VALIDATION');
  const unknown = await app.inject(authed('/api/v1/machines?color=red'));
  assert.equal(unknown.statusCode, 400, 'unknown query keys are refused, not ignored');
});

test('GET /api/v1/machines streams every machine once, in order, past the page size', async (t) => {
  const { app, store } = api(t);
  const count = 2_345; // the stream reads 1,000 a page: two full pages and a partial one
  const enrolled: string[] = [];
  store.transaction(() => {
    for (let index = 0; index < count; index++) {
      const mac = `02:00:00:00:${((index >> 8) & 0xff).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`;
      enrolled.push(store.machines.enroll({ bmcMac: mac }).id);
    }
  });
  const response = await app.inject(authed('/api/v1/machines'));
  assert.equal(response.statusCode, 200);
  assert.match(String(response.headers['content-type']), /^application\/json/);
  const machines = response.json() as Array<{ id: string; state: string; bmc: { mac: string } }>;
  assert.deepEqual(
    machines.map((m) => m.id),
    enrolled,
  );
  assert.equal(machines[2_344]!.bmc.mac, '02:00:00:00:09:28');
  assert.equal(response.body.split('\n').length, count + 3, 'one machine a line between the brackets');
});

test('GET /api/v1/machines/:ref by id, BMC MAC and NIC MAC in any spelling', async (t) => {
  const { app, store } = api(t);
  const { id } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01' });
  store.machines.recordInventory(id, dl360Inventory(), { type: 'inventory', message: 'inspected' });
  for (const ref of [id, '94:40:c9:00:00:01', '94-40-C9-00-00-01', 'b47a.f100.1122', 'B47AF1001123']) {
    await t.test(ref, async () => {
      const response = await app.inject(authed(`/api/v1/machines/${encodeURIComponent(ref)}`));
      assert.equal(response.statusCode, 200, ref);
      const body = response.json();
      assert.equal(body.id, id);
      assert.equal(body.system.serial, 'CZJ1234ABC');
      assert.deepEqual(
        body.nics.map((n: { mac: string }) => n.mac),
        ['b4:7a:f1:00:11:22', 'b4:7a:f1:00:11:23'],
      );
      assert.equal(body.drives[0].capacityBytes, 960197124096);
    });
  }
});

test('unknown machines are a 404 with a JSON error body; bad refs a 400', async (t) => {
  const { app } = api(t);
  const missing = await app.inject(authed('/api/v1/machines/00:11:22:33:44:55'));
  assert.equal(missing.statusCode, 404);
  assert.match(missing.headers['content-type'] as string, /application\/json/);
  assert.deepEqual(missing.json(), {
    statusCode: 404,
    code: 'E_NOT_FOUND',
    error: 'Not Found',
    message: 'no machine with MAC 00:11:22:33:44:55',
  });
  const events = await app.inject(authed('/api/v1/machines/00:11:22:33:44:55/events'));
  assert.equal(events.statusCode, 404);

  const bad = await app.inject(authed('/api/v1/machines/nonsense'));
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().code, 'E_BAD_REF');
  const tooLong = await app.inject(authed(`/api/v1/machines/${'a'.repeat(100)}`));
  assert.equal(tooLong.statusCode, 400);

  const noRoute = await app.inject(authed('/api/v1/nothing-here'));
  assert.equal(noRoute.statusCode, 404);
  assert.equal(noRoute.json().code, 'E_NO_ROUTE');
});

test('GET /api/v1/machines/:ref/events pages with after and limit', async (t) => {
  const { app, store } = api(t);
  const { id } = store.machines.enroll({ bmcMac: '02:00:00:00:00:0a' });
  for (const state of ['resolving', 'connecting', 'inspecting', 'classifying', 'ready'] as const) {
    store.machines.transition(id, state, null, { type: 'state', message: `to ${state}`, operationId: 'op-1', data: { step: state } });
  }
  const all = (await app.inject(authed(`/api/v1/machines/${id}/events`))).json();
  assert.deepEqual(
    all.map((e: { toState: string }) => e.toState),
    ['enrolled', 'resolving', 'connecting', 'inspecting', 'classifying', 'ready'],
  );
  assert.deepEqual(all[5], {
    ...all[5],
    fromState: 'classifying',
    toState: 'ready',
    message: 'to ready',
    operationId: 'op-1',
    data: { step: 'ready' },
  });
  const latestTwo = (await app.inject(authed(`/api/v1/machines/${id}/events?limit=2`))).json();
  assert.deepEqual(
    latestTwo.map((e: { toState: string }) => e.toState),
    ['classifying', 'ready'],
  );
  const afterThird = (await app.inject(authed(`/api/v1/machines/${id}/events?after=${all[2].id}`))).json();
  assert.deepEqual(
    afterThird.map((e: { toState: string }) => e.toState),
    ['inspecting', 'classifying', 'ready'],
  );
  assert.equal((await app.inject(authed(`/api/v1/machines/${id}/events?limit=0`))).statusCode, 400);
});

test('the token rule: every request of the scope needs the bearer token, reads too', async (t) => {
  const app = Fastify();
  t.after(() => app.close());
  await app.register(async (scope) => {
    requireToken(scope, TOKEN);
    // GET brings HEAD with it (fastify's exposeHeadRoutes).
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const)
      scope.route({ method, url: '/thing', handler: async () => ({ answered: true }) });
  });
  for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    await t.test(method, async () => {
      const none = await app.inject({ method, url: '/thing' });
      assert.equal(none.statusCode, 401, `${method} without a token`);
      if (method !== 'HEAD') assert.equal(none.json().code, 'E_UNAUTHORIZED');
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="metalbox"');
      for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN, 'Bearer ']) {
        assert.equal(
          (await app.inject({ method, url: '/thing', headers: { authorization } })).statusCode,
          401,
          `${method} with ${authorization}`,
        );
      }
      const ok = await app.inject({ method, url: '/thing', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(ok.statusCode, 200, `${method} with the token`);
      if (method !== 'HEAD') assert.deepEqual(ok.json(), { answered: true });
    });
  }
});

test('the API: /healthz is open, every /api/v1 route needs the token', async (t) => {
  const { app } = api(t);
  assert.equal((await app.inject('/healthz')).statusCode, 200);
  for (const url of [
    '/api/v1/machines',
    '/api/v1/machines/02:00:00:00:00:0a',
    '/api/v1/machines/02:00:00:00:00:0a/events',
    '/api/v1/machines/02:00:00:00:00:0a/events/stream',
    '/api/v1/observations',
    '/api/v1/stats',
  ]) {
    await t.test(url, async () => {
      assert.equal((await app.inject(url)).statusCode, 401, url);
    });
  }
});

test("GET /api/v1/machines/:ref/facts: a machine's facts by key, beyond the machine JSON", async (t) => {
  const { store, app } = api(t);
  const { id } = store.machines.enroll({ bmcMac: '94:40:c9:00:00:01' });
  assert.deepEqual((await app.inject(authed(`/api/v1/machines/${id}/facts`))).json(), {});
  store.machines.putFacts(id, { 'agent.nics': [{ mac: '52:54:00:00:00:01', driver: 'virtio_net' }], 'redfish.bios': '2.10' });
  store.machines.putFacts(id, { 'redfish.bios': '2.12' });
  assert.deepEqual((await app.inject(authed(`/api/v1/machines/${id}/facts`))).json(), {
    'agent.nics': [{ mac: '52:54:00:00:00:01', driver: 'virtio_net' }],
    'redfish.bios': '2.12',
  });
  assert.equal((await app.inject(authed('/api/v1/machines/00:11:22:33:44:55/facts'))).statusCode, 404);
  assert.equal((await app.inject(`/api/v1/machines/${id}/facts`)).statusCode, 401);
});
