import type { Command } from 'commander';
import type { BootStep, BootVerdict } from '../../netboot/boot-verdict.js';
import type { TypeVerdict } from '../../profiles/server-types.js';
import { renderData } from '../output.js';
import { clientCommand, outputOption, refPath, requireMachineRef, withClient } from './shared.js';

interface Explanation {
  machineId: string;
  serverType: string | null;
  profile: string | null;
  tie: string[] | null;
  verdicts: TypeVerdict[];
}

export function explainCommand(): Command {
  const explain = clientCommand(
    'explain',
    'which server type a machine matches, and why each other type does not; explain boot: why a machine did not boot',
  )
    .argument('<ref>', 'machine id, BMC MAC or any NIC MAC')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (text: string, options: { server?: string; output: 'text' | 'json' | 'yaml' }) => {
      const ref = requireMachineRef(text);
      await withClient(options, async (client) => {
        const explanation = await client.get<Explanation>(`/api/v1/machines/${refPath(ref)}/explain`);
        process.stdout.write(options.output === 'text' ? describe(explanation) : renderData(explanation, options.output));
      });
    });
  // `explain boot X --server URL`: the subcommand's options are its own, not the parent's (main.ts enables it above too).
  explain.enablePositionalOptions();
  explain.addCommand(
    clientCommand('boot', "where a machine's latest network boot stopped, from what metalbox saw and did, and the likely causes")
      .argument('<mac|ref>', 'a NIC MAC (known to the inventory or not), a BMC MAC or a machine id')
      .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
      .action(async (text: string, options: { server?: string; output: 'text' | 'json' | 'yaml' }) => {
        const ref = requireMachineRef(text);
        await withClient(options, async (client) => {
          const verdict = await client.get<BootVerdict>(`/api/v1/boot-verdict/${refPath(ref)}`);
          process.stdout.write(options.output === 'text' ? describeBoot(verdict) : renderData(verdict, options.output));
        });
      }),
  );
  return explain;
}

const STEP_NAMES: Record<BootStep, string> = {
  dhcp: 'DHCP seen',
  pxe: 'PXE client',
  answer: 'answered',
  loader: 'boot loader',
  script: 'iPXE script',
  kernel: 'kernel',
  initrd: 'initrd',
  callback: 'called back',
};

function describeBoot(verdict: BootVerdict): string {
  const mark = (ok: boolean | null) => (ok === true ? '✓' : ok === false ? '✗' : '·');
  const lines = [
    `${verdict.mac}${verdict.machineId ? ` (machine ${verdict.machineId})` : ''}: ${verdict.verdict}`,
    ...verdict.steps.map((step) => `  ${mark(step.ok)} ${STEP_NAMES[step.step].padEnd(12)} ${step.detail}`),
  ];
  if (verdict.causes.length > 0) {
    lines.push('Likely causes:');
    for (const { cause, fix } of verdict.causes) lines.push(`  - ${cause}`, `    fix: ${fix}`);
  }
  return `${lines.join('\n')}\n`;
}

function describe(explanation: Explanation): string {
  if (explanation.verdicts.length === 0) return `Machine ${explanation.machineId}: no server types are configured.\n`;
  const head = explanation.serverType
    ? `Machine ${explanation.machineId} is a ${explanation.serverType}${explanation.profile ? ` (profile ${explanation.profile})` : ''}.`
    : explanation.tie
      ? `Machine ${explanation.machineId} matches ${explanation.tie.join(' and ')} equally: make one of them more specific.`
      : `Machine ${explanation.machineId} matches no server type.`;
  const lines = explanation.verdicts.map(
    (verdict) =>
      `  ${verdict.matched ? '✓' : '✗'} ${verdict.type} (${verdict.specificity} matcher${verdict.specificity === 1 ? '' : 's'}): ${verdict.reasons.join('; ')}`,
  );
  return `${head}\n${lines.join('\n')}\n`;
}
