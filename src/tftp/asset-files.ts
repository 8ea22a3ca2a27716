import { readFileSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';

/** What TftpAssetFiles keeps in memory at most: a few installers' kernels and initrds. */
export const TFTP_ASSET_CACHE_BYTES = 256 * 2 ** 20;

/**
 * Files under --assets-dir for TFTP readers: the kernels and initrds GRUB's path boots
 * (Debian's signed GRUB reads nothing over HTTP). Read whole on first request and kept
 * while their size and mtime hold, the least recently used dropped past the budget. The
 * read is synchronous, once per file version: TFTP asks for a file's bytes on the main
 * thread, which then serves them from memory as it serves the loaders.
 */
export class TftpAssetFiles {
  readonly #cache = new Map<string, { bytes: Buffer; mtimeMs: number }>();
  #cachedBytes = 0;

  constructor(
    private readonly dir: string,
    private readonly budgetBytes: number,
  ) {}

  /** The file at `relative` (already confined: no `..`, no leading /), or null when there is none or it leads out of the directory. */
  read(relative: string): Buffer | null {
    let real: string;
    let stat: ReturnType<typeof statSync>;
    try {
      real = realpathSync(join(this.dir, relative));
      // A symlink may point anywhere: only what resolves inside the assets dir is served.
      if (!real.startsWith(realpathSync(this.dir) + sep)) return null;
      stat = statSync(real);
    } catch {
      return null;
    }
    if (!stat.isFile()) return null;
    const cached = this.#cache.get(real);
    if (cached !== undefined && cached.mtimeMs === stat.mtimeMs && cached.bytes.length === stat.size) {
      this.#cache.delete(real);
      this.#cache.set(real, cached); // most recently used last
      return cached.bytes;
    }
    if (cached !== undefined) this.#drop(real);
    const bytes = readFileSync(real);
    if (bytes.length <= this.budgetBytes) {
      for (const [oldest] of this.#cache) {
        if (this.#cachedBytes + bytes.length <= this.budgetBytes) break;
        this.#drop(oldest);
      }
      this.#cache.set(real, { bytes, mtimeMs: stat.mtimeMs });
      this.#cachedBytes += bytes.length;
    }
    return bytes;
  }

  #drop(path: string): void {
    this.#cachedBytes -= this.#cache.get(path)?.bytes.length ?? 0;
    this.#cache.delete(path);
  }
}
