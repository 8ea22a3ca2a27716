/** Shared by the labs: commands, daemons and waiting, inside network namespaces the labs create. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export function sh(command: string, args: string[], options: { input?: string } = {}): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...options });
}
export const inNs = (ns: string, command: string, ...args: string[]) => sh('ip', ['netns', 'exec', ns, command, ...args]);

/** A long-running process in a namespace, its output in a log file. */
export function daemon(ns: string, log: string, command: string, args: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  const write = (chunk: Buffer) => {
    chunks.push(chunk.toString());
    writeFileSync(log, chunks.join(''));
  };
  child.stdout!.on('data', write);
  child.stderr!.on('data', write);
  return child;
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs: number, detail: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}\n${detail()}`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

