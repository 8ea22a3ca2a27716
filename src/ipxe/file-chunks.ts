import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

/** Size of the aligned pieces files are read and shared in. */
export const CHUNK_BYTES = 1 << 20;
/** What one download writes at a time: a chunk goes out in eight pieces. */
const PIECE_BYTES = 128 << 10;
/** What all downloads together write in one turn of the event loop. */
const TURN_BYTES = 16 << 20;

/** An open file under assetsDir, and what tells one version of it from another. */
export interface ChunkedFile {
  handle: FileHandle;
  size: number;
  /** Device, inode, size and mtime: a file replaced or rewritten gets new chunks, never a mix. */
  identity: string;
}

export interface FileChunkStats {
  hits: number;
  misses: number;
  heldBytes: number;
  /** Downloads begun from byte 0 (ranges further in are parts of one). */
  downloads: number;
  /** Bytes handed to downloads' sockets. */
  bytesSent: number;
}

interface Entry {
  bytes: number;
  chunk: Promise<Buffer>;
}

/**
 * The files under /assets/ (kernels, initrds, multi-gigabyte images) are read in aligned
 * 1 MiB chunks, and a chunk read once is written to every download that needs it while it is
 * among the most recently used within the budget. Node's HTTP server has no sendfile, so each
 * byte a download sends costs a copy from the page cache into memory and one into the socket;
 * when a rack deploys at once, a hundred agents pull the same image a few megabytes apart and
 * the first copy is made once for all of them. A chunk being read is shared too (one read,
 * however many downloads wait for it), which keeps a storm's downloads moving together.
 *
 * Writes are paced: at most TURN_BYTES for all downloads in one turn of the event loop, a
 * piece of each in turn. libuv accepts one connection per turn (since 1.45, libuv PR 3696),
 * and unpaced, each download filled its socket's buffer every turn: a turn took 100 ms and
 * more, and of 400 agents starting at once, 236 had no answer after 10 s, while every boot
 * script and API call waited behind the turn. Paced, a turn stays near 10 ms.
 * bench/RESULTS.md (deploy images) has the measurements that chose this design and its sizes.
 */
export class FileChunkCache {
  readonly #maxBytes: number;
  /** By identity and chunk number, least recently used first. */
  readonly #entries = new Map<string, Entry>();
  #heldBytes = 0;
  #hits = 0;
  #misses = 0;
  #bytesSent = 0;
  #downloads = 0;
  /** What may be written before the next paced turn (each resets it), and the pieces waiting for that turn, oldest first. */
  #turnBytesLeft = TURN_BYTES;
  readonly #waiting: Array<() => void> = [];
  #turnScheduled = false;

  /** maxBytes 0 keeps nothing: every download reads its own chunks (those read at the same moment are still shared). */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /**
   * The bytes of `range` of the file (both ends included), piece by piece, one piece ahead of the socket at most.
   * Closes the file's handle when it ends or is destroyed; a file that shrank while being
   * sent ends the stream with an error (the client sees a short body, never another file's bytes).
   */
  stream(file: ChunkedFile, range: { start: number; end: number }): Readable {
    if (range.start === 0) this.#downloads++;
    let position = range.start;
    // The chunk being sent, kept by this download until its last piece is out.
    let current: { index: number; chunk: Promise<Buffer> } | null = null;
    const readable: Readable = new Readable({
      read: () => {
        if (position > range.end) {
          readable.push(null);
          return;
        }
        this.#inTurn(() => {
          if (readable.destroyed) return;
          const index = Math.floor(position / CHUNK_BYTES);
          const base = index * CHUNK_BYTES;
          if (current?.index !== index) current = { index, chunk: this.#chunk(file, index) };
          current.chunk.then(
            (chunk) => {
              if (readable.destroyed) return;
              const end = Math.min(chunk.length, range.end + 1 - base, position - base + PIECE_BYTES);
              const piece = chunk.subarray(position - base, end);
              position = base + end;
              this.#bytesSent += piece.length;
              readable.push(piece);
            },
            (error: Error) => readable.destroy(error),
          );
        });
      },
      destroy: (error, callback) => {
        file.handle.close().then(
          () => callback(error),
          () => callback(error),
        );
      },
    });
    return readable;
  }

  stats(): FileChunkStats {
    return { hits: this.#hits, misses: this.#misses, heldBytes: this.#heldBytes, downloads: this.#downloads, bytesSent: this.#bytesSent };
  }

  #chunk(file: ChunkedFile, index: number): Promise<Buffer> {
    const key = `${file.identity}#${index}`;
    const held = this.#entries.get(key);
    if (held) {
      this.#hits++;
      this.#entries.delete(key);
      this.#entries.set(key, held);
      return held.chunk;
    }
    this.#misses++;
    const bytes = Math.min(CHUNK_BYTES, file.size - index * CHUNK_BYTES);
    const chunk = file.handle.read(Buffer.allocUnsafeSlow(bytes), 0, bytes, index * CHUNK_BYTES).then(({ buffer, bytesRead }) => {
      if (bytesRead !== bytes) throw new Error(`file changed while being sent: chunk ${index} has ${bytesRead} of ${bytes} bytes`);
      return buffer;
    });
    const entry = { bytes, chunk };
    this.#entries.set(key, entry);
    this.#heldBytes += bytes;
    chunk.catch(() => this.#forget(key, entry));
    for (const [oldest, old] of this.#entries) {
      if (this.#heldBytes <= this.#maxBytes) break;
      this.#forget(oldest, old);
    }
    return chunk;
  }

  /** Runs `write` in this turn while the turn's budget lasts, else in the next turn with budget, in order. */
  #inTurn(write: () => void): void {
    if (this.#turnBytesLeft > 0 && this.#waiting.length === 0) {
      this.#turnBytesLeft -= PIECE_BYTES;
      write();
      return;
    }
    this.#waiting.push(write);
    this.#scheduleTurn();
  }

  #scheduleTurn(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    // setImmediate runs after the loop has polled for I/O: connections are accepted and
    // requests read between two turns of writing.
    setImmediate(() => {
      this.#turnScheduled = false;
      this.#turnBytesLeft = TURN_BYTES;
      while (this.#turnBytesLeft > 0 && this.#waiting.length > 0) {
        this.#turnBytesLeft -= PIECE_BYTES;
        this.#waiting.shift()!();
      }
      if (this.#waiting.length > 0) this.#scheduleTurn();
    });
  }

  #forget(key: string, entry: Entry): void {
    if (this.#entries.get(key) !== entry) return;
    this.#entries.delete(key);
    this.#heldBytes -= entry.bytes;
  }
}
