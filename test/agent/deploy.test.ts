import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MachineEventJson, MachineJson } from '../../src/store/index.js';
import { claimAddress, tempDir, type Serving } from '../helpers.js';
import { transitions } from '../onboarding/appliance.js';
import { call, discovering, MACHINE_HOST, machines, NIC, OTHER_HOST, r650Facts } from './kit.js';

/** The image the profile names: its bytes do not matter here (the agent's write is tested on a disk in write-image.test). */
const IMAGE = Buffer.from('a stand-in disk image\n');
const IMAGE_SHA256 = createHash('sha256').update(IMAGE).digest('hex');

/** metalbox with one image profile whose file is under its assets dir, discovering unknown machines. */
async function deploying(t: Parameters<typeof tempDir>[0], rootDevice: Record<string, unknown> = {}, imageBytes?: number) {
  const assetsDir = join(tempDir(t), 'assets');
  mkdirSync(join(assetsDir, 'images'), { recursive: true });
  writeFileSync(join(assetsDir, 'images', 'tiny.raw'), IMAGE);
  // A larger image, sparse: only its size matters to the choice of disk.
  if (imageBytes !== undefined) truncateSync(join(assetsDir, 'images', 'tiny.raw'), imageBytes);
  const config = join(tempDir(t), 'metalbox.json');
  writeFileSync(
    config,
    JSON.stringify({
      assetsDir,
      profiles: { tiny: { image: { url: 'images/tiny.raw', sha256: IMAGE_SHA256, format: 'raw', rootDevice } } },
    }),
  );
  return discovering(t, ['--config', config]);
}

/** The machine found by PXE, its agent's report sent, held (ready, no BMC): its id and agent URL. */
async function heldMachine(t: Parameters<typeof tempDir>[0], serve: Serving) {
  await claimAddress(serve, MACHINE_HOST, NIC);
  const script = await call(MACHINE_HOST, `${serve.url}/boot.ipxe?mac=${NIC}`);
  const agentUrl = /mbx\.url=(\S+)/.exec(script.text)![1]!;
  const report = await call(MACHINE_HOST, `${agentUrl}/facts`, r650Facts(t));
  assert.deepEqual(JSON.parse(report.text), { state: 'ready', task: 'wait', seconds: 15 });
  return { id: (await machines(serve))[0]!.id, agentUrl };
}

/** `metalbox provision` through the API. */
async function provision(serve: Serving, id: string, body: Record<string, unknown>) {
  const answer = await serve.fetch(`/api/v1/machines/${id}/provision`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: answer.status, body: (await answer.json()) as { job: unknown; machine: MachineJson; operationId: string } };
}

/** The PXE boot of a machine under a deploy: the agent's script, with this operation's URL. */
async function agentBoot(serve: Serving): Promise<string> {
  const script = await call(MACHINE_HOST, `${serve.url}/boot.ipxe?mac=${NIC}`);
  const agentUrl = /mbx\.url=(\S+)/.exec(script.text)?.[1];
  assert.ok(agentUrl, script.text);
  return agentUrl;
}

/** A held machine provisioned with the image profile, its agent booted again: the deploy's agent URL. */
async function deployStarted(t: Parameters<typeof tempDir>[0], rootDevice: Record<string, unknown> = {}, imageBytes?: number) {
  const started = await deploying(t, rootDevice, imageBytes);
  const { id } = await heldMachine(t, started.serve);
  await provision(started.serve, id, { profile: 'tiny' });
  return { ...started, id, agentUrl: await agentBoot(started.serve) };
}

const events = async (serve: Serving, id: string) =>
  (await (await serve.fetch(`/api/v1/machines/${id}/events?limit=1000`)).json()) as MachineEventJson[];

const json = async (answer: Promise<{ status: number; text: string }>) => {
  const { status, text } = await answer;
  return [status, status === 200 ? JSON.parse(text) : text.trim()];
};

