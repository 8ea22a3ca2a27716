import { readFileSync } from 'node:fs';

export interface CapturedDatagram {
  from: string;
  to: string;
  payload: Buffer;
}

/**
 * The UDP datagrams of a classic pcap file (tcpdump -w, Ethernet, little-endian): enough
 * to replay what the lab's firmware sent, without a capture library.
 */
export function readPcapUdp(path: string): CapturedDatagram[] {
  const file = readFileSync(path);
  if (file.readUInt32LE(0) !== 0xa1b2c3d4 || file.readUInt32LE(20) !== 1) throw new Error(`${path}: not a little-endian Ethernet pcap`);
  const datagrams: CapturedDatagram[] = [];
  for (let at = 24; at + 16 <= file.length; ) {
    const length = file.readUInt32LE(at + 8);
    const frame = file.subarray(at + 16, at + 16 + length);
    at += 16 + length;
    if (frame.readUInt16BE(12) !== 0x0800) continue; // IPv4 only
    const ip = frame.subarray(14);
    if (ip[9] !== 17) continue; // UDP only
    const udp = ip.subarray((ip[0]! & 0x0f) * 4);
    const address = (bytes: Buffer) => [...bytes].join('.');
    datagrams.push({
      from: `${address(ip.subarray(12, 16))}:${udp.readUInt16BE(0)}`,
      to: `${address(ip.subarray(16, 20))}:${udp.readUInt16BE(2)}`,
      payload: Buffer.from(udp.subarray(8, udp.readUInt16BE(4))),
    });
  }
  return datagrams;
}
