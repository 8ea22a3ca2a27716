import { open, realpath, type FileHandle } from 'node:fs/promises';
import { sep } from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ChunkedFile } from './file-chunks.js';

/** A byte range of a body, both ends included. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The one range of a `Range: bytes=…` header (RFC 9110 §14), 'unsatisfiable', or null to
 * send the whole body: no header, another unit, several ranges or a malformed one.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const last = match[2] === '' ? Infinity : Number(match[2]);
  if (last < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(last, size - 1) };
}

export interface Body {
  size: number;
  modified?: Date;
  /** The bytes of the range; called once, and only for GET. */
  read(range: ByteRange): Readable | Buffer;
}

/**
 * Sends a body with what boot loaders rely on: always Content-Length (iPXE and EFI HTTP
 * boot size their buffers from it), HEAD, and single ranges. Returns the range sent, or
 * null when nothing was (416, or HEAD).
 */
export function sendBody(request: FastifyRequest, reply: FastifyReply, body: Body): ByteRange | null {
  reply.header('accept-ranges', 'bytes').header('content-type', 'application/octet-stream').header('cache-control', 'no-store');
  if (body.modified) reply.header('last-modified', body.modified.toUTCString());
  const range = parseRange(request.headers.range, body.size);
  if (range === 'unsatisfiable') {
    reply.code(416).header('content-range', `bytes */${body.size}`).send();
    return null;
  }
  const sent = range ?? { start: 0, end: body.size - 1 };
  if (range) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${body.size}`);
  reply.header('content-length', String(sent.end - sent.start + 1));
  if (request.method === 'HEAD' || body.size === 0) {
    reply.send();
    return request.method === 'HEAD' ? null : sent;
  }
  reply.send(body.read(sent));
  return sent;
}

/**
 * Opens `name` under `root` for reading, or null: names with empty, `.` or `..` segments,
 * backslashes or NUL, anything whose real path (symlinks resolved) leaves the root, and
 * anything not a regular file. The caller closes the handle.
 */
export async function openConfined(root: string, name: string): Promise<(ChunkedFile & { modified: Date }) | null> {
  if (
    name === '' ||
    name.includes('\0') ||
    name.includes('\\') ||
    name.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')
  )
    return null;
  let handle: FileHandle | undefined;
  try {
    const realRoot = await realpath(root);
    const real = await realpath(`${realRoot}/${name}`);
    if (!real.startsWith(realRoot + sep)) return null;
    handle = await open(real, 'r');
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      return null;
    }
    return { handle, size: stat.size, modified: stat.mtime, identity: `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}` };
  } catch {
    await handle?.close();
    return null;
  }
}

/** A plain-text answer that no cache keeps: refusals, errors and small acknowledgements to booting machines and agents. */
export const textReply = (reply: FastifyReply, code: number, text: string) =>
  reply.code(code).header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-store').send(text);
