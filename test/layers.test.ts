import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The layers of src/, top to bottom: a module imports only from its own folder and from
 * folders of lower layers (docs/ARCHITECTURE.md). The CLI starts the composition root
 * (server.ts), which wires every service; the lifecycle table and lib are below everything.
 */
const LAYERS: readonly string[][] = [
  ['cli'],
  ['doctor'],
  ['server.ts'],
  ['api', 'ui'],
  ['onboarding', 'provisioning'],
  ['ipxe', 'dhcp-proxy', 'tftp', 'bmc-locator', 'bmc', 'jobs'],
  ['netboot', 'redfish', 'ipmi', 'agent'],
  ['config'],
  ['profiles'],
  ['store'],
  ['lifecycle', 'lib'],
];

/** Relative imports of a source, static, dynamic and type-only, as repository paths of .ts files. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((match) =>
    normalize(join(dirname(file), match[1]!)).replace(/\.js$/, '.ts'),
  );
}

const sources = (dir: string) =>
  readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(dir, file));

test('no module imports from a higher layer, and the lab never imports the CLI', () => {
  const rank = new Map(LAYERS.flatMap((folders, index) => folders.map((folder) => [folder, index] as const)));
  const layerOf = (file: string) => file.split('/')[1]!;
  const files = sources('src');
  for (const file of files) assert.ok(rank.has(layerOf(file)), `${file}: its folder has a layer`);
  for (const file of files) {
    for (const target of importsOf(file)) {
      const [from, to] = [layerOf(file), layerOf(target)];
      if (from === to) continue;
      // `metalbox lab` loads the lab's demo code on demand: the one way out of src/.
      if (file === 'src/cli/commands/lab.ts' && target === 'lab/lab.ts') continue;
      assert.ok(rank.get(to)! > rank.get(from)!, `${file} imports ${target}: ${from} may not import from ${to}`);
    }
  }
  for (const file of sources('lab')) {
    for (const target of importsOf(file)) assert.ok(!target.startsWith('src/cli/'), `${file} imports the CLI (${target})`);
  }
});

test('no import cycles in src/', () => {
  const graph = new Map(sources('src').map((file) => [file, importsOf(file)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === 'done') return;
    assert.notEqual(state.get(file), 'visiting', `an import cycle: ${[...path.slice(path.indexOf(file)), file].join(' → ')}`);
    state.set(file, 'visiting');
    for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
});
