import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { pino } from 'pino';
import { buildApi } from '../../src/api/app.js';
import { HttpListener } from '../../src/api/listener.js';
import { Store } from '../../src/store/index.js';
import { tempDir } from '../helpers.js';

test('the HTTP socket is bound before the app: its port is known, and a request before the routes are ready gets 503 with Retry-After', async (t) => {
  const listener = await HttpListener.bind('127.0.0.1', 0);
  t.after(() => listener.close());
  assert.ok(listener.port > 0, 'port 0 resolved to the port bound');

  const early = await fetch(`http://127.0.0.1:${listener.port}/healthz`);
  assert.equal(early.status, 503);
  assert.equal(early.headers.get('retry-after'), '1');
  assert.equal(((await early.json()) as { code: string }).code, 'E_STARTING');

  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const app = buildApi({
    store,
    token: 'test-token-0123456789',
    logger: pino({ level: 'silent' }),
    version: '0.0.0-test',
    listener,
    ahead: (request, response) => {
      if (request.url !== '/ahead') return false;
      response.end('answered ahead of the router');
      return true;
    },
  });
  await app.ready();
  const health = await fetch(`http://127.0.0.1:${listener.port}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok', version: '0.0.0-test' });
  assert.equal(await (await fetch(`http://127.0.0.1:${listener.port}/ahead`)).text(), 'answered ahead of the router');

  await app.close();
  await listener.close();
  await assert.rejects(fetch(`http://127.0.0.1:${listener.port}/healthz`), 'closed: nothing listens on the port');
});

test('a burst of connections while the main thread is busy waits in the kernel: more than Node’s default backlog of 511', async (t) => {
  const listener = await HttpListener.bind('127.0.0.1', 0);
  t.after(() => listener.close());
  const connections = 1200;
  // A second process opens the burst and counts the handshakes done within 800 ms: past a
  // full accept queue the kernel drops a SYN, and the client's retry waits a second.
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const net = require('node:net'); let up = 0; const sockets = [];
       for (let i = 0; i < ${connections}; i++) { const s = net.connect(${listener.port}, '127.0.0.1', () => up++); s.on('error', () => {}); sockets.push(s); }
       setTimeout(() => { process.stdout.write(String(up)); for (const s of sockets) s.destroy(); }, 800);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  // This thread accepts nothing meanwhile, as when a storm's work holds the event loop.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4000);
  await exited;
  assert.equal(Number(output), connections, 'every handshake completed with nothing accepted');
});
