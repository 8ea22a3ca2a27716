import { Argument, type Command } from 'commander';
import type { MachineJson } from '../../store/index.js';
import { renderData } from '../output.js';
import { clientCommand, outputOption, refPath, requireMachineRef, withClient } from './shared.js';

export function maintenanceCommand(): Command {
  return clientCommand('maintenance', 'put a machine in maintenance (no boot answer at all: DHCP, TFTP, script) or take it out')
    .addArgument(new Argument('<on|off>', 'on: leave the machine alone; off: answer it again').choices(['on', 'off']))
    .argument('<ref>', 'machine id, BMC MAC or any NIC MAC')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (mode: 'on' | 'off', text: string, options: { server?: string; output: 'text' | 'json' | 'yaml' }) => {
      const ref = requireMachineRef(text);
      await withClient(options, async (client) => {
        const { body: machine } = await client.post<MachineJson>(`/api/v1/machines/${refPath(ref)}/maintenance`, { on: mode === 'on' });
        process.stdout.write(
          options.output !== 'text'
            ? renderData(machine, options.output)
            : machine.maintenance
              ? `Machine ${machine.id} is in maintenance: metalbox gives it no boot answer until 'metalbox maintenance off ${machine.id}'.\n`
              : `Machine ${machine.id} is out of maintenance: it boots as its state (${machine.state}) says.\n`,
        );
      });
    });
}
