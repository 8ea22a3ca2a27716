import type { MachineStore } from '../store/index.js';
import type { ServerTypes } from './server-types.js';

/**
 * Ends a classification: the machine (in `classifying`) gets the server type its inventory
 * matches and that type's profile, and moves to `ready`; with no match, or a tie, to
 * `unclassified` with the reason. No server types at all: `ready`, typeless. Onboarding
 * and the agent's report both end this way; the caller's transaction holds it.
 */
export function classifyMachine(machines: MachineStore, serverTypes: ServerTypes, id: string): void {
  if (serverTypes.size === 0) {
    machines.transition(id, 'ready', null, {
      type: 'classified',
      message: 'ready: no server types are configured, so no type was matched',
    });
    return;
  }
  const result = serverTypes.classify(machines.get(id)!);
  machines.setClassification(id, result.type, result.profile);
  const data = { serverType: result.type, profile: result.profile, tie: result.tie, verdicts: result.verdicts };
  if (result.type !== null) {
    const reasons = result.verdicts.find((verdict) => verdict.type === result.type)!.reasons.join('; ');
    machines.transition(id, 'ready', null, {
      type: 'classified',
      message: `server type ${result.type}${result.profile ? ` (profile ${result.profile})` : ''}: ${reasons}`,
      data,
    });
    return;
  }
  const reason = result.tie
    ? `server types ${result.tie.join(' and ')} match equally (${result.verdicts.find((verdict) => verdict.matched)!.specificity} matchers each): make one more specific`
    : `no server type matches: ${result.verdicts.map((verdict) => `${verdict.type}: ${verdict.reasons[0]}`).join('; ')}`;
  machines.transition(id, 'unclassified', reason, { type: 'classified', message: reason, data });
}
