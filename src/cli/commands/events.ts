import { Option, type Command } from 'commander';
import type { MachineEventJson } from '../../store/index.js';
import { CliError, EXIT } from '../errors.js';
import { renderData, renderTable, type Column } from '../output.js';
import { eventLine, followEvents, stateChange } from '../follow.js';
import { clientCommand, outputOption, refPath, requireMachineRef, withClient } from './shared.js';

export const eventColumns: Column<MachineEventJson>[] = [
  { header: 'TIME', value: (e) => e.at },
  { header: 'EVENT', value: (e) => e.type },
  { header: 'STATE', value: stateChange },
  { header: 'MESSAGE', value: (e) => e.message },
];

export function eventsCommand(): Command {
  return clientCommand('events', "a machine's timeline, oldest first")
    .argument('<ref>', 'machine id, BMC MAC or any NIC MAC')
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .addOption(new Option('--limit <n>', 'how many of the latest events').default('100'))
    .option('-f, --follow', 'then print each new event as it happens, until interrupted')
    .action(async (text: string, options: { server?: string; output: 'table' | 'json' | 'yaml'; limit: string; follow?: boolean }) => {
      const ref = requireMachineRef(text);
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new CliError(EXIT.usage, `--limit must be a whole number from 1 to 1000, got ${options.limit}`);
      await withClient(options, async (client) => {
        const events = await client.get<MachineEventJson[]>(`/api/v1/machines/${refPath(ref)}/events`, { limit });
        if (!options.follow) {
          process.stdout.write(options.output === 'table' ? renderTable(events, eventColumns) : renderData(events, options.output));
          return;
        }
        if (options.output !== 'table') throw new CliError(EXIT.usage, '--follow prints lines as they come: use it with the table output');
        for (const event of events) process.stdout.write(eventLine(event));
        await followEvents(client, refPath(ref), events.at(-1)?.id ?? 0);
      });
    });
}