test('deploy without a BMC: the held agent is sent back to PXE, reads the disks, writes the image to the one the hints pick, adds the config drive, and the OS it wrote reports from its own disk', async (t) => {
  const { serve } = await deploying(t);
  const { id, agentUrl: heldUrl } = await heldMachine(t, serve);

  const ticket = await provision(serve, id, { profile: 'tiny' });
  assert.equal(ticket.status, 202);
  assert.deepEqual([ticket.body.job, ticket.body.machine.state, ticket.body.machine.profile], [null, 'deploying', 'tiny']);
  // Another operation began: the held agent's next question is refused, and it reboots into PXE.
  assert.equal((await call(MACHINE_HOST, `${heldUrl}/task`)).status, 403);

  const agentUrl = await agentBoot(serve);
  assert.notEqual(agentUrl, heldUrl);
  // The disks of this boot first: kernel names are valid for one boot only.
  assert.deepEqual(await json(call(MACHINE_HOST, `${agentUrl}/task`)), [200, { task: 'inventory' }]);
  // No hints: the smallest disk of at least 4 GiB, the R650's 240 GB SATA SSD (sda; nvme0n1 is 1.6 TB, sdb 4 TB).
  const deploy = {
    task: 'deploy',
    image: `${serve.url}/assets/images/tiny.raw`,
    sha256: IMAGE_SHA256,
    format: 'raw',
    device: '/dev/sda',
  };
  assert.deepEqual(await json(call(MACHINE_HOST, `${agentUrl}/facts`, r650Facts(t))), [200, { state: 'deploying', ...deploy }]);
  assert.deepEqual(await json(call(MACHINE_HOST, `${agentUrl}/task`)), [200, deploy], 'asked again before writing: the same task');
  // The image is served to the machine like any asset.
  assert.deepEqual(Buffer.from(await (await fetch(deploy.image)).arrayBuffer()), IMAGE);

  assert.equal((await call(MACHINE_HOST, `${agentUrl}/progress`, '{"bytes":0,"mbps":0}')).status, 204);
  assert.equal((await call(MACHINE_HOST, `${agentUrl}/progress`, '{"bytes":22,"mbps":1}')).status, 204);

  await t.test('the config drive: a CIDATA FAT filesystem with NoCloud meta-data and user-data rendered for this machine', async () => {
    assert.equal((await call(OTHER_HOST, `${agentUrl}/config-drive`)).status, 403, 'from another host than the machine: refused');
    const answer = await call(MACHINE_HOST, `${agentUrl}/config-drive`);
    assert.equal(answer.status, 200);
    const file = join(tempDir(t), 'config-drive.img');
    writeFileSync(file, answer.bytes);
    execFileSync('fsck.fat', ['-n', file]);
    assert.match(execFileSync('blkid', ['-o', 'export', file], { encoding: 'utf8' }), /^LABEL=CIDATA$/m);
    const read = (name: string) => execFileSync('mtype', ['-i', file, `::${name}`], { encoding: 'utf8' });
    assert.equal(read('meta-data'), `instance-id: ${id}\nlocal-hostname: ${id}\n`);
    const token = agentUrl.split('/').at(-1);
    assert.match(read('user-data'), new RegExp(`url: "${serve.url}/callback/${id}/${token}\\?event=booted"`));
    // The same files over HTTP for an installer, under the same token rule.
    const metaData = await call(MACHINE_HOST, `${serve.url}/metadata/${id}/${token}/meta-data`);
    assert.deepEqual([metaData.status, metaData.text], [200, `instance-id: ${id}\nlocal-hostname: ${id}\n`]);
    assert.equal((await call(MACHINE_HOST, `${serve.url}/metadata/${id}/${token}/secrets`)).status, 404);
    assert.equal((await call(MACHINE_HOST, `${serve.url}/metadata/${id}/${'x'.repeat(43)}/meta-data`)).status, 403);
  });

  const written = JSON.stringify({ result: 'written', bytes: IMAGE.length, sha256: IMAGE_SHA256, seconds: 2 });
  assert.deepEqual(await json(call(MACHINE_HOST, `${agentUrl}/deploy`, written)), [200, { task: 'reboot' }]);
  // Booting from its disk: an agent that asks again is told to reboot; PXE gets the local-boot answer.
  assert.deepEqual(await json(call(MACHINE_HOST, `${agentUrl}/task`)), [200, { task: 'reboot' }]);
  assert.doesNotMatch((await call(MACHINE_HOST, `${serve.url}/boot.ipxe?mac=${NIC}`)).text, /mbx\.url=/);

  // cloud-init's phone_home from the installed OS: a form POST to the callback URL of the user-data.
  const callbackUrl = agentUrl.replace('/agent/v1/', '/callback/');
  const booted = await call(MACHINE_HOST, `${callbackUrl}?event=booted`, 'instance_id=x&hostname=y', 'application/x-www-form-urlencoded');
  assert.equal(booted.status, 200, booted.text);
  const [machine] = await machines(serve);
  assert.equal(machine?.state, 'active');
  assert.deepEqual(transitions(await events(serve, id)).slice(-3), ['ready→deploying', 'deploying→booting', 'booting→active']);
  assert.deepEqual(
    (await events(serve, id)).filter((event) => event.type.startsWith('deploy.')).map((event) => [event.type, event.message]),
    [
      ['deploy.writing', 'the agent began writing the image'],
      ['deploy.progress', '0 MB written, 1 MB/s'],
      ['deploy.written', 'image written and verified: 0 MB in 2 s (0 MB/s), config drive added; rebooting into its disk'],
    ],
  );
  assert.ok(!serve.log().includes(agentUrl.split('/').at(-1)!), 'the token is never logged');

  // Released: deprovision of a deployed machine is a cleaning by the agent; the machine is rebooted into PXE.
  const released = await serve.fetch(`/api/v1/machines/${id}/deprovision`, { method: 'POST' });
  const cleaning = (await released.json()) as { job: unknown; machine: MachineJson };
  assert.deepEqual([released.status, cleaning.job, cleaning.machine.state], [202, null, 'cleaning']);
  const cleanUrl = await agentBoot(serve);
  assert.deepEqual(await json(call(MACHINE_HOST, `${cleanUrl}/task`)), [200, { task: 'inventory' }]);
  // Every disk it has (none is removable in the R650's tree), in the order the agent reported them.
  const wipe = { task: 'wipe', devices: '/dev/nvme0n1 /dev/sda /dev/sdb', secure: false };
  assert.deepEqual(await json(call(MACHINE_HOST, `${cleanUrl}/facts`, r650Facts(t))), [200, { state: 'cleaning', ...wipe }]);
  assert.deepEqual(await json(call(MACHINE_HOST, `${cleanUrl}/task`)), [200, wipe], 'asked again (restarted): wiped again, never skipped');
  const wiped = {
    result: 'wiped',
    disks: [
      { device: '/dev/nvme0n1', discarded: true },
      { device: '/dev/sda', discarded: true },
      { device: '/dev/sdb', discarded: false },
    ],
  };
  // Ready with no BMC: the agent stays up for the next deploy.
  assert.deepEqual(await json(call(MACHINE_HOST, `${cleanUrl}/clean`, JSON.stringify(wiped))), [200, { task: 'wait', seconds: 15 }]);
  assert.equal((await machines(serve))[0]?.state, 'ready');
  assert.deepEqual(transitions(await events(serve, id)).slice(-2), ['active→cleaning', 'cleaning→ready']);
  assert.equal(
    (await events(serve, id)).find((event) => event.type === 'clean.wiped')?.message,
    "disks wiped: nvme0n1 (discarded), sda (discarded), sdb; partition tables, signatures and each partition's start zeroed",
  );
});

