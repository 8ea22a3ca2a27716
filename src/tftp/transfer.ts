import { decodeTftp, encodeData, encodeError, encodeOack, ErrorCode, Opcode, TftpDecodeError, type TftpPacket } from './codec.js';

export interface TransferSettings {
  blksize: number;
  windowsize: number;
  /** Options to acknowledge first; empty: DATA block 1 straight away. */
  oack: ReadonlyMap<string, string>;
  timeoutMs: number;
  /** Retransmissions of one window (or the OACK) before giving up. */
  maxRetries: number;
}

export type TransferOutcome =
  | { result: 'complete'; blocks: number; retransmits: number }
  /** The client ended it: EDK2's tsize probe (error 8 after the OACK) is the common case. */
  | { result: 'aborted'; code: number; message: string; afterOack: boolean }
  | { result: 'timeout'; retransmits: number }
  | { result: 'protocol-error'; reason: string }
  /** Ended by the server: it is stopping, the same client port asked anew, or the thread carrying it failed. */
  | { result: 'cancelled'; reason: CancelReason };

export type CancelReason = 'shutdown' | 'superseded' | 'thread-stopped';

/**
 * One read transfer from the server's side, without sockets: it sends through `send`,
 * is fed every datagram from the client's TID, and reports once through `done`.
 *
 * Blocks are numbered from 1 as absolute numbers and put on the wire modulo 65536, so
 * files of more than 65,535 blocks roll over to 0 as dnsmasq and tftp-hpa do. A window
 * of `windowsize` blocks is sent at once (RFC 7440); an ACK moves the window to the
 * block after it, even mid-window; an ACK of an older block is ignored instead of
 * answered with a resend (the Sorcerer's Apprentice bug of RFC 1350).
 */
export class ReadTransfer {
  readonly #file: Buffer;
  readonly #settings: TransferSettings;
  readonly #send: (datagram: Buffer) => void;
  readonly #done: (outcome: TransferOutcome, farewell?: Buffer) => void;
  readonly #totalBlocks: number;
  /** First block not yet acknowledged; 0 while the OACK is outstanding. */
  #base: number;
  #retries = 0;
  #retransmits = 0;
  #timer: NodeJS.Timeout | undefined;
  #finished = false;
  /** Windows (or OACKs) sent so far: an ACK read after the timer fired sends one more. */
  #transmissions = 0;

  /**
   * `done` gets the datagram that ends the transfer, if one must still be sent (the error
   * for a protocol violation): the caller sends it before it closes the socket.
   */
  constructor(
    file: Buffer,
    settings: TransferSettings,
    send: (datagram: Buffer) => void,
    done: (outcome: TransferOutcome, farewell?: Buffer) => void,
  ) {
    this.#file = file;
    this.#settings = settings;
    this.#send = send;
    this.#done = done;
    // The last block is shorter than blksize, empty when the size is a multiple of it.
    this.#totalBlocks = Math.floor(file.length / settings.blksize) + 1;
    this.#base = settings.oack.size > 0 ? 0 : 1;
  }

  start(): void {
    if (!this.#finished) this.#transmit();
  }

  /** A datagram from the client's address and port. */
  receive(datagram: Buffer): void {
    if (this.#finished) return;
    let packet: TftpPacket;
    try {
      packet = decodeTftp(datagram);
    } catch (error) {
      if (error instanceof TftpDecodeError) return; // noise on our TID: let the timer recover
      throw error;
    }
    if (packet.opcode === Opcode.ERROR) {
      this.#finish({ result: 'aborted', code: packet.code, message: packet.message, afterOack: this.#base === 0 });
      return;
    }
    if (packet.opcode !== Opcode.ACK) {
      this.#finish(
        { result: 'protocol-error', reason: `opcode ${packet.opcode} during a read` },
        encodeError(ErrorCode.ILLEGAL_OPERATION, 'expected an ACK'),
      );
      return;
    }
    const acked = this.#absolute(packet.block);
    if (acked === null || acked < this.#base) return; // duplicate or stray: never resend on it
    if (acked >= this.#totalBlocks) {
      this.#finish({ result: 'complete', blocks: this.#totalBlocks, retransmits: this.#retransmits });
      return;
    }
    this.#base = acked + 1;
    this.#retries = 0;
    this.#transmit();
  }

  /** Stops the transfer without a word to the client. */
  cancel(reason: CancelReason): void {
    this.#finish({ result: 'cancelled', reason });
  }

  /** The absolute block an ACK's 16-bit number means, if it is within the window just sent. */
  #absolute(wire: number): number | null {
    const lowest = this.#base - 1;
    const candidate = lowest + ((wire - lowest) & 0xffff);
    const highest = this.#base === 0 ? 0 : Math.min(this.#base + this.#settings.windowsize - 1, this.#totalBlocks);
    return candidate <= highest ? candidate : null;
  }

  #transmit(): void {
    if (this.#base === 0) {
      this.#send(encodeOack(this.#settings.oack));
    } else {
      const last = Math.min(this.#base + this.#settings.windowsize - 1, this.#totalBlocks);
      for (let block = this.#base; block <= last; block++) {
        const start = (block - 1) * this.#settings.blksize;
        this.#send(encodeData(block, this.#file.subarray(start, start + this.#settings.blksize)));
      }
    }
    this.#transmissions++;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#expireAfterPendingInput(), this.#settings.timeoutMs);
  }

  /**
   * A timer that fires after the event loop was busy for longer than the timeout runs
   * before that loop turn reads the sockets, where the client's ACK may already wait. Its
   * resend would be wrong: after the last window, the blocks arrive at a port the client
   * has already closed, and a load generator or firmware that binds that port next takes
   * them for its own server's answer. So the decision waits for this turn's input first.
   */
  #expireAfterPendingInput(): void {
    const transmissions = this.#transmissions;
    setImmediate(() => {
      if (this.#transmissions === transmissions) this.#expire();
    });
  }

  #expire(): void {
    if (this.#finished) return;
    if (this.#retries >= this.#settings.maxRetries) {
      this.#finish({ result: 'timeout', retransmits: this.#retransmits });
      return;
    }
    this.#retries++;
    this.#retransmits++;
    this.#transmit();
  }

  #finish(outcome: TransferOutcome, farewell?: Buffer): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#timer);
    this.#done(outcome, farewell);
  }
}
