import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MachineEventJson, MachineJson } from '../../src/store/index.js';
import { prepareDataDir, Store } from '../../src/store/index.js';
import type { BootDecisions } from '../../src/netboot/boot-decisions.js';
import { CallbackTokens } from '../../src/netboot/callback-tokens.js';
import { ClientAddresses } from '../../src/netboot/client-addresses.js';
import { MachineTrust } from '../../src/netboot/machine-trust.js';
import { claimAddress, getFrom, seedMachine, startServe, tempDir, type Serving } from '../helpers.js';

const NIC_A = '52:54:00:77:01:0a';
const NIC_B = '52:54:00:77:01:0b';
/** Loopback addresses stand for hosts: A's and B's (their DHCP was seen), and an attacker's (never seen). */
const HOST_A = '127.0.0.1';
const HOST_B = '127.0.0.3';
const ATTACKER = '127.0.0.2';

/** A data dir with one netbooting machine per NIC (profile lab, whose script echoes its callback URL), and serve's arguments for it. */
function netbooting(t: { after(fn: () => void): void }, nics: string[]): { ids: string[]; args: string[] } {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  const ids = nics.map((nic, index) =>
    seedMachine(store, `94:40:c9:00:01:${index.toString(16).padStart(2, '0')}`, nic, { profile: 'lab', state: 'netbooting' }),
  );
  store.close();
  const config = join(dir, 'metalbox.yaml');
  writeFileSync(config, ['profiles:', '  lab:', '    script: |', '      #!ipxe', '      echo done at {{ callbackUrl }}', ''].join('\n'));
  return { ids, args: ['--data-dir', dataDir, '--config', config] };
}

const callbackOf = (script: string) => /done at (\S+)/.exec(script)?.[1];
const stateOf = async (serve: Serving, id: string) => ((await (await serve.fetch(`/api/v1/machines/${id}`)).json()) as MachineJson).state;
const eventCount = async (serve: Serving, id: string) =>
  ((await (await serve.fetch(`/api/v1/machines/${id}/events?limit=1000`)).json()) as MachineEventJson[]).length;

test('only the booting machine moves its provisioning: scripts, tokens and callbacks bound to its DHCP address', async (t) => {
  const seeded = netbooting(t, [NIC_A, NIC_B]);
  const [a, b] = seeded.ids as [string, string];
  const args = [...seeded.args, '--log-level', 'debug'];
  let serve = await startServe(t, args);
  await claimAddress(serve, HOST_A, NIC_A);
  await claimAddress(serve, HOST_B, NIC_B);

  // The attacker asks for A's installer: no script, no token.
  const stolen = await getFrom(ATTACKER, `${serve.url}/boot.ipxe?mac=${NIC_A}`);
  assert.equal(stolen.status, 403);
  assert.doesNotMatch(stolen.body, /callback/);
  assert.equal(stolen.body, `${ATTACKER} is not an address metalbox saw ${NIC_A} use (its DHCP): no installer for it\n`);

  const scriptA = await getFrom(HOST_A, `${serve.url}/boot.ipxe?mac=${NIC_A}`);
  const scriptB = await getFrom(HOST_B, `${serve.url}/boot.ipxe?mac=${NIC_B}`);
  const urlA = callbackOf(scriptA.body)!;
  const urlB = callbackOf(scriptB.body)!;
  assert.match(urlA, new RegExp(`/callback/${a}/[A-Za-z0-9_-]{43}$`));
  assert.match(urlB, new RegExp(`/callback/${b}/[A-Za-z0-9_-]{43}$`));
  const tokenA = urlA.split('/').at(-1)!;
  const tokenB = urlB.split('/').at(-1)!;

  const refusals: Array<[string, string, string]> = [
    ['the right token from the attacker', ATTACKER, `${urlA}?event=installed`],
    ["the right token from another machine's address", HOST_B, `${urlA}?event=installed`],
    ["another machine's token, from A's address", HOST_A, `${serve.url}/callback/${a}/${tokenB}?event=installed`],
    ['a forged token', HOST_A, `${serve.url}/callback/${a}/${tokenA.slice(0, -1)}${tokenA.endsWith('A') ? 'B' : 'A'}?event=installed`],
  ];
  for (const [what, from, url] of refusals) {
    await t.test(what, async () => {
      const answer = await getFrom(from, url);
      assert.equal(answer.status, 403, what);
      assert.equal(answer.body, 'callback refused: not installing, wrong token, or not sent from this machine\n', what);
    });
  }
  assert.equal(await stateOf(serve, a), 'netbooting', 'nothing moved A');

  // A restart forgets the live addresses; the stored DHCP observations still vouch for B.
  assert.equal(await serve.stop(), 0);
  const firstLog = serve.log();
  const oldBase = serve.url;
  serve = await startServe(t, args);
  const onNewPort = (url: string) => url.replace(oldBase, serve.url); // port 0 picked another
  assert.equal((await getFrom(HOST_B, `${onNewPort(urlB)}?event=installed`)).status, 200);
  assert.equal(await stateOf(serve, b), 'provisioned');

  assert.equal((await getFrom(HOST_A, `${onNewPort(urlA)}?event=installed`)).status, 200);
  assert.equal(await stateOf(serve, a), 'provisioned');
  const after = await eventCount(serve, a);
  // Replayed once the installation ended: refused, and nothing written.
  assert.equal((await getFrom(HOST_A, `${onNewPort(urlA)}?event=failed`)).status, 403, 'a spent token');
  assert.equal(await stateOf(serve, a), 'provisioned');
  assert.equal(await eventCount(serve, a), after);
  const timeline = ((await (await serve.fetch(`/api/v1/machines/${a}/events?limit=1000`)).json()) as MachineEventJson[]).slice(-4);
  assert.deepEqual(
    timeline.map((event) => [event.type, event.toState, event.message]),
    [
      ['boot.dhcp', 'netbooting', 'ProxyDHCP ack: snponly.efi'],
      ['boot.script', 'netbooting', 'iPXE script refused: asked from an address this machine was not seen using'],
      ['boot.script', 'netbooting', 'iPXE script: install profile lab'],
      ['callback', 'provisioned', 'installer reported installed'],
    ],
    'the refused callbacks wrote nothing',
  );

  assert.equal(await serve.stop(), 0);
  const log = firstLog + serve.log();
  for (const token of [tokenA, tokenB]) assert.ok(!log.includes(token), 'tokens are never logged, not at debug');
  assert.equal(
    firstLog.match(/"msg":"installer callback refused"/g)?.length,
    3,
    'four refusals, one line per client per minute: 127.0.0.1, .2 and .3',
  );
  assert.match(log, /"reason":"foreign-address"/);
});

