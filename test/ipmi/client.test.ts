import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { IpmiClient, IpmiError } from '../../src/ipmi/client.js';
import { setIpmiOneTimeBoot } from '../../src/ipmi/power.js';
import { tempDir } from '../helpers.js';
import { haveIpmi, startIpmiSim } from './ipmi-sim.js';

const skip = haveIpmi ? false : 'needs ipmitool and openipmi (scripts/install-deps)';

/** ipmi_sim does not offer cipher suite 17: each client below also shows the fallback to 3. */
test('power status, on, off, cycle and reset reach the BMC as chassis commands', { skip }, async (t) => {
  const sim = await startIpmiSim(t, { power: 'off' });
  const client = new IpmiClient({ host: '127.0.0.1', port: sim.port, username: sim.username, password: sim.password });
  assert.equal(await client.powerState(), 'Off');
  assert.equal(client.cipherSuite, 3, 'suite 17 refused by ipmi_sim, 3 accepted and kept');

  await client.chassisControl('on');
  assert.equal(sim.power(), '1');
  assert.equal(await client.powerState(), 'On');

  await client.chassisControl('off');
  assert.equal(sim.power(), '0');
  assert.equal(await client.powerState(), 'Off');

  await client.chassisControl('on');
  await client.chassisControl('reset');
  assert.ok(sim.chassisLog().includes('set reset 1'), sim.chassisLog().join('\n'));

  await client.chassisControl('cycle');
  // ipmi_sim turns a power cycle into off, then on after its power-off delay.
  const log = sim.chassisLog();
  assert.equal(log.lastIndexOf('set power 0') > log.lastIndexOf('set reset 1'), true, log.join('\n'));
});

test('a one-time boot device is set as boot flags and read back', { skip }, async (t) => {
  const sim = await startIpmiSim(t);
  const client = new IpmiClient({ host: '127.0.0.1', port: sim.port, username: sim.username, password: sim.password });
  await client.setBootDevice('pxe', true);
  assert.equal(sim.boot(), 'pxe');
  assert.equal((await client.bootFlags()).device, 'pxe');
  await client.setBootDevice('disk', false);
  // ipmi_sim names the disk selector (0x08) "default".
  assert.equal(sim.boot(), 'default');
  assert.equal((await client.bootFlags()).device, 'disk');
});

test('FRU, system GUID, device id and the BMC MAC are read', { skip }, async (t) => {
  const sim = await startIpmiSim(t, {
    mac: '52:54:00:ab:cd:ef',
    guid: '00112233445566778899aabbccddeeff',
    fru: { manufacturer: 'Example Corp', product: 'EX-1U <b>', serial: 'SN-4711', partNumber: 'P-9' },
  });
  const client = new IpmiClient({ host: '127.0.0.1', port: sim.port, username: sim.username, password: sim.password });
  assert.deepEqual(await client.fru(), { manufacturer: 'Example Corp', model: 'EX-1U <b>', serial: 'SN-4711', partNumber: 'P-9' });
  // The GUID's bytes arrive least significant first: the text form reverses them.
  assert.equal(await client.systemGuid(), 'ffeeddcc-bbaa-9988-7766-554433221100');
  assert.equal(await client.mac(), '52:54:00:ab:cd:ef');
  // mc_add 0x20 0 … 0x23 9 8 0x9f 0x1291 0xf02: firmware 9.08, IPMI 2.0, MontaVista's IANA number 0x1291.
  assert.deepEqual(await client.deviceId(), { firmware: '9.08', ipmiVersion: '2.0', manufacturerId: 0x1291 });
});

test('a BMC without FRU 0 gives an empty identity, not a failure', { skip }, async (t) => {
  const sim = await startIpmiSim(t);
  const client = new IpmiClient({ host: '127.0.0.1', port: sim.port, username: sim.username, password: sim.password });
  assert.deepEqual(await client.fru(), { manufacturer: null, model: null, serial: null, partNumber: null });
});

