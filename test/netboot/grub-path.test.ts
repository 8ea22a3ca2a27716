import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { decodePacket } from '../../src/dhcp-proxy/codec.js';
import { prepareDataDir, Store } from '../../src/store/index.js';
import { claimAddress, dl360Inventory, eventsOf, labAssets, seedMachine, startServe, tempDir, type Serving } from '../helpers.js';

const run = promisify(execFile);
const GRUB_NIC = '52:54:00:77:00:e3';
const IPXE_NIC = '52:54:00:77:00:e1';
const GRUB_FROM = '127.0.0.23';

/** A file over TFTP with curl (a real client) from a chosen source address; null when the server says it has none. */
async function tftpGet(serve: Serving, name: string, from: string): Promise<Buffer | null> {
  try {
    const { stdout } = await run('curl', ['-sS', '--fail', '--interface', from, `tftp://127.0.0.1:${serve.tftpPort}/${name}`], {
      encoding: 'buffer',
      maxBuffer: 64 * 2 ** 20,
    });
    return stdout;
  } catch (error) {
    // curl exits 68 on TFTP "file not found".
    if ((error as { code?: number }).code === 68) return null;
    throw error;
  }
}

test('the GRUB path: shim and GRUB by TFTP, the bootstrap, each machine its own grub.cfg, kernels from the assets dir', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const { assetsDir, kernel } = labAssets(dir, 300_000);
  const config = join(dir, 'metalbox.yaml');
  writeFileSync(
    config,
    [
      'profiles:',
      '  sb:',
      '    loader: grub',
      '    kernel: lab/vmlinuz',
      '    initrd: lab/initrd.gz',
      '    cmdline: "console=ttyS0 sn={{ machine.system.serial }} done={{ callbackUrl }}"',
      '  plain:',
      '    kernel: lab/vmlinuz',
      '',
    ].join('\n'),
  );
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  const grubId = seedMachine(store, '94:40:c9:00:00:01', GRUB_NIC, { profile: 'sb', state: 'netbooting' });
  seedMachine(store, '94:40:c9:00:00:02', IPXE_NIC, { profile: 'plain', state: 'netbooting' });
  // A BMC that reports a serial meant to end the GRUB word and run a command.
  const inventory = dl360Inventory();
  store.machines.recordInventory(
    grubId,
    {
      ...inventory,
      system: { ...inventory.system, serial: "X'; reboot; '" },
      nics: [{ mac: GRUB_NIC, name: 'NIC.1.1', speedMbps: null, linkStatus: null }],
    },
    { type: 'inventory', message: 'inspected again' },
  );
  store.close();

  const serve = await startServe(t, ['--data-dir', dataDir, '--config', config, '--assets-dir', assetsDir, '--log-level', 'debug']);

  // ProxyDHCP: the GRUB machine's UEFI PXE request gets the signed shim; the other, iPXE.
  // ProxyDHCP's ACK on the PXE port (which also tells metalbox each NIC's address).
  const ackFile = async (from: string, mac: string) => decodePacket((await claimAddress(serve, from, mac))!).file;
  assert.equal(await ackFile(GRUB_FROM, GRUB_NIC), 'shimx64.efi');
  assert.equal(await ackFile('127.0.0.25', IPXE_NIC), 'snponly.efi');

  // shim and GRUB are Debian's signed files, byte for byte.
  for (const name of ['shimx64.efi', 'grubx64.efi'])
    assert.ok((await tftpGet(serve, name, GRUB_FROM))!.equals(readFileSync(resolve('assets/grub', name))), name);
  // The bootstrap (its whole text is grub.test's): it sources the config of the MAC GRUB booted from.
  assert.match((await tftpGet(serve, 'grub/grub.cfg', GRUB_FROM))!.toString(), /^source \/grub\/machines\/\$\{net_default_mac\}\.cfg$/m);

  // The machine's configuration, from the address its PXE request came from above (as for its iPXE script).
  const cfg = (await tftpGet(serve, `grub/machines/${GRUB_NIC}.cfg`, GRUB_FROM))!.toString();
  const callback = /'done=(http:\/\/[^']+)'/.exec(cfg)?.[1];
  assert.ok(callback?.startsWith(`${serve.url}/callback/${grubId}/`), cfg);
  assert.equal(
    cfg,
    [
      `echo 'metalbox: ${grubId} (${GRUB_NIC}) boots profile sb'`,
      `linux '/assets/lab/vmlinuz' 'console=ttyS0' 'sn=X'\\'';' 'reboot;' ''\\''' 'done=${callback}'`,
      "initrd '/assets/lab/initrd.gz'",
      'boot',
      "echo 'metalbox: profile sb did not boot; leaving it to the firmware'\\''s next boot entry'",
      'exit 1',
      '',
    ].join('\n'),
  );
  // From another address, no configuration (its operation's token stays with the machine); unknown MACs and other names, none.
  await claimAddress(serve, '127.0.0.24', '52:54:00:77:00:99');
  assert.equal(await tftpGet(serve, `grub/machines/${GRUB_NIC}.cfg`, '127.0.0.24'), null);
  assert.equal(await tftpGet(serve, 'grub/machines/52:54:00:77:00:99.cfg', '127.0.0.24'), null);
  assert.equal(await tftpGet(serve, 'grub/machines/not-a-mac.cfg', GRUB_FROM), null);

  // The kernel GRUB reads, byte for byte; nothing outside the assets dir.
  assert.ok((await tftpGet(serve, 'assets/lab/vmlinuz', GRUB_FROM))!.equals(kernel));
  assert.equal(await tftpGet(serve, 'assets/lab/escape', GRUB_FROM), null);
  assert.equal(await tftpGet(serve, 'assets/../secret', GRUB_FROM), null);

  // The machine's timeline: the GRUB config and the kernel as milestones.
  const events = await eventsOf(serve, grubId, (list) => list.some((event) => event.type === 'boot.kernel'));
  const messages = events.map((event) => `${event.type}: ${event.message}`);
  for (const expected of [
    'boot.dhcp: ProxyDHCP ack: shimx64.efi',
    'boot.script: GRUB config: install profile sb',
    'boot.kernel: TFTP sent kernel lab/vmlinuz',
  ])
    assert.ok(messages.includes(expected), `${expected}\n${messages.join('\n')}`);
});

