import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { BOOTREPLY, decodePacket, encodePacket, ipv4At, MessageType, Option, type DhcpPacket } from '../dhcp-proxy/codec.js';

/** One server that answered the probe, and what it offered a PXE client. */
export interface ProbeAnswer {
  server: string;
  /** It offered an address (a DHCP server), or only boot information (a ProxyDHCP). */
  offersAddress: boolean;
  /** next-server and boot file it hands out, when it does: what makes it a PXE server. */
  nextServer: string | null;
  bootFile: string | null;
  pxe: boolean;
}

/** The DISCOVER a BIOS PXE ROM sends (vendor class PXEClient, architecture 0), from a random locally administered MAC. */
export function probeDiscover(xid: number, mac: Buffer): Buffer {
  const chaddr = Buffer.alloc(16);
  mac.copy(chaddr);
  const packet: DhcpPacket = {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs: 0,
    flags: 0x8000, // answer by broadcast: the probe has no address
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: new Map([
      [Option.MESSAGE_TYPE, Buffer.from([MessageType.DISCOVER])],
      [Option.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
      [Option.CLIENT_ARCH, Buffer.from([0, 0])],
      [Option.PARAMETER_REQUEST_LIST, Buffer.from([1, 3, 6, 43, 60, 66, 67])],
    ]),
  };
  return encodePacket(packet);
}

/** What one reply to the probe says; null for anything else (another transaction, not an offer, malformed). */
export function readAnswer(bytes: Buffer, xid: number): ProbeAnswer | null {
  let packet: DhcpPacket;
  try {
    packet = decodePacket(bytes);
  } catch {
    return null;
  }
  if (packet.op !== BOOTREPLY || packet.xid !== xid || packet.options.get(Option.MESSAGE_TYPE)?.[0] !== MessageType.OFFER) return null;
  const serverId = packet.options.get(Option.SERVER_ID);
  const tftp = packet.options.get(Option.TFTP_SERVER)?.toString('latin1') ?? null;
  const bootFile = packet.file !== '' ? packet.file : (packet.options.get(Option.BOOTFILE)?.toString('latin1').replace(/\0+$/, '') ?? null);
  const nextServer = packet.siaddr !== '0.0.0.0' ? packet.siaddr : tftp;
  const vendor = packet.options.get(Option.VENDOR_CLASS)?.toString('latin1') ?? '';
  return {
    server: serverId?.length === 4 ? ipv4At(serverId, 0) : packet.siaddr,
    offersAddress: packet.yiaddr !== '0.0.0.0',
    nextServer,
    bootFile: bootFile === '' ? null : bootFile,
    pxe: bootFile !== null && bootFile !== '' ? true : vendor.startsWith('PXEClient'),
  };
}

/**
 * Broadcasts one PXE DISCOVER from the provisioning interface (a socket bound to its
 * address sends it out of that interface) and collects the offers for `waitMs`: every
 * DHCP and PXE server on the segment, metalbox's own ProxyDHCP included when it runs (it
 * answers only known MACs, and the probe's is random, so it stays silent). Needs port 68.
 */
export async function probePxeServers(address: string, waitMs = 3000): Promise<ProbeAnswer[]> {
  const xid = randomBytes(4).readUInt32BE(0);
  const mac = randomBytes(6);
  mac[0] = (mac[0]! & 0xfe) | 0x02; // locally administered, unicast
  const receiver = await bound('0.0.0.0');
  const sender = await bound(address).catch((error: unknown) => {
    receiver.close();
    throw error;
  });
  const answers = new Map<string, ProbeAnswer>();
  receiver.on('message', (bytes) => {
    const answer = readAnswer(bytes, xid);
    if (answer) answers.set(answer.server, answer);
  });
  try {
    sender.setBroadcast(true);
    await new Promise<void>((resolve, reject) =>
      sender.send(probeDiscover(xid, mac), 67, '255.255.255.255', (error) => (error ? reject(error) : resolve())),
    );
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  } finally {
    receiver.close();
    sender.close();
  }
  return [...answers.values()];
}

function bound(address: string): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(68, address, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}
