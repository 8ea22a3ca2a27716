import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { labDown } from '../../lab/lab.js';
import { tempDir } from '../helpers.js';

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

test('lab down stops what its lab started, by pid and only while the pid is still that process; nothing by name', {
  skip: process.getuid?.() !== 0 ? 'lab down deletes the lab namespaces: root' : false,
}, async (t) => {
  const dir = tempDir(t);
  const run = join(dir, 'run');
  mkdirSync(run);
  const spawned: ChildProcess[] = [];
  const start = (args: string[], argv0?: string) => {
    const child = spawn('sleep', args, { stdio: 'ignore', ...(argv0 ? { argv0 } : {}) });
    spawned.push(child);
    return child;
  };
  t.after(() => {
    for (const child of spawned) child.kill('SIGKILL');
  });
  // The lab's own processes name its run directory on their command line (configs, logs).
  const ours = start(['300', join(run, 'marker')]);
  const ourVm = start(['300', join(run, 'vm.serial.log')]);
  // A process of someone else whose pid the state file still lists (reused), and one that
  // looks like the lab's VM by name but is not in the lab's files.
  const reused = start(['300']);
  const lookalike = start(['300'], 'qemu-system-x86_64 -name mbx-vm ');
  writeFileSync(
    join(dir, 'state.json'),
    JSON.stringify({ firmware: 'bios', startedAt: new Date().toISOString(), dir, pids: [ours.pid, reused.pid] }),
  );
  writeFileSync(join(run, 'vm.pid'), `${ourVm.pid}\n`);

  await labDown({ dir });
  await sleep(200);
  assert.deepEqual([alive(ours), alive(ourVm)], [false, false], "the lab's processes are stopped");
  assert.deepEqual([alive(reused), alive(lookalike)], [true, true], 'others are left alone');
});