test('kill -9 of metalbox mid-deploy and mid-cleaning: the agent retries what was not answered, and ends active, then ready; the disk is written once', async (t) => {
  const { serve, restart, id, agentUrl } = await deployStarted(t);
  await call(MACHINE_HOST, `${agentUrl}/facts`, r650Facts(t));
  assert.equal((await call(MACHINE_HOST, `${agentUrl}/progress`, '{"bytes":0,"mbps":0}')).status, 204);
  // The machine's DHCP address is written to the database once a second: past that, it outlives the process.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await serve.stop('SIGKILL');

  // The agent, writing all along, finds metalbox again (another port here; the same address on a real network).
  const second = await restart();
  const moved = (url: string) => url.replace(serve.url, second.url);
  assert.equal((await call(MACHINE_HOST, `${moved(agentUrl)}/progress`, '{"bytes":22,"mbps":1}')).status, 204);
  const written = JSON.stringify({ result: 'written', bytes: IMAGE.length, sha256: IMAGE_SHA256, seconds: 2 });
  assert.deepEqual(await json(call(MACHINE_HOST, `${moved(agentUrl)}/deploy`, written)), [200, { task: 'reboot' }]);
  // The answer to the outcome lost with a second kill: the agent sends it again, and is told the same.
  await second.stop('SIGKILL');
  const third = await restart();
  const again = agentUrl.replace(serve.url, third.url);
  assert.deepEqual(await json(call(MACHINE_HOST, `${again}/deploy`, written)), [200, { task: 'reboot' }]);
  const booted = await call(MACHINE_HOST, `${again.replace('/agent/v1/', '/callback/')}?event=booted`);
  assert.equal(booted.status, 200, booted.text);
  const timeline = await events(third, id);
  assert.deepEqual(transitions(timeline).slice(-3), ['ready→deploying', 'deploying→booting', 'booting→active']);
  assert.equal(timeline.filter((event) => event.type === 'deploy.writing').length, 1, 'the disk was written once');
  assert.equal(timeline.filter((event) => event.type === 'deploy.written').length, 1);

  assert.equal((await third.fetch(`/api/v1/machines/${id}/deprovision`, { method: 'POST' })).status, 202);
  const cleanUrl = await agentBoot(third);
  await call(MACHINE_HOST, `${cleanUrl}/facts`, r650Facts(t));
  await third.stop('SIGKILL');
  const fourth = await restart();
  // Its answer lost, the agent asks for its task again: the wipe, again, never skipped.
  const restarted = cleanUrl.replace(third.url, fourth.url);
  assert.deepEqual(await json(call(MACHINE_HOST, `${restarted}/task`)), [
    200,
    { task: 'wipe', devices: '/dev/nvme0n1 /dev/sda /dev/sdb', secure: false },
  ]);
  const wiped = JSON.stringify({ result: 'wiped', disks: [{ device: '/dev/sda', discarded: true }] });
  assert.deepEqual(await json(call(MACHINE_HOST, `${restarted}/clean`, wiped)), [200, { task: 'wait', seconds: 15 }]);
  assert.deepEqual(transitions(await events(fourth, id)).slice(-2), ['active→cleaning', 'cleaning→ready']);
});

