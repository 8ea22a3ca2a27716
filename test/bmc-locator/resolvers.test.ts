import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { BmcLocator, type Resolver } from '../../src/bmc-locator/locator.js';
import { LeaseFileResolver, parseDnsmasqLeases, parseIscLeases, parseKeaLeases } from '../../src/bmc-locator/leases.js';
import { parseArpTable } from '../../src/bmc-locator/neighbours.js';
import { hostsOf } from '../../src/bmc-locator/sweep.js';
import { UnifiResolver } from '../../src/bmc-locator/unifi.js';
import { tempDir } from '../helpers.js';

const never = new AbortController().signal;

test('/proc/net/arp: complete entries only, any MAC case', () => {
  const table = [
    'IP address       HW type     Flags       HW address            Mask     Device',
    '10.0.8.21        0x1         0x2         94:40:C9:37:D3:FC     *        eth1',
    '10.0.8.22        0x1         0x0         00:00:00:00:00:00     *        eth1', // incomplete: no answer
    '10.0.8.23        0x1         0x6         ac:1f:6b:18:a4:5a     *        eth1', // permanent and complete
    'garbage',
    '',
  ].join('\n');
  assert.deepEqual(parseArpTable(table), [
    { ip: '10.0.8.21', mac: '94:40:c9:37:d3:fc', device: 'eth1' },
    { ip: '10.0.8.23', mac: 'ac:1f:6b:18:a4:5a', device: 'eth1' },
  ]);
});

test('dnsmasq leases: expiry, MAC and IP per line; 0 is infinite; other hardware types skipped', () => {
  const text = [
    '1795000000 94:40:c9:37:d3:fc 10.0.8.21 ilo-1 01:94:40:c9:37:d3:fc',
    '0 ac:1f:6b:18:a4:5a 10.0.8.22 * *',
    '1795000000 20:00:00:00:00:00:00:00:00:00 10.0.8.23 ib0 *', // InfiniBand
    '',
  ].join('\n');
  assert.deepEqual(parseDnsmasqLeases(text), [
    { ip: '10.0.8.21', mac: '94:40:c9:37:d3:fc', expiresAt: new Date(1795000000 * 1000) },
    { ip: '10.0.8.22', mac: 'ac:1f:6b:18:a4:5a', expiresAt: null },
  ]);
});

test('ISC dhcpd.leases: the last block of an address wins; freed leases do not count', () => {
  const text = `
# The format of this file is documented in the dhcpd.leases(5) manual page.
lease 10.0.8.21 {
  starts 4 2026/11/19 10:00:00;
  ends 4 2026/11/19 22:00:00;
  binding state active;
  hardware ethernet 94:40:c9:37:d3:fc;
}
lease 10.0.8.22 {
  starts 4 2026/11/19 10:00:00;
  ends never;
  binding state active;
  hardware ethernet ac:1f:6b:18:a4:5a;
  client-hostname "bmc-2";
}
lease 10.0.8.21 {
  starts 5 2026/11/20 10:00:00;
  ends 5 2026/11/20 22:00:00;
  binding state active;
  next binding state free;
  hardware ethernet 94:40:c9:37:d3:fc;
}
lease 10.0.8.30 {
  ends 5 2026/11/20 22:00:00;
  binding state free;
  hardware ethernet b4:2e:99:ba:de:15;
}`;
  assert.deepEqual(parseIscLeases(text), [
    { ip: '10.0.8.21', mac: '94:40:c9:37:d3:fc', expiresAt: new Date(Date.UTC(2026, 10, 20, 22, 0, 0)) },
    { ip: '10.0.8.22', mac: 'ac:1f:6b:18:a4:5a', expiresAt: null },
  ]);
});

test('Kea memfile CSV: columns by header, later rows win, declined and reclaimed leases dropped', () => {
  const text = [
    'address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id',
    '10.0.8.21,94:40:c9:37:d3:fc,,3600,1795000000,1,0,0,ilo-1,0,,0',
    '10.0.8.22,ac:1f:6b:18:a4:5a,,3600,1795000000,1,0,0,,0,,0',
    '10.0.8.22,ac:1f:6b:18:a4:5a,,3600,1795000100,1,0,0,,2,,0', // reclaimed since
    '10.0.8.23,b4:2e:99:ba:de:15,,3600,1795000000,1,0,0,,1,,0', // declined
  ].join('\n');
  assert.deepEqual(parseKeaLeases(text), [{ ip: '10.0.8.21', mac: '94:40:c9:37:d3:fc', expiresAt: new Date(1795000000 * 1000) }]);
});

test('lease files: expired leases are not candidates; an unreadable file is reported, not fatal', async (t) => {
  const dir = tempDir(t);
  const past = Math.floor(Date.now() / 1000) - 60;
  const future = Math.floor(Date.now() / 1000) + 3600;
  writeFileSync(join(dir, 'dnsmasq.leases'), `${past} 94:40:c9:37:d3:fc 10.0.8.21 a *\n${future} 94:40:c9:37:d3:fc 10.0.8.25 a *\n`);
  const resolver = new LeaseFileResolver([
    { format: 'dnsmasq', path: join(dir, 'dnsmasq.leases') },
    { format: 'kea', path: join(dir, 'missing.csv') },
  ]);
  const finding = await resolver.find('94:40:c9:37:d3:fc');
  assert.deepEqual(finding.candidates, [{ ip: '10.0.8.25', source: 'lease-files:dnsmasq', ageSeconds: null }]);
  assert.match((await resolver.find('02:00:00:00:00:09')).note, /missing\.csv: ENOENT/);
});

