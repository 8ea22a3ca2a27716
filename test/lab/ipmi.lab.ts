/**
 * `metalbox lab run --bmc ipmi --firmware secure-boot`: the lab's server behind an IPMI-only
 * BMC (OpenIPMI's ipmi_sim, whose chassis program powers and boots the QEMU VM), with OVMF
 * enforcing Secure Boot with Microsoft's keys. metalbox onboards it by MAC over IPMI, has the
 * agent inspect it (IPMI names no NICs) through Debian's signed shim and GRUB (netboot.loader
 * grub), which reads Secure Boot on; so the installer, whose profile names iPXE, boots
 * through GRUB too; and it sees it back at local boot. Run with `npm run test:lab` as root.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../../lab/guest.js';
import { assertStepsInOrder } from './steps.js';

const CLI = join(ROOT, 'dist/src/cli/main.js');

/** The timeline's state changes, in the order printed. */
const STEPS = [
  'enrolled → resolving',
  'resolving → connecting',
  'connecting → inspecting',
  'inspecting → classifying',
  // IPMI gave no NIC: the server type (one NIC at least) does not match yet.
  'classifying → unclassified',
  'unclassified → inspecting',
  'inspecting → classifying',
  'classifying → ready',
  'ready → preparing',
  'preparing → netbooting',
  'netbooting → installing',
  'installing → provisioned',
];

test('metalbox lab run --bmc ipmi --firmware secure-boot: onboarded over IPMI, inspected by the agent under Secure Boot, provisioned through GRUB, back to local boot; exit 0', {
  timeout: 600_000,
}, (t) => {
  assert.equal(process.getuid?.(), 0, 'the lab needs root: run npm run test:lab as root');
  const dir = mkdtempSync(join(tmpdir(), 'metalbox-lab-ipmi-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const started = Date.now();
  const result = spawnSync(process.execPath, [CLI, 'lab', 'run', '--bmc', 'ipmi', '--firmware', 'secure-boot', '--dir', dir], {
    encoding: 'utf8',
    timeout: 560_000,
  });
  console.log(`lab run --bmc ipmi --firmware secure-boot: exit ${result.status} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const output = result.stdout + result.stderr;
  assert.equal(result.status, 0, output);
  const at = assertStepsInOrder(result.stdout, STEPS, 'ipmi');
  assert.match(result.stdout.split('\n').slice(at).join('\n'), /provisioned\s+GRUB config: local boot \(exit\)/, output);
  // The agent ran under Secure Boot (so through shim and GRUB: the firmware refuses iPXE) and read it on.
  assert.match(result.stdout, /inspecting\s+agent read .*, 1 port, UEFI with Secure Boot; the same as the BMC inventory/, output);
  // The installer's profile names iPXE; the agent's reading made it GRUB, and the timeline says why.
  assert.match(result.stdout, /ProxyDHCP \w+: shimx64\.efi \(Secure Boot is on \(its agent read it\): the signed GRUB, not iPXE\)/, output);
  assert.match(result.stdout, /netbooting\s+GRUB config: install profile lab-installer/, output);
  assert.match(result.stdout, /IPMI 2\.0 at 10\.79\.0\.\d+:623 \(MontaVista \(OpenIPMI\), firmware 9\.08, cipher suite 3\)/);
  assert.match(result.stdout, /\(dhcp-observations\)/, 'the BMC was found by its MAC through DHCP snooping');
  // The agent's report named the machine by the maker and serial its FRU gave.
  assert.match(result.stdout, /same serial MBX-LAB-0001/);
  assert.match(result.stdout, /one-time PXE boot set on IPMI boot flags and read back/);
  assert.match(result.stdout, /metalbox lab: down/);
  assert.ok(!spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes('mbl-'), 'run took its namespaces down');
});