test('metalbox inspect of a held machine: the agent is sent back to PXE, reads it again, and what changed is one event; classified again', async (t) => {
  const { serve } = await deploying(t);
  const { id, agentUrl: heldUrl } = await heldMachine(t, serve);
  const started = await serve.fetch(`/api/v1/machines/${id}/inspect`, { method: 'POST' });
  const ticket = (await started.json()) as { job: unknown; machine: MachineJson };
  assert.deepEqual([started.status, ticket.job, ticket.machine.state], [202, null, 'inspecting']);
  assert.equal((await call(MACHINE_HOST, `${heldUrl}/task`)).status, 403);
  const agentUrl = await agentBoot(serve);
  assert.deepEqual(await json(call(MACHINE_HOST, `${agentUrl}/task`)), [200, { task: 'inventory' }]);
  // The PERC's virtual disk (sdb) is gone since discovery: the facts without it.
  const { facts } = JSON.parse(r650Facts(t)) as { facts: Record<string, unknown> };
  const withoutSdb = Object.fromEntries(Object.entries(facts).filter(([path]) => !/\/sdb(\/|$)/.test(path)));
  assert.deepEqual(await json(call(MACHINE_HOST, `${agentUrl}/facts`, JSON.stringify({ facts: withoutSdb }))), [
    200,
    { state: 'ready', task: 'wait', seconds: 15 },
  ]);
  const timeline = await events(serve, id);
  assert.deepEqual(transitions(timeline).slice(-3), ['ready→inspecting', 'inspecting→classifying', 'classifying→ready']);
  // No serial on the PERC's virtual disk: the count tells it (3 stored at discovery, 2 now).
  assert.match(
    timeline.find((event) => event.type === 'inspect.agent')?.message ?? '',
    /; differs from the stored inventory: 3 disks \(stored\), 2 \(agent\)$/,
  );
  assert.equal((await machines(serve))[0]?.drives.length, 3, 'what was stored stays: a disk gone is reported, not forgotten');
});

