import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Option, type Command } from 'commander';
import { normalizeMac } from '../../lib/mac.js';
import type { JobJson, MachineEventJson, MachineJson } from '../../store/index.js';
import type { ApiClient } from '../client.js';
import { CliError, EXIT } from '../errors.js';
import { orDash, renderData } from '../output.js';
import { eventLine } from '../follow.js';
import { clientCommand, outputOption, refPath, requireMachineRef, withClient } from './shared.js';

interface OnboardOptions {
  server?: string;
  protocol?: 'redfish' | 'ipmi' | 'auto';
  ip?: string;
  port?: string;
  scheme?: 'https' | 'http';
  username?: string;
  passwordFile?: string;
  insecure?: boolean;
  tlsFingerprint?: string;
  wait?: boolean;
  retry?: string;
  output: 'text' | 'json' | 'yaml';
}

interface Ticket {
  job: JobJson;
  machine: MachineJson;
  created: boolean;
}

const POLL_MS = 500;

export function onboardCommand(): Command {
  return clientCommand('onboard', 'find a BMC by its MAC, read its hardware through Redfish or IPMI and add the machine to the inventory')
    .argument('[bmc-mac]', "the BMC's MAC address (any spelling)")
    .addOption(
      new Option(
        '--protocol <protocol>',
        'redfish, ipmi, or auto: Redfish when its service root answers, else IPMI (default: as stored, else redfish)',
      ).choices(['redfish', 'ipmi', 'auto']),
    )
    .option('--ip <ip>', "the BMC's address, when no resolver would find it")
    .option('--port <n>', 'Redfish port (default: that of the scheme), or IPMI port (default 623)')
    .addOption(new Option('--scheme <scheme>', 'Redfish over https or http').choices(['https', 'http']))
    .option('--username <user>', 'BMC username (default: the stored one, or bmc.credentials by MAC prefix)')
    .option('--password-file <file>', 'file holding the BMC password (or set METALBOX_BMC_PASSWORD)')
    .option('--insecure', "accept the BMC's self-signed certificate, and pin it")
    .option('--tls-fingerprint <sha256>', 'accept only the certificate with this SHA-256 fingerprint')
    .option('--wait', 'show each step as it happens; exit 0 when ready, 1 when onboarding failed')
    .option('--retry <ref>', 'onboard a known machine again with its stored BMC settings (machine id or any MAC)')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (macText: string | undefined, options: OnboardOptions) => {
      const body = requestBody(macText, options);
      await withClient(options, async (client) => {
        const { body: ticket } = await client.post<Ticket>('/api/v1/onboardings', body);
        const { job, machine } = ticket;
        const bmc = machine.bmc?.mac ?? '?';
        if (options.output !== 'text') {
          // JSON or YAML: the ticket, or with --wait the machine as the onboarding left it, and nothing else.
          if (!options.wait) process.stdout.write(renderData(ticket, options.output));
          else await follow(client, job.id, machine.id, options.output);
          return;
        }
        process.stdout.write(
          ticket.created
            ? `Onboarding BMC ${bmc} as machine ${machine.id} (job ${job.id}).\n`
            : `BMC ${bmc} is already being onboarded as machine ${machine.id} (job ${job.id}, ${job.status}${job.step ? `, step ${job.step}` : ''}).\n`,
        );
        if (!options.wait) {
          process.stdout.write(`Follow it with: metalbox events ${machine.id}\n`);
          return;
        }
        await follow(client, job.id, machine.id, 'text');
      });
    });
}

