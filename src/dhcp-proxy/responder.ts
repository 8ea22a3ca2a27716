import { DhcpDecodeError, decodePacket, encodePacket, MessageType, type DecodeFailure, type DhcpPacket } from './codec.js';
import {
  bootFileFor,
  buildProxyReply,
  classifyRequest,
  offerDestination,
  type BootFiles,
  type Destination,
  type NetbootRequest,
  type NotNetboot,
} from './pxe.js';

/** Which port a datagram arrived on: 67 (DHCP server port) or 4011 (PXE boot server). */
export type Listener = 'dhcp' | 'pxe';

export type DropReason = DecodeFailure | NotNetboot | 'not-for-listener' | 'unsupported-arch' | 'no-boot-decision';

export interface Reply {
  bytes: Buffer;
  destination: Destination;
  client: NetbootRequest;
  bootFile: string;
}

export interface ResponderSettings extends BootFiles {
  /** Address put in siaddr, sname and option 54. */
  serverIp: string;
}

/** Answers whether a booting MAC gets a ProxyDHCP answer: from memory, never awaiting. */
export type ShouldAnswer = (mac: string) => boolean;

/** Sees every well-formed DHCP packet, PXE or not, with where it came from (DHCP snooping). */
export type Snoop = (packet: DhcpPacket, listener: Listener, source: Destination) => void;

/**
 * The ProxyDHCP decision for one datagram, without sockets: decode, snoop, classify,
 * consult the boot decision, build the reply and its destination. Every datagram that
 * gets no answer is counted by reason.
 */
export class ProxyDhcpHandler {
  readonly drops = new Map<DropReason, number>();
  answered = 0;
  /** Why the last datagram got no answer (null when it got one), for the server's log. */
  lastDrop: DropReason | null = null;

  constructor(
    private readonly settings: ResponderSettings,
    private readonly shouldAnswer: ShouldAnswer,
    private readonly snoop: Snoop = () => {},
  ) {}

  handle(datagram: Buffer, listener: Listener, source: Destination): Reply | null {
    this.lastDrop = null;
    let packet: DhcpPacket;
    try {
      packet = decodePacket(datagram);
    } catch (error) {
      if (error instanceof DhcpDecodeError) return this.#drop(error.reason);
      throw error;
    }
    this.snoop(packet, listener, source);
    const client = classifyRequest(packet);
    if (typeof client === 'string') return this.#drop(client);
    // Port 67 takes DISCOVERs (REQUESTs there belong to the site DHCP server);
    // port 4011 takes the REQUEST or INFORM a UEFI client sends after a proxy offer.
    const expected =
      listener === 'dhcp'
        ? client.messageType === MessageType.DISCOVER
        : client.messageType === MessageType.REQUEST || client.messageType === MessageType.INFORM;
    if (!expected) return this.#drop('not-for-listener');
    const bootFile = bootFileFor(client, this.settings);
    if (bootFile === null) return this.#drop('unsupported-arch');
    if (!this.shouldAnswer(client.mac)) return this.#drop('no-boot-decision');
    const reply = buildProxyReply(packet, client, bootFile, this.settings);
    this.answered++;
    return {
      bytes: encodePacket(reply),
      destination: listener === 'dhcp' ? offerDestination(packet) : source,
      client,
      bootFile,
    };
  }

  #drop(reason: DropReason): null {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    this.lastDrop = reason;
    return null;
  }
}
