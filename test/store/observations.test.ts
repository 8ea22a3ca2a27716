import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Store, type ObservationJson } from '../../src/store/index.js';
import { tempDir } from '../helpers.js';

const seen = (mac: string, at: string, ip: string | null = null): ObservationJson => ({
  mac,
  messageType: 'DISCOVER',
  ip,
  vendorClass: null,
  arch: null,
  hostname: null,
  relay: null,
  firstSeen: at,
  lastSeen: at,
  count: 1,
});

test('observations: the retention keeps the newest maxRows and drops those not seen for maxAge, in the write transaction', (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  store.observations.retention = { maxRows: 3, maxAgeMs: 86_400_000 };
  const now = Date.parse('2026-12-06T12:00:00Z');
  store.observations.record(
    [
      seen('02:00:00:00:00:01', '2026-12-05T11:59:59Z'), // a day and a second old: expired
      seen('02:00:00:00:00:02', '2026-12-06T08:00:00Z'),
      seen('02:00:00:00:00:03', '2026-12-06T09:00:00Z', '192.0.2.3'),
      seen('02:00:00:00:00:04', '2026-12-06T10:00:00Z'),
      seen('02:00:00:00:00:05', '2026-12-06T11:00:00Z'),
    ],
    now,
  );
  assert.deepEqual(
    store.observations.list().map((row) => row.mac),
    ['02:00:00:00:00:05', '02:00:00:00:00:04', '02:00:00:00:00:03'],
    '4 left after expiry, the oldest of them over the cap',
  );
  assert.equal(store.observations.count(), 3);
  assert.equal(store.observations.seen('02:00:00:00:00:03', '192.0.2.3'), true);
  assert.equal(store.observations.seen('02:00:00:00:00:04', '192.0.2.3'), false);
  assert.equal(store.observations.seen('02:00:00:00:00:04', ''), false, "no address is nobody's address");
});