test('cleaning that fails is clean_failed with the reason; deprovision again starts it over', async (t) => {
  // Straight from a failed deploy: its disk may hold part of an image.
  const { serve, id, agentUrl } = await deployStarted(t);
  await call(MACHINE_HOST, `${agentUrl}/deploy`, '{"result":"failed","reason":"image: not found, or no answer"}');
  assert.equal((await machines(serve))[0]?.state, 'deploy_failed');

  assert.equal((await serve.fetch(`/api/v1/machines/${id}/deprovision`, { method: 'POST' })).status, 202);
  const cleanUrl = await agentBoot(serve);
  await call(MACHINE_HOST, `${cleanUrl}/facts`, r650Facts(t));
  const failed = '{"result":"failed","reason":"wipe: /dev/sdb: its ends not zeroed"}';
  assert.deepEqual(await json(call(MACHINE_HOST, `${cleanUrl}/clean`, failed)), [200, { task: 'wait', seconds: 15 }]);
  const [machine] = await machines(serve);
  assert.deepEqual([machine?.state, machine?.stateReason], ['clean_failed', 'the agent: wipe: /dev/sdb: its ends not zeroed']);

  assert.equal((await serve.fetch(`/api/v1/machines/${id}/deprovision`, { method: 'POST' })).status, 202);
  assert.equal((await call(MACHINE_HOST, `${cleanUrl}/task`)).status, 403, 'the held agent of the failed cleaning is sent back to PXE');
  const again = await agentBoot(serve);
  assert.deepEqual(await json(call(MACHINE_HOST, `${again}/task`)), [200, { task: 'inventory' }]);
  assert.equal(
    (await call(MACHINE_HOST, `${again}/clean`, '{"result":"wiped","disks":[{"device":"sda; rm -rf /","discarded":true}]}')).status,
    400,
    'a device that is not a kernel name is refused',
  );
});

test('deprovision --secure: the wipe task has the disks erase themselves, what each did is in the event; refused where the agent does not clean', async (t) => {
  const { serve, id, agentUrl } = await deployStarted(t);
  const secure = { method: 'POST', body: JSON.stringify({ secure: true }), headers: { 'content-type': 'application/json' } };
  const refused = await serve.fetch(`/api/v1/machines/${id}/deprovision`, secure);
  assert.equal(refused.status, 409, 'deploying: not a machine the agent cleans');
  assert.match(((await refused.json()) as { message: string }).message, /--secure erases disks with the agent/);
  assert.equal((await machines(serve))[0]?.state, 'deploying', 'nothing changed');

  await call(MACHINE_HOST, `${agentUrl}/deploy`, '{"result":"failed","reason":"image: not found, or no answer"}');
  assert.equal((await serve.fetch(`/api/v1/machines/${id}/deprovision`, secure)).status, 202);
  const cleanUrl = await agentBoot(serve);
  await call(MACHINE_HOST, `${cleanUrl}/facts`, r650Facts(t));
  const wipe = { task: 'wipe', devices: '/dev/nvme0n1 /dev/sda /dev/sdb', secure: true };
  assert.deepEqual(await json(call(MACHINE_HOST, `${cleanUrl}/task`)), [200, wipe]);
  assert.equal(
    (
      await call(
        MACHINE_HOST,
        `${cleanUrl}/clean`,
        '{"result":"wiped","disks":[{"device":"/dev/sda","discarded":true,"secure":"done; reboot"}]}',
      )
    ).status,
    400,
    'only the words the agent prints',
  );
  const wiped = {
    result: 'wiped',
    disks: [
      { device: '/dev/nvme0n1', discarded: true, secure: 'nvme-format' },
      { device: '/dev/sda', discarded: true, secure: 'ata-enhanced-erase' },
      { device: '/dev/sdb', discarded: false, secure: 'unsupported:no-ata-security' },
    ],
  };
  assert.deepEqual(await json(call(MACHINE_HOST, `${cleanUrl}/clean`, JSON.stringify(wiped))), [200, { task: 'wait', seconds: 15 }]);
  assert.equal((await machines(serve))[0]?.state, 'ready');
  assert.equal(
    (await events(serve, id)).find((event) => event.type === 'clean.wiped')?.message,
    "disks wiped: nvme0n1 (nvme-format, discarded), sda (ata-enhanced-erase, discarded), sdb (no secure erase: no-ata-security); partition tables, signatures and each partition's start zeroed",
  );
});

