import { setTimeout as sleep } from 'node:timers/promises';
import { Argument, type Command } from 'commander';
import type { PowerStatus } from '../../provisioning/provisioning.js';
import type { JobJson, MachineJson } from '../../store/index.js';
import { CliError, EXIT } from '../errors.js';
import { orDash, renderData } from '../output.js';
import { clientCommand, outputOption, refPath, requireMachineRef, withClient } from './shared.js';
import { BMC_PROTOCOL_NAMES } from '../../store/bmcs.js';

const POLL_MS = 500;

export function powerCommand(): Command {
  return clientCommand('power', "a machine's power through its BMC: on, off, cycle, or status (read live)")
    .addArgument(new Argument('<action>', 'what to do').choices(['on', 'off', 'cycle', 'status']))
    .argument('<ref>', 'machine id, BMC MAC or any NIC MAC')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(
      async (action: 'on' | 'off' | 'cycle' | 'status', text: string, options: { server?: string; output: 'text' | 'json' | 'yaml' }) => {
        const ref = requireMachineRef(text);
        await withClient(options, async (client) => {
          if (action === 'status') {
            const { body: status } = await client.post<PowerStatus>(`/api/v1/machines/${refPath(ref)}/power`, { action });
            const { target, enabled, mode } = status.bootOverride;
            if (options.output !== 'text') {
              process.stdout.write(renderData(status, options.output));
              return;
            }
            process.stdout.write(
              `Machine ${status.machineId} (${BMC_PROTOCOL_NAMES[status.protocol]}): power ${orDash(status.powerState)}; boot override ${orDash(target)} (${orDash(enabled)}${mode ? `, ${mode}` : ''}); ${status.protocol === 'ipmi' ? 'chassis commands' : 'reset types'} ${status.resetTypes?.join(', ') ?? 'not listed'}\n`,
            );
            return;
          }
          const { body: ticket } = await client.post<{ job: JobJson; machine: MachineJson; operationId: string }>(
            `/api/v1/machines/${refPath(ref)}/power`,
            { action },
          );
          // Power actions are short: wait for the job, then say what the BMC did.
          for (;;) {
            const job = await client.get<JobJson>(`/api/v1/jobs/${ticket.job.id}`);
            if (job.status === 'failed' || job.status === 'cancelled')
              throw new CliError(EXIT.failed, `power ${action} failed: ${orDash(job.lastError)}`);
            if (job.status === 'succeeded') break;
            await sleep(POLL_MS);
          }
          const machine = await client.get<MachineJson>(`/api/v1/machines/${ticket.machine.id}`);
          process.stdout.write(
            options.output === 'text'
              ? `Machine ${machine.id}: power ${action} done; power is ${orDash(machine.power)}.\n`
              : renderData(machine, options.output),
          );
        });
      },
    );
}
