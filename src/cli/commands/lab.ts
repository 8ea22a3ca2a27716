import { Argument, Command, Option } from 'commander';
import { CliError, EXIT } from '../errors.js';

/**
 * `metalbox lab up|run|down`: the whole flow on one machine, with a simulated BMC and a
 * QEMU server. The lab's code lives apart from the product's (lab/), and is loaded only here.
 */
export function labCommand(): Command {
  return new Command('lab')
    .description('the whole flow on this machine (root): a simulated BMC drives a QEMU server that metalbox onboards, provisions and boots')
    .addArgument(
      new Argument(
        '<action>',
        'up: set up and run the flow, and leave it to explore; run: the same, then down (exit 0 only if provisioned); down: remove it',
      ).choices(['up', 'run', 'down']),
    )
    .addOption(new Option('--firmware <firmware>', "the VM's firmware").choices(['bios', 'uefi']).default('bios'))
    .option('--dir <dir>', 'where the lab keeps its data, logs and state (default /var/lib/metalbox-lab, or METALBOX_LAB_DIR)')
    .action(async (action: 'up' | 'run' | 'down', options: { firmware: 'bios' | 'uefi'; dir?: string }) => {
      // dist/src/cli/commands → dist/lab
      const lab = await import('../../../lab/lab.js');
      const settings = { firmware: options.firmware, ...(options.dir ? { dir: options.dir } : {}) };
      try {
        if (action === 'down') return await lab.labDown(settings);
        const ok = action === 'run' ? await lab.labRun(settings) : await lab.labUp(settings);
        if (!ok) throw new CliError(EXIT.failed, 'the lab machine did not reach provisioned and local boot');
      } catch (error) {
        if (error instanceof lab.LabError) throw new CliError(EXIT.failed, error.message);
        throw error;
      }
    });
}
