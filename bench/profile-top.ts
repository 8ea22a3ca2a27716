/**
 * `node dist/bench/profile-top.js FILE.cpuprofile [N]`: the N functions with the most self
 * time in a V8 CPU profile (node --cpu-prof), and the share of the samples each took: the
 * first look at where a benchmark's server spends its time, before a flame graph.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

const [file, limit = '30'] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-top FILE.cpuprofile [N]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[] };
const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
const selfSamples = new Map<string, number>();
for (const id of profile.samples) {
  const frame = frames.get(id)!;
  const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${frame.lineNumber + 1}` : '';
  const key = `${frame.functionName || '(anonymous)'} ${where}`.trim();
  selfSamples.set(key, (selfSamples.get(key) ?? 0) + 1);
}
const total = profile.samples.length;
for (const [key, count] of [...selfSamples].sort((a, b) => b[1] - a[1]).slice(0, Number(limit))) {
  process.stdout.write(`${((100 * count) / total).toFixed(1).padStart(5)} %  ${key}\n`);
}
