// Prometheus metrics in the text exposition format (version 0.0.4), written by hand: counters,
// gauges (set directly or read at scrape time) and histograms with cumulative buckets.

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Readonly<Record<string, string | number>>;

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

function labelKey(names: readonly string[], labels: Labels | undefined): string {
  if (names.length === 0) return '';
  return names
    .map((n) => {
      const v = labels?.[n];
      if (v === undefined) throw new Error(`metric label "${n}" is missing`);
      return `${n}="${escapeLabelValue(String(v))}"`;
    })
    .join(',');
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!NAME_RE.test(name)) throw new Error(`invalid metric name "${name}"`);
    for (const l of labelNames) if (!NAME_RE.test(l) || l.startsWith('__') || l === 'le') throw new Error(`invalid label name "${l}"`);
  }
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  abstract samples(): string[];
  render(): string {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()].join('\n');
  }
}

function sampleLine(name: string, key: string, value: number): string {
  return `${name}${key ? `{${key}}` : ''} ${formatValue(value)}`;
}

export class Counter extends Metric {
  readonly type = 'counter';
  private readonly values = new Map<string, number>();
  inc(labels?: Labels, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot decrease`);
    const k = labelKey(this.labelNames, labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(this.labelNames, labels)) ?? 0;
  }
  samples(): string[] {
    if (this.labelNames.length === 0 && this.values.size === 0) return [sampleLine(this.name, '', 0)];
    return [...this.values].map(([k, v]) => sampleLine(this.name, k, v));
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge';
  private readonly values = new Map<string, number>();
  /** When given, the unlabelled value is read at scrape time. */
  constructor(name: string, help: string, labelNames: readonly string[] = [], private readonly collect?: () => number) {
    super(name, help, labelNames);
  }
  set(value: number, labels?: Labels): void {
    this.values.set(labelKey(this.labelNames, labels), value);
  }
  samples(): string[] {
    if (this.collect) return [sampleLine(this.name, '', this.collect())];
    if (this.labelNames.length === 0 && this.values.size === 0) return [sampleLine(this.name, '', 0)];
    return [...this.values].map(([k, v]) => sampleLine(this.name, k, v));
  }
}

interface HistogramSeries {
  counts: number[]; // per bucket, not cumulative
  sum: number;
  count: number;
}

export class Histogram extends Metric {
  readonly type = 'histogram';
  private readonly series = new Map<string, HistogramSeries>();
  readonly buckets: readonly number[];
  constructor(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []) {
    super(name, help, labelNames);
    const sorted = [...new Set(buckets)].filter((b) => Number.isFinite(b)).sort((a, b) => a - b);
    if (sorted.length === 0) throw new Error(`histogram ${name} needs at least one finite bucket`);
    this.buckets = sorted;
  }
  observe(value: number, labels?: Labels): void {
    const k = labelKey(this.labelNames, labels);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  samples(): string[] {
    const out: string[] = [];
    const entries = [...this.series];
    if (this.labelNames.length === 0 && entries.length === 0) {
      entries.push(['', { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 }]);
    }
    for (const [k, s] of entries) {
      const prefix = k ? `${k},` : '';
      let cum = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cum += s.counts[i]!;
        out.push(`${this.name}_bucket{${prefix}le="${formatValue(this.buckets[i]!)}"} ${cum}`);
      }
      out.push(`${this.name}_bucket{${prefix}le="+Inf"} ${s.count}`);
      out.push(sampleLine(`${this.name}_sum`, k, s.sum));
      out.push(sampleLine(`${this.name}_count`, k, s.count));
    }
    return out;
  }
}

/** `count` buckets from `start`, each `factor` times the previous. */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  let v = start;
  for (let i = 0; i < count; i++) {
    out.push(Number(v.toPrecision(6)));
    v *= factor;
  }
  return out;
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();
  private add<M extends Metric>(m: M): M {
    if (this.metrics.has(m.name)) throw new Error(`metric ${m.name} is registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = [], collect?: () => number): Gauge {
    return this.add(new Gauge(name, help, labelNames, collect));
  }
  histogram(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []): Histogram {
    return this.add(new Histogram(name, help, buckets, labelNames));
  }
  render(): string {
    return [...this.metrics.values()].map((m) => m.render()).join('\n') + '\n';
  }
}
