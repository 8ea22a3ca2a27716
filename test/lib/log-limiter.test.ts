import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { LogLimiter } from '../../src/lib/log-limiter.js';

/** A pino logger whose lines land in an array, parsed. */
function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

test('log limiter: once per key per interval with the count held back, and a budget across keys', () => {
  const { log, lines } = capture();
  let now = 1_000_000;
  const limiter = new LogLimiter(log, { intervalMs: 60_000, maxLinesPerInterval: 3, now: () => now });
  for (let index = 0; index < 5; index++) limiter.warn('bad-name|10.0.0.1', { n: index }, 'refused');
  assert.deepEqual(
    lines.map((line) => [line.msg, line.n, line.repeated]),
    [['refused', 0, undefined]],
  );
  now += 59_999;
  limiter.warn('bad-name|10.0.0.1', { n: 5 }, 'refused');
  assert.equal(lines.length, 1, 'still within the minute');
  now += 1;
  limiter.warn('bad-name|10.0.0.1', { n: 6 }, 'refused');
  assert.deepEqual([lines[1]!.n, lines[1]!.repeated], [6, 5], 'a minute on: logged, with the five held back');

  // A flood from spoofed clients: a new key per packet, three lines per interval in all.
  for (let client = 0; client < 10; client++) limiter.error(`bad-name|10.1.0.${client}`, { client }, 'refused');
  assert.deepEqual(
    lines.slice(2).map((line) => line.client),
    [0, 1],
  );
  assert.equal(lines[2]!.level, 50, 'error level');
  now += 60_000;
  limiter.warn('bad-name|10.2.0.1', {}, 'refused');
  assert.equal(lines.at(-1)!.othersHeldBack, 8, 'the next line says how many the budget held back');
});
