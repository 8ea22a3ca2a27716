import type { Command } from 'commander';
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
  return clientCommand('explain', 'which server type a machine matches, and why each other type does not')
    .argument('<ref>', 'machine id, BMC MAC or any NIC MAC')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (text: string, options: { server?: string; output: 'text' | 'json' | 'yaml' }) => {
      const ref = requireMachineRef(text);
      await withClient(options, async (client) => {
        const explanation = await client.get<Explanation>(`/api/v1/machines/${refPath(ref)}/explain`);
        process.stdout.write(options.output === 'text' ? describe(explanation) : renderData(explanation, options.output));
      });
    });
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
