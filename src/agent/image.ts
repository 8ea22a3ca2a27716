import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentArch, AgentManifest } from './build.js';

/** One built agent image: its manifest and the URL paths its files are served at (/agent/<key>/vmlinuz, /agent/<key>/initrd.gz). */
export interface AgentBuild {
  manifest: AgentManifest;
  kernelPath: string;
  initrdPath: string;
}

/** The agent images in memory, as metalbox serves them: the newest of each CPU, and all their files by URL path. */
export interface LoadedAgentImage {
  builds: ReadonlyMap<AgentArch, AgentBuild>;
  files: ReadonlyMap<string, Buffer>;
}

/**
 * The newest agent image of each CPU `metalbox agent build` left in `cacheDir` whose files
 * match its manifest's checksums, read into memory (about 16 MB each); null when there is none.
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
  const builds = new Map<AgentArch, AgentBuild>();
  const files = new Map<string, Buffer>();
  for (const candidate of candidates) {
    try {
      const manifest = JSON.parse(readFileSync(candidate.manifest, 'utf8')) as AgentManifest;
      // Images built before the agent had more than one CPU name none: they are amd64's.
      const arch = manifest.arch ?? 'amd64';
      if (builds.has(arch)) continue;
      const kernel = readFileSync(join(cacheDir, candidate.name, 'vmlinuz'));
      const initrd = readFileSync(join(cacheDir, candidate.name, 'initrd.gz'));
      const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
      if (sha256(kernel) !== manifest.sha256.kernel || sha256(initrd) !== manifest.sha256.initrd) continue;
      const base = `/agent/${candidate.name}`;
      builds.set(arch, { manifest: { ...manifest, arch }, kernelPath: `${base}/vmlinuz`, initrdPath: `${base}/initrd.gz` });
      files.set(`${base}/vmlinuz`, kernel);
      files.set(`${base}/initrd.gz`, initrd);
    } catch {
      // A half-written or damaged image: the next older one.
    }
  }
  return builds.size === 0 ? null : { builds, files };
}
