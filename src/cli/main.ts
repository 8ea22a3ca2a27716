#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { isMetalboxError, type ErrorCode } from '../lib/errors.js';
import { VERSION } from '../lib/version.js';
import { eventsCommand } from './commands/events.js';
import { explainCommand } from './commands/explain.js';
import { lsCommand } from './commands/ls.js';
import { observationsCommand } from './commands/observations.js';
import { onboardCommand } from './commands/onboard.js';
import { deprovisionCommand, inspectCommand, provisionCommand } from './commands/provision.js';
import { deleteCommand } from './commands/delete.js';
import { doctorCommand } from './commands/doctor.js';
import { installServiceCommand } from './commands/install-service.js';
import { maintenanceCommand } from './commands/maintenance.js';
import { powerCommand } from './commands/power.js';
import { labCommand } from './commands/lab.js';
import { agentCommand } from './commands/agent.js';
import { profilesCommand, typesCommand } from './commands/catalog.js';
import { serveCommand } from './commands/serve.js';
import { showCommand } from './commands/show.js';
import { CliError, EXIT } from './errors.js';

/** Codes that mean the operator's input or data must be fixed (exit 2) rather than the operation failed (exit 1). */
const INPUT_ERRORS: ReadonlySet<ErrorCode> = new Set(['E_CONFIG', 'E_BAD_REF', 'E_DB_CORRUPT']);

function program(): Command {
  const root = new Command('metalbox')
    .description('bare-metal provisioning appliance: ProxyDHCP, TFTP, iPXE, Redfish onboarding, inventory')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    // A command that has its own options and subcommands (explain, explain boot) leaves the
    // options after a subcommand to it; commander needs this on every level above it too.
    .enablePositionalOptions();
  for (const command of [
    serveCommand(),
    onboardCommand(),
    lsCommand(),
    showCommand(),
    eventsCommand(),
    explainCommand(),
    observationsCommand(),
    provisionCommand(),
    deprovisionCommand(),
    inspectCommand(),
    powerCommand(),
    maintenanceCommand(),
    deleteCommand(),
    profilesCommand(),
    typesCommand(),
    agentCommand(),
    labCommand(),
    installServiceCommand(),
    doctorCommand(),
  ])
    root.addCommand(command);
  // Commander exits 1 on usage errors; metalbox's contract is 2. Override on every level.
  const override = (command: Command) => {
    command.exitOverride();
    command.commands.forEach(override);
  };
  override(root);
  return root;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return Number(process.exitCode ?? EXIT.ok);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed the message already; help and version are not errors.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof CliError) return fail(error.message, error.exitCode);
    if (isMetalboxError(error)) return fail(error.message, INPUT_ERRORS.has(error.code) ? EXIT.usage : EXIT.failed);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      // The UDP services explain themselves; fastify's TCP listen error says only "listen EADDRINUSE …".
      const message = (error as Error).message;
      if (!message.startsWith('listen ')) return fail(message, EXIT.failed);
      return fail(`cannot ${message}${code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : ''}`, EXIT.failed);
    }
    return fail(`unexpected error: ${(error as Error).stack ?? String(error)}`, EXIT.failed);
  }
}

function fail(message: string, exitCode: number): number {
  process.stderr.write(`error: ${message}\n`);
  return exitCode;
}

// serve keeps running on its own handles; the other commands end when their work does.
process.exitCode = await main(process.argv);
