import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Logger } from '../lib/log.js';
import { LogLimiter } from '../lib/log-limiter.js';
import { bindUdp } from '../lib/udp.js';
import {
  confineName,
  decodeTftp,
  encodeError,
  ErrorCode,
  negotiate,
  Opcode,
  TftpDecodeError,
  type TftpDecodeFailure,
  type TftpPacket,
} from './codec.js';
import type { CancelReason, TransferOutcome } from './transfer.js';
import { TransferThreads } from './transfer-threads.js';

export interface TftpServerOptions {
  address: string;
  port: number;
  /** Largest block offered: the provisioning link's MTU − 32, or less (--tftp-max-blksize). */
  maxBlksize: number;
  maxWindowsize: number;
  /** Concurrent transfers; past it requests get "server busy" so clients retry. */
  maxTransfers: number;
  /** Retransmission timeout when the client names none (RFC 2349 timeout option). */
  timeoutMs: number;
  maxRetries: number;
  /** Worker threads that carry the transfers (TransferThreads); 0 keeps them on the main thread. */
  threads: number;
  /**
   * Files made per request, for names the in-memory set lacks (GRUB's per-machine
   * configuration, the kernels it reads): the bytes, or null for "file not found". Called on
   * the main thread and must not block long; their transfers run there too.
   */
  dynamic?: ((path: string, clientIp: string) => Buffer | null) | undefined;
}

export const TFTP_DEFAULTS = { maxWindowsize: 64, maxTransfers: 4096, timeoutMs: 1000, maxRetries: 5, threads: 0 } as const;

export type RequestRefusal = TftpDecodeFailure | 'not-a-request' | 'write-request' | 'bad-name' | 'not-found' | 'busy';

export interface TransferReport {
  client: string;
  file: string;
  outcome: TransferOutcome;
  bytes: number;
}

interface ActiveTransfer {
  cancel: (reason: CancelReason) => void;
  /** The RRQ as it arrived, to tell the client's retransmission of it from a new request. */
  request: Buffer;
}

/**
 * A read-only TFTP server over files held in memory. Each transfer gets a socket of its
 * own (a new TID, RFC 1350), so one slow client never delays another and datagrams from
 * anyone else on that port get "unknown transfer ID"; the transfers run on the main thread
 * or on transfer threads (TransferThreads), and every decision is made here either way.
 *
 * One transfer per client address and port. A firmware whose answer is late sends its RRQ
 * again; a second transfer for it would send a second OACK from another TID, which the
 * client ignores, and that orphan keeps sending it to the client's port for its whole
 * retry budget. When the port is then reused for the next download (a load generator, a
 * firmware restarting its PXE stack), the client can take the orphan's OACK for its own
 * answer and wait for data that never comes. So an RRQ identical to the one being answered
 * is a retransmission and is absorbed (the transfer's own timer resends), even after the
 * client's first ACK: the RRQ and the ACK arrive on different sockets, and under load the
 * copy sent before the OACK arrived can be read after it. An RRQ for another file or with
 * other options means the client started over, and ends the old transfer first.
 */
export class TftpServer {
  #socket: Socket | undefined;
  #threads: TransferThreads | undefined;
  readonly #transfers = new Map<string, ActiveTransfer>();
  /** What clients cause (refused names, failed transfers) is logged at most once per client and kind a minute. */
  readonly #complaints: LogLimiter;
  readonly refused = new Map<RequestRefusal, number>();
  readonly outcomes = new Map<TransferOutcome['result'], number>();
  /** Bytes of the files whole transfers delivered. */
  bytesSent = 0;
  /** RRQs absorbed as retransmissions of a request already being answered. */
  retransmittedRequests = 0;

  constructor(
    private readonly files: ReadonlyMap<string, Buffer>,
    private readonly options: TftpServerOptions,
    private readonly log: Logger,
    private readonly onTransfer: (report: TransferReport) => void = () => {},
  ) {
    this.#complaints = new LogLimiter(log);
  }

  get active(): number {
    return this.#transfers.size;
  }

  get port(): number {
    return this.#socket?.address().port ?? 0;
  }

  /** Its counters, for GET /api/v1/stats. */
  stats() {
    return {
      active: this.active,
      outcomes: Object.fromEntries(this.outcomes),
      refused: Object.fromEntries(this.refused),
      retransmittedRequests: this.retransmittedRequests,
      bytesSent: this.bytesSent,
      ...(this.#threads ? { threads: this.#threads.stats() } : {}),
    };
  }

  async start(): Promise<void> {
    const socket = await bindUdp({
      port: this.options.port,
      address: this.options.address,
      service: 'TFTP',
      disableFlag: '--no-tftp',
      recvBufferSize: 4 * 1024 * 1024,
    });
    socket.on('error', (error) => this.log.error({ err: error }, 'TFTP socket error'));
    socket.on('message', (datagram, client) => this.#request(datagram, client));
    this.#socket = socket;
    this.#threads = new TransferThreads(this.files, {
      address: this.options.address,
      threads: this.options.threads,
      onSocketError: (error) => this.#complaints.warn(`socket|${error.code}`, { err: error }, 'tftp transfer socket error'),
      onThreadFailed: (error) =>
        this.log.error({ err: error }, 'a TFTP transfer thread failed: its transfers ended, their clients will ask again'),
    });
  }

