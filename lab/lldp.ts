/**
 * The lab's switch port speaking LLDP (demo code): what a top-of-rack switch sends to the
 * server cabled to it, once a second, so the agent's inventory finds its neighbour. The
 * frame is built here (802.1AB: chassis ID, port ID, TTL, port description, system name,
 * end) and sent from the switch namespace out of the VM's tap device, the port the VM is
 * on. Node has no raw sockets; Perl, part of every Debian (perl-base is essential), sends
 * it through an AF_PACKET socket.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** What the lab's switch says of itself and of the VM's port: what the agent must report. */
export interface LabSwitchPort {
  /** A locally assigned chassis ID (subtype 7). */
  chassisId: string;
  /** The port's interface name (subtype 5): the tap device the VM is on. */
  portId: string;
  portDescription: string;
  systemName: string;
}

const tlv = (type: number, value: Buffer) => Buffer.concat([Buffer.from([(type << 1) | (value.length >> 8), value.length & 0xff]), value]);
const text = (subtype: number, value: string) => Buffer.concat([Buffer.from([subtype]), Buffer.from(value, 'ascii')]);

/** The LLDP frame, from `sourceMac` (the switch port's MAC) to the nearest-bridge group address. */
export function lldpFrame(sourceMac: string, port: LabSwitchPort): Buffer {
  return Buffer.concat([
    Buffer.from('0180c200000e', 'hex'),
    Buffer.from(sourceMac.replaceAll(':', ''), 'hex'),
    Buffer.from('88cc', 'hex'),
    tlv(1, text(7, port.chassisId)),
    tlv(2, text(5, port.portId)),
    tlv(3, Buffer.from([0, 120])),
    tlv(4, Buffer.from(port.portDescription, 'ascii')),
    tlv(5, Buffer.from(port.systemName, 'ascii')),
    tlv(0, Buffer.alloc(0)),
  ]);
}

const SENDER = `
my ($if, $hex) = @ARGV;
my $frame = pack('H*', $hex);
open(my $f, '<', "/sys/class/net/$if/ifindex") or die "no interface $if\\n";
my $index = <$f>;
chomp $index;
socket(my $s, 17, 3, 0) or die "AF_PACKET socket: $!\\n";
# struct sockaddr_ll: family AF_PACKET, protocol 0x88cc, ifindex, hatype, pkttype, halen 6, the address
my $to = pack('S n i S C C a8', 17, 0x88cc, $index, 0, 0, 6, pack('H*', '0180c200000e'));
# Until the VM opens its end of the tap, the kernel drops what is sent: keep sending.
for (;;) { send($s, $frame, 0, $to); sleep 1; }
`;

/** Sends the frame out of `device` in namespace `ns` every second, until the child is stopped. */
export function startLldpSpeaker(ns: string, device: string, frame: Buffer, output: number): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, 'perl', '-e', SENDER, device, frame.toString('hex')], { stdio: ['ignore', output, output] });
}
