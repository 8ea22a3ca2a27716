import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { MACHINE_STATES, OPERATION_SPANS, type MachineState } from '../lifecycle/lifecycle.js';
import { Histogram, type MetricFamily, type Sample } from '../lib/prometheus.js';
import type { FileChunkStats } from '../ipxe/file-chunks.js';
import type { FileThreadStats } from '../ipxe/file-threads.js';

/** What the metrics are read from at each scrape: the services' own counters and two store counts. */
export interface MetricsSources {
  dhcp?: { stats(): { answered: number; drops: Record<string, number>; sendErrors: number; handlerErrors: number } } | undefined;
  tftp?: { stats(): { active: number; outcomes: Record<string, number>; refused: Record<string, number>; bytesSent: number } } | undefined;
  scripts: { stats(): { answered: Record<number, number> } };
  fileChunks: { stats(): FileChunkStats };
  fileThreads?: { stats(): FileThreadStats } | undefined;
  snooping: { stats(): { dropped: number } };
  bootEvents: { stats(): { dropped: number } };
  machinesByState: () => Partial<Record<MachineState, number>>;
  jobs: { pending(): { queued: number; running: number } };
  engine: { stats(): { leasesLost: number } };
  storage: { readonly writeErrors: number; readonly failure: unknown };
  durations: OperationDurations;
}

/** Seconds; onboarding takes seconds to minutes, an install or a deploy minutes to an hour. */
const DURATION_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];

/**
 * How long onboardings, installs, deploys and cleanings take, as histograms by operation and
 * outcome (lifecycle's OPERATION_SPANS says where each starts and ends). Fed by the store's
 * change notices; an operation under way when metalbox starts is not measured.
 */
export class OperationDurations {
  readonly #histograms = new Map<string, Histogram>();
  /** Machines inside a span: which, and since when (ms). */
  readonly #open = new Map<string, { operation: string; since: number }>();
  readonly #states = new Map<string, MachineState>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A machine's state after a committed change (or null once it is gone). */
  changed(machineId: string, state: MachineState | null): void {
    const previous = this.#states.get(machineId);
    if (state === null) {
      this.#states.delete(machineId);
      this.#open.delete(machineId);
      return;
    }
    if (previous === state) return;
    this.#states.set(machineId, state);
    const open = this.#open.get(machineId);
    if (open) {
      const span = OPERATION_SPANS.find((candidate) => candidate.operation === open.operation)!;
      if (span.during.includes(state)) return;
      this.#open.delete(machineId);
      const outcome = span.ok.includes(state) ? 'ok' : span.failed.includes(state) ? 'failed' : null;
      if (outcome !== null) this.#histogram(open.operation, outcome).observe((this.now() - open.since) / 1000);
    }
    const starting = OPERATION_SPANS.find((span) => span.starts.includes(state));
    if (starting) this.#open.set(machineId, { operation: starting.operation, since: this.now() });
  }

  family(): MetricFamily {
    return {
      name: 'metalbox_operation_duration_seconds',
      help: 'Time from the start of an onboarding, install, deploy or cleaning to its end, by outcome.',
      type: 'histogram',
      histograms: [...this.#histograms].map(([key, histogram]) => {
        const [operation, outcome] = key.split('|') as [string, string];
        return { labels: { operation, outcome }, histogram: histogram.snapshot() };
      }),
    };
  }

  #histogram(operation: string, outcome: string): Histogram {
    const key = `${operation}|${outcome}`;
    const held = this.#histograms.get(key);
    if (held) return held;
    const histogram = new Histogram(DURATION_BUCKETS);
    this.#histograms.set(key, histogram);
    return histogram;
  }
}

/**
 * The metric families of GET /metrics, read at scrape time. Counters count since this
 * process started (Prometheus handles the reset of a restart); the event-loop delay is
 * what the loop saw since the previous scrape.
 */
export class Metrics {
  readonly #loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  readonly #startedAt = Date.now() / 1000;

  constructor(private readonly sources: MetricsSources) {
    this.#loopDelay.enable();
  }

  stop(): void {
    this.#loopDelay.disable();
  }

