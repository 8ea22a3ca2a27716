import { DhcpDecodeError, decodePacket, encodePacket, MessageType, type DecodeFailure, type DhcpPacket } from './codec.js';
import {
  bootFileFor,
  buildProxyReply,
  classifyRequest,
  offerDestination,
  type BootFileChoice,
  type BootFiles,
  type Destination,
  type NetbootRequest,
  type NotNetboot,
} from './pxe.js';
import type { Loader, LoaderChoice } from '../profiles/profiles.js';

/** Which port a datagram arrived on: 67 (DHCP server port) or 4011 (PXE boot server). */
export type Listener = 'dhcp' | 'pxe';

export type DropReason =
  | DecodeFailure
  | NotNetboot
  | 'not-for-listener'
  | 'unsupported-arch'
  | 'no-boot-decision'
  /** The machine enforces Secure Boot and nothing signed can boot it here. */
  | 'unsigned-loader';

export interface Reply {
  bytes: Buffer;
  destination: Destination;
  client: NetbootRequest;
  bootFile: string;
  loader: Loader;
  /** The loader the machine's profile asked for, when its architecture has only the other one. */
  insteadOf?: Loader;
  /** Why the loader is not the one its profile names (Secure Boot). */
  because?: string;
}

export interface ResponderSettings extends BootFiles {
  /** Address put in siaddr, sname and option 54. */
  serverIp: string;
}

/** The loader a booting MAC's machine boots with (or why none), or null for no ProxyDHCP answer: from memory, never awaiting. */
export type LoaderFor = (mac: string) => LoaderChoice | null;

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
  /** The last client refused for its architecture or its Secure Boot, and why: for its machine's timeline. */
  lastRefusal: { client: NetbootRequest; reason: string } | null = null;

  constructor(
    private readonly settings: ResponderSettings,
    private readonly loaderFor: LoaderFor,
    private readonly snoop: Snoop = () => {},
  ) {}

  handle(datagram: Buffer, listener: Listener, source: Destination): Reply | null {
    this.lastDrop = null;
    this.lastRefusal = null;
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
    const loader = this.loaderFor(client.mac);
    if (loader === null) return this.#drop('no-boot-decision');
    if ('refused' in loader) {
      this.lastRefusal = { client, reason: loader.refused };
      return this.#drop('unsigned-loader');
    }
    const choice: BootFileChoice = bootFileFor(client, loader.loader, this.settings);
    if ('refused' in choice) {
      this.lastRefusal = { client, reason: choice.refused };
      return this.#drop('unsupported-arch');
    }
    // Secure Boot asked for GRUB; an architecture with iPXE alone (HTTP boot) would hand over the unsigned one.
    if (loader.because !== undefined && choice.loader !== loader.loader) {
      this.lastRefusal = { client, reason: `${loader.because}, and architecture ${client.arch} has no ${loader.loader} loader` };
      return this.#drop('unsigned-loader');
    }
    const reply = buildProxyReply(packet, client, choice.file, this.settings);
    this.answered++;
    return {
      bytes: encodePacket(reply),
      destination: listener === 'dhcp' ? offerDestination(packet) : source,
      client,
      bootFile: choice.file,
      loader: choice.loader,
      ...(choice.insteadOf ? { insteadOf: choice.insteadOf } : {}),
      ...(loader.because ? { because: loader.because } : {}),
    };
  }

  #drop(reason: DropReason): null {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    this.lastDrop = reason;
    return null;
  }
}