test('a deploy fails, and never writes a disk twice: no disk fits the hints; another checksum; the agent asks again after it began writing', async (t) => {
  await t.test('no disk fits: the reason names every disk the agent saw', async (t) => {
    const { serve, agentUrl } = await deployStarted(t, { minSizeGiB: 8000 });
    // Failed, and held again: no BMC, so the agent waits for the operator's next deploy.
    assert.deepEqual(await json(call(MACHINE_HOST, `${agentUrl}/facts`, r650Facts(t))), [
      200,
      { state: 'deploy_failed', task: 'wait', seconds: 15 },
    ]);
    const [machine] = await machines(serve);
    assert.equal(machine?.state, 'deploy_failed');
    // GiB from the fixture's sector counts: 3125627568, 468862128 and 7812499456 × 512 / 2^30.
    assert.equal(
      machine?.stateReason,
      "no disk fits the root device hints (minSizeGiB 8000, room for the image's 22 bytes, not removable): the agent saw " +
        'nvme0n1 1490.4 GiB "Dell Ent NVMe P5600 MU U.2 1.6TB" serial PHAB1234002T1P6BGN pci-0000:31:00.0-nvme-1; ' +
        'sda 223.6 GiB "MTFDDAV240TDU" serial 203528FB1234 pci-0000:00:17.0-ata-3; ' +
        'sdb 3725.3 GiB "PERC H755 Front" pci-0000:b1:00.0-scsi-0:2:0:0',
    );
  });

  await t.test('a raw image larger than the smallest disk goes to the next one: decided before writing', async (t) => {
    // 300 GB: more than sda's 223.6 GiB (240 GB), less than nvme0n1's 1490.4 GiB.
    const { agentUrl } = await deployStarted(t, {}, 300e9);
    const [status, task] = await json(call(MACHINE_HOST, `${agentUrl}/facts`, r650Facts(t)));
    assert.deepEqual([status, task.task, task.device], [200, 'deploy', '/dev/nvme0n1']);
  });

  await t.test('another checksum than the profile names: deploy_failed', async (t) => {
    const { serve, agentUrl } = await deployStarted(t);
    await call(MACHINE_HOST, `${agentUrl}/facts`, r650Facts(t));
    await call(MACHINE_HOST, `${agentUrl}/progress`, '{"bytes":0,"mbps":0}');
    const other = 'f'.repeat(64);
    const outcome = JSON.stringify({ result: 'written', bytes: IMAGE.length, sha256: other, seconds: 1 });
    assert.deepEqual(await json(call(MACHINE_HOST, `${agentUrl}/deploy`, outcome)), [200, { task: 'wait', seconds: 15 }]);
    const [machine] = await machines(serve);
    assert.deepEqual(
      [machine?.state, machine?.stateReason],
      ['deploy_failed', `the agent wrote an image with sha256 ${other}, expected ${IMAGE_SHA256}`],
    );
  });

  await t.test('asked for its task after it began writing: failed, not written again; provision again starts over', async (t) => {
    const { serve, id, agentUrl } = await deployStarted(t);
    await call(MACHINE_HOST, `${agentUrl}/facts`, r650Facts(t));
    await call(MACHINE_HOST, `${agentUrl}/progress`, '{"bytes":0,"mbps":0}');
    assert.deepEqual(await json(call(MACHINE_HOST, `${agentUrl}/task`)), [200, { task: 'wait', seconds: 15 }]);
    assert.equal((await machines(serve))[0]?.state, 'deploy_failed');
    // Late progress from the lost write changes nothing.
    assert.equal((await call(MACHINE_HOST, `${agentUrl}/progress`, '{"bytes":5,"mbps":1}')).status, 409);

    const again = await provision(serve, id, {});
    assert.deepEqual([again.status, again.body.machine.state], [202, 'deploying']);
    const next = await agentBoot(serve);
    assert.deepEqual(await json(call(MACHINE_HOST, `${next}/task`)), [200, { task: 'inventory' }]);
  });

  await t.test('bad bodies are refused and change nothing', async (t) => {
    const { serve, agentUrl } = await deployStarted(t);
    for (const body of [
      '{"result":"written","bytes":1,"sha256":"nothex","seconds":1}',
      `{"result":"written","bytes":-1,"sha256":"${'a'.repeat(64)}","seconds":1}`,
      `{"result":"failed","reason":"${'x'.repeat(2000)}"}`,
      '{"result":"done"}',
      'not json',
    ]) {
      const answer = await call(MACHINE_HOST, `${agentUrl}/deploy`, body);
      assert.equal(answer.status, 400, body.slice(0, 60));
    }
    assert.equal((await call(MACHINE_HOST, `${agentUrl}/progress`, `{"bytes":1,"mbps":1,"x":"${'y'.repeat(5000)}"}`)).status, 413);
    assert.equal((await machines(serve))[0]?.state, 'deploying');
  });
});
