import { setTimeout as sleep } from 'node:timers/promises';
import { Option, type Command } from 'commander';
import type { MachineJson } from '../../store/index.js';
// From states.js, not the store's index: that would load SQLite's binding into every `ls`.
import { MACHINE_STATES } from '../../lifecycle/lifecycle.js';
import type { ApiClient } from '../client.js';
import { CliError, EXIT } from '../errors.js';
import { formatAge, formatBytes, orDash, renderData, renderTable, truncate, type Column } from '../output.js';
import { clientCommand, outputOption, withClient } from './shared.js';

interface LsOptions {
  server?: string;
  output: 'table' | 'wide' | 'json' | 'yaml';
  state?: string;
  query?: string;
  watch?: boolean;
  interval: string;
}

export function lsCommand(): Command {
  return clientCommand('ls', 'list the machines of the inventory')
    .addOption(outputOption(['table', 'wide', 'json', 'yaml'], 'table'))
    .addOption(new Option('--state <state>', 'only machines in this state').choices([...MACHINE_STATES]))
    .option('-q, --query <text>', 'only machines whose id, serial, model, profile, BMC IP or any MAC contains text')
    .option('-w, --watch', 'redraw in place every --interval seconds until Ctrl-C')
    .option('--interval <seconds>', 'refresh period of --watch', '2')
    .action(async (options: LsOptions) => {
      const interval = Number(options.interval);
      if (!(interval >= 0.2 && interval <= 3600))
        throw new CliError(EXIT.usage, `--interval must be between 0.2 and 3600 seconds, got ${options.interval}`);
      await withClient(options, async (client) => {
        if (!options.watch) {
          // The server's array as it streams in, one machine a line: no parse and re-print.
          if (options.output === 'json')
            return client.copyTo('/api/v1/machines', { state: options.state, q: options.query }, process.stdout);
          process.stdout.write(await render(client, options));
          return;
        }
        await watch(interval, async () => render(client, options));
      });
    });
}

async function render(client: ApiClient, options: LsOptions): Promise<string> {
  const machines = await client.get<MachineJson[]>('/api/v1/machines', { state: options.state, q: options.query });
  if (options.output === 'json' || options.output === 'yaml') return renderData(machines, options.output);
  if (machines.length === 0) return 'No machines.\n';
  return renderTable(machines, options.output === 'wide' ? WIDE : TABLE);
}

/** Redraws until Ctrl-C; a failed refresh shows its error in place and is retried. */
async function watch(intervalSeconds: number, frame: () => Promise<string>): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const terminal = process.stdout.isTTY === true;
  try {
    while (!stop.signal.aborted) {
      let body: string;
      try {
        body = await frame();
      } catch (error) {
        body = `error: ${(error as Error).message}\n`;
      }
      const title = `Every ${intervalSeconds}s: metalbox ls    ${new Date().toISOString()}\n\n`;
      process.stdout.write(terminal ? `\x1b[H\x1b[2J${title}${body}` : `${title}${body}\n`);
      await sleep(intervalSeconds * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

const model = (m: MachineJson) => [m.system.manufacturer, m.system.model].filter(Boolean).join(' ');
const cpus = (m: MachineJson) =>
  m.cpu.count === null ? orDash(m.cpu.cores) : `${m.cpu.count}${m.cpu.cores === null ? '' : ` (${m.cpu.cores}c)`}`;
const memory = (m: MachineJson) => (m.memory.totalGiB === null ? '-' : `${m.memory.totalGiB} GiB`);

const TABLE: Column<MachineJson>[] = [
  { header: 'BMC MAC', value: (m) => orDash(m.bmc?.mac) },
  // A machine in maintenance gets no boot answer whatever its state: said where the state is read.
  { header: 'STATE', value: (m) => (m.maintenance ? `${m.state} (maintenance)` : m.state) },
  { header: 'POWER', value: (m) => orDash(m.power) },
  { header: 'BMC IP', value: (m) => orDash(m.bmc?.ip) },
  { header: 'MODEL', value: (m) => orDash(truncate(model(m), 32)) },
  { header: 'SERIAL', value: (m) => orDash(m.system.serial) },
  { header: 'CPUS', value: cpus, right: true },
  { header: 'MEMORY', value: memory, right: true },
  { header: 'NICS', value: (m) => String(m.nics.length), right: true },
  { header: 'PROFILE', value: (m) => orDash(m.profile) },
  { header: 'AGE', value: (m) => formatAge(m.createdAt) },
  { header: 'ERROR', value: (m) => truncate(problemOf(m), 40) },
];

const WIDE: Column<MachineJson>[] = [
  { header: 'ID', value: (m) => m.id },
  ...TABLE.slice(0, 4),
  { header: 'IP SOURCE', value: (m) => orDash(m.bmc?.ipSource) },
  { header: 'MODEL', value: (m) => orDash(model(m)) },
  { header: 'SERIAL', value: (m) => orDash(m.system.serial) },
  { header: 'UUID', value: (m) => orDash(m.system.uuid) },
  { header: 'BIOS', value: (m) => orDash(m.system.biosVersion) },
  { header: 'CPU MODEL', value: (m) => orDash(m.cpu.model) },
  { header: 'CPUS', value: cpus, right: true },
  { header: 'THREADS', value: (m) => orDash(m.cpu.threads), right: true },
  { header: 'MEMORY', value: memory, right: true },
  { header: 'DRIVES', value: (m) => `${m.drives.length} (${formatBytes(m.drives.reduce((sum, d) => sum + (d.capacityBytes ?? 0), 0))})` },
  { header: 'NICS', value: (m) => String(m.nics.length), right: true },
  { header: 'TYPE', value: (m) => orDash(m.serverType) },
  { header: 'PROFILE', value: (m) => orDash(m.profile) },
  { header: 'AGE', value: (m) => formatAge(m.createdAt) },
  { header: 'ERROR', value: (m) => problemOf(m) },
];

/** The state's reason when it has one, else the first health warning (marked), else nothing. */
function problemOf(machine: MachineJson): string {
  if (machine.stateReason) return machine.stateReason;
  const [first, ...rest] = machine.warnings;
  return first === undefined ? '' : `warning: ${first}${rest.length > 0 ? ` (+${rest.length})` : ''}`;
}
