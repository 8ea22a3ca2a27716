import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareDataDir, type MachineJson } from '../../src/store/index.js';
import { startServe, tempDir, type Serving } from '../helpers.js';

/** What the agent's protocol tests share: a stand-in image, requests from a chosen address, the R650's facts. */

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** The R650 fixture's first port: the NIC that PXE-boots here, so the agent's report names it too. */
export const NIC = 'b0:26:28:aa:bb:c0';
/** Loopback addresses stand for hosts: the machine (its DHCP was seen) and another host. */
export const MACHINE_HOST = '127.0.0.1';
export const OTHER_HOST = '127.0.0.2';

/**
 * A stand-in agent image: a few bytes with a manifest that matches them. This test is about
 * the protocol, not what boots (the agent lab boots the real image), and building the real
 * one here would download 70 MB for each run.
 */
export function standInImage(dataDir: string, key = '0123456789abcdef', arch?: 'amd64' | 'arm64'): string {
  const dir = join(dataDir, 'agent', key);
  mkdirSync(dir, { recursive: true });
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
  writeFileSync(join(dir, 'vmlinuz'), 'stand-in kernel');
  writeFileSync(join(dir, 'initrd.gz'), 'stand-in initrd');
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify({
      key: key.repeat(4),
      // Without arch: an image built before the agent had more than one CPU.
      ...(arch === undefined ? {} : { arch }),
      kernel: { name: 'stand-in', version: '0', sha256: '', release: '0' },
      busybox: { name: 'stand-in', version: '0', sha256: '' },
      modules: [],
      bytes: { kernel: 15, initrd: 15 },
      sha256: { kernel: sha256('stand-in kernel'), initrd: sha256('stand-in initrd') },
    }),
  );
  return key;
}

/** An HTTP request from a chosen source address (fetch cannot pick one): GET, or POST of `body` (JSON unless told). */
export function call(
  from: string,
  url: string,
  body?: string,
  contentType = 'application/json',
): Promise<{ status: number; text: string; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        localAddress: from,
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? {} : { 'content-type': contentType },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, text: bytes.toString(), bytes });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export const machines = async (serve: Serving) => (await (await serve.fetch('/api/v1/machines')).json()) as MachineJson[];

/** What the real agent program collects from the R650 tree. */
export function r650Facts(t: Parameters<typeof tempDir>[0]): string {
  const root = tempDir(t);
  execFileSync('sh', [join(REPO, 'test/agent/fixtures/poweredge-r650.sh'), root]);
  return execFileSync('busybox', ['sh', join(REPO, 'agent/metalbox-agent'), 'collect'], {
    env: { MBX_ROOT: root, PATH: process.env.PATH },
    encoding: 'utf8',
  });
}

export async function discovering(t: Parameters<typeof tempDir>[0], extra: string[] = []) {
  const dataDir = join(tempDir(t), 'data');
  prepareDataDir(dataDir);
  const key = standInImage(dataDir);
  const args = ['--data-dir', dataDir, '--boot-unknown', 'discover', '--advertise', '127.0.0.1', ...extra];
  const serve = await startServe(t, args);
  /** metalbox again on the same data dir and config (after a kill -9, say): another port, the same tokens. */
  const restart = () => startServe(t, args);
  return { serve, key, dataDir, restart };
}
