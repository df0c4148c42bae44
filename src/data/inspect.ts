// `qzhou data inspect`: what a set of canonical record files holds — counts per type and dataset,
// length distributions per field (characters, and tokens when a tokenizer is given), label and score
// distributions, negatives per query, and duplicate counts. One streaming pass, bounded memory.
import { DataError } from './errors.js';
import { readRecords, type ReadOptions } from './readers.js';
import { validateRecord, type Family } from './records.js';
import { HashSet64, hash64 } from './hashset.js';
import { exactKey, normalizedKey } from './dedup.js';

const EXACT_LIMIT = 1 << 16;

/** A length distribution: exact below 65,536, power-of-two buckets for display. */
export class LengthHistogram {
  private counts = new Uint32Array(EXACT_LIMIT + 1);
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;

  add(n: number): void {
    this.counts[Math.min(n, EXACT_LIMIT)]!++;
    this.count++;
    this.sum += n;
    if (n < this.min) this.min = n;
    if (n > this.max) this.max = n;
  }

  /** The smallest length L with at least q of the values ≤ L (q in (0, 1]); lengths ≥ 65,536 read as 65,536. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.ceil(q * this.count);
    let acc = 0;
    for (let i = 0; i <= EXACT_LIMIT; i++) {
      acc += this.counts[i]!;
      if (acc >= target) return i;
    }
    return EXACT_LIMIT;
  }

  stats(): LengthStats {
    const buckets: { from: number; to: number; count: number }[] = [];
    if (this.count > 0) {
      let from = 0;
      let to = 7;
      while (from <= this.max) {
        let c = 0;
        for (let i = from; i <= Math.min(to, EXACT_LIMIT); i++) c += this.counts[i]!;
        if (to >= EXACT_LIMIT) to = Infinity;
        buckets.push({ from, to, count: c });
        if (to === Infinity) break;
        from = to + 1;
        to = from * 2 - 1;
      }
    }
    return {
      count: this.count,
      min: this.count ? this.min : 0,
      max: this.max,
      mean: this.count ? this.sum / this.count : 0,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      buckets,
    };
  }
}

export interface LengthStats {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  /** Power-of-two buckets [from, to] (0–7, 8–15, 16–31, …); the last may reach Infinity. */
  buckets: { from: number; to: number; count: number }[];
}

export interface DatasetSummary {
  name: string;
  type: Family;
  records: number;
  /** cls: records per label. */
  labels?: Record<string, number>;
  /** pair: score range, and counts per score when there are at most 20 distinct scores. */
  scores?: { min: number; max: number; mean: number; counts: Record<string, number> | null };
  /** retrieval: negatives per query. */
  negatives?: { min: number; max: number; mean: number; withNone: number };
}

export interface InspectReport {
  files: string[];
  records: number;
  invalid: number;
  /** A few `file:line: field: problem` messages. */
  invalidExamples: string[];
  byType: Record<Family, number>;
  datasets: DatasetSummary[];
  /** Per field (query, pos, neg, text1, text2, text): lengths in characters. */
  chars: Record<string, LengthStats>;
  /** The same in tokens, when a token counter was given. */
  tokens?: Record<string, LengthStats>;
  /** Records whose exact key, or normalised key, was seen before (see dedup). */
  duplicates: { exact: number; normalized: number };
}

export interface InspectOptions {
  countTokens?: (text: string) => number;
  read?: Omit<ReadOptions, 'onBadRecord'>;
  /** Records without a dataset field are counted under the file's name (default) or this name. */
  defaultDataset?: string;
}

interface DsAcc {
  type: Family;
  records: number;
  labels: Map<string, number>;
  scoreMin: number;
  scoreMax: number;
  scoreSum: number;
  scoreCounts: Map<number, number> | null;
  negMin: number;
  negMax: number;
  negSum: number;
  negNone: number;
}

