import { createSocket, type Socket } from 'node:dgram';

/**
 * Binds a UDP socket for a service, turning the two errors operators meet into what to
 * do about them: a port already taken, and a privileged port without privileges.
 */
export function bindUdp(options: {
  port: number;
  address: string;
  service: string;
  disableFlag: string;
  recvBufferSize?: number;
  reuseAddr?: boolean;
}): Promise<Socket> {
  const socket = createSocket({
    type: 'udp4',
    reuseAddr: options.reuseAddr ?? false,
    ...(options.recvBufferSize ? { recvBufferSize: options.recvBufferSize } : {}),
  });
  return new Promise((resolve, reject) => {
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.close();
      const hint =
        error.code === 'EADDRINUSE'
          ? ` (another ${options.service} server on this host? stop it, or run with ${options.disableFlag})`
          : error.code === 'EACCES'
            ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
            : '';
      reject(
        Object.assign(new Error(`cannot bind UDP port ${options.port} for ${options.service}: ${error.code ?? error.message}${hint}`), {
          code: error.code,
        }),
      );
    });
    socket.bind(options.port, options.address, () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}
