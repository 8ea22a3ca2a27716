import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FileThreadStats } from '../../src/ipxe/file-threads.js';
import type { MachineJson } from '../../src/store/index.js';
import { prepareDataDir, Store } from '../../src/store/index.js';
import { claimAddress, eventsOf, labAssets, seedMachine, startServe, tempDir, type Serving } from '../helpers.js';

const INSTALLING_NIC = '52:54:00:77:00:e1';
const READY_NIC = '52:54:00:77:00:b1';

/** An HTTP request with the path sent as written: fetch would resolve `..` before sending. */
function raw(url: string, path: string, options: { method?: string; headers?: Record<string, string>; from?: string } = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const req = request(
      { host: hostname, port, path, method: options.method ?? 'GET', headers: options.headers, localAddress: options.from },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

// With file threads, the script names the files on a thread's port, and everything under
// /assets/ is asserted there; the boot events still reach the store from the main thread.
for (const fileThreads of [0, 2])
  test(`boot.ipxe, assets and the installer callback, as a netbooting machine meets them (file threads: ${fileThreads})`, async (t) => {
    const dir = tempDir(t);
    const dataDir = join(dir, 'data');
    const { assetsDir, kernel } = labAssets(dir, 5000);
    const config = join(dir, 'metalbox.yaml');
    writeFileSync(
      config,
      [
        'profiles:',
        '  lab:',
        '    kernel: lab/vmlinuz',
        '    initrd: lab/initrd.gz',
        '    cmdline: "console=ttyS0 sn={{ machine.system.serial }} mbx.done={{ callbackUrl }}"',
        '',
      ].join('\n'),
    );

    prepareDataDir(dataDir);
    const store = Store.open(dataDir);
    const installingId = seedMachine(store, '94:40:c9:00:00:01', INSTALLING_NIC, { profile: 'lab', state: 'netbooting' });
    const readyId = seedMachine(store, '94:40:c9:00:00:02', READY_NIC);
    store.close();

    const serve = await startServe(t, [
      '--data-dir',
      dataDir,
      '--config',
      config,
      '--assets-dir',
      assetsDir,
      '--log-level',
      'debug',
      '--file-threads',
      String(fileThreads),
    ]);
    const base = serve.url; // advertise = --listen = 127.0.0.1

    const chain = await fetch(`${base}/boot.ipxe`);
    assert.equal(chain.status, 200);
    assert.equal(await chain.text(), `#!ipxe\nchain ${base}/boot.ipxe?mac=\${mac:hexhyp}&arch=\${buildarch}&platform=\${platform}\n`);

    assert.equal((await fetch(`${base}/boot.ipxe?mac=52:54:00:77:00:99`)).status, 404, 'unknown machines get nothing');
    assert.equal((await fetch(`${base}/boot.ipxe?mac=not-a-mac`)).status, 400);
    assert.equal((await fetch(`${base}/boot.ipxe?mac=${READY_NIC}&colour=blue`)).status, 400, 'unknown query keys are refused');
    assert.equal((await fetch(`${base}/boot.ipxe?mac=${READY_NIC}&mac=${INSTALLING_NIC}`)).status, 400, 'a key given twice is refused');
    assert.equal(
      (await fetch(`${base}/boot.ipxe?mac=${READY_NIC}&platform=${'x'.repeat(17)}`)).status,
      400,
      'platform: up to 16 characters',
    );
    assert.equal((await fetch(`${base}/boot.ipxe?mac=${READY_NIC}&arch=x86%2064`)).status, 400, 'arch: no spaces');
    assert.equal((await fetch(`${base}/boot.ipxe`, { method: 'POST' })).status, 404, 'the script is only fetched');
    const scriptHead = await raw(base, `/boot.ipxe?mac=${READY_NIC}&platform=pcbios`, { method: 'HEAD' });
    assert.deepEqual(
      [scriptHead.status, scriptHead.headers['content-length'], scriptHead.body.length],
      [200, '51', 0],
      "HEAD: the local-boot script's length (7 + 39 + 5 bytes), no body",
    );
    assert.match(
      await (await fetch(`${base}/boot.ipxe?mac=${READY_NIC}&platform=pcbios`)).text(),
      /^exit$/m,
      'ready machines boot from disk',
    );

    // The machine's script, as iPXE asks for it after the chain (hyphenated MAC), from the
    // address its DHCP showed: EDK2's request on the PXE port, sent from 127.0.0.1.
    await claimAddress(serve, '127.0.0.1', INSTALLING_NIC);
    const script = await (await fetch(`${base}/boot.ipxe?mac=52-54-00-77-00-e1&arch=x86_64&platform=efi`)).text();
    const callbackUrl = new RegExp(`mbx\\.done=(${base}/callback/${installingId}/[A-Za-z0-9_-]{43}) `).exec(script)?.[1];
    assert.ok(callbackUrl, script);
    const files = /^kernel (http:\/\/127\.0\.0\.1:\d+)\/assets\//m.exec(script)?.[1];
    assert.ok(files, script);
    const threadStats = await fileThreadStats(serve);
    assert.equal(
      new URL(files).port,
      fileThreads === 0 ? new URL(base).port : String(threadStats!.ports[0]),
      'the first machine gets the first thread',
    );
    assert.match(script, new RegExp(`^kernel ${files}/assets/lab/vmlinuz initrd=initrd.gz console=ttyS0 sn=CZJ1234ABC mbx\\.done=`, 'm'));
    assert.match(script, new RegExp(`^initrd --name initrd.gz ${files}/assets/lab/initrd\\.gz \\|\\| goto failed$`, 'm'));

    // Assets: whole, HEAD, ranges; this address was learnt as the installing NIC's.
    const whole = await fetch(`${files}/assets/lab/vmlinuz`);
    assert.equal(whole.headers.get('content-length'), '5000');
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), kernel);
    const head = await raw(files, '/assets/lab/vmlinuz', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '5000');
    assert.equal(head.body.length, 0);
    const part = await raw(files, '/assets/lab/vmlinuz', { headers: { range: 'bytes=4990-' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], 'bytes 4990-4999/5000');
    assert.deepEqual(part.body, kernel.subarray(4990));
    const beyond = await raw(files, '/assets/lab/vmlinuz', { headers: { range: 'bytes=5000-' } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], 'bytes */5000');
    await fetch(`${files}/assets/lab/initrd.gz`);

    for (const hostile of [
      '/assets/../../secret',
      '/assets/lab/..%2f..%2fsecret',
      '/assets/%2e%2e/secret',
      '/assets/lab/escape',
      '/assets/lab',
      '/assets/lab/vmlinuz%00',
      '/assets/lab\\..\\..\\secret',
      '/assets//etc/passwd',
    ]) {
      await t.test(hostile, async () => {
        const response = await raw(files, hostile);
        assert.equal(response.status, 404, hostile);
        assert.ok(!response.body.toString().includes('outside the assets dir'), hostile);
      });
    }

    // iPXE binaries over HTTP (UEFI HTTP boot), from memory.
    const snponly = readFileSync('assets/ipxe/snponly.efi');
    const binaryHead = await raw(base, '/ipxe/snponly.efi', { method: 'HEAD' });
    assert.equal(binaryHead.status, 200);
    assert.equal(binaryHead.headers['content-length'], String(snponly.length));
    assert.deepEqual((await raw(base, '/ipxe/snponly.efi')).body, snponly);
    assert.equal((await raw(base, '/ipxe/..%2fVERSION')).status, 404);

    // The milestones reach the store within a second, the kernel moving the machine to installing.
    const milestones = await eventsOf(serve, installingId, (list) => list.some((event) => event.type === 'boot.asset'));
    assert.deepEqual(
      milestones
        .slice(-4)
        .map((event) => [event.type, event.fromState, event.toState, event.message, (event.data as { count: number }).count]),
      [
        ['boot.script', 'netbooting', 'netbooting', 'iPXE script: install profile lab', 1],
        ['boot.kernel', 'netbooting', 'installing', 'HTTP sent kernel lab/vmlinuz', 1], // HEAD and the range are not a download
        ['boot.initrd', 'installing', 'installing', 'HTTP sent initrd lab/initrd.gz', 1],
        ['boot.asset', 'installing', 'installing', 'HTTP sent iPXE binary snponly.efi', 1],
      ],
    );
    if (fileThreads > 0) {
      // Two downloads from byte 0 on the first thread: the kernel and the initrd (the range, HEAD, 416 and the 404s are none).
      const { bytesSent: _bytes, ...stats } = (await fileThreadStats(serve))!;
      assert.deepEqual(stats, { threads: 2, ports: threadStats!.ports, sent: [2, 0], failed: 0 });
    }
    const readyEvents = await eventsOf(serve, readyId, () => true);
    assert.equal(readyEvents.at(-1)!.message, 'iPXE script: local boot (exit)');

    // The callback: the token is checked, events recorded, `installed` ends the installation.
    const forged = callbackUrl.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'));
    assert.equal((await fetch(`${forged}?event=installed`)).status, 403);
    assert.equal(
      (await fetch(`${callbackUrl.replace(installingId, readyId)}?event=installed`)).status,
      403,
      "one machine's token is not another's",
    );
    assert.equal((await fetch(`${callbackUrl}`)).status, 400, 'event= is required');
    const progress = await fetch(callbackUrl, {
      method: 'POST',
      body: new URLSearchParams({ event: 'partitioning', disk: 'nvme0n1\u001b[2J' }),
    });
    assert.equal(progress.status, 200);
    assert.equal((await fetch(`${callbackUrl}?event=installed&platform=efi`)).status, 200);
    const events = await eventsOf(serve, installingId, () => true);
    assert.deepEqual(
      events.slice(-2).map((event) => [event.type, event.fromState, event.toState, event.message]),
      [
        ['callback', 'installing', 'installing', 'installer reported partitioning'],
        ['callback', 'installing', 'provisioned', 'installer reported installed'],
      ],
    );
    const progressEvent = events.find((event) => event.message === 'installer reported partitioning')!;
    assert.deepEqual(
      progressEvent.data,
      { event: 'partitioning', from: '127.0.0.1', disk: 'nvme0n1[2J' },
      'control characters are stripped',
    );
    const machine = (await (await serve.fetch(`/api/v1/machines/${installingId}`)).json()) as MachineJson;
    assert.equal(machine.state, 'provisioned');
    assert.equal(await serve.stop(), 0);
    const token = callbackUrl.split('/').at(-1)!;
    assert.ok(serve.log().includes(`/callback/${installingId}/[redacted]`), 'the debug log has the callback requests');
    assert.ok(!serve.log().includes(token), 'but never the token, not even at debug');
  });

async function fileThreadStats(serve: Serving): Promise<FileThreadStats | null> {
  const stats = (await (await serve.fetch('/api/v1/stats')).json()) as { fileThreads: FileThreadStats | null };
  return stats.fileThreads;
}

test('discovery: an unknown machine that asks for its script gets a record and boots the discovery profile; --local-boot 404 sends disk-booting machines away', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const config = join(dir, 'metalbox.yaml');
  writeFileSync(
    config,
    [
      'boot:',
      '  unknown: discover',
      '  localBoot: "404"',
      'profiles:',
      '  rescue:',
      '    script: |',
      '      #!ipxe',
      '      echo rescue for {{ mac }}',
      '      chain {{ serverUrl }}/assets/rescue.ipxe?mac=${mac}',
      '',
    ].join('\n'),
  );
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  seedMachine(store, '94:40:c9:00:00:02', READY_NIC);
  store.close();

  const refused = await startServe(t, ['--data-dir', dataDir, '--config', config]).then(
    () => null,
    (error: Error) => error.message,
  );
  assert.match(
    refused ?? '',
    /boot\.unknown is discover, and there is no agent image in .*: run metalbox agent build, or set boot\.discoveryProfile/,
    'discover with neither an agent image nor a profile does not start',
  );

  // first-use: no DHCP here, so the address that first asks is the machine's.
  const serve = await startServe(t, [
    '--data-dir',
    dataDir,
    '--config',
    config,
    '--discovery-profile',
    'rescue',
    '--address-trust',
    'first-use',
  ]);
  const script = await fetch(`${serve.url}/boot.ipxe?mac=52:54:00:aa:bb:cc`);
  assert.equal(script.status, 200);
  assert.equal(await script.text(), `#!ipxe\necho rescue for 52:54:00:aa:bb:cc\nchain ${serve.url}/assets/rescue.ipxe?mac=\${mac}\n`);
  const discovered = (await (await serve.fetch('/api/v1/machines?state=discovered')).json()) as MachineJson[];
  assert.deepEqual(
    discovered.map((machine) => machine.nics.map((nic) => nic.mac)),
    [['52:54:00:aa:bb:cc']],
    'one record, with the NIC that asked',
  );
  assert.equal((await fetch(`${serve.url}/boot.ipxe?mac=52:54:00:aa:bb:cc`)).status, 200, 'asked again: the same record');
  assert.equal(((await (await serve.fetch('/api/v1/machines?state=discovered')).json()) as MachineJson[]).length, 1);
  assert.equal((await fetch(`${serve.url}/boot.ipxe?mac=${READY_NIC}`)).status, 404);
  assert.equal(await serve.stop(), 0);
});
