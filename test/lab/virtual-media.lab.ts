/**
 * `metalbox lab run --boot virtual-media`: metalbox's ProxyDHCP and TFTP are off, so the VM
 * cannot netboot through it; the simulated BMC (Redfish) is given metalbox's boot ISO as
 * virtual media, boots it once from its CD drive (ISOLINUX → Debian's ipxe.lkrn → the
 * machine's script), and the installer calls back; the BMC then ejects the ISO through
 * QEMU's monitor. Run with `npm run test:lab` as root.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../../lab/guest.js';

const CLI = join(ROOT, 'dist/src/cli/main.js');

test('metalbox lab run --boot virtual-media: provisioned from a boot ISO its BMC inserted, without ProxyDHCP; exit 0', {
  timeout: 480_000,
}, (t) => {
  assert.equal(process.getuid?.(), 0, 'the lab needs root: run npm run test:lab as root');
  const dir = mkdtempSync(join(tmpdir(), 'metalbox-lab-media-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const started = Date.now();
  const result = spawnSync(process.execPath, [CLI, 'lab', 'run', '--boot', 'virtual-media', '--dir', dir], {
    encoding: 'utf8',
    timeout: 440_000,
  });
  console.log(`lab run --boot virtual-media: exit ${result.status} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const output = result.stdout + result.stderr;
  assert.equal(result.status, 0, output);
  // Found by the sweep: nothing snoops DHCP without ProxyDHCP.
  assert.match(result.stdout, /resolving → connecting\s+BMC 02:00:5e:79:00:01 at 10\.79\.0\.\d+ \(sweep\)/);
  for (const line of [
    /ready → preparing\s+provisioning with profile lab-installer from virtual media/,
    /boot ISO inserted as virtual media in \/redfish\/v1\/Systems\/437XR1138R2\/VirtualMedia\/CD1 and read back/,
    /one-time CD boot \(virtual media\) set on \/redfish\/v1\/Systems\/437XR1138R2 and read back/,
    /installer reported partitioning/,
    /the machine called in: virtual media ejected/,
    /preparing → provisioned\s+installer reported installed/,
  ])
    assert.match(result.stdout, line, output);
  assert.doesNotMatch(result.stdout, /ProxyDHCP offer/, 'no ProxyDHCP answer took part');
  // The VM booted the CD: ISOLINUX, then the ISO's iPXE, then the installer.
  const serial = readFileSync(join(dir, 'run/vm.serial.log'), 'latin1');
  assert.match(serial, /ISOLINUX 6\.04[\s\S]*iPXE initialising devices[\s\S]*METALBOX-LAB-BOOTED platform=pcbios/);
  assert.match(readFileSync(join(dir, 'run/bmc.log'), 'utf8'), /power on: starting the bios VM \(one-time boot from the virtual CD\)/);
  assert.match(result.stdout, /metalbox lab: down/);
});
