/**
 * `metalbox lab run --bmc ipmi`: the lab's server behind an IPMI-only BMC (OpenIPMI's
 * ipmi_sim, whose chassis program powers and boots the QEMU VM). metalbox onboards it by
 * MAC over IPMI, has the agent inspect it (IPMI names no NICs), provisions it with the
 * installer, and sees it back at local boot. Run with `npm run test:lab` as root.
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

test('metalbox lab run --bmc ipmi: onboarded over IPMI, inspected by the agent, provisioned, back to local boot; exit 0', {
  timeout: 600_000,
}, (t) => {
  assert.equal(process.getuid?.(), 0, 'the lab needs root: run npm run test:lab as root');
  const dir = mkdtempSync(join(tmpdir(), 'metalbox-lab-ipmi-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const started = Date.now();
  const result = spawnSync(process.execPath, [CLI, 'lab', 'run', '--bmc', 'ipmi', '--dir', dir], { encoding: 'utf8', timeout: 560_000 });
  console.log(`lab run --bmc ipmi: exit ${result.status} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const output = result.stdout + result.stderr;
  assert.equal(result.status, 0, output);
  const at = assertStepsInOrder(result.stdout, STEPS, 'ipmi');
  assert.match(result.stdout.split('\n').slice(at).join('\n'), /provisioned\s+iPXE script: local boot \(exit\)/, output);
  assert.match(result.stdout, /IPMI 2\.0 at 10\.79\.0\.\d+:623 \(MontaVista \(OpenIPMI\), firmware 9\.08, cipher suite 3\)/);
  assert.match(result.stdout, /\(dhcp-observations\)/, 'the BMC was found by its MAC through DHCP snooping');
  // The agent's report named the machine by the maker and serial its FRU gave.
  assert.match(result.stdout, /same serial MBX-LAB-0001/);
  assert.match(result.stdout, /one-time PXE boot set on IPMI boot flags and read back/);
  assert.match(result.stdout, /metalbox lab: down/);
  assert.ok(!spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes('mbl-'), 'run took its namespaces down');
});
