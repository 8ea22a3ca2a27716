import { Command, Option } from 'commander';
import { CliError, EXIT } from '../errors.js';
import { renderData } from '../output.js';
import { withSettings } from './serve.js';

/** `metalbox doctor`: serve's flags and config, checked as a booting machine would meet them; exit 0 only when every check holds. */
export function doctorCommand(): Command {
  const command = new Command('doctor').description(
    'check what netboot needs, with the same flags and config as serve: one line per check (✓/✗) and the fix; exit 0 only when all hold (root)',
  );
  const configOf = withSettings(command);
  command
    .option('--no-probe', 'do not broadcast a PXE DISCOVER on the provisioning segment to look for other DHCP and PXE servers')
    .addOption(
      new Option(
        '--probe-seconds <n>',
        'how long to listen for answers to the probe (dnsmasq pings an address about 3 s before it offers it)',
      ).default('4'),
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'yaml']).default('text'))
    .action(async (options: Record<string, unknown>, cmd: Command) => {
      const config = await configOf(options, cmd);
      const seconds = Number(options.probeSeconds);
      if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 60)
        throw new CliError(EXIT.usage, '--probe-seconds: a number of seconds, up to 60');
      const { runDoctor } = await import('../../doctor/doctor.js');
      const checks = await runDoctor(config, { probe: options.probe !== false, probeMs: seconds * 1000 });
      const output = options.output as 'text' | 'json' | 'yaml';
      if (output !== 'text') process.stdout.write(renderData(checks, output));
      else {
        const width = Math.max(...checks.map((check) => check.check.length));
        for (const check of checks) {
          process.stdout.write(`${check.ok ? '✓' : '✗'} ${check.check.padEnd(width)}  ${check.detail}\n`);
          if (!check.ok && check.fix) process.stdout.write(`  ${''.padEnd(width)}  fix: ${check.fix}\n`);
        }
      }
      if (checks.some((check) => !check.ok)) process.exitCode = EXIT.failed;
    });
  return command;
}
