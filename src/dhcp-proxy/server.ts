import type { RemoteInfo, Socket } from 'node:dgram';
import type { Logger } from '../lib/log.js';
import { bindUdp } from '../lib/udp.js';
import type { Listener, ProxyDhcpHandler, Reply } from './responder.js';

export interface ProxyDhcpListenOptions {
  dhcpPort: number;
  pxePort: number;
  /**
   * Large enough to absorb a boot storm's bursts while the event loop is busy; the kernel
   * caps it at net.core.rmem_max (dnsmasq starts dropping near 10,000 DISCOVER/s with
   * the default buffer).
   */
  recvBufferSize?: number;
}

/**
 * The ProxyDHCP sockets: UDP 67 (DISCOVERs, broadcast) and 4011 (UEFI's follow-up
 * REQUEST). Both bind 0.0.0.0: a socket bound to a unicast address does not receive
 * limited broadcasts, and Node's dgram cannot tell the ingress interface, so metalbox
 * serves one provisioning interface per process.
 */
export class ProxyDhcpServer {
  #sockets: Socket[] = [];
  sendErrors = 0;
  handlerErrors = 0;

  constructor(
    private readonly handler: ProxyDhcpHandler,
    private readonly options: ProxyDhcpListenOptions,
    private readonly log: Logger,
    /** Told of every answer handed to the kernel (boot events); must not block. */
    private readonly onAnswer: (reply: Reply) => void = () => {},
  ) {}

  async start(): Promise<void> {
    try {
      this.#sockets.push(await this.#bind('dhcp', this.options.dhcpPort));
      this.#sockets.push(await this.#bind('pxe', this.options.pxePort));
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    const sockets = this.#sockets;
    this.#sockets = [];
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
  }

  /** The ports actually bound (differs from the options when they asked for 0). */
  get ports(): { dhcp: number; pxe: number } {
    return { dhcp: this.#sockets[0]?.address().port ?? 0, pxe: this.#sockets[1]?.address().port ?? 0 };
  }

  async #bind(listener: Listener, port: number): Promise<Socket> {
    const socket = await bindUdp({
      port, address: '0.0.0.0', service: 'ProxyDHCP', disableFlag: '--no-dhcp-proxy', recvBufferSize: this.options.recvBufferSize ?? 8 * 1024 * 1024,
    });
    socket.setBroadcast(true);
    socket.on('error', (error) => this.log.error({ err: error, port }, 'ProxyDHCP socket error'));
    socket.on('message', (datagram, source) => this.#receive(socket, listener, datagram, source));
    return socket;
  }

  #receive(socket: Socket, listener: Listener, datagram: Buffer, source: RemoteInfo): void {
    let reply;
    try {
      reply = this.handler.handle(datagram, listener, { address: source.address, port: source.port });
    } catch (error) {
      // A bug, not bad input (that is counted by the handler): log it and keep serving.
      this.handlerErrors++;
      this.log.error({ err: error, from: source.address }, 'ProxyDHCP handler failed');
      return;
    }
    if (reply === null) {
      if (this.log.isLevelEnabled('trace')) this.log.trace({ from: `${source.address}:${source.port}`, listener }, 'dhcp: no answer');
      return;
    }
    socket.send(reply.bytes, reply.destination.port, reply.destination.address, (error) => {
      if (error) {
        this.sendErrors++;
        this.log.warn({ err: error, to: reply.destination }, 'ProxyDHCP reply not sent');
      }
    });
    this.log.debug({ mac: reply.client.mac, firmware: reply.client.firmware, arch: reply.client.arch, file: reply.bootFile, to: reply.destination }, 'dhcp: answered');
    this.onAnswer(reply);
  }
}
