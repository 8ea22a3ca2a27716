/**
 * A simulated fleet of UEFI PXE clients (bench code, not QEMU: ten thousand VMs do not run
 * on two cores), each doing what OVMF's EDK2 and then iPXE do on the wire:
 *
 *   DISCOVER (EDK2 options) → OFFER;  REQUEST to 4011 → ACK naming the NBP;
 *   TFTP of the NBP (blksize 1468, windowsize 4, as EDK2 asks);
 *   DISCOVER as iPXE (user class iPXE) → OFFER naming the script URL;
 *   GET the URL → the chain script;  GET its target with the MAC → the machine's script.
 *
 * DHCP goes through one relay socket (giaddr = our address, port 67), as a site's relay
 * would forward the fleet's broadcasts; EDK2's TFTP size probe is left out. Clients arrive
 * evenly over --spread-s; a DHCP step is retried after 4 s, three times. Prints one JSON line.
 *
 *   node dist/bench/storm-client.js --server IP --bind IP --macs FILE --spread-s 60 --sha256 HEX
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { parseArgs } from 'node:util';
import { BOOTREQUEST, decodePacket, encodePacket, MessageType, Option, type DhcpPacket } from '../src/dhcp-proxy/codec.js';
import { percentile } from './clients/stats.js';
import { transfer } from './clients/tftp.js';

const EDK2_VENDOR_CLASS = 'PXEClient:Arch:00007:UNDI:003000';
const IPXE_VENDOR_CLASS = 'PXEClient:Arch:00007:UNDI:003016';
const DHCP_TIMEOUT_MS = 4000;
const DHCP_TRIES = 4;

type Stage = 'discover' | 'request-4011' | 'tftp' | 'ipxe-discover' | 'script';

interface Outcome {
  ok: boolean;
  ms: number;
  failedAt?: Stage;
  error?: string;
}

/** Relayed DHCP: one socket for the fleet, answers matched to waiting clients by xid. */
class DhcpExchanges {
  readonly #waiting = new Map<number, (reply: DhcpPacket) => void>();
  #nextXid = 1;
  retries = 0;

  constructor(readonly socket: Socket) {
    socket.on('message', (datagram) => {
      let packet: DhcpPacket;
      try {
        packet = decodePacket(datagram);
      } catch {
        return;
      }
      this.#waiting.get(packet.xid)?.(packet);
    });
  }

  async exchange(request: (xid: number) => DhcpPacket, server: string, port: number): Promise<DhcpPacket> {
    const xid = this.#nextXid++;
    const bytes = encodePacket(request(xid));
    try {
      for (let attempt = 1; attempt <= DHCP_TRIES; attempt++) {
        if (attempt > 1) this.retries++;
        const reply = await new Promise<DhcpPacket | null>((resolve) => {
          const timer = setTimeout(() => resolve(null), DHCP_TIMEOUT_MS);
          this.#waiting.set(xid, (packet) => {
            clearTimeout(timer);
            resolve(packet);
          });
          this.socket.send(bytes, port, server);
        });
        if (reply) return reply;
      }
      throw new Error(`no answer after ${DHCP_TRIES} tries`);
    } finally {
      this.#waiting.delete(xid);
    }
  }
}

function pxeRequest(xid: number, mac: string, type: number, options: { giaddr: string; ciaddr?: string; ipxe?: boolean }): DhcpPacket {
  const chaddr = Buffer.alloc(16);
  Buffer.from(mac.replaceAll(':', ''), 'hex').copy(chaddr);
  const wire = new Map<number, Buffer>([
    [Option.MESSAGE_TYPE, Buffer.from([type])],
    [Option.MAX_MESSAGE_SIZE, Buffer.from([0x05, 0xc0])],
    [Option.CLIENT_UUID, Buffer.concat([Buffer.from([0]), chaddr])],
    [Option.CLIENT_NDI, Buffer.from([1, 3, 0])],
    [Option.CLIENT_ARCH, Buffer.from([0, 7])],
    [Option.VENDOR_CLASS, Buffer.from(options.ipxe ? IPXE_VENDOR_CLASS : EDK2_VENDOR_CLASS, 'latin1')],
  ]);
  // iPXE announces itself with user class "iPXE" and its feature list in option 175.
  if (options.ipxe) {
    wire.set(Option.USER_CLASS, Buffer.from('iPXE', 'latin1'));
    wire.set(Option.IPXE, Buffer.from([0x13, 0x01, 0x01, 0x11, 0x01, 0x01]));
  }
  return {
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 1,
    xid,
    secs: 4,
    flags: options.ciaddr ? 0 : 0x8000,
    ciaddr: options.ciaddr ?? '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: options.giaddr,
    chaddr,
    sname: '',
    file: '',
    options: wire,
  };
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // One connection per machine, as separate firmware would open.
    const request = get(url, { agent: false, timeout: 30_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
  });
}

