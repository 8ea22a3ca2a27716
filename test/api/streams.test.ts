import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Store } from '../../src/store/index.js';
import { startServe, tempDir } from '../helpers.js';

test('event streams: capped (429 past api.maxEventStreams), and closed by SIGTERM, which exits 0 at once', async (t) => {
  const dataDir = tempDir(t);
  const store = Store.open(dataDir);
  const { id } = store.machines.enroll({ bmcMac: '02:00:00:00:00:0a' });
  store.close();
  const serve = await startServe(t, ['--data-dir', dataDir], { METALBOX_API_MAX_EVENT_STREAMS: '2' });

  assert.equal((await fetch(`${serve.url}/api/v1/machines/${id}/events/stream`)).status, 401, 'streams need the token');
  const open = await Promise.all([1, 2].map(() => serve.fetch(`/api/v1/machines/${id}/events/stream`)));
  assert.deepEqual(
    open.map((response) => response.status),
    [200, 200],
  );
  const readers = open.map((response) => response.body!.getReader());
  const first = new TextDecoder().decode((await readers[0]!.read()).value);
  assert.match(first, /^id: \d+\nevent: machine-event\ndata: \{.*"toState":"enrolled"/);

  const third = await serve.fetch(`/api/v1/machines/${id}/events/stream`);
  assert.equal(third.status, 429);
  assert.match(((await third.json()) as { message: string }).message, /2 event streams are open, the most api\.maxEventStreams allows/);

  const stopping = Date.now();
  const code = await serve.stop('SIGTERM');
  const took = Date.now() - stopping;
  assert.equal(code, 0);
  // Not a timing assertion on speed: the old behaviour waited for its 10 s grace and exited 1.
  assert.ok(took < 2000, `stopped in ${took} ms with two streams open`);
  for (const reader of readers) {
    for (;;) if ((await reader.read()).done) break; // the server ended each stream
  }
});