test('first-use: with no DHCP seen, the first address to ask gets the operation, and only it', async (t) => {
  const {
    ids: [a],
    args,
  } = netbooting(t, [NIC_A]);
  const strict = await startServe(t, args);
  assert.equal((await getFrom(HOST_B, `${strict.url}/boot.ipxe?mac=${NIC_A}`)).status, 403, 'dhcp (the default): no DHCP seen, no script');
  assert.equal(await strict.stop(), 0);

  const serve = await startServe(t, [...args, '--address-trust', 'first-use']);
  const script = await getFrom(HOST_B, `${serve.url}/boot.ipxe?mac=${NIC_A}`);
  assert.equal(script.status, 200);
  const url = callbackOf(script.body)!;
  assert.equal((await getFrom(ATTACKER, `${serve.url}/boot.ipxe?mac=${NIC_A}`)).status, 403, 'the second address to ask');
  assert.equal((await getFrom(ATTACKER, `${url}?event=installed`)).status, 403);
  assert.equal((await getFrom(HOST_B, `${url}?event=installed`)).status, 200);
  assert.equal(await stateOf(serve, a!), 'provisioned');
  assert.equal(await serve.stop(), 0);
});

test('first-use: the bound address fetching its script again is answered from memory, not by a stored query', () => {
  const observedAsked: string[] = [];
  const trust = new MachineTrust({
    // Only macsOf is read on this path: one machine with one NIC.
    decisions: { macsOf: () => [NIC_A] } as unknown as BootDecisions,
    addresses: new ClientAddresses(),
    tokens: new CallbackTokens('k'.repeat(32)),
    observed: (mac, ip) => {
      observedAsked.push(`${mac} ${ip}`);
      return false;
    },
    addressTrust: 'first-use',
  });
  const token = trust.issue('m-1', 'op-1', `::ffff:${HOST_B}`);
  assert.notEqual(token, null, 'the first address binds the operation');
  assert.deepEqual(observedAsked, [`${NIC_A} ${HOST_B}`], 'the first request asks the stored observations once');
  assert.equal(trust.issue('m-1', 'op-1', HOST_B), token, 'the bound address, again');
  assert.equal(trust.issue('m-1', 'op-1', `::ffff:${HOST_B}`), token);
  assert.equal(observedAsked.length, 1, 'no stored query for the bound address');
  assert.equal(trust.issue('m-1', 'op-1', ATTACKER), null, 'another address is refused');
  assert.deepEqual(observedAsked.at(-1), `${NIC_A} ${ATTACKER}`, 'after asking the stored observations, which may know it');
});
