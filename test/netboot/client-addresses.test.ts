import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientAddresses } from '../../src/netboot/client-addresses.js';

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

test('client addresses: the addresses each MAC was seen using, its last four, whoever else shares one', () => {
  const addresses = new ClientAddresses();
  addresses.learn('10.77.0.9', '52:54:00:77:00:e1');
  addresses.learn('10.77.0.9', '52:54:00:77:00:e2'); // one address, two MACs (a relay's test fleet, a NAT)
  assert.equal(addresses.macOf('10.77.0.9'), '52:54:00:77:00:e2', "the address is the last MAC's for attribution");
  assert.equal(addresses.hasSeen('52:54:00:77:00:e1', '::ffff:10.77.0.9'), true, 'and still one the first MAC was seen using');
  for (const last of [10, 11, 12, 13]) addresses.learn(`10.77.0.${last}`, '52:54:00:77:00:e1');
  assert.equal(addresses.hasSeen('52:54:00:77:00:e1', '10.77.0.9'), false, 'five addresses later, the first is forgotten');
  assert.equal(addresses.hasSeen('52:54:00:77:00:e1', '10.77.0.10'), true);
  assert.equal(addresses.hasSeen('52:54:00:77:00:99', '10.77.0.10'), false);
});
