import { Argument, Command, Option } from 'commander';
import { join } from 'node:path';
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
    .addOption(
      new Option(
        '--firmware <firmware>',
        "the VM's firmware: SeaBIOS with iPXE, OVMF's PXE, OVMF's HTTP boot, or OVMF with Secure Boot (signed shim and GRUB; the lab's site DHCP names metalbox as next-server)",
      )
        .choices(['bios', 'uefi', 'uefi-http', 'secure-boot'])
        .default('bios'),
    )
    .addOption(
      new Option(
        '--bmc <protocol>',
        'what the simulated BMC speaks: redfish, or ipmi (ipmi_sim; the machine is then inspected by the agent before it is provisioned)',
      )
        .choices(['redfish', 'ipmi'])
        .default('redfish'),
    )
    .addOption(
      new Option(
        '--boot <method>',
        "how the VM boots its installer: pxe, or virtual-media (the BMC inserts metalbox's boot ISO; metalbox's ProxyDHCP and TFTP are off)",
      )
        .choices(['pxe', 'virtual-media'])
        .default('pxe'),
    )
    .addOption(
      new Option(
        '--scenario <scenario>',
        'bmc: onboarded by its BMC and provisioned with an installer; deploy: an unknown server without a BMC discovered by the agent, deployed with an OS image, booted from its disk, and wiped (run only)',
      )
        .choices(['bmc', 'deploy'])
        .default('bmc'),
    )
    .option('--dir <dir>', 'where the lab keeps its data, logs and state (default /var/lib/metalbox-lab, or METALBOX_LAB_DIR)')
    .action(
      async (
        action: 'up' | 'run' | 'down',
        options: {
          firmware: 'bios' | 'uefi' | 'uefi-http' | 'secure-boot';
          bmc: 'redfish' | 'ipmi';
          boot: 'pxe' | 'virtual-media';
          scenario: 'bmc' | 'deploy';
          dir?: string;
        },
      ) => {
        // dist/src/cli/commands → dist/lab
        const lab = await import('../../../lab/lab.js');
        const settings = { firmware: options.firmware, bmc: options.bmc, boot: options.boot, ...(options.dir ? { dir: options.dir } : {}) };
        try {
          if (options.scenario === 'deploy') {
            if (action !== 'run') throw new CliError(EXIT.usage, 'the deploy scenario runs with metalbox lab run --scenario deploy');
            if (options.firmware === 'secure-boot')
              throw new CliError(
                EXIT.usage,
                "the deploy scenario runs with --firmware bios, uefi or uefi-http: the lab's OS image boots from its disk through syslinux, which Secure Boot refuses (not signed)",
              );
            const ok = await lab.deployLabRun({ firmware: options.firmware, dir: join(lab.labDir(settings), 'deploy') });
            if (!ok) throw new CliError(EXIT.failed, 'the lab machine was not deployed, booted from its disk and wiped');
            return;
          }
          if (action === 'down') return await lab.labDown(settings);
          const ok = action === 'run' ? await lab.labRun(settings) : await lab.labUp(settings);
          if (!ok) throw new CliError(EXIT.failed, 'the lab machine did not reach provisioned and local boot');
        } catch (error) {
          if (error instanceof lab.LabError) throw new CliError(EXIT.failed, error.message);
          throw error;
        }
      },
    );
}
