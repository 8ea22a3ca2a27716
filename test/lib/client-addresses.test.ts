import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientAddresses } from '../../src/lib/client-addresses.js';

test('client addresses: IPv4-mapped peers match DHCP addresses, 0.0.0.0 is no address, the oldest goes first', () => {
  const addresses = new ClientAddresses(2);
  addresses.learn('::ffff:10.77.0.120', '52:54:00:77:00:e1'); // an HTTP peer on a dual-stack socket
  assert.equal(addresses.macOf('10.77.0.120'), '52:54:00:77:00:e1');
  addresses.learn('0.0.0.0', '52:54:00:77:00:b1');
  assert.equal(addresses.size, 1);
  addresses.learn('10.77.0.123', '52:54:00:77:00:b1');
  addresses.learn('10.77.0.124', '52:54:00:77:00:c1');
  assert.equal(addresses.macOf('::ffff:10.77.0.120'), undefined, 'past capacity the oldest is forgotten');
  assert.equal(addresses.macOf('10.77.0.124'), '52:54:00:77:00:c1');
});
