import {
  BOOTREPLY,
  clientArchitectures,
  clientMac,
  clientUuidOption,
  encodeSubOptions,
  ipv4Bytes,
  MessageType,
  messageType,
  Option,
  userClasses,
  vendorClass,
  type DhcpPacket,
} from './codec.js';
import type { Loader } from '../profiles/profiles.js';
import { GRUB_FILES, type GrubCpu } from '../profiles/grub.js';

/**
 * Which netboot client sent a request, and the ProxyDHCP answer it needs: the shapes of
 * docs/netboot.md, which dnsmasq, Pixiecore and Smee converge on and real
 * firmware boots from. Pure functions: the responder supplies the packet and addresses.
 */

export type Firmware =
  /** A PXE ROM on legacy BIOS: TFTP undionly.kpxe. */
  | 'bios'
  /** EDK2-style UEFI PXE: TFTP snponly.efi, usually after asking again on port 4011. */
  | 'uefi'
  /** iPXE itself (ROM or chained): the HTTP script, which breaks the chain loop. */
  | 'ipxe'
  /** UEFI HTTP boot: an http:// URL of the EFI binary. */
  | 'uefi-http';

export interface NetbootRequest {
  mac: string;
  firmware: Firmware;
  /** Option 93's first architecture type (0 BIOS, 7 EFI x64, 16 EFI x64 HTTP, …). */
  arch: number;
  messageType: number;
  vendorClass: string;
}

export type NotNetboot = 'not-ethernet' | 'no-message-type' | 'not-pxe-vendor' | 'no-arch' | 'not-a-request';

/** Classifies a client request, or says why it is not a netboot request we answer. */
export function classifyRequest(packet: DhcpPacket): NetbootRequest | NotNetboot {
  if (packet.op !== 1) return 'not-a-request';
  const mac = clientMac(packet);
  if (mac === null) return 'not-ethernet';
  const type = messageType(packet);
  if (type === null) return 'no-message-type';
  const vendor = vendorClass(packet) ?? '';
  const http = vendor.startsWith('HTTPClient');
  if (!http && !vendor.startsWith('PXEClient')) return 'not-pxe-vendor';
  // Option 93 is what tells BIOS from UEFI; without it there is no safe answer.
  const arch = clientArchitectures(packet)[0];
  if (arch === undefined) return 'no-arch';
  const ipxe = userClasses(packet).includes('iPXE') || packet.options.has(Option.IPXE);
  const firmware: Firmware = ipxe ? 'ipxe' : http ? 'uefi-http' : arch === 0 ? 'bios' : 'uefi';
  return { mac, firmware, arch, messageType: type, vendorClass: vendor };
}

export interface ReplyAddresses {
  /** The address metalbox puts in siaddr, sname and option 54 (--advertise). */
  serverIp: string;
}

/**
 * The ProxyDHCP reply to `request` (an OFFER to a DISCOVER on port 67, an ACK to a
 * REQUEST or INFORM on port 4011) pointing the client at `bootFile`.
 */
export function buildProxyReply(request: DhcpPacket, client: NetbootRequest, bootFile: string, addresses: ReplyAddresses): DhcpPacket {
  const reply = client.messageType === MessageType.DISCOVER ? MessageType.OFFER : MessageType.ACK;
  const options = new Map<number, Buffer>();
  options.set(Option.MESSAGE_TYPE, Buffer.from([reply]));
  options.set(Option.SERVER_ID, ipv4Bytes(addresses.serverIp));
  // UEFI HTTP boot only takes an offer that says HTTPClient; everything else wants PXEClient.
  options.set(Option.VENDOR_CLASS, Buffer.from(client.firmware === 'uefi-http' ? 'HTTPClient' : 'PXEClient', 'latin1'));
  // BIOS PXE ROMs need discovery control 8 (boot from the file given, no boot-server
  // discovery) or they wait for a boot menu. UEFI gets no option 43: EDK2 builds with the
  // offer-caching bug (BZ 469) discard a proxy offer that carries one.
  if (client.arch === 0) options.set(Option.VENDOR_SPECIFIC, encodeSubOptions([[6, Buffer.from([8])]]));
  // Echoed only when well-formed: PXE ROMs compare it, and dhcpcd's 36-byte form is not a GUID.
  const uuid = clientUuidOption(request);
  if (uuid !== null) options.set(Option.CLIENT_UUID, uuid);
  return {
    op: BOOTREPLY,
    htype: request.htype,
    hlen: request.hlen,
    hops: 0,
    xid: request.xid,
    secs: 0,
    // Broadcast offers (the client has no address yet); an ACK on 4011 goes unicast.
    flags: reply === MessageType.OFFER ? 0x8000 : request.flags,
    ciaddr: reply === MessageType.ACK ? request.ciaddr : '0.0.0.0',
    // A proxy never hands out an address: that is the site DHCP server's job.
    yiaddr: '0.0.0.0',
    // Old iPXE ignores a proxy offer without siaddr; U-Boot reads only the file field.
    siaddr: addresses.serverIp,
    giaddr: request.giaddr,
    chaddr: request.chaddr,
    sname: addresses.serverIp,
    file: bootFile,
    options,
  };
}

