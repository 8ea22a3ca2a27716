import type { RemoteInfo, Socket } from 'node:dgram';
import type { Logger } from '../lib/log.js';
import { LogLimiter } from '../lib/log-limiter.js';
import { bindUdp } from '../lib/udp.js';
import type { Listener, ProxyDhcpHandler, Reply } from './responder.js';

export interface ProxyDhcpListenOptions {
  dhcpPort: number;
  pxePort: number;
  /**
   * The provisioning interface's address. Offers are sent from a socket bound to it:
   * Linux sends a limited broadcast (255.255.255.255) from a socket bound to a local
   * address out of that address's interface. From the wildcard socket it would follow the
   * routing table: out of the default route's interface, or nowhere (ENETUNREACH) on a
   * segment without a default route.
   */
  replyAddress?: string;
  /**
   * Large enough to absorb a boot storm's bursts while the event loop is busy; the kernel
   * caps it at net.core.rmem_max (dnsmasq starts dropping near 10,000 DISCOVER/s with
   * the default buffer).
   */
  recvBufferSize?: number;
}

/**
 * The ProxyDHCP sockets: UDP 67 (DISCOVERs, broadcast) and 4011 (UEFI's follow-up
 * REQUEST). Both listen on 0.0.0.0: a socket bound to a unicast address does not receive
 * limited broadcasts, and Node's dgram cannot tell the ingress interface, so metalbox
 * serves one provisioning interface per process. Offers leave from a third socket bound
 * to that interface's address (see replyAddress).
 */
export class ProxyDhcpServer {
  #sockets: Socket[] = [];
  #dhcp: Socket | undefined;
  #pxe: Socket | undefined;
  /** Sends the port-67 answers; also receives what is unicast to the reply address (relays). */
  #reply: Socket | undefined;
  sendErrors = 0;
  handlerErrors = 0;
  /** Failures a stream of packets can repeat: logged at most once per client a minute (the counters above keep the totals). */
  readonly #complaints: LogLimiter;

  constructor(
    private readonly handler: ProxyDhcpHandler,
    private readonly options: ProxyDhcpListenOptions,
    private readonly log: Logger,
    /** Told of every answer handed to the kernel (boot events); must not block. */
    private readonly onAnswer: (reply: Reply) => void = () => {},
    /** Told of every netboot client refused for its architecture, and why (its machine's timeline); must not block. */
    private readonly onRefusal: (refusal: NonNullable<ProxyDhcpHandler['lastRefusal']>) => void = () => {},
  ) {
    this.#complaints = new LogLimiter(log);
  }

  async start(): Promise<void> {
    const { replyAddress } = this.options;
    try {
      // Binding the reply address beside the wildcard on one port needs SO_REUSEADDR on both.
      this.#dhcp = await this.#bind('dhcp', '0.0.0.0', this.options.dhcpPort, replyAddress !== undefined);
      this.#pxe = await this.#bind('pxe', '0.0.0.0', this.options.pxePort, false);
      this.#reply = this.#dhcp;
      if (replyAddress !== undefined && replyAddress !== '0.0.0.0') {
        try {
          this.#reply = await this.#bind('dhcp', replyAddress, this.ports.dhcp, true);
        } catch (error) {
          this.log.warn({ err: error, replyAddress }, 'cannot bind the advertised address: broadcast offers follow the routing table');
        }
      }
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    const sockets = this.#sockets;
    this.#sockets = [];
    this.#dhcp = this.#pxe = this.#reply = undefined;
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
  }

  /** The ports actually bound (differs from the options when they asked for 0). */
  get ports(): { dhcp: number; pxe: number } {
    return { dhcp: this.#dhcp?.address().port ?? 0, pxe: this.#pxe?.address().port ?? 0 };
  }

  /** Its counters and its handler's (answers, drops by reason), for GET /api/v1/stats. */
  stats() {
    return {
      answered: this.handler.answered,
      drops: Object.fromEntries(this.handler.drops),
      sendErrors: this.sendErrors,
      handlerErrors: this.handlerErrors,
    };
  }

  async #bind(listener: Listener, address: string, port: number, reuseAddr: boolean): Promise<Socket> {
    const socket = await bindUdp({
      port,
      address,
      reuseAddr,
      service: 'ProxyDHCP',
      disableFlag: '--no-dhcp-proxy',
      recvBufferSize: this.options.recvBufferSize ?? 8 * 1024 * 1024,
    });
    this.#sockets.push(socket);
    socket.setBroadcast(true);
    socket.on('error', (error) => this.log.error({ err: error, port }, 'ProxyDHCP socket error'));
    socket.on('message', (datagram, source) => this.#receive(listener, datagram, source));
    return socket;
  }

  #receive(listener: Listener, datagram: Buffer, source: RemoteInfo): void {
    let reply: Reply | null;
    try {
      reply = this.handler.handle(datagram, listener, { address: source.address, port: source.port });
    } catch (error) {
      // A bug, not bad input (that is counted by the handler): log it and keep serving.
      this.handlerErrors++;
      this.#complaints.error(`handler|${source.address}`, { err: error, from: source.address }, 'ProxyDHCP handler failed');
      return;
    }
    if (reply === null) {
      if (this.handler.lastRefusal !== null) this.onRefusal(this.handler.lastRefusal);
      // Most drops are ordinary (clients that are not PXE, machines metalbox does not boot): debug, once a minute per client and reason.
      if (this.log.isLevelEnabled('debug')) {
        const reason = this.handler.lastDrop;
        this.#complaints.debug(
          `drop|${reason}|${source.address}`,
          { from: `${source.address}:${source.port}`, listener, reason },
          'dhcp: no answer',
        );
      }
      return;
    }
    // 4011 answers must come from 4011, where EDK2 sent its REQUEST.
    const socket = listener === 'pxe' ? this.#pxe : this.#reply;
    socket?.send(reply.bytes, reply.destination.port, reply.destination.address, (error) => {
      if (error) {
        this.sendErrors++;
        this.#complaints.warn(`send|${reply.destination.address}`, { err: error, to: reply.destination }, 'ProxyDHCP reply not sent');
      }
    });
    this.log.debug(
      { mac: reply.client.mac, firmware: reply.client.firmware, arch: reply.client.arch, file: reply.bootFile, to: reply.destination },
      'dhcp: answered',
    );
    this.onAnswer(reply);
  }
}