test("Secure Boot read by a machine's agent: GRUB though its profile names iPXE; a profile only iPXE can boot gets no answer, and the timeline says why", async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const { assetsDir } = labAssets(dir, 300_000);
  const config = join(dir, 'metalbox.yaml');
  writeFileSync(
    config,
    [
      'profiles:',
      '  plain:',
      '    kernel: lab/vmlinuz',
      '    initrd: lab/initrd.gz',
      '  scripted:',
      '    script: "#!ipxe\\nexit"',
      '',
    ].join('\n'),
  );
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  const secureNic = '52:54:00:77:00:f1';
  const scriptedNic = '52:54:00:77:00:f2';
  const secureId = seedMachine(store, '94:40:c9:00:00:11', secureNic, { profile: 'plain', state: 'netbooting' });
  const scriptedId = seedMachine(store, '94:40:c9:00:00:12', scriptedNic, { profile: 'scripted', state: 'netbooting' });
  seedMachine(store, '94:40:c9:00:00:13', IPXE_NIC, { profile: 'plain', state: 'netbooting' });
  for (const id of [secureId, scriptedId]) store.machines.putFacts(id, { 'agent.firmware': { mode: 'uefi', secureBoot: true } });
  store.close();

  const serve = await startServe(t, ['--data-dir', dataDir, '--config', config, '--assets-dir', assetsDir]);
  const ack = async (from: string, mac: string) => {
    const bytes = await claimAddress(serve, from, mac);
    return bytes === null ? null : decodePacket(bytes).file;
  };
  assert.equal(await ack('127.0.0.31', secureNic), 'shimx64.efi');
  assert.equal(await ack('127.0.0.32', scriptedNic), null);
  assert.equal(await ack('127.0.0.33', IPXE_NIC), 'snponly.efi', 'no agent has read Secure Boot on it: its profile decides');
  // The profile written for GRUB, from the same decision as its iPXE script.
  assert.match((await tftpGet(serve, `grub/machines/${secureNic}.cfg`, '127.0.0.31'))!.toString(), /^linux '\/assets\/lab\/vmlinuz'$/m);

  const timeline = async (id: string, type: string) =>
    (await eventsOf(serve, id, (list) => list.some((event) => event.type === type)))
      .filter((event) => event.type === type)
      .map((event) => event.message);
  assert.deepEqual(await timeline(secureId, 'boot.dhcp'), [
    'ProxyDHCP ack: shimx64.efi (Secure Boot is on (its agent read it): the signed GRUB, not iPXE)',
  ]);
  assert.deepEqual(await timeline(scriptedId, 'boot.dhcp'), [
    'ProxyDHCP: no answer, Secure Boot is on (its agent read it) and profile scripted boots with iPXE only (it is an iPXE script), which is not signed: serve its kernel and initrds from --assets-dir, or turn Secure Boot off',
  ]);
});