function requestBody(macText: string | undefined, options: OnboardOptions): Record<string, unknown> {
  if (options.retry !== undefined) {
    const given = ['protocol', 'ip', 'port', 'scheme', 'username', 'passwordFile', 'insecure', 'tlsFingerprint'].filter(
      (key) => options[key as keyof OnboardOptions] !== undefined,
    );
    if (macText !== undefined || given.length > 0)
      throw new CliError(EXIT.usage, '--retry onboards again with the stored settings: give it alone (with --wait if you like)');
    const ref = requireMachineRef(options.retry);
    return { retry: ref.kind === 'id' ? ref.id : ref.mac };
  }
  if (macText === undefined) throw new CliError(EXIT.usage, "give the BMC's MAC address (or --retry <machine>)");
  const bmcMac = normalizeMac(macText);
  if (bmcMac === null) throw new CliError(EXIT.usage, `not a MAC address: ${macText} (e.g. 94:40:c9:12:34:56)`);
  const body: Record<string, unknown> = { bmcMac };
  if (options.protocol !== undefined) body.protocol = options.protocol;
  if (options.ip !== undefined) {
    if (!isIPv4(options.ip)) throw new CliError(EXIT.usage, `--ip must be an IPv4 address, got ${options.ip}`);
    body.ip = options.ip;
  }
  if (options.port !== undefined) {
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new CliError(EXIT.usage, `--port must be 1 to 65535, got ${options.port}`);
    body.port = port;
  }
  if (options.scheme !== undefined) body.scheme = options.scheme;
  if (options.insecure) body.insecure = true;
  if (options.tlsFingerprint !== undefined) {
    if (!/^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/.test(options.tlsFingerprint))
      throw new CliError(EXIT.usage, '--tls-fingerprint must be a SHA-256 in hex (64 digits, colons allowed)');
    body.tlsFingerprint = options.tlsFingerprint;
  }
  const password = readPassword(options.passwordFile);
  if (options.username !== undefined) {
    if (password === undefined)
      throw new CliError(EXIT.usage, '--username needs a password: --password-file FILE or METALBOX_BMC_PASSWORD');
    body.username = options.username;
    body.password = password;
  } else if (password !== undefined) {
    throw new CliError(EXIT.usage, 'a password was given without --username');
  }
  return body;
}

function readPassword(file: string | undefined): string | undefined {
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new CliError(EXIT.usage, `--password-file ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? error})`);
    }
  }
  const fromEnv = process.env.METALBOX_BMC_PASSWORD;
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** Prints the machine's events from this job's start until the job ends; exit 1 when it failed. */
async function follow(client: ApiClient, jobId: number, machineId: string, output: 'text' | 'json' | 'yaml'): Promise<void> {
  const say = (text: string) => {
    if (output === 'text') process.stdout.write(text);
  };
  const earlier = await client.get<MachineEventJson[]>(`/api/v1/machines/${machineId}/events`, { limit: 1000 });
  // From this job's first event (its "queued" line), so a second `onboard --wait` replays what happened so far.
  const first = earlier.find((event) => (event.data as { job?: unknown } | null)?.job === jobId);
  let after = first ? first.id - 1 : (earlier.at(-1)?.id ?? 0);
  for (;;) {
    const job = await client.get<JobJson>(`/api/v1/onboardings/${jobId}`);
    const events = await client.get<MachineEventJson[]>(`/api/v1/machines/${machineId}/events`, { after, limit: 1000 });
    for (const event of events) {
      say(eventLine(event));
      // The inspection's line counts its notes (dead links, a BMC reporting another MAC): here they are in full.
      const notes = (event.data as { notes?: unknown } | null)?.notes;
      if (event.type === 'inventory' && Array.isArray(notes)) for (const note of notes) say(`    note: ${String(note)}\n`);
      after = event.id;
    }
    if (job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled') {
      const machine = await client.get<MachineJson>(`/api/v1/machines/${refPath({ kind: 'id', id: machineId })}`);
      if (output !== 'text') process.stdout.write(renderData(machine, output));
      if (job.status !== 'succeeded')
        throw new CliError(
          EXIT.failed,
          `onboarding failed: machine ${machine.id} is ${machine.state}: ${orDash(machine.stateReason ?? job.lastError)}`,
        );
      say(`Machine ${machine.id} is ${machine.state}.\n`);
      return;
    }
    await sleep(POLL_MS);
  }
}
