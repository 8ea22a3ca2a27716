import assert from 'node:assert/strict';

/**
 * Asserts that the lab's printed timeline holds each of `steps` (a state change like
 * `ready → preparing`, as printed) in this order; returns the line index of the last one.
 */
export function assertStepsInOrder(stdout: string, steps: readonly string[], label = 'lab'): number {
  const lines = stdout.split('\n');
  let at = 0;
  for (const step of steps) {
    const found = lines.findIndex((line, index) => index >= at && line.includes(` ${step} `));
    assert.ok(found >= 0, `${label}: no "${step}" after line ${at} in\n${stdout}`);
    at = found;
  }
  return at;
}