export async function inspectFiles(paths: readonly string[], opts: InspectOptions = {}): Promise<InspectReport> {
  const report: InspectReport = {
    files: [...paths],
    records: 0,
    invalid: 0,
    invalidExamples: [],
    byType: { retrieval: 0, pair: 0, cls: 0 },
    datasets: [],
    chars: {},
    duplicates: { exact: 0, normalized: 0 },
  };
  const chars = new Map<string, LengthHistogram>();
  const tokens = new Map<string, LengthHistogram>();
  const ds = new Map<string, DsAcc>();
  const exact = new HashSet64();
  const norm = new HashSet64();
  const addLen = (field: string, text: string) => {
    let h = chars.get(field);
    if (!h) chars.set(field, (h = new LengthHistogram()));
    h.add([...text].length);
    if (opts.countTokens) {
      let t = tokens.get(field);
      if (!t) tokens.set(field, (t = new LengthHistogram()));
      t.add(opts.countTokens(text));
    }
  };
  const bad = (e: DataError) => {
    report.invalid++;
    if (report.invalidExamples.length < 10) report.invalidExamples.push(e.message);
  };

  for (const path of paths) {
    const fallback = opts.defaultDataset ?? path.replace(/^.*[\\/]/, '').replace(/\.(jsonl|ndjson|json|csv|tsv|parquet)(\.gz)?$/i, '');
    for await (const src of readRecords(path, { ...opts.read, onBadRecord: bad })) {
      let r;
      try {
        r = validateRecord(src.record, src.file, src.line);
      } catch (e) {
        if (!(e instanceof DataError)) throw e;
        bad(e);
        continue;
      }
      report.records++;
      report.byType[r.type]++;
      const name = r.dataset ?? fallback;
      let a = ds.get(`${name}\u0000${r.type}`);
      if (!a) {
        a = { type: r.type, records: 0, labels: new Map(), scoreMin: Infinity, scoreMax: -Infinity, scoreSum: 0, scoreCounts: new Map(), negMin: Infinity, negMax: 0, negSum: 0, negNone: 0 };
        ds.set(`${name}\u0000${r.type}`, a);
      }
      a.records++;
      const [eh, el] = hash64(exactKey(r));
      if (!exact.add(eh, el)) report.duplicates.exact++;
      const [nh, nl] = hash64(normalizedKey(r));
      if (!norm.add(nh, nl)) report.duplicates.normalized++;
      switch (r.type) {
        case 'retrieval':
          addLen('query', r.query);
          for (const p of r.pos) addLen('pos', p);
          for (const n of r.neg) addLen('neg', n);
          a.negMin = Math.min(a.negMin, r.neg.length);
          a.negMax = Math.max(a.negMax, r.neg.length);
          a.negSum += r.neg.length;
          if (r.neg.length === 0) a.negNone++;
          break;
        case 'pair':
          addLen('text1', r.text1);
          addLen('text2', r.text2);
          a.scoreMin = Math.min(a.scoreMin, r.score);
          a.scoreMax = Math.max(a.scoreMax, r.score);
          a.scoreSum += r.score;
          if (a.scoreCounts) {
            a.scoreCounts.set(r.score, (a.scoreCounts.get(r.score) ?? 0) + 1);
            if (a.scoreCounts.size > 20) a.scoreCounts = null;
          }
          break;
        case 'cls':
          addLen('text', r.text);
          a.labels.set(r.label, (a.labels.get(r.label) ?? 0) + 1);
          break;
      }
    }
  }
  for (const [key, a] of ds) {
    const s: DatasetSummary = { name: key.split('\u0000')[0]!, type: a.type, records: a.records };
    if (a.type === 'cls') s.labels = Object.fromEntries([...a.labels].sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0])));
    if (a.type === 'pair') {
      s.scores = {
        min: a.scoreMin,
        max: a.scoreMax,
        mean: a.scoreSum / a.records,
        counts: a.scoreCounts ? Object.fromEntries([...a.scoreCounts].sort((x, y) => x[0] - y[0]).map(([k, v]) => [String(k), v])) : null,
      };
    }
    if (a.type === 'retrieval') s.negatives = { min: a.negMin, max: a.negMax, mean: a.negSum / a.records, withNone: a.negNone };
    report.datasets.push(s);
  }
  report.datasets.sort((x, y) => y.records - x.records || x.name.localeCompare(y.name));
  for (const [f, h] of chars) report.chars[f] = h.stats();
  if (opts.countTokens) {
    report.tokens = {};
    for (const [f, h] of tokens) report.tokens[f] = h.stats();
  }
  return report;
}

