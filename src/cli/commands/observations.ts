import { Option, type Command } from 'commander';
import { normalizeMac } from '../../lib/mac.js';
import type { ObservationJson } from '../../store/index.js';
import { CliError, EXIT } from '../errors.js';
import { formatAge, orDash, renderData, renderTable } from '../output.js';
import { clientCommand, outputOption, withClient } from './shared.js';

export function observationsCommand(): Command {
  return clientCommand('observations', 'what DHCP snooping saw: MACs, addresses, vendor classes, most recent first')
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .option('--mac <mac>', 'only this MAC (any spelling)')
    .addOption(new Option('--limit <n>', 'at most this many rows').default('1000'))
    .action(async (options: { server?: string; output: 'table' | 'json' | 'yaml'; mac?: string; limit: string }) => {
      const mac = options.mac === undefined ? undefined : normalizeMac(options.mac);
      if (mac === null) throw new CliError(EXIT.usage, `not a MAC address: ${options.mac}`);
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10000)
        throw new CliError(EXIT.usage, `--limit must be a whole number from 1 to 10000, got ${options.limit}`);
      await withClient(options, async (client) => {
        const rows = await client.get<ObservationJson[]>('/api/v1/observations', { mac, limit });
        if (options.output !== 'table') process.stdout.write(renderData(rows, options.output));
        else if (rows.length === 0) process.stdout.write('No DHCP traffic seen yet.\n');
        else {
          process.stdout.write(
            renderTable(rows, [
              { header: 'MAC', value: (o) => o.mac },
              { header: 'TYPE', value: (o) => o.messageType },
              { header: 'IP', value: (o) => orDash(o.ip) },
              { header: 'VENDOR CLASS', value: (o) => orDash(o.vendorClass) },
              { header: 'ARCH', value: (o) => orDash(o.arch), right: true },
              { header: 'HOSTNAME', value: (o) => orDash(o.hostname) },
              { header: 'RELAY', value: (o) => orDash(o.relay) },
              { header: 'COUNT', value: (o) => String(o.count), right: true },
              { header: 'LAST SEEN', value: (o) => `${formatAge(o.lastSeen)} ago` },
            ]),
          );
        }
      });
    });
}