test('sweep ranges: host addresses only, bounded at a /20', () => {
  assert.deepEqual(hostsOf('10.0.8.0/30'), ['10.0.8.1', '10.0.8.2']);
  assert.deepEqual(hostsOf('10.0.8.7/31'), ['10.0.8.6', '10.0.8.7']);
  assert.equal(hostsOf('10.0.8.77/24').length, 254);
  assert.equal(hostsOf('10.0.16.0/20').at(-1), '10.0.31.254');
  assert.throws(() => hostsOf('10.0.0.0/19'), /8192 addresses; sweeps stop at 4096/);
  assert.throws(() => hostsOf('10.0.0.300/24'), /not an IPv4 subnet/);
});

test('the locator reports disagreeing resolvers and keeps their order; active resolvers only when the passive know nothing', async () => {
  const asked: string[] = [];
  const resolver = (name: string, passive: boolean, ips: string[]): Resolver => ({
    name,
    passive,
    find: async () => {
      asked.push(name);
      return { candidates: ips.map((ip) => ({ ip, source: name, ageSeconds: 5 })), note: `${name}: nothing` };
    },
  });
  const disagreeing = await new BmcLocator([
    resolver('observations', true, ['10.0.8.21']),
    resolver('sweep', false, ['10.0.8.99']),
    resolver('leases', true, ['10.0.8.22']),
  ]).locate('02:00:00:00:00:01', never);
  assert.deepEqual(asked, ['observations', 'leases']);
  assert.equal(disagreeing.chosen?.ip, '10.0.8.21');
  assert.equal(disagreeing.conflict, 'resolvers disagree: 10.0.8.21 (observations, 5 s old), 10.0.8.22 (leases, 5 s old)');

  asked.length = 0;
  const failing: Resolver = {
    name: 'unifi',
    passive: false,
    find: async () => {
      throw new Error('login refused (HTTP 401)');
    },
  };
  const active = await new BmcLocator([resolver('observations', true, []), failing, resolver('sweep', false, ['10.0.8.99'])]).locate(
    '02:00:00:00:00:01',
    never,
  );
  assert.equal(active.chosen?.ip, '10.0.8.99');
  assert.equal(active.conflict, null);
  assert.deepEqual(
    active.tried.map((entry) => entry.note),
    ['observations: nothing', 'failed: login refused (HTTP 401)', '10.0.8.99 (sweep, 5 s old)'],
  );
});

/**
 * A UniFi controller stand-in (no controller can run here): it speaks the two login
 * dialects, sets the session cookie and serves stat/sta only to a request carrying it,
 * with the field names of the controller's own answers.
 */
async function fakeController(t: { after(fn: () => Promise<unknown>): void }, flavour: 'classic' | 'unifi-os') {
  const seen: string[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    seen.push(`${request.method} ${request.url}`);
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const login = flavour === 'unifi-os' ? '/api/auth/login' : '/api/login';
      const prefix = flavour === 'unifi-os' ? '/proxy/network' : '';
      if (request.method === 'POST' && request.url === login) {
        const { username, password } = JSON.parse(body) as { username: string; password: string };
        if (username !== 'ro' || password !== 'pw') return response.writeHead(401).end('{"meta":{"rc":"error"}}');
        return response
          .writeHead(200, { 'set-cookie': `${flavour === 'unifi-os' ? 'TOKEN' : 'unifises'}=abc; Path=/; HttpOnly` })
          .end('{"meta":{"rc":"ok"},"data":[]}');
      }
      if (request.url === `${prefix}/api/s/default/stat/sta` && /(TOKEN|unifises)=abc/.test(request.headers.cookie ?? '')) {
        return response.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            meta: { rc: 'ok' },
            data: [
              { mac: '94:40:c9:37:d3:fc', ip: '10.0.8.21', last_seen: Math.floor(Date.now() / 1000) - 30, hostname: 'ilo' },
              { mac: 'ac:1f:6b:18:a4:5a', hostname: 'no-ip-yet' },
            ],
          }),
        );
      }
      response.writeHead(404).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen };
}

test('UniFi: the classic controller and UniFi OS both find a BMC; a refused login is a clear error', async (t) => {
  for (const flavour of ['classic', 'unifi-os'] as const) {
    const controller = await fakeController(t, flavour);
    const unifi = new UnifiResolver({ url: controller.url, username: 'ro', password: 'pw', site: 'default', insecure: false });
    const finding = await unifi.find('94:40:c9:37:d3:fc');
    assert.equal(finding.candidates.length, 1, flavour);
    assert.equal(finding.candidates[0]!.ip, '10.0.8.21');
    assert.ok(finding.candidates[0]!.ageSeconds! >= 30 && finding.candidates[0]!.ageSeconds! < 40);
    assert.deepEqual((await unifi.find('ac:1f:6b:18:a4:5a')).candidates, [], 'a client without an address is no candidate');
    assert.equal(controller.seen.filter((line) => line.includes('stat/sta')).length, 1, 'the client list is cached');
    await unifi.close();
  }
  const controller = await fakeController(t, 'classic');
  const refused = new UnifiResolver({ url: controller.url, username: 'ro', password: 'wrong', site: 'default', insecure: false });
  await assert.rejects(refused.find('94:40:c9:37:d3:fc'), /login refused \(HTTP 401\)/);
  await refused.close();
});