const num = (n: number) => n.toLocaleString('en-US');
const fix = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

/** A plain-text rendering of a report for the terminal. */
export function formatInspectReport(r: InspectReport): string {
  const out: string[] = [];
  out.push(`files: ${r.files.join(', ')}`);
  out.push(`records: ${num(r.records)} (retrieval ${num(r.byType.retrieval)}, pair ${num(r.byType.pair)}, cls ${num(r.byType.cls)}); invalid lines: ${num(r.invalid)}`);
  for (const e of r.invalidExamples) out.push(`  ${e}`);
  out.push(`duplicates: ${num(r.duplicates.exact)} exact, ${num(r.duplicates.normalized)} after normalisation (NFKC, case, punctuation, whitespace)`);
  out.push('', 'datasets:');
  for (const d of r.datasets) {
    let extra = '';
    if (d.labels) extra = `${Object.keys(d.labels).length} labels`;
    if (d.scores) extra = `scores ${fix(d.scores.min)}–${fix(d.scores.max)}, mean ${fix(d.scores.mean)}`;
    if (d.negatives) extra = `negatives/query ${d.negatives.min}–${d.negatives.max}, mean ${fix(d.negatives.mean)}, ${num(d.negatives.withNone)} with none`;
    out.push(`  ${d.name.padEnd(28)} ${d.type.padEnd(9)} ${num(d.records).padStart(12)}  ${extra}`);
    if (d.scores?.counts) out.push(`    score counts: ${Object.entries(d.scores.counts).map(([k, v]) => `${k}: ${num(v)}`).join(', ')}`);
    if (d.labels) {
      const entries = Object.entries(d.labels);
      const shown = entries.slice(0, 10).map(([k, v]) => `${k}: ${num(v)}`).join(', ');
      out.push(`    labels: ${shown}${entries.length > 10 ? `, … (${entries.length - 10} more; smallest ${entries[entries.length - 1]![0]}: ${entries[entries.length - 1]![1]})` : ''}`);
    }
  }
  const table = (title: string, stats: Record<string, LengthStats>) => {
    out.push('', `${title}:`);
    out.push(`  ${'field'.padEnd(8)} ${'count'.padStart(10)} ${'min'.padStart(7)} ${'p50'.padStart(7)} ${'p90'.padStart(7)} ${'p99'.padStart(7)} ${'max'.padStart(8)} ${'mean'.padStart(9)}`);
    for (const [f, s] of Object.entries(stats)) {
      out.push(`  ${f.padEnd(8)} ${num(s.count).padStart(10)} ${String(s.min).padStart(7)} ${String(s.p50).padStart(7)} ${String(s.p90).padStart(7)} ${String(s.p99).padStart(7)} ${String(s.max).padStart(8)} ${fix(s.mean).padStart(9)}`);
    }
    for (const [f, s] of Object.entries(stats)) {
      const peak = Math.max(1, ...s.buckets.map((b) => b.count));
      out.push(`  ${f} histogram:`);
      for (const b of s.buckets) {
        const range = `${b.from}–${b.to === Infinity ? '∞' : b.to}`;
        out.push(`    ${range.padStart(13)} ${num(b.count).padStart(10)} ${'█'.repeat(Math.round((30 * b.count) / peak))}`);
      }
    }
  };
  table('lengths in characters', r.chars);
  if (r.tokens) table('lengths in tokens', r.tokens);
  return out.join('\n');
}
