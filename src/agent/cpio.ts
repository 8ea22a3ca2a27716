/**
 * The initramfs archive format: cpio "newc" (070701), as the kernel unpacks it
 * (Documentation/driver-api/early-userspace/buffer-format.rst). Written here rather than by
 * a cpio binary because the archive must be byte-for-byte reproducible: busybox cpio and
 * GNU cpio without --reproducible copy each file's inode number, owner and mtime from the
 * build host. Here every entry gets the same owner (root), the same mtime, and an inode
 * number by position; entries are written in path order.
 */

export type ArchiveEntry =
  | { path: string; kind: 'directory'; mode?: number }
  | { path: string; kind: 'file'; mode?: number; data: Buffer }
  | { path: string; kind: 'symlink'; target: string };

const TYPE_BITS = { directory: 0o040000, file: 0o100000, symlink: 0o120000 } as const;
const DEFAULT_MODE = { directory: 0o755, file: 0o644, symlink: 0o777 } as const;
const TRAILER = 'TRAILER!!!';

/**
 * The archive of `entries`, sorted by path, every entry owned by root with mtime `mtime`
 * (seconds). Paths are relative ("bin/busybox"); parents must be listed as directories.
 */
export function newcArchive(entries: readonly ArchiveEntry[], mtime = 0): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (part: Buffer) => {
    parts.push(part);
    offset += part.length;
  };
  const pad = () => {
    if (offset % 4 !== 0) push(Buffer.alloc(4 - (offset % 4)));
  };
  const write = (name: string, mode: number, nlink: number, ino: number, data: Buffer) => {
    const nameBytes = Buffer.from(`${name}\0`, 'utf8');
    const fields = [ino, mode, 0, 0, nlink, mtime, data.length, 0, 0, 0, 0, nameBytes.length, 0];
    push(Buffer.from(`070701${fields.map((field) => field.toString(16).padStart(8, '0')).join('')}`, 'ascii'));
    push(nameBytes);
    pad();
    push(data);
    pad();
  };
  let previous = '';
  sorted.forEach((entry, index) => {
    if (entry.path === previous || entry.path === '' || entry.path.startsWith('/') || entry.path.split('/').includes('..')) {
      throw new Error(`archive entry ${JSON.stringify(entry.path)}: duplicate, empty, absolute or escaping`);
    }
    previous = entry.path;
    const mode = TYPE_BITS[entry.kind] | (entry.kind === 'symlink' ? DEFAULT_MODE.symlink : (entry.mode ?? DEFAULT_MODE[entry.kind]));
    const data = entry.kind === 'file' ? entry.data : entry.kind === 'symlink' ? Buffer.from(entry.target, 'utf8') : Buffer.alloc(0);
    write(entry.path, mode, entry.kind === 'directory' ? 2 : 1, index + 1, data);
  });
  write(TRAILER, 0, 1, 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}
