/**
 * A TFTP read transfer as a firmware does it, for the load generators: its own socket,
 * RFC 2348 blksize and RFC 7440 windowsize, the client's retransmission (the last packet
 * again after a silent timeout), and the SHA-256 of what arrived.
 */
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { decodeTftp, encodeAck, encodeError, encodeRequest, ErrorCode, Opcode, type TftpPacket } from '../../src/tftp/codec.js';

export interface TransferSpec {
  server: string;
  port: number;
  file: string;
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  retries: number;
  bind?: string;
}

export interface TransferResult {
  ok: boolean;
  bytes: number;
  ms: number;
  sha256: string;
  error?: string;
  /** ACKs sent again after a silent timeout. */
  retransmits: number;
}

/** One read transfer, start to end: RRQ, OACK, DATA in windows, an ACK per window. */
export function transfer(spec: TransferSpec): Promise<TransferResult> {
  const started = performance.now();
  const socket: Socket = createSocket('udp4');
  const hash = createHash('sha256');
  let bytes = 0;
  let expected = 1; // the next block, mod 65536
  let sinceAck = 0;
  /** The block a gap was last reported at: one ACK per gap, the timer repeats it if lost. */
  let gapReportedAt = -1;
  let blksize = 512;
  let windowsize = 1;
  let serverPort: number | null = null;
  let lastSent: Buffer = encodeRequest(
    Opcode.RRQ,
    spec.file,
    new Map([
      ['blksize', String(spec.blksize)],
      ...(spec.windowsize > 1 ? [['windowsize', String(spec.windowsize)] as [string, string]] : []),
    ]),
  );
  let retransmits = 0;
  let tries = 0;
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const finish = (ok: boolean, error?: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.close();
      resolve({ ok, bytes, ms: performance.now() - started, sha256: hash.digest('hex'), retransmits, ...(error ? { error } : {}) });
    };
    const send = (packet: Buffer, sent?: () => void) => {
      lastSent = packet;
      socket.send(packet, serverPort ?? spec.port, spec.server, sent);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (++tries > spec.retries)
          return finish(false, serverPort === null ? 'no answer to the request' : `timed out at block ${expected}`);
        retransmits++;
        socket.send(lastSent, serverPort ?? spec.port, spec.server);
        arm();
      }, spec.timeoutMs);
    };
    socket.on('error', (error) => finish(false, error.message));
    let lastBlockIn = false;
    socket.on('message', (datagram, from) => {
      if (from.address !== spec.server || lastBlockIn) return;
      let packet: TftpPacket;
      try {
        packet = decodeTftp(datagram);
      } catch {
        if (serverPort === null || from.port === serverPort) return finish(false, 'undecodable datagram');
        return;
      }
      // The server's TID is the port of the packet that answers this request: an OACK, an
      // ERROR or DATA block 1. Anything else from another port is another transfer's (the
      // storm's 10,000 clients share one address, so a port closed by one client is soon
      // bound by the next, and a retransmission still in flight to the old one lands
      // here); it gets "unknown transfer ID", as RFC 1350 has a host answer a stray TID.
      const answersRequest =
        packet.opcode === Opcode.OACK || packet.opcode === Opcode.ERROR || (packet.opcode === Opcode.DATA && packet.block === 1);
      if (serverPort === null && answersRequest) serverPort = from.port;
      if (from.port !== serverPort) {
        if (packet.opcode !== Opcode.ERROR) socket.send(encodeError(ErrorCode.UNKNOWN_TID, 'unknown transfer ID'), from.port, from.address);
        return;
      }
      if (packet.opcode === Opcode.ERROR) return finish(false, `error ${packet.code}: ${packet.message}`);
      if (packet.opcode === Opcode.OACK) {
        blksize = Number(packet.options.get('blksize') ?? 512);
        windowsize = Number(packet.options.get('windowsize') ?? 1);
        tries = 0;
        send(encodeAck(0));
        return arm();
      }
      if (packet.opcode !== Opcode.DATA) return;
      if (packet.block !== expected) {
        // A gap (a lost block): ACK the last block in order, once, so the server resends from there (RFC 7440 §4).
        if (gapReportedAt !== expected) {
          gapReportedAt = expected;
          sinceAck = 0;
          send(encodeAck((expected - 1) & 0xffff));
        }
        return;
      }
      hash.update(packet.data);
      bytes += packet.data.length;
      expected = (expected + 1) & 0xffff;
      sinceAck++;
      tries = 0;
      if (packet.data.length < blksize) {
        // The last block. The socket closes once the final ACK has left: dgram resolves a
        // send's address on the next tick and drops what a socket closed before then still
        // had to send. (It did: every transfer of the storm's ended without its final ACK,
        // the server resent its last window to the closed port for its whole retry budget,
        // and a client that bound that port next had its RRQ taken for a retransmission of
        // the old transfer's and waited 1 s: the storm's 1 s p99.)
        lastBlockIn = true;
        clearTimeout(timer);
        send(encodeAck(packet.block), () => finish(true));
        return;
      }
      if (sinceAck >= windowsize) {
        sinceAck = 0;
        send(encodeAck(packet.block));
      }
      arm();
    });
    socket.bind(0, spec.bind, () => {
      send(lastSent);
      arm();
    });
  });
}
