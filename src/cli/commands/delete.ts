import type { Command } from 'commander';
import type { MachineJson } from '../../store/index.js';
import { renderData } from '../output.js';
import { clientCommand, outputOption, refPath, requireMachineRef, withClient } from './shared.js';

export function deleteCommand(): Command {
  return clientCommand('delete', 'forget a machine: its record, NICs, timeline and jobs, and its BMC when no other machine shares it')
    .argument('<ref>', 'machine id, BMC MAC or any NIC MAC')
    .option('--force', 'delete a machine in use or under an operation too (its jobs are dropped; the machine itself is not touched)')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (text: string, options: { server?: string; force?: boolean; output: 'text' | 'json' | 'yaml' }) => {
      const ref = requireMachineRef(text);
      await withClient(options, async (client) => {
        const machine = await client.delete<MachineJson>(`/api/v1/machines/${refPath(ref)}`, options.force ? { force: 'true' } : {});
        process.stdout.write(
          options.output !== 'text'
            ? renderData(machine, options.output)
            : `Deleted machine ${machine.id} (${machine.state}${machine.bmc ? `, BMC ${machine.bmc.mac}` : ''}): its MACs may be onboarded again.\n`,
        );
      });
    });
}
