import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentManifest } from './build.js';

/** A built agent image in memory, as metalbox serves it. */
export interface LoadedAgentImage {
  manifest: AgentManifest;
  /** The URL paths it is served at: /agent/<key>/vmlinuz and /agent/<key>/initrd.gz. */
  kernelPath: string;
  initrdPath: string;
  files: ReadonlyMap<string, Buffer>;
}

/**
 * The newest agent image `metalbox agent build` left in `cacheDir` whose files match its
 * manifest's checksums, read into memory (about 16 MB); null when there is none.
 */
export function loadAgentImage(cacheDir: string): LoadedAgentImage | null {
  let entries: string[];
  try {
    entries = readdirSync(cacheDir);
  } catch {
    return null;
  }
  const candidates = entries
    .filter((name) => /^[0-9a-f]{16}$/.test(name))
    .map((name) => ({ name, manifest: join(cacheDir, name, 'manifest.json') }))
    .flatMap((entry) => {
      try {
        return [{ ...entry, modified: statSync(entry.manifest).mtimeMs }];
      } catch {
        return [];
      }
    })
    .sort((a, b) => b.modified - a.modified);
  for (const candidate of candidates) {
    try {
      const manifest = JSON.parse(readFileSync(candidate.manifest, 'utf8')) as AgentManifest;
      const kernel = readFileSync(join(cacheDir, candidate.name, 'vmlinuz'));
      const initrd = readFileSync(join(cacheDir, candidate.name, 'initrd.gz'));
      const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
      if (sha256(kernel) !== manifest.sha256.kernel || sha256(initrd) !== manifest.sha256.initrd) continue;
      const base = `/agent/${candidate.name}`;
      return {
        manifest,
        kernelPath: `${base}/vmlinuz`,
        initrdPath: `${base}/initrd.gz`,
        files: new Map([
          [`${base}/vmlinuz`, kernel],
          [`${base}/initrd.gz`, initrd],
        ]),
      };
    } catch {
      // A half-written or damaged image: the next older one.
    }
  }
  return null;
}
