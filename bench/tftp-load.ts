/**
 * TFTP load generator: many concurrent read transfers from one process (curl processes do
 * not scale to thousands), every copy checked against the file's SHA-256. Prints one JSON line.
 *
 *   node dist/bench/tftp-load.js --server IP --file NAME --count N --blksize 1428 --windowsize 8 --sha256 HEX
 */
import { parseArgs } from 'node:util';
import { percentile } from './clients/stats.js';
import { transfer, type TransferSpec } from './clients/tftp.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      port: { type: 'string', default: '69' },
      bind: { type: 'string' },
      file: { type: 'string' },
      count: { type: 'string', default: '1' },
      blksize: { type: 'string', default: '1428' },
      windowsize: { type: 'string', default: '1' },
      sha256: { type: 'string' },
      'timeout-ms': { type: 'string', default: '1000' },
      retries: { type: 'string', default: '5' },
    },
  });
  if (!values.server || !values.file || !values.sha256) throw new Error('--server, --file and --sha256 are required');
  const spec: TransferSpec = {
    server: values.server,
    port: Number(values.port),
    file: values.file,
    blksize: Number(values.blksize),
    windowsize: Number(values.windowsize),
    timeoutMs: Number(values['timeout-ms']),
    retries: Number(values.retries),
    ...(values.bind ? { bind: values.bind } : {}),
  };
  const count = Number(values.count);
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: count }, () => transfer(spec)));
  const seconds = (performance.now() - started) / 1000;
  const good = results.filter((result) => result.ok && result.sha256 === values.sha256);
  const errors: Record<string, number> = {};
  for (const result of results) {
    if (good.includes(result)) continue;
    const reason = result.ok ? 'wrong SHA-256' : result.error!.replace(/\d+$/, 'N');
    errors[reason] = (errors[reason] ?? 0) + 1;
  }
  const times = good.map((result) => result.ms).sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({
      count,
      ok: good.length,
      failed: count - good.length,
      errors,
      seconds,
      bytes: good.reduce((sum, result) => sum + result.bytes, 0),
      p50Ms: percentile(times, 50),
      maxMs: times.at(-1) ?? null,
      retransmits: results.reduce((sum, result) => sum + result.retransmits, 0),
    })}\n`,
  );
}

await main();
