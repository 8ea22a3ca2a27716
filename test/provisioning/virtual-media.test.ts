/**
 * provision --boot virtual-media end to end with `metalbox serve`, the CLI and DMTF's tower
 * mockup as the BMC (its CD1 is in the manager's collection, holds an image, and takes
 * PATCH): metalbox inserts a boot ISO it builds, sets a one-time CD boot and resets the
 * machine; the ISO is served only under the operation's token; the installer it boots calls
 * back from an address metalbox never saw, which is bound; and the ISO is ejected.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../../lab/kit.js';
import { type Mockup, startMockup } from '../../lab/redfish-mockup.js';
import type { JobJson, MachineJson } from '../../src/store/index.js';
import { getFrom, tempDir } from '../helpers.js';
import { jobDone, startAppliance, transitions } from '../onboarding/appliance.js';

const SYSTEM = '/redfish/v1/Systems/437XR1238R2';
const CD = '/redfish/v1/Managers/BMC/VirtualMedia/CD1';
const PROFILES = { lab: { kernel: 'lab/vmlinuz', initrd: 'lab/initrd.gz', cmdline: 'mbx.done={{ callbackUrl }}' } };

async function setUp(t: { after(fn: () => unknown): void }, write?: Parameters<typeof startMockup>[0]['write']) {
  const bmc: Mockup = await startMockup({ tree: 'dmtf-public-tower', ...(write ? { write } : {}) });
  t.after(() => bmc.close());
  const assetsDir = join(tempDir(t), 'assets');
  mkdirSync(join(assetsDir, 'lab'), { recursive: true });
  writeFileSync(join(assetsDir, 'lab/vmlinuz'), 'kernel bytes');
  writeFileSync(join(assetsDir, 'lab/initrd.gz'), 'initrd bytes');
  const app = await startAppliance(t, { profiles: PROFILES, assetsDir }, { METALBOX_POWER_POLL_MS: '100' }, { netboot: true });
  const onboarded = await app.cli([...app.onboardArgs('02:00:00:00:00:71', bmc.port), '--wait']);
  assert.equal(onboarded.code, 0, onboarded.stdout + onboarded.stderr);
  const [machine] = (await app.machines()) as [MachineJson];
  return { bmc, app, machine };
}

test("provision --boot virtual-media: the BMC is given a boot ISO of the machine's installer, boots it once, and ejects it when the installer calls in", async (t) => {
  const { bmc, app, machine } = await setUp(t);
  const started = await app.cli(['provision', machine.id, '--profile', 'lab', '--boot', 'virtual-media', '-o', 'json']);
  assert.equal(started.code, 0, started.stderr);
  const ticket = JSON.parse(started.stdout) as { job: JobJson; operationId: string };
  assert.equal((await jobDone(app, ticket.job.id)).status, 'succeeded');

  const image = bmc.state.read(CD)?.Image as string;
  assert.match(image, new RegExp(`^${app.serving.url}/media/${machine.id}/[\\w-]{43}/boot\\.iso$`));
  assert.deepEqual(
    bmc.writes.map((write) => [write.method, write.path, write.body]),
    [
      // CD1 held DMTF's image: out first, then ours; then a one-time CD boot and a reset (the tower is On).
      ['PATCH', CD, { Image: null, Inserted: false }],
      ['PATCH', CD, { Image: image, Inserted: true, WriteProtected: true }],
      ['PATCH', SYSTEM, { Boot: { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Once' } }],
      ['POST', `${SYSTEM}/Actions/ComputerSystem.Reset`, { ResetType: 'ForceRestart' }],
    ],
  );
  const events = await app.events(machine.id);
  const inserted = events.find((event) => event.type === 'media.inserted')!;
  assert.equal(inserted.message, `boot ISO inserted as virtual media in ${CD} and read back`);
  assert.ok(!JSON.stringify(events).includes(image.split('/')[5]!), 'the token is in no event');

  // The ISO, as the BMC reads it: whole, by HEAD, by range; and nothing for a wrong token.
  const iso = Buffer.from(await (await fetch(image)).arrayBuffer());
  assert.equal(iso.subarray(0x8001, 0x8006).toString('latin1'), 'CD001', 'an ISO 9660 image');
  const head = await fetch(image, { method: 'HEAD' });
  assert.equal(head.headers.get('content-length'), String(iso.length));
  const range = await fetch(image, { headers: { range: 'bytes=32768-32773' } });
  assert.equal(range.status, 206);
  assert.equal(
    Buffer.from(await range.arrayBuffer())
      .subarray(1)
      .toString('latin1'),
    'CD001',
  );
  assert.equal((await fetch(image.replace(/[\w-]{43}\/boot\.iso$/, `${'A'.repeat(43)}/boot.iso`))).status, 404);

  // The script the ISO's iPXE runs: the network first, then the profile's kernel with this operation's callback URL.
  const text = iso.toString('latin1');
  const callback = /mbx\.done=(http:\/\/\S+\/callback\/\S+)/.exec(text)?.[1];
  assert.ok(callback, 'the callback URL is in the ISO');
  assert.ok(text.includes(`dhcp || goto failed\n`));
  assert.match(text, new RegExp(`kernel ${app.serving.url}/assets/lab/vmlinuz`));

  // The installer calls in from wherever the site's DHCP put it: bound, and the ISO is ejected.
  assert.equal((await getFrom('127.0.0.1', `${callback}?event=copying`)).status, 200);
  // Bound to that address now: the same token from another host is refused.
  assert.equal((await getFrom('127.0.0.2', `${callback}?event=installed`)).status, 403);
  assert.equal((await getFrom('127.0.0.1', `${callback}?event=installed`)).status, 200);
  await waitFor('the eject', async () => (bmc.state.read(CD)?.Inserted === false ? true : undefined), 20_000);
  assert.deepEqual(bmc.writes.at(-1)?.body, { Image: null, Inserted: false });
  const after = await app.events(machine.id);
  assert.ok(after.some((event) => event.type === 'media.ejected'));
  assert.deepEqual(transitions(after).slice(-2), ['ready→preparing', 'preparing→provisioned']);
});

test('a BMC that refuses the ISO fails provisioning with its message', async (t) => {
  const { app, machine } = await setUp(t, (write) =>
    write.path === CD && write.body?.Inserted === true
      ? { status: 400, body: { error: { code: 'Base.1.0.GeneralError', message: 'The image URL could not be reached' } } }
      : undefined,
  );
  const started = await app.cli(['provision', machine.id, '--profile', 'lab', '--boot', 'virtual-media', '-o', 'json']);
  assert.equal(started.code, 0, started.stderr);
  assert.equal((await jobDone(app, (JSON.parse(started.stdout) as { job: JobJson }).job.id)).status, 'failed');
  const [failed] = (await app.machines()) as [MachineJson];
  assert.equal(failed.state, 'provision_failed');
  assert.match(failed.stateReason ?? '', /the BMC refused the virtual media image: .*could not be reached/);
});
