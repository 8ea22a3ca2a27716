import type { MachineEventJson } from '../store/index.js';
import type { ApiClient } from './client.js';
import { stateChangeText } from '../lifecycle/lifecycle.js';

/** An event's state: `from → to` when it moved the machine, else the state it left it in. */
export function stateChange(event: MachineEventJson): string {
  return stateChangeText(event.fromState, event.toState);
}

/** One timeline line: time, state change, message. */
export function eventLine(event: MachineEventJson): string {
  return `${event.at.slice(11, 19)}  ${stateChange(event).padEnd(26)}  ${event.message}\n`;
}

/**
 * Prints a machine's events after `after` as the server streams them (unless `print` is
 * false: -o json|yaml prints the data alone), until `stop` says so for an event (then
 * returns that event) or the stream ends (null).
 */
export async function followEvents(
  client: ApiClient,
  machineRef: string,
  after: number,
  stop: (event: MachineEventJson) => boolean = () => false,
  print = true,
): Promise<MachineEventJson | null> {
  let last: MachineEventJson | null = null;
  await client.stream<MachineEventJson>(`/api/v1/machines/${machineRef}/events/stream`, { after }, (event) => {
    if (print) process.stdout.write(eventLine(event));
    if (!stop(event)) return false;
    last = event;
    return true;
  });
  return last;
}
