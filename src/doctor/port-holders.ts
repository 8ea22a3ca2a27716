import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** A socket bound to a local port, as /proc/net/{udp,tcp}{,6} list it in this network namespace. */
export interface BoundSocket {
  protocol: 'udp' | 'tcp';
  port: number;
  inode: number;
}

/**
 * The sockets of one /proc/net table bound to `port` (TCP: listening only). Pure: the
 * table's text in. Lines: `sl local_address rem_address st … uid timeout inode`, the
 * address as hex `IP:PORT`; TCP state 0A is LISTEN.
 */
export function socketsOnPort(table: string, protocol: 'udp' | 'tcp', port: number): BoundSocket[] {
  const found: BoundSocket[] = [];
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const localPort = Number.parseInt(fields[1]!.split(':')[1] ?? '', 16);
    if (localPort !== port) continue;
    if (protocol === 'tcp' && fields[3] !== '0A') continue;
    found.push({ protocol, port, inode: Number(fields[9]) });
  }
  return found;
}

/** Who holds a socket: pid and command line, from /proc/<pid>/fd links `socket:[inode]`. */
export interface Holder {
  pid: number;
  command: string;
}

/** The processes holding each socket inode; a process whose fds cannot be read (another user's, gone) is skipped. */
export function holdersOf(inodes: ReadonlySet<number>, proc = '/proc'): Map<number, Holder[]> {
  const holders = new Map<number, Holder[]>();
  if (inodes.size === 0) return holders;
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${proc}/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`${proc}/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode === undefined || !inodes.has(Number(inode))) continue;
      const list = holders.get(Number(inode)) ?? [];
      if (!list.some((holder) => holder.pid === Number(entry))) list.push({ pid: Number(entry), command: commandOf(proc, entry) });
      holders.set(Number(inode), list);
    }
  }
  return holders;
}

/** Who holds `port` in this network namespace: none (free), or the processes with their command lines. */
export function portHolders(protocol: 'udp' | 'tcp', port: number, proc = '/proc'): Holder[] {
  const sockets = ['', '6'].flatMap((suffix) => {
    try {
      return socketsOnPort(readFileSync(`${proc}/net/${protocol}${suffix}`, 'utf8'), protocol, port);
    } catch {
      return [];
    }
  });
  const inodes = new Set(sockets.map((socket) => socket.inode));
  const byInode = holdersOf(inodes, proc);
  const holders = [...byInode.values()].flat();
  // A socket no process we can see holds (another user's, or a kernel one) still holds the port.
  return holders.length > 0 || inodes.size === 0 ? holders : [{ pid: 0, command: 'a process this user cannot see' }];
}

function commandOf(proc: string, pid: string): string {
  try {
    const argv = readFileSync(`${proc}/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return argv.join(' ').slice(0, 200) || readFileSync(`${proc}/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}