  async stop(): Promise<void> {
    for (const { cancel } of [...this.#transfers.values()]) cancel('shutdown');
    await this.#threads?.stop();
    this.#threads = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  #request(datagram: Buffer, client: RemoteInfo): void {
    let packet: TftpPacket;
    try {
      packet = decodeTftp(datagram);
    } catch (error) {
      if (!(error instanceof TftpDecodeError)) throw error;
      this.#count(error.reason); // garbage gets no answer
      return;
    }
    if (packet.opcode === Opcode.WRQ) {
      this.#refuse(client, 'write-request', ErrorCode.ACCESS_VIOLATION, 'read-only server');
      return;
    }
    if (packet.opcode !== Opcode.RRQ) {
      this.#count('not-a-request');
      return;
    }
    const peer = `${client.address}:${client.port}`;
    const previous = this.#transfers.get(peer);
    if (previous !== undefined) {
      if (previous.request.equals(datagram)) {
        this.retransmittedRequests++;
        return;
      }
      previous.cancel('superseded');
    }
    const name = confineName(packet.filename);
    if ('refused' in name) {
      this.#complaints.warn(
        `name|${client.address}`,
        { client: client.address, name: packet.filename.slice(0, 128), reason: name.refused },
        'tftp: name refused',
      );
      this.#refuse(client, 'bad-name', ErrorCode.ACCESS_VIOLATION, 'access violation');
      return;
    }
    const stored = this.files.get(name.path);
    const made = stored === undefined ? (this.options.dynamic?.(name.path, client.address) ?? undefined) : undefined;
    const file = stored ?? made;
    if (file === undefined) {
      this.log.debug({ client: client.address, name: name.path }, 'tftp: not found');
      this.#refuse(client, 'not-found', ErrorCode.FILE_NOT_FOUND, 'file not found');
      return;
    }
    if (this.#transfers.size >= this.options.maxTransfers) {
      this.#complaints.warn(
        'busy',
        { client: client.address, active: this.#transfers.size },
        'tftp: transfer limit reached, asking clients to retry',
      );
      this.#refuse(client, 'busy', ErrorCode.NOT_DEFINED, 'server busy, try again');
      return;
    }
    const negotiated = negotiate(packet.options, {
      maxBlksize: this.options.maxBlksize,
      maxWindowsize: this.options.maxWindowsize,
      fileSize: file.length,
    });
    // The outcome never comes in this call (a transfer ends on a later turn), so `entry` is set by then.
    const entry: ActiveTransfer = {
      request: datagram,
      cancel: this.#threads!.start(
        name.path,
        {
          client: { address: client.address, port: client.port },
          settings: {
            blksize: negotiated.blksize,
            windowsize: negotiated.windowsize,
            oack: negotiated.accepted,
            timeoutMs: negotiated.timeout === null ? this.options.timeoutMs : negotiated.timeout * 1000,
            maxRetries: this.options.maxRetries,
          },
        },
        (outcome) => {
          if (this.#transfers.get(peer) === entry) this.#transfers.delete(peer);
          this.outcomes.set(outcome.result, (this.outcomes.get(outcome.result) ?? 0) + 1);
          if (outcome.result === 'complete') this.bytesSent += file.length;
          // EDK2 asks for the size, aborts with error 8 and asks again: normal, not a failure.
          const probe = outcome.result === 'aborted' && outcome.afterOack;
          const fields = { client: `${client.address}:${client.port}`, file: name.path, ...outcome };
          if (outcome.result === 'complete' || outcome.result === 'cancelled' || probe)
            this.log.debug(fields, `tftp: ${probe ? 'size probe' : outcome.result}`);
          else this.#complaints.warn(`${outcome.result}|${client.address}`, fields, `tftp: ${outcome.result}`);
          this.onTransfer({ client: client.address, file: name.path, outcome, bytes: file.length });
        },
        made,
      ),
    };
    this.#transfers.set(peer, entry);
  }

  /** Answers a request with an error from a fresh TID, as RFC 1350 has the server do. */
  #refuse(client: RemoteInfo, reason: RequestRefusal, code: number, message: string): void {
    this.#count(reason);
    const socket = this.#transferSocket();
    socket.bind(0, this.options.address, () => socket.send(encodeError(code, message), client.port, client.address, () => socket.close()));
  }

  #transferSocket(): Socket {
    const socket = createSocket('udp4');
    socket.on('error', (error) =>
      this.#complaints.warn(`socket|${(error as NodeJS.ErrnoException).code}`, { err: error }, 'tftp transfer socket error'),
    );
    return socket;
  }

  #count(reason: RequestRefusal): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
  }
}