test('a wrong password and an unknown user are auth failures; the RMCP+ status is kept where the BMC sent one', { skip }, async (t) => {
  const sim = await startIpmiSim(t);
  const wrong = new IpmiClient({ host: '127.0.0.1', port: sim.port, username: sim.username, password: 'not-it' });
  const error = await wrong.powerState().catch((caught: unknown) => caught);
  assert.ok(error instanceof IpmiError);
  assert.equal(error.failure, 'auth');
  assert.match(error.message, /password is wrong/);

  const stranger = new IpmiClient({ host: '127.0.0.1', port: sim.port, username: 'nobody', password: sim.password });
  const refused = await stranger.powerState().catch((caught: unknown) => caught);
  assert.ok(refused instanceof IpmiError);
  assert.equal(refused.failure, 'auth');
  assert.equal(refused.code, 0x0d, 'RMCP+ status 0x0d: unauthorized name');
});

test('a command the BMC refuses carries its completion code', { skip }, async (t) => {
  const sim = await startIpmiSim(t);
  const client = new IpmiClient({ host: '127.0.0.1', port: sim.port, username: sim.username, password: sim.password });
  // Boot options parameter 9 is beyond what ipmi_sim keeps: Invalid data field in request.
  const error = await client.raw(0x00, 0x08, [0x09, 0xa0, 0x7c, 0, 0, 0]).catch((caught: unknown) => caught);
  assert.ok(error instanceof IpmiError);
  assert.equal(error.failure, 'refused');
  assert.equal(error.code, 0xcc);
});

test('a BMC that does not answer is unreachable after the retries', { skip }, async (t) => {
  const sim = await startIpmiSim(t);
  sim.stop();
  const client = new IpmiClient(
    { host: '127.0.0.1', port: sim.port, username: sim.username, password: sim.password },
    { retransmitSeconds: 1, retries: 1 },
  );
  const error = await client.powerState().catch((caught: unknown) => caught);
  assert.ok(error instanceof IpmiError);
  assert.equal(error.failure, 'unreachable');
});

test('the password is on no command line and in no environment: ipmitool reads it from a pipe', { skip }, async (t) => {
  const sim = await startIpmiSim(t, { password: 'Pw-only-in-pipe' });
  // What ps and /proc/<pid>/environ would show: the arguments and environment ipmitool starts with.
  const dir = tempDir(t);
  const wrapper = join(dir, 'ipmitool');
  writeFileSync(wrapper, `#!/bin/sh\necho "$@" >> ${dir}/args\nenv >> ${dir}/env\nexec ipmitool "$@"\n`);
  chmodSync(wrapper, 0o755);
  const client = new IpmiClient(
    { host: '127.0.0.1', port: sim.port, username: sim.username, password: sim.password },
    { command: wrapper },
  );
  assert.equal(await client.powerState(), 'Off');
  const args = readFileSync(join(dir, 'args'), 'utf8');
  assert.match(args, /-U admin -f \/dev\/stdin/);
  assert.doesNotMatch(args, /Pw-only-in-pipe/);
  assert.doesNotMatch(readFileSync(join(dir, 'env'), 'utf8'), /Pw-only-in-pipe/);
});

test('a boot device the BMC refuses fails with its completion code', { skip }, async (t) => {
  const sim = await startIpmiSim(t, { refuseBoot: true });
  const client = new IpmiClient({ host: '127.0.0.1', port: sim.port, username: sim.username, password: sim.password });
  const error = await setIpmiOneTimeBoot(client, 'pxe', true).catch((caught: unknown) => caught);
  assert.ok(error instanceof IpmiError);
  assert.equal(error.failure, 'refused');
  assert.match(error.message, /^the BMC refused the one-time PXE boot with the EFI flag: completion code 0x[0-9a-f]{2} \(/);
  assert.notEqual(error.code, null);
});
