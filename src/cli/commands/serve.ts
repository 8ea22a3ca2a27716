import { Command, Option } from 'commander';
import { SETTINGS, type Config } from '../../config/settings.js';

const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Gives `command` every setting's flag and --config, and returns what reads the effective
 * config (flags > env > file > defaults) from its parsed options: serve and doctor see the
 * same config from the same command line.
 */
export function withSettings(command: Command): (options: Record<string, unknown>, cmd: Command) => Promise<Config> {
  const flagOf = new Map<string, string>();
  for (const setting of SETTINGS) {
    if (setting.flag === undefined) continue;
    const option = new Option(setting.flag, setting.description);
    if (setting.env) option.env(setting.env);
    flagOf.set(setting.path, option.attributeName());
    command.addOption(option);
  }
  command.addOption(new Option('--config <file>', 'config file, YAML or JSON').env('METALBOX_CONFIG'));
  return async (options, cmd) => {
    // Loaded here, not at the top: ajv compiles the config schema when the module loads, and
    // the client commands (ls, show, …) should not pay for that or for the server's modules.
    const { loadConfig } = await import('../../config/load.js');
    // Env values are read by loadConfig itself, so that precedence has one implementation.
    const flags: Record<string, string | undefined> = {};
    for (const [path, attribute] of flagOf) {
      if (cmd.getOptionValueSource(attribute) === 'cli') flags[path] = String(options[attribute]);
    }
    return loadConfig({ flags, env: process.env, configFile: options.config as string | undefined });
  };
}

export function serveCommand(): Command {
  const command = new Command('serve').description('run the appliance: ProxyDHCP, HTTP API and inventory (root for ports below 1024)');
  const configOf = withSettings(command);
  command
    .option('--print-config', 'print the effective config (flags > env > file > defaults) and exit')
    .action(async (options: Record<string, string | boolean | undefined>, cmd: Command) => {
      const config = await configOf(options, cmd);
      const [{ renderConfig }, { createLogger }, { checkConfig, startServer }] = await Promise.all([
        import('../../config/load.js'),
        import('../../lib/log.js'),
        import('../../server.js'),
      ]);
      if (options.printConfig) {
        process.stdout.write(renderConfig(checkConfig(config).config));
        return;
      }
      const logger = createLogger(config.log.level);
      const starting = startServer(config, logger);
      let stopping = false;
      // Listening from the start: a signal during start-up (the "serving" line is barely out)
      // waits for the start to finish, then closes what it started, instead of killing the
      // process with the data-dir lock and half-written state left behind.
      const stop = (signal: string) => {
        if (stopping) {
          logger.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        stopping = true;
        logger.info({ signal }, 'shutting down');
        const force = setTimeout(() => {
          logger.error('shutdown took too long: exiting');
          process.exit(1);
        }, SHUTDOWN_GRACE_MS);
        force.unref();
        starting.then(
          (server) =>
            server.close().then(
              () => logger.info('stopped'),
              (error: unknown) => {
                logger.error({ err: error }, 'error while shutting down');
                process.exitCode = 1;
              },
            ),
          () => {}, // a failed start undoes itself and is reported below
        );
      };
      process.on('SIGINT', () => stop('SIGINT')).on('SIGTERM', () => stop('SIGTERM'));
      await starting;
    });
  return command;
}
