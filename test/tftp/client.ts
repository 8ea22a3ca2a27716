import { createSocket } from 'node:dgram';
import { decodeTftp, encodeAck, encodeError, encodeRequest } from '../../src/tftp/codec.js';

export interface Download {
  data?: Buffer;
  error?: { code: number; message: string };
  oack?: Map<string, string>;
  datagrams: number;
}

/**
 * A test TFTP client built on the codec, for what the packaged clients cannot do:
 * windowsize, aborting after the OACK, sending hostile names and raw datagrams.
 */
export async function tftpGet(
  port: number,
  name: string,
  options: Map<string, string> = new Map(),
  behaviour: { abortAfterOack?: boolean } = {},
): Promise<Download> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const blocks: Buffer[] = [];
  const blksize = Number(options.get('blksize') ?? 512);
  let datagrams = 0;
  try {
    return await new Promise<Download>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer for ${name}`)), 10_000);
      let received = 0;
      let oack: Map<string, string> | undefined;
      socket.on('message', (message, from) => {
        datagrams++;
        const packet = decodeTftp(message);
        const reply = (bytes: Buffer) => socket.send(bytes, from.port, from.address);
        if (packet.opcode === 5) {
          clearTimeout(timer);
          resolve({ error: { code: packet.code, message: packet.message }, datagrams, ...(oack ? { oack } : {}) });
        } else if (packet.opcode === 6) {
          oack = packet.options;
          if (behaviour.abortAfterOack) {
            reply(encodeError(8, 'User aborted the transfer'));
            clearTimeout(timer);
            resolve({ oack, datagrams });
          } else reply(encodeAck(0));
        } else if (packet.opcode === 3) {
          if (packet.block !== ((received + 1) & 0xffff)) return; // out of order: wait for the resend
          blocks.push(Buffer.from(packet.data));
          received++;
          const size = Number(oack?.get('blksize') ?? (oack ? 512 : blksize));
          const window = Number(oack?.get('windowsize') ?? 1);
          const last = packet.data.length < size;
          if (last || received % window === 0) reply(encodeAck(packet.block));
          if (last) {
            clearTimeout(timer);
            resolve({ data: Buffer.concat(blocks), datagrams, ...(oack ? { oack } : {}) });
          }
        }
      });
      socket.send(encodeRequest(1, name, options), port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/** Sends one raw datagram to the server and collects what comes back within `ms`. */
export async function sendRaw(port: number, datagram: Buffer, ms = 300): Promise<Buffer[]> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const replies: Buffer[] = [];
  socket.on('message', (message) => replies.push(message));
  socket.send(datagram, port, '127.0.0.1');
  await new Promise((resolve) => setTimeout(resolve, ms));
  socket.close();
  return replies;
}
