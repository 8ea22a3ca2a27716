import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Limiter, RedfishClient, RedfishError, type RedfishOptions } from '../../src/redfish/client.js';
import { tempDir } from '../helpers.js';
import { selfSignedTls, startMockup, type MockupOptions } from '../../lab/redfish-mockup.js';

const TREE = 'dmtf-interface-emulator-static';

async function withBmc(
  t: { after(fn: () => Promise<void> | void): void },
  options: Partial<MockupOptions>,
  clientOptions: Partial<RedfishOptions> = {},
) {
  const mockup = await startMockup({ tree: TREE, ...options });
  const client = new RedfishClient(
    { host: '127.0.0.1', port: mockup.port, scheme: options.tls ? 'https' : 'http', insecure: true },
    { retries: 0, backoffMs: 5, ...clientOptions },
  );
  t.after(async () => {
    await client.close();
    await mockup.close();
  });
  return { mockup, client };
}

const failure = (expected: RedfishError['failure'], message?: RegExp) => (error: unknown) =>
  error instanceof RedfishError && error.failure === expected && (message === undefined || message.test(error.message));

test('session login, one request at a time, and the session deleted at close', async (t) => {
  const { mockup, client } = await withBmc(t, { latencyMs: 30 });
  await client.login('admin', 'password');
  assert.equal(mockup.sessions.size, 1);
  await Promise.all(
    ['/redfish/v1/Systems', '/redfish/v1/Chassis', '/redfish/v1/Managers', '/redfish/v1/Systems/437XR1138R2'].map((path) =>
      client.get(path),
    ),
  );
  assert.equal(mockup.maxInFlight, 1, 'never two requests at once to one BMC');
  await client.close();
  assert.equal(mockup.sessions.size, 0);
  assert.ok(mockup.requests.some((request) => request.startsWith('DELETE /redfish/v1/SessionService/Sessions/')));
});

test('a wrong password is an auth failure with the BMC message; no session is left', async (t) => {
  const { mockup, client } = await withBmc(t, {});
  await assert.rejects(client.login('admin', 'wrong'), failure('auth', /Invalid username or password/));
  assert.equal(mockup.sessions.size, 0);
});

test('without a session service, Basic auth is used and checked', async (t) => {
  const { mockup, client } = await withBmc(t, { sessions: false });
  await client.login('admin', 'password');
  assert.ok(mockup.requests.includes('GET /redfish/v1/Systems'));
  const { client: refused } = await withBmc(t, { sessions: false });
  await assert.rejects(refused.login('admin', 'wrong'), failure('auth', /NoValidSession/));
});

test('hostile BMCs fail with a reason, in bounded time and memory', async (t) => {
  const cases: Array<[string, MockupOptions['hostile'], Partial<RedfishOptions>, RedfishError['failure'], RegExp]> = [
    [
      '500 with HTML on a collection, retried then given up',
      { '/redfish/v1/Chassis': { kind: 'status', status: 500 } },
      { retries: 2 },
      'http',
      /HTTP 500$/,
    ],
    [
      'redirect to another host',
      { '/redfish/v1/Chassis': { kind: 'redirect', location: 'http://192.0.2.1/redfish/v1/Chassis' } },
      {},
      'redirect',
      /another host/,
    ],
    [
      'redirect loop',
      { '/redfish/v1/Chassis': { kind: 'redirect', location: '/redfish/v1/Chassis' } },
      {},
      'redirect',
      /more than 3 redirects/,
    ],
    [
      '100 MB body',
      { '/redfish/v1/Chassis': { kind: 'huge', bytes: 100 * 1024 * 1024 } },
      { maxBodyBytes: 1024 * 1024 },
      'too-large',
      /limit/,
    ],
    [
      'a body byte by byte',
      { '/redfish/v1/Chassis': { kind: 'slow-bytes', intervalMs: 20 } },
      { requestTimeoutMs: 800 },
      'timeout',
      /within 0\.8 s/,
    ],
    ['no answer at all', { '/redfish/v1/Chassis': { kind: 'hang' } }, { requestTimeoutMs: 500 }, 'unreachable', /within 0\.5 s/],
    ['invalid JSON', { '/redfish/v1/Chassis': { kind: 'invalid-json' } }, {}, 'bad-json', /not JSON/],
  ];
  for (const [name, hostile, options, expected, message] of cases) {
    await t.test(name, async () => {
      const { mockup, client } = await withBmc(t, { hostile }, options);
      await client.login('admin', 'password');
      const started = Date.now();
      await assert.rejects(client.get('/redfish/v1/Chassis'), failure(expected, message), name);
      assert.ok(Date.now() - started < 5000, `${name}: bounded time`);
      if (name.startsWith('500'))
        assert.equal(mockup.requests.filter((request) => request === 'GET /redfish/v1/Chassis').length, 3, 'one try and two retries');
      assert.ok((await client.get('/redfish/v1/Systems')).Members, `${name}: the client still works`);
    });
  }
});

test('a BMC that never answers gives its limiter slot back: the healthy one behind it is served', async (t) => {
  const limiter = new Limiter(1, 200);
  const { client: hung } = await withBmc(
    t,
    { hostile: { '/redfish/v1/Chassis': { kind: 'hang' } } },
    { limiter, requestTimeoutMs: 10_000 },
  );
  const { client: healthy } = await withBmc(t, {}, { limiter });
  await hung.login('admin', 'password');
  await healthy.login('admin', 'password');
  const stalled = hung.get('/redfish/v1/Chassis').then(
    () => 'answered',
    () => 'failed',
  );
  const started = Date.now();
  const systems = await healthy.get('/redfish/v1/Systems');
  const waited = Date.now() - started;
  assert.ok(systems.Members, 'the healthy BMC answered');
  assert.ok(
    waited >= 150 && waited < 5_000,
    `served once the stalled request gave its slot back (${waited} ms), not after its 10 s timeout`,
  );
  hung.abort();
  assert.equal(await stalled, 'failed');
});

test('the limiter holds requests to its capacity while they answer', async () => {
  const limiter = new Limiter(2, 10_000);
  let running = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 8 }, () =>
      limiter.run(async () => {
        most = Math.max(most, ++running);
        await new Promise((resolve) => setTimeout(resolve, 20));
        running--;
      }),
    ),
  );
  assert.equal(most, 2);
});

test('an address nobody answers on is unreachable', async () => {
  const mockup = await startMockup({ tree: TREE });
  const port = mockup.port;
  await mockup.close();
  const client = new RedfishClient({ host: '127.0.0.1', port, scheme: 'http' }, { retries: 1, backoffMs: 5 });
  await assert.rejects(client.login('admin', 'password'), failure('unreachable', /ECONNREFUSED/));
  await client.close();
});

test('TLS: a self-signed certificate is refused unless the BMC is marked insecure', async (t) => {
  const tls = selfSignedTls(tempDir(t));
  const mockup = await startMockup({ tree: TREE, tls });
  t.after(() => mockup.close());
  const strict = new RedfishClient({ host: '127.0.0.1', port: mockup.port, scheme: 'https' }, { retries: 0 });
  await assert.rejects(strict.login('admin', 'password'), failure('unreachable', /self-signed certificate\? onboard with --insecure/));
  await strict.close();
  const insecure = new RedfishClient({ host: '127.0.0.1', port: mockup.port, scheme: 'https', insecure: true }, { retries: 0 });
  assert.equal((await insecure.login('admin', 'password')).RedfishVersion, '1.0.0');
  await insecure.close();
});