async function boot(
  mac: string,
  context: { dhcp: DhcpExchanges; pxe: DhcpExchanges; server: string; bind: string; sha256: string },
): Promise<Outcome> {
  const started = performance.now();
  let stage: Stage = 'discover';
  try {
    const offer = await context.dhcp.exchange(
      (xid) => pxeRequest(xid, mac, MessageType.DISCOVER, { giaddr: context.bind }),
      context.server,
      67,
    );
    if (offer.options.get(Option.MESSAGE_TYPE)?.[0] !== MessageType.OFFER) throw new Error('not an OFFER');
    stage = 'request-4011';
    const ack = await context.pxe.exchange(
      (xid) => pxeRequest(xid, mac, MessageType.REQUEST, { giaddr: '0.0.0.0', ciaddr: context.bind }),
      context.server,
      4011,
    );
    if (!ack.file) throw new Error('the ACK names no boot file');
    stage = 'tftp';
    const nbp = await transfer({
      server: context.server,
      port: 69,
      file: ack.file,
      blksize: 1468,
      windowsize: 4,
      timeoutMs: 1000,
      retries: 8,
      bind: context.bind,
    });
    if (!nbp.ok || nbp.sha256 !== context.sha256) throw new Error(nbp.error ?? 'wrong SHA-256');
    stage = 'ipxe-discover';
    const ipxeOffer = await context.dhcp.exchange(
      (xid) => pxeRequest(xid, mac, MessageType.DISCOVER, { giaddr: context.bind, ipxe: true }),
      context.server,
      67,
    );
    if (!ipxeOffer.file.startsWith('http://')) throw new Error(`iPXE was offered ${ipxeOffer.file || 'nothing'}`);
    stage = 'script';
    const chain = await httpGet(ipxeOffer.file);
    const target = /^chain (\S+)/m.exec(chain.body)?.[1];
    if (chain.status !== 200 || !target) throw new Error(`the chain script: HTTP ${chain.status}`);
    const url = target.replace('${mac:hexhyp}', mac.replaceAll(':', '-')).replace('${buildarch}', 'x86_64').replace('${platform}', 'efi');
    const script = await httpGet(url);
    if (script.status !== 200 || !/^kernel /m.test(script.body)) throw new Error(`the machine's script: HTTP ${script.status}`);
    return { ok: true, ms: performance.now() - started };
  } catch (error) {
    return { ok: false, ms: performance.now() - started, failedAt: stage, error: (error as Error).message };
  }
}

async function bindSocket(address: string, port: number): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  await new Promise<void>((resolve) => socket.bind(port, address, resolve));
  return socket;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      bind: { type: 'string' },
      macs: { type: 'string' },
      'spread-s': { type: 'string', default: '60' },
      sha256: { type: 'string' },
    },
  });
  if (!values.server || !values.bind || !values.macs || !values.sha256)
    throw new Error('--server, --bind, --macs and --sha256 are required');
  const macs = readFileSync(values.macs, 'utf8').trim().split('\n');
  const dhcp = new DhcpExchanges(await bindSocket(values.bind, 67));
  const pxe = new DhcpExchanges(await bindSocket(values.bind, 0));
  const context = { dhcp, pxe, server: values.server, bind: values.bind, sha256: values.sha256 };
  const spreadMs = Number(values['spread-s']) * 1000;
  const started = performance.now();
  const outcomes = await Promise.all(
    macs.map(
      (mac, index) =>
        new Promise<Outcome>((resolve) => {
          setTimeout(() => resolve(boot(mac, context)), (index * spreadMs) / macs.length);
        }),
    ),
  );
  const wallSeconds = (performance.now() - started) / 1000;
  dhcp.socket.close();
  pxe.socket.close();
  const failures: Record<string, number> = {};
  for (const outcome of outcomes) {
    if (outcome.ok) continue;
    const key = `${outcome.failedAt}: ${outcome.error}`;
    failures[key] = (failures[key] ?? 0) + 1;
  }
  const times = outcomes
    .filter((outcome) => outcome.ok)
    .map((outcome) => outcome.ms)
    .sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({
      clients: macs.length,
      ok: times.length,
      failed: macs.length - times.length,
      failures,
      wallSeconds,
      p50Ms: percentile(times, 50),
      p90Ms: percentile(times, 90),
      p99Ms: percentile(times, 99),
      maxMs: times.at(-1) ?? null,
      dhcpRetries: dhcp.retries + pxe.retries,
    })}\n`,
  );
}

await main();
