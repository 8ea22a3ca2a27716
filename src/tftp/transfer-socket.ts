import { createSocket } from 'node:dgram';
import { encodeError, ErrorCode } from './codec.js';
import { ReadTransfer, type CancelReason, type TransferOutcome, type TransferSettings } from './transfer.js';

/** What a transfer needs besides its file: the client's TID and what was negotiated. */
export interface TransferStart {
  client: { address: string; port: number };
  settings: TransferSettings;
}

/**
 * Runs one read transfer on a socket of its own, bound to `address` on a port the kernel
 * picks (a new TID, RFC 1350): one slow client never delays another, and datagrams from
 * anyone else on that port get "unknown transfer ID". The same on the main thread and on a
 * transfer thread. Returns what cancels it; `done` is told once.
 */
export function runTransfer(
  file: Buffer,
  start: TransferStart,
  address: string,
  done: (outcome: TransferOutcome) => void,
  onSocketError: (error: NodeJS.ErrnoException) => void,
): (reason: CancelReason) => void {
  const { client } = start;
  const socket = createSocket('udp4');
  socket.on('error', onSocketError);
  const transfer = new ReadTransfer(
    file,
    start.settings,
    (bytes) => socket.send(bytes, client.port, client.address),
    (outcome, farewell) => {
      // dgram resolves a send's address on the next tick and drops what a socket closed
      // before then still had to send: the farewell leaves first.
      if (farewell) socket.send(farewell, client.port, client.address, () => socket.close());
      else socket.close();
      done(outcome);
    },
  );
  socket.on('message', (reply, from) => {
    if (from.address === client.address && from.port === client.port) transfer.receive(reply);
    else socket.send(encodeError(ErrorCode.UNKNOWN_TID, 'unknown transfer ID'), from.port, from.address);
  });
  socket.bind(0, address, () => transfer.start());
  return (reason) => transfer.cancel(reason);
}
