import { type Command, Option } from 'commander';
import { CLASSIFIED } from '../../lifecycle/lifecycle.js';
import type { JobJson, MachineEventJson, MachineJson, MachineState } from '../../store/index.js';
import type { ApiClient } from '../client.js';
import { CliError, EXIT } from '../errors.js';
import { eventLine, followEvents } from '../follow.js';
import { orDash, renderData } from '../output.js';
import { clientCommand, outputOption, refPath, requireMachineRef, withClient } from './shared.js';

interface Ticket {
  /** Null for a deploy to a machine without a BMC. */
  job: JobJson | null;
  machine: MachineJson;
  operationId: string;
}

/** Where each command's --wait ends: success (any of), or failure. */
const ENDS: Record<'provision' | 'deploy' | 'deprovision' | 'clean' | 'inspect', { ok: MachineState[]; failed: MachineState }> = {
  provision: { ok: ['provisioned'], failed: 'provision_failed' },
  deploy: { ok: ['active'], failed: 'deploy_failed' },
  deprovision: { ok: ['ready'], failed: 'provision_failed' },
  clean: { ok: ['ready'], failed: 'clean_failed' },
  // Classified again after the agent's reading: either is an inspection done.
  inspect: { ok: [...CLASSIFIED], failed: 'inspect_failed' },
};

export function provisionCommand(): Command {
  return clientCommand(
    'provision',
    "PXE-boot a ready machine once into the installer of its profile, or into metalbox's agent to write its image profile's image (Redfish boot override and power)",
  )
    .argument('<ref>', 'machine id, BMC MAC or any NIC MAC')
    .option('--profile <name>', "install this profile, and keep it as the machine's own (default: its server type's)")
    .option(
      '--retry',
      'start over a provisioning under way (preparing, netbooting or installing) with a new operation: boot override and power again',
    )
    .addOption(
      new Option(
        '--boot <method>',
        'pxe: a one-time PXE boot; virtual-media: its BMC boots an ISO metalbox builds (Redfish), for a network metalbox does not see',
      ).choices(['pxe', 'virtual-media']),
    )
    .option('--wait', 'print each step as it happens; exit 0 when provisioned (active, for an image), 1 when it failed')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(
      async (
        text: string,
        options: { server?: string; profile?: string; retry?: boolean; boot?: 'pxe' | 'virtual-media'; wait?: boolean } & Output,
      ) => {
        const ref = requireMachineRef(text);
        await withClient(options, async (client) => {
          const body = {
            ...(options.profile ? { profile: options.profile } : {}),
            ...(options.retry ? { retry: true } : {}),
            ...(options.boot ? { boot: options.boot } : {}),
          };
          const { body: ticket } = await client.post<Ticket>(`/api/v1/machines/${refPath(ref)}/provision`, body);
          const deploy = ticket.machine.state === 'deploying';
          say(
            options,
            `${deploy ? 'Deploying' : 'Provisioning'} machine ${ticket.machine.id} with profile ${orDash(ticket.machine.profile)} (operation ${ticket.operationId}, ${jobText(ticket)}).\n`,
          );
          await finish(client, ticket, deploy ? 'deploy' : 'provision', options);
        });
      },
    );
}

export function inspectCommand(): Command {
  return clientCommand(
    'inspect',
    "PXE-boot a machine into metalbox's agent to fill and check what its BMC said (Redfish boot override and power)",
  )
    .argument('<ref>', 'machine id, BMC MAC or any NIC MAC')
    .option('--wait', 'print each step as it happens; exit 0 when read and classified again, 1 when it failed')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (text: string, options: { server?: string; wait?: boolean } & Output) => {
      const ref = requireMachineRef(text);
      await withClient(options, async (client) => {
        const { body: ticket } = await client.post<Ticket>(`/api/v1/machines/${refPath(ref)}/inspect`, {});
        say(options, `Inspecting machine ${ticket.machine.id} with the agent (operation ${ticket.operationId}, ${jobText(ticket)}).\n`);
        await finish(client, ticket, 'inspect', options);
      });
    });
}

export function deprovisionCommand(): Command {
  return clientCommand(
    'deprovision',
    'power a provisioned machine off and make it ready again; a deployed one is wiped by the agent first (cleaning)',
  )
    .argument('<ref>', 'machine id, BMC MAC or any NIC MAC')
    .option(
      '--secure',
      'a deployed machine: each disk erases itself before the wipe where it can (NVMe format, ATA secure erase; a large disk can take hours: raise provisioning.timeouts.cleaning)',
    )
    .option('--wait', 'print each step as it happens; exit 0 when ready, 1 when it failed')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (text: string, options: { server?: string; wait?: boolean; secure?: boolean } & Output) => {
      const ref = requireMachineRef(text);
      await withClient(options, async (client) => {
        const { body: ticket } = await client.post<Ticket>(
          `/api/v1/machines/${refPath(ref)}/deprovision`,
          options.secure ? { secure: true } : {},
        );
        const clean = ticket.machine.state === 'cleaning';
        say(
          options,
          `${clean ? `Cleaning${options.secure ? ' securely' : ''}` : 'Deprovisioning'} machine ${ticket.machine.id} (operation ${ticket.operationId}, ${jobText(ticket)}).\n`,
        );
        await finish(client, ticket, clean ? 'clean' : 'deprovision', options);
      });
    });
}

const jobText = (ticket: Ticket) =>
  ticket.job === null ? 'no BMC: its agent takes it, or power the machine on into PXE' : `job ${ticket.job.id}`;

/**
 * Without --wait, says how to follow (or prints the ticket, for -o json|yaml); with it,
 * prints the operation's events until the machine ends in success or failure (or, for
 * -o json|yaml, only the machine as it ended).
 */
async function finish(client: ApiClient, ticket: Ticket, command: keyof typeof ENDS, options: { wait?: boolean } & Output): Promise<void> {
  const machineId = ticket.machine.id;
  if (!options.wait) {
    if (options.output === 'text') process.stdout.write(`Follow it with: metalbox events ${machineId} --follow\n`);
    else process.stdout.write(renderData(ticket, options.output));
    return;
  }
  const { ok, failed } = ENDS[command];
  const earlier = await client.get<MachineEventJson[]>(`/api/v1/machines/${machineId}/events`, { limit: 1000 });
  // From the operation's first event, so the lines printed are this operation's.
  const first = earlier.findIndex((event) => event.operationId === ticket.operationId);
  const shown = first < 0 ? [] : earlier.slice(first);
  for (const event of shown) say(options, eventLine(event));
  const ended = (event: MachineEventJson) =>
    event.fromState !== event.toState && event.toState !== null && (ok.includes(event.toState) || event.toState === failed);
  const end = shown.find(ended) ?? (await followEvents(client, machineId, earlier.at(-1)?.id ?? 0, ended, options.output === 'text'));
  if (end === null) throw new CliError(EXIT.failed, 'the event stream ended before the machine did');
  if (options.output !== 'text')
    process.stdout.write(renderData(await client.get<MachineJson>(`/api/v1/machines/${machineId}`), options.output));
  if (end.toState === failed) throw new CliError(EXIT.failed, `${command} failed: machine ${machineId} is ${failed}: ${end.message}`);
  say(options, `Machine ${machineId} is ${end.toState}.\n`);
}

type Output = { output: 'text' | 'json' | 'yaml' };
/** Progress and summaries are text: -o json|yaml prints the data alone. */
const say = (options: Output, text: string) => {
  if (options.output === 'text') process.stdout.write(text);
};
