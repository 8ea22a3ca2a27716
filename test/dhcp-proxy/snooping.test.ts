import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodePacket, encodePacket, Option } from '../../src/dhcp-proxy/codec.js';
import { SnoopRecorder } from '../../src/dhcp-proxy/snooping.js';
import { Store, type ObservationJson } from '../../src/store/index.js';
import { tempDir } from '../helpers.js';
import { edk2Discover, edk2Request4011 } from './fixtures.js';

/** A plain (non-PXE) client REQUEST for 10.77.0.23 with hostname "bmc-23", as a BMC sends it. */
function bmcRequest(): Buffer {
  const packet = decodePacket(edk2Discover);
  packet.chaddr = Buffer.from('3cecef0000230000000000000000000000', 'hex');
  packet.options = new Map([
    [Option.MESSAGE_TYPE, Buffer.from([3])],
    [Option.REQUESTED_IP, Buffer.from([10, 77, 0, 23])],
    [Option.HOSTNAME, Buffer.from('bmc-23')],
    [Option.VENDOR_CLASS, Buffer.from('udhcp 1.36.1')],
  ]);
  return encodePacket(packet);
}

test('a relayed packet records its relay (giaddr), and a later direct one keeps it', (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  const recorder = new SnoopRecorder({ write: (batch) => store.observations.record(batch) });
  recorder.observe({ ...decodePacket(edk2Discover), giaddr: '10.78.3.1' });
  recorder.flush();
  recorder.observe(decodePacket(edk2Discover));
  recorder.flush();
  const [discover] = store.observations.list({ mac: '52:54:00:77:00:e1' });
  assert.deepEqual([discover?.messageType, discover?.relay, discover?.count], ['DISCOVER', '10.78.3.1', 2]);
});

test('snooping records every client packet, batched, and the store merges repeats', (t) => {
  const store = Store.open(tempDir(t));
  t.after(() => store.close());
  let clock = Date.parse('2026-11-21T10:00:00.000Z');
  const batches: ObservationJson[][] = [];
  const recorder = new SnoopRecorder({
    write: (batch) => {
      batches.push(batch);
      store.observations.record(batch);
    },
    now: () => clock,
  });
  recorder.observe(decodePacket(bmcRequest()));
  clock += 1000;
  recorder.observe(decodePacket(bmcRequest()));
  recorder.observe(decodePacket(edk2Discover));
  recorder.observe(decodePacket(edk2Request4011));
  assert.equal(batches.length, 0, 'nothing is written on the packet path');
  recorder.flush();
  assert.equal(batches.length, 1);
  assert.equal(batches[0]!.length, 3);
  clock += 60_000;
  recorder.observe(decodePacket(bmcRequest()));
  recorder.flush();
  recorder.flush(); // nothing pending: no write
  assert.equal(batches.length, 2);

  const bmc = store.observations.list({ mac: '3c:ec:ef:00:00:23' });
  assert.deepEqual(bmc, [
    {
      mac: '3c:ec:ef:00:00:23',
      messageType: 'REQUEST',
      ip: '10.77.0.23',
      vendorClass: 'udhcp 1.36.1',
      arch: null,
      hostname: 'bmc-23',
      relay: null,
      firstSeen: '2026-11-21T10:00:00.000Z',
      lastSeen: '2026-11-21T10:01:01.000Z',
      count: 3,
    },
  ]);
  const pxe = store.observations.list({ mac: '52:54:00:77:00:e1' });
  assert.deepEqual(
    pxe.map((o) => [o.messageType, o.ip, o.arch, o.vendorClass]),
    [
      ['DISCOVER', null, 7, 'PXEClient:Arch:00007:UNDI:003000'],
      ['REQUEST', '10.77.0.101', 7, 'PXEClient:Arch:00007:UNDI:003000'],
    ],
    'same last-seen: ordered by type',
  );
  assert.equal(store.observations.list().length, 3);
});

test('a flood of new MACs is bounded; a failed write keeps the batch', () => {
  let fail = true;
  const written: ObservationJson[] = [];
  const errors: unknown[] = [];
  const recorder = new SnoopRecorder({
    maxPending: 100,
    write: (batch) => {
      if (fail) throw new Error('disk full');
      written.push(...batch);
    },
    onError: (error) => errors.push(error),
  });
  const packet = decodePacket(edk2Discover);
  for (let i = 0; i < 150; i++) {
    packet.chaddr = Buffer.from([2, 0, 0, 0, i >> 8, i & 255, ...new Array(10).fill(0)]);
    recorder.observe(packet);
  }
  assert.equal(recorder.dropped, 50);
  recorder.flush();
  assert.equal(errors.length, 1);
  fail = false;
  recorder.flush();
  assert.equal(written.length, 100, 'the batch that failed is written on the next flush');
});
