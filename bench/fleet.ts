/**
 * A fleet in the store, written before `metalbox serve` opens it: machines as onboarding
 * and provisioning leave them (the DL360 inventory of the tests, one NIC each), so the hot
 * paths answer from a full in-memory view and `ls` has real rows to list.
 */
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Store, type MachineState } from '../src/store/index.js';
import { seedMachine } from '../test/helpers.js';

/** The i-th fleet MAC (i < 2^24): 02:bb + three bytes of the index; the BMC's has 02:bc. */
export function fleetMac(index: number, prefix = '02:bb'): string {
  const bytes = [(index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff].map((byte) => byte.toString(16).padStart(2, '0'));
  return `${prefix}:00:${bytes.join(':')}`;
}

/** Seeds `count` machines in `state` with `profile`, a thousand per transaction; returns the NIC MACs. */
export function seedFleet(dataDir: string, count: number, options: { state: MachineState; profile: string }): string[] {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const macs = Array.from({ length: count }, (_, index) => fleetMac(index));
  // BENCH_FLEET_CACHE=DIR keeps each seeded data dir there and copies it on the next run:
  // for profiling one workload again and again, never for a run whose tables are kept (a
  // database seeded by an older commit is migrated on open, which start-up would measure).
  const cached = process.env.BENCH_FLEET_CACHE && join(process.env.BENCH_FLEET_CACHE, `${count}-${options.state}-${options.profile}`);
  if (cached && existsSync(cached)) {
    cpSync(cached, dataDir, { recursive: true });
    return macs;
  }
  const store = Store.open(dataDir);
  try {
    for (let start = 0; start < count; start += 1000) {
      store.transaction(() => {
        for (let index = start; index < Math.min(count, start + 1000); index++) {
          seedMachine(store, fleetMac(index, '02:bc'), macs[index]!, options);
        }
      });
    }
  } finally {
    store.close();
  }
  if (cached) {
    cpSync(dataDir, cached, { recursive: true });
  }
  return macs;
}