export interface Destination {
  address: string;
  port: number;
}

/**
 * Where a reply to a port-67 request goes: through the relay that forwarded it (giaddr),
 * else the limited broadcast, since the client has no address to unicast to yet.
 */
export function offerDestination(request: DhcpPacket): Destination {
  return request.giaddr !== '0.0.0.0' ? { address: request.giaddr, port: 67 } : { address: '255.255.255.255', port: 68 };
}

export interface BootFiles {
  /** Base URL of metalbox's HTTP server as booting machines reach it, e.g. http://192.0.2.1:8080. */
  httpBase: string;
  /** The EFI binary UEFI PXE clients fetch: snponly.efi (firmware's NIC driver) or ipxe.efi. */
  uefiBinary: 'snponly.efi' | 'ipxe.efi';
  /** The CPU families whose signed shim and GRUB metalbox holds (scripts/fetch-grub). */
  grub: ReadonlySet<GrubCpu>;
}

/** What an architecture (option 93, RFC 4578 and IANA's registry) can boot: its iPXE binary, its GRUB family, and whether it boots over HTTP. */
interface Architecture {
  name: string;
  http: boolean;
  /** Debian's ipxe package is x86 only: BIOS's undionly.kpxe, UEFI's snponly.efi or ipxe.efi. */
  ipxe: 'undionly.kpxe' | 'uefi' | null;
  /**
   * BIOS has no Secure Boot and GRUB's signed images are UEFI ones; and none over HTTP boot:
   * Debian's signed GRUB carries no HTTP client, so booted from a URL it cannot read its
   * configuration (docs/netboot.md, GRUB).
   */
  grub: GrubCpu | null;
}

export const ARCHITECTURES: ReadonlyMap<number, Architecture> = new Map([
  [0, { name: 'x86 BIOS', http: false, ipxe: 'undionly.kpxe', grub: null }],
  [7, { name: 'x64 UEFI', http: false, ipxe: 'uefi', grub: 'x64' }],
  // VMware and some vendors send 9 (EFI BC) for x64.
  [9, { name: 'x64 UEFI (EFI BC)', http: false, ipxe: 'uefi', grub: 'x64' }],
  [11, { name: 'arm64 UEFI', http: false, ipxe: null, grub: 'arm64' }],
  [16, { name: 'x64 UEFI HTTP boot', http: true, ipxe: 'uefi', grub: null }],
  [19, { name: 'arm64 UEFI HTTP boot', http: true, ipxe: null, grub: null }],
]);

export type BootFileChoice =
  | {
      file: string;
      loader: Loader;
      /** Set when the loader is not the one asked for: the architecture has only this one. */
      insteadOf?: Loader;
    }
  | { refused: string };

/**
 * The boot file for a client whose machine boots with `wanted`, or why there is none:
 * silence lets such a machine try its next option, and the reason goes to its timeline.
 * An architecture with one loader gets it whatever was asked (BIOS: iPXE; arm64: GRUB),
 * and says so.
 */
export function bootFileFor(client: NetbootRequest, wanted: Loader, files: BootFiles): BootFileChoice {
  // iPXE is running already (a ROM or a chained binary): its script, which breaks the chain loop.
  if (client.firmware === 'ipxe') return { file: `${files.httpBase}/boot.ipxe`, loader: 'ipxe' };
  const architecture = ARCHITECTURES.get(client.arch);
  if (architecture === undefined) return { refused: `no loader for client architecture ${client.arch}` };
  if (architecture.http !== (client.firmware === 'uefi-http'))
    return {
      refused: `architecture ${client.arch} (${architecture.name}) asked as ${client.firmware === 'uefi-http' ? 'an HTTP boot client' : 'a PXE client'}`,
    };
  const grub = architecture.grub !== null && files.grub.has(architecture.grub) ? GRUB_FILES[architecture.grub].shim : null;
  const ipxe = architecture.ipxe === null ? null : architecture.ipxe === 'uefi' ? files.uefiBinary : architecture.ipxe;
  const offers: Record<Loader, string | null> = {
    ipxe: ipxe === null ? null : architecture.http ? `${files.httpBase}/ipxe/${ipxe}` : ipxe,
    grub,
  };
  const other: Loader = wanted === 'ipxe' ? 'grub' : 'ipxe';
  const file = offers[wanted];
  if (file !== null) return { file, loader: wanted };
  const instead = offers[other];
  if (instead !== null) return { file: instead, loader: other, insteadOf: wanted };
  return {
    refused:
      architecture.grub !== null
        ? `no loader for ${architecture.name}: GRUB's signed images are not installed (run scripts/fetch-grub)`
        : architecture.http
          ? `no loader for ${architecture.name}: Debian's signed GRUB cannot boot over HTTP; boot this machine by PXE`
          : `no loader for ${architecture.name}`,
  };
}
