import { Command, Option } from 'commander';
import { parseMachineRef, type MachineRef } from '../../lib/machine-ref.js';
import type { ApiClient } from '../client.js';
import { CliError, EXIT } from '../errors.js';

/** Adds the options every command that talks to the API takes. */
export function clientCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .addOption(new Option('--server <url>', 'metalbox API URL').env('METALBOX_SERVER').default(undefined, 'http://127.0.0.1:8080'));
}

export function outputOption(formats: string[], fallback: string): Option {
  return new Option('-o, --output <format>', 'output format').choices(formats).default(fallback);
}

/** Runs `work` with a client, always closing it. */
export async function withClient<T>(options: { server?: string }, work: (client: ApiClient) => Promise<T>): Promise<T> {
  // undici is loaded only by the commands that talk to the API, not by serve.
  const { ApiClient } = await import('../client.js');
  const client = new ApiClient({ server: options.server });
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

/** A machine id or any MAC form, checked before anything is sent. */
export function requireMachineRef(text: string): MachineRef {
  const ref = parseMachineRef(text);
  if (ref === null) throw new CliError(EXIT.usage, `not a MAC address: ${text} (nor a machine id like m-0123456789ab)`);
  return ref;
}

export function refPath(ref: MachineRef): string {
  return encodeURIComponent(ref.kind === 'id' ? ref.id : ref.mac);
}