  families(): MetricFamily[] {
    const { dhcp, tftp, scripts, fileChunks, fileThreads, snooping, bootEvents, storage } = this.sources;
    const dhcpStats = dhcp?.stats();
    const tftpStats = tftp?.stats();
    const chunks = fileChunks.stats();
    const threads = fileThreads?.stats();
    const jobs = this.sources.jobs.pending();
    const byState = this.sources.machinesByState();
    const cpu = process.cpuUsage();
    const loop = this.#loopDelay;
    const families: MetricFamily[] = [
      counter('metalbox_dhcp_answers_total', 'ProxyDHCP offers and acks sent.', dhcpStats ? [{ value: dhcpStats.answered }] : []),
      counter('metalbox_dhcp_drops_total', 'DHCP packets not answered, by reason.', byLabel('reason', dhcpStats?.drops)),
      counter(
        'metalbox_dhcp_errors_total',
        'ProxyDHCP answers that could not be sent, and packets whose handling failed.',
        dhcpStats
          ? [
              { labels: { kind: 'send' }, value: dhcpStats.sendErrors },
              { labels: { kind: 'handler' }, value: dhcpStats.handlerErrors },
            ]
          : [],
      ),
      counter('metalbox_tftp_transfers_total', 'TFTP transfers ended, by outcome.', byLabel('outcome', tftpStats?.outcomes)),
      counter('metalbox_tftp_refused_total', 'TFTP requests refused, by reason.', byLabel('reason', tftpStats?.refused)),
      counter(
        'metalbox_tftp_sent_bytes_total',
        'Bytes of the files complete TFTP transfers delivered.',
        tftpStats ? [{ value: tftpStats.bytesSent }] : [],
      ),
      gauge('metalbox_tftp_active_transfers', 'TFTP transfers running now.', tftpStats ? [{ value: tftpStats.active }] : []),
      counter('metalbox_boot_scripts_total', 'iPXE scripts answered, by HTTP status.', byLabel('status', scripts.stats().answered)),
      counter('metalbox_http_file_downloads_total', 'Downloads under /assets/ begun from byte 0, by where they were served.', [
        { labels: { server: 'http' }, value: chunks.downloads },
        ...(threads ? [{ labels: { server: 'file-threads' }, value: sum(threads.sent) }] : []),
      ]),
      counter('metalbox_http_file_sent_bytes_total', 'Bytes of files under /assets/ handed to sockets.', [
        { labels: { server: 'http' }, value: chunks.bytesSent },
        ...(threads ? [{ labels: { server: 'file-threads' }, value: sum(threads.bytesSent) }] : []),
      ]),
      counter('metalbox_dropped_records_total', 'Boot events and DHCP observations dropped because the backlog was full.', [
        { labels: { record: 'boot-event' }, value: bootEvents.stats().dropped },
        { labels: { record: 'observation' }, value: snooping.stats().dropped },
      ]),
      gauge(
        'metalbox_machines',
        'Machines in the inventory, by state.',
        MACHINE_STATES.map((state) => ({ labels: { state }, value: byState[state] ?? 0 })),
      ),
      gauge('metalbox_jobs', 'Jobs waiting (queued) and leased (running).', [
        { labels: { status: 'queued' }, value: jobs.queued },
        { labels: { status: 'running' }, value: jobs.running },
      ]),
      counter('metalbox_job_leases_lost_total', 'Job steps whose lease expired before they were recorded (another worker owns the job).', [
        { value: this.sources.engine.stats().leasesLost },
      ]),
      counter('metalbox_store_write_errors_total', 'Writes that failed for the storage (full disk, I/O error, read-only).', [
        { value: storage.writeErrors },
      ]),
      gauge('metalbox_store_degraded', '1 while the database cannot be written.', [{ value: storage.failure === null ? 0 : 1 }]),
      this.sources.durations.family(),
      gauge(
        'metalbox_event_loop_delay_seconds',
        'Event-loop delay since the previous scrape: its median, 99th percentile and maximum (percentile 100).',
        [
          // Not a summary's quantile label: these restart at each scrape, which a summary's must not.
          { labels: { percentile: '50' }, value: nanoseconds(loop.percentile(50)) },
          { labels: { percentile: '99' }, value: nanoseconds(loop.percentile(99)) },
          { labels: { percentile: '100' }, value: nanoseconds(loop.max) },
        ],
      ),
      counter('process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', [{ value: (cpu.user + cpu.system) / 1e6 }]),
      gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', [{ value: process.memoryUsage.rss() }]),
      gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', [{ value: this.#startedAt }]),
    ];
    loop.reset();
    return families;
  }
}

const counter = (name: string, help: string, samples: Sample[]): MetricFamily => ({ name, help, type: 'counter', samples });
const gauge = (name: string, help: string, samples: Sample[]): MetricFamily => ({ name, help, type: 'gauge', samples });
const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);
/** A histogram that saw nothing reads NaN: 0 then. */
const nanoseconds = (value: number) => (Number.isFinite(value) ? value / 1e9 : 0);

function byLabel(label: string, counts: Record<string | number, number> | undefined): Sample[] {
  return Object.entries(counts ?? {}).map(([key, value]) => ({ labels: { [label]: key }, value }));
}
