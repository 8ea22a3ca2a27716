/**
 * Prometheus' text exposition format (version 0.0.4), written from values read at scrape
 * time. Pure: no registry, no timers; the caller lists its metric families, each with its
 * samples, and gets the text `GET /metrics` answers.
 */

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

export type MetricFamily =
  | { name: string; help: string; type: 'counter' | 'gauge'; samples: Sample[] }
  | { name: string; help: string; type: 'histogram'; histograms: Array<{ labels?: Labels; histogram: HistogramSnapshot }> };

export interface HistogramSnapshot {
  /** Upper bounds, ascending, without +Inf. */
  bounds: readonly number[];
  /** Observations at or below each bound (cumulative), then the total count for +Inf. */
  cumulative: number[];
  sum: number;
}

/** The content type of the text format. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The exposition text of `families`, in the order given. A bad metric or label name is a bug: it throws. */
export function renderExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (!NAME.test(family.name)) throw new Error(`invalid metric name ${family.name}`);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    if (family.type === 'histogram') {
      for (const { labels, histogram } of family.histograms) {
        histogram.bounds.forEach((bound, index) => {
          lines.push(sampleLine(`${family.name}_bucket`, { ...labels, le: formatNumber(bound) }, histogram.cumulative[index]!));
        });
        const count = histogram.cumulative[histogram.bounds.length]!;
        lines.push(sampleLine(`${family.name}_bucket`, { ...labels, le: '+Inf' }, count));
        lines.push(sampleLine(`${family.name}_sum`, labels, histogram.sum));
        lines.push(sampleLine(`${family.name}_count`, labels, count));
      }
    } else {
      for (const sample of family.samples) lines.push(sampleLine(family.name, sample.labels, sample.value));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A histogram with fixed buckets, observed as things happen and read at scrape time. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;

  constructor(bounds: readonly number[]) {
    if (bounds.some((bound, index) => index > 0 && bound <= bounds[index - 1]!)) throw new Error('histogram bounds must ascend');
    this.#bounds = bounds;
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    let index = this.#bounds.findIndex((bound) => value <= bound);
    if (index === -1) index = this.#bounds.length;
    this.#counts[index]!++;
    this.#sum += value;
  }

  snapshot(): HistogramSnapshot {
    let running = 0;
    return { bounds: this.#bounds, cumulative: this.#counts.map((count) => (running += count)), sum: this.#sum };
  }
}

function sampleLine(name: string, labels: Labels | undefined, value: number): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return `${name} ${formatNumber(value)}`;
  const text = entries
    .map(([label, labelValue]) => {
      if (!LABEL.test(label) || label.startsWith('__')) throw new Error(`invalid label name ${label}`);
      return `${label}="${escapeLabelValue(labelValue)}"`;
    })
    .join(',');
  return `${name}{${text}} ${formatNumber(value)}`;
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Label values may hold anything (a drop reason, a state): backslash, quote and newline are escaped. */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
