import assert from 'node:assert/strict';
import { test } from 'node:test';
import { macFromBytes, normalizeMac } from '../../src/lib/mac.js';
import { newMachineId, parseMachineRef } from '../../src/lib/machine-ref.js';

test('every accepted MAC spelling becomes lowercase colon form', async (t) => {
  const canonical = '0a:1b:2c:3d:4e:5f';
  for (const input of [
    '0a:1b:2c:3d:4e:5f',
    '0A:1B:2C:3D:4E:5F',
    '0a-1b-2c-3d-4e-5f',
    '0A-1B-2C-3D-4E-5F',
    '0a1b.2c3d.4e5f',
    '0A1B.2C3D.4E5F',
    '0a1b2c3d4e5f',
    '0A1B2C3D4E5F',
    '  0a:1b:2c:3d:4e:5f\n',
  ]) {
    await t.test(JSON.stringify(input), () => {
      assert.equal(normalizeMac(input), canonical, input);
    });
  }
  assert.equal(normalizeMac('a:b:c:d:e:f'), '0a:0b:0c:0d:0e:0f');
});

test('anything else is not a MAC', async (t) => {
  for (const input of [
    '',
    'nonsense',
    '0a:1b:2c:3d:4e',
    '0a:1b:2c:3d:4e:5f:60',
    '0a:1b-2c:3d:4e:5f',
    '0a1b2c3d4e5',
    '0a1b2c3d4e5f0',
    '0a1b.2c3d.4e5',
    'gg:1b:2c:3d:4e:5f',
    '0a:1b:2c:3d:4e:5f ; rm -rf /',
    '0a::1b:2c:3d:4e',
    '123:1b:2c:3d:4e:5f',
  ]) {
    await t.test(JSON.stringify(input), () => {
      assert.equal(normalizeMac(input), null, input);
    });
  }
});

test('MAC from bytes', () => {
  assert.equal(macFromBytes(Uint8Array.from([0x52, 0x54, 0x00, 0x0a, 0xbc, 0x01])), '52:54:00:0a:bc:01');
  assert.throws(() => macFromBytes(new Uint8Array(5)), RangeError);
});

test('machine refs: ids and MACs never collide', () => {
  const id = newMachineId();
  assert.match(id, /^m-[0-9a-z]{12}$/);
  assert.deepEqual(parseMachineRef(id), { kind: 'id', id });
  assert.deepEqual(parseMachineRef(id.toUpperCase()), { kind: 'id', id });
  assert.deepEqual(parseMachineRef('AABB.CCDD.EEFF'), { kind: 'mac', mac: 'aa:bb:cc:dd:ee:ff' });
  assert.equal(parseMachineRef('nonsense'), null);
  assert.equal(parseMachineRef('m-0123456789ai'), null, 'i is not in the id alphabet');
  // 1,000 ids: unique, and none parses as a MAC.
  const ids = new Set(Array.from({ length: 1000 }, newMachineId));
  assert.equal(ids.size, 1000);
  for (const each of ids) assert.equal(parseMachineRef(each)?.kind, 'id');
});
