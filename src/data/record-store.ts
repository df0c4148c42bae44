// Canonical records served by (dataset, index) for the grouped sampler. Opening scans the JSONL
// files once and keeps only a byte-offset index (plus label ids for cls), so memory does not grow
// with text size; batches read their lines back with positioned reads. Gzipped files are held in
// memory instead (no random access). Batches are materialised per family:
// - retrieval: the query, one positive (drawn among `pos`), up to `hardNegatives` negatives;
// - pair: the pair and its score;
// - cls: the text as query, a random other text of the same label as positive, `clsNegatives`
//   texts of other labels as negatives, with the labels (for the same-class mask).
// All draws are seeded by (seed, dataset, step), so a resumed run rebuilds identical batches.
import { closeSync, createReadStream, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readTextLines } from './text-lines.js';
import { DataError } from './errors.js';
import { validateRecord, type CanonicalRecord, type Family, type PairRecord, type RetrievalRecord } from './records.js';
import { Rng, deriveSeed } from './rng.js';
import type { SampledBatch, SamplerDataset } from './sampler.js';

export interface RecordStoreOptions {
  /** Seed for positive/negative draws (default 0). */
  seed?: number | string;
  /** Retrieval: at most this many hard negatives per query, drawn from `neg` (default 4; Infinity = all). */
  hardNegatives?: number;
  /** Classification: negatives (texts of other labels) per anchor (default 7). */
  clsNegatives?: number;
  /** 'fail' (default): a bad line stops opening; 'skip': it is left out and counted. */
  onError?: 'skip' | 'fail';
}

export interface RetrievalExample {
  query: string;
  pos: string;
  negs: string[];
  instruction?: string;
}
export interface PairExample {
  text1: string;
  text2: string;
  score: number;
  instruction?: string;
}
export interface ClsExample {
  query: string;
  pos: string;
  negs: string[];
  label: string;
  /** The label of each negative (always different from `label`). */
  negLabels: string[];
  instruction?: string;
}

export type Batch =
  | { family: 'retrieval'; dataset: string; step: number; examples: RetrievalExample[] }
  | { family: 'pair'; dataset: string; step: number; examples: PairExample[] }
  | { family: 'cls'; dataset: string; step: number; examples: ClsExample[] };

export interface StoreReport {
  files: string[];
  lines: number;
  records: number;
  skipped: number;
  /** cls records left out because no other record has their label (no positive can be drawn). */
  singletonLabels: number;
  examples: string[];
}

interface DatasetIndex {
  name: string;
  family: Family;
  file: Uint32Array;
  offset: Float64Array;
  length: Uint32Array;
  /** cls only. */
  label?: Int32Array;
  labels?: string[];
  byLabel?: Uint32Array[];
  posInLabel?: Uint32Array;
}

/** The records of one dataset while the files are scanned. */
interface Group {
  family: Family;
  g: Growable;
  firstFile: string;
  firstLine: number;
}

class Growable {
  file: number[] = [];
  offset: number[] = [];
  length: number[] = [];
  label: string[] = [];
}

/** Lists canonical JSONL files: the paths given, with folders expanded to their *.jsonl(.gz) files. */
export function listRecordFiles(paths: string | readonly string[]): string[] {
  const out: string[] = [];
  for (const p of typeof paths === 'string' ? [paths] : paths) {
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) throw new Error(`${p}: no such file or folder`);
    if (st.isDirectory()) {
      const files = readdirSync(p)
        .filter((n) => /\.(jsonl|ndjson)(\.gz)?$/i.test(n))
        .sort()
        .map((n) => join(p, n));
      if (!files.length) throw new Error(`${p}: no .jsonl files in this folder`);
      out.push(...files);
    } else out.push(p);
  }
  return out;
}

export class RecordStore {
  private readonly index = new Map<string, DatasetIndex>();
  private readonly fds: (number | null)[] = [];
  private readonly memory: (string[] | null)[] = [];
  private readonly hardNegatives: number;
  private readonly clsNegatives: number;
  private readonly seed: number | string;
  private scratch = Buffer.alloc(1 << 16);
  report: StoreReport;

  private constructor(opts: RecordStoreOptions, files: string[]) {
    this.seed = opts.seed ?? 0;
    this.hardNegatives = opts.hardNegatives ?? 4;
    this.clsNegatives = opts.clsNegatives ?? 7;
    if (!(this.hardNegatives >= 0)) throw new Error(`hardNegatives must be ≥ 0, got ${opts.hardNegatives}`);
    if (!(Number.isInteger(this.clsNegatives) && this.clsNegatives >= 0)) throw new Error(`clsNegatives must be a whole number ≥ 0, got ${opts.clsNegatives}`);
    this.report = { files, lines: 0, records: 0, skipped: 0, singletonLabels: 0, examples: [] };
  }

  /** Scans canonical JSONL files (or folders of them) and indexes their records by dataset. */
  static async open(paths: string | readonly string[], opts: RecordStoreOptions = {}): Promise<RecordStore> {
    const files = listRecordFiles(paths);
    const store = new RecordStore(opts, files);
    try {
      const groups = await store.scan(files, opts.onError ?? 'fail');
      for (const [name, { family, g }] of groups) store.index.set(name, store.buildIndex(name, family, g));
    } catch (e) {
      store.close(); // the files scanned before the failure are open
      throw e;
    }
    return store;
  }

  /** Reads every line once, groups the valid records by dataset and opens the files for positioned reads. */
  private async scan(files: readonly string[], onError: 'skip' | 'fail'): Promise<Map<string, Group>> {
    const groups = new Map<string, Group>();
    for (let fi = 0; fi < files.length; fi++) {
      const file = files[fi]!;
      const fallback = basename(file).replace(/\.(jsonl|ndjson)(\.gz)?$/i, '');
      const add = (text: string, line: number, offset: number, length: number) => {
        this.report.lines++;
        if (text.trim() === '') return;
        let rec: CanonicalRecord;
        try {
          let raw: unknown;
          try {
            raw = JSON.parse(text);
          } catch (e) {
            throw new DataError(file, line, undefined, `invalid JSON (${(e as Error).message})`, 'bad-json');
          }
          if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new DataError(file, line, undefined, 'expected a JSON object', 'not-an-object');
          rec = validateRecord(raw as Record<string, unknown>, file, line);
        } catch (e) {
          if (onError === 'fail' || !(e instanceof DataError)) throw e;
          this.report.skipped++;
          if (this.report.examples.length < 10) this.report.examples.push(e.message);
          return;
        }
        const name = rec.dataset ?? fallback;
        let grp = groups.get(name);
        if (!grp) groups.set(name, (grp = { family: rec.type, g: new Growable(), firstFile: file, firstLine: line }));
        else if (grp.family !== rec.type) {
          throw new DataError(file, line, 'type', `dataset "${name}" mixes ${grp.family} (${grp.firstFile}:${grp.firstLine}) and ${rec.type} records; give them different dataset names`, 'wrong-type');
        }
        grp.g.file.push(fi);
        grp.g.offset.push(offset);
        grp.g.length.push(length);
        if (rec.type === 'cls') grp.g.label.push(rec.label);
        this.report.records++;
      };
      if (/\.gz$/i.test(file)) {
        const lines: string[] = [];
        for await (const batch of readTextLines(file)) {
          for (let i = 0; i < batch.lines.length; i++) {
            add(batch.lines[i]!, batch.start + i, lines.length, 0);
            lines.push(batch.lines[i]!);
          }
        }
        this.memory[fi] = lines;
        this.fds[fi] = null;
      } else {
        await scanLines(file, add);
        this.memory[fi] = null;
        this.fds[fi] = openSync(file, 'r');
      }
    }
    return groups;
  }

  private buildIndex(name: string, family: Family, g: Growable): DatasetIndex {
    let keep: number[] | null = null;
    if (family === 'cls') {
      const count = new Map<string, number>();
      for (const l of g.label) count.set(l, (count.get(l) ?? 0) + 1);
      keep = [];
      for (let i = 0; i < g.label.length; i++) if (count.get(g.label[i]!)! >= 2) keep.push(i);
      this.report.singletonLabels += g.label.length - keep.length;
    }
    const idx = keep ?? null;
    const n = idx ? idx.length : g.offset.length;
    const pick = (arr: number[], T: Uint32ArrayConstructor | Float64ArrayConstructor) => {
      const out = new T(n);
      for (let i = 0; i < n; i++) out[i] = arr[idx ? idx[i]! : i]!;
      return out;
    };
    const ds: DatasetIndex = {
      name,
      family,
      file: pick(g.file, Uint32Array) as Uint32Array,
      offset: pick(g.offset, Float64Array) as Float64Array,
      length: pick(g.length, Uint32Array) as Uint32Array,
    };
    if (family === 'cls') {
      const labels: string[] = [];
      const ids = new Map<string, number>();
      ds.label = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const l = g.label[idx![i]!]!;
        let id = ids.get(l);
        if (id === undefined) {
          ids.set(l, (id = labels.length));
          labels.push(l);
        }
        ds.label[i] = id;
      }
      if (n > 0 && labels.length < 2 && this.clsNegatives > 0) {
        throw new Error(`cls dataset "${name}" has only one label with two or more examples ("${labels[0]}"); other-label negatives cannot be drawn`);
      }
      const members: number[][] = labels.map(() => []);
      ds.posInLabel = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        const m = members[ds.label[i]!]!;
        ds.posInLabel[i] = m.length;
        m.push(i);
      }
      ds.labels = labels;
      ds.byLabel = members.map((m) => Uint32Array.from(m));
    }
    return ds;
  }

  /** The datasets, for GroupedBatchSampler (sizes after cls singleton removal; empty ones left out). */
  datasets(): SamplerDataset[] {
    return [...this.index.values()].filter((d) => d.offset.length > 0).map((d) => ({ name: d.name, family: d.family, size: d.offset.length }));
  }

  /** Labels of a cls dataset, in first-seen order. */
  labels(dataset: string): string[] {
    return [...(this.dataset(dataset).labels ?? [])];
  }

  /** Record `index` of a dataset. */
  get(dataset: string, index: number): CanonicalRecord {
    const ds = this.dataset(dataset);
    if (!(index >= 0 && index < ds.offset.length)) throw new RangeError(`dataset "${dataset}" has ${ds.offset.length} records; no index ${index}`);
    return JSON.parse(this.readLine(ds, index)) as CanonicalRecord;
  }

  /** Materialises a sampled batch into training examples. */
  batch(sample: SampledBatch): Batch {
    const ds = this.dataset(sample.dataset);
    const rng = new Rng(deriveSeed(this.seed, 'batch', sample.dataset, sample.step));
    const cache = new Map<number, CanonicalRecord>();
    const rec = (i: number) => {
      let r = cache.get(i);
      if (!r) cache.set(i, (r = this.get(sample.dataset, i)));
      return r;
    };
    const { dataset, step } = sample;
    switch (ds.family) {
      case 'retrieval':
        return {
          family: 'retrieval',
          dataset,
          step,
          examples: sample.indices.map((i) => {
            const r = rec(i) as RetrievalRecord;
            const pos = r.pos[rng.int(r.pos.length)]!;
            const k = Math.min(this.hardNegatives, r.neg.length);
            const negs = k === r.neg.length ? rng.shuffle(r.neg.slice()) : sampleDistinct(rng, r.neg.length, k).map((j) => r.neg[j]!);
            return withInstruction({ query: r.query, pos, negs }, r.instruction);
          }),
        };
      case 'pair':
        return {
          family: 'pair',
          dataset,
          step,
          examples: sample.indices.map((i) => {
            const r = rec(i) as PairRecord;
            return withInstruction({ text1: r.text1, text2: r.text2, score: r.score }, r.instruction);
          }),
        };
      case 'cls': {
        const labels = ds.labels!;
        const n = ds.offset.length;
        return {
          family: 'cls',
          dataset,
          step,
          examples: sample.indices.map((i) => {
            const lab = ds.label![i]!;
            const members = ds.byLabel![lab]!;
            const k = rng.int(members.length - 1);
            const posIdx = members[k >= ds.posInLabel![i]! ? k + 1 : k]!;
            const others = n - members.length;
            const want = Math.min(this.clsNegatives, others);
            const chosen = new Set<number>();
            let tries = 0;
            while (chosen.size < want && tries < want * 64) {
              tries++;
              const j = rng.int(n);
              if (ds.label![j] !== lab) chosen.add(j);
            }
            if (chosen.size < want) {
              // Rare (the label holds most of the data): draw from the explicit list of others.
              const pool: number[] = [];
              for (let j = 0; j < n; j++) if (ds.label![j] !== lab && !chosen.has(j)) pool.push(j);
              for (const j of sampleDistinct(rng, pool.length, want - chosen.size)) chosen.add(pool[j]!);
            }
            const negIdx = [...chosen];
            const r = rec(i);
            return withInstruction(
              {
                query: (r as { text: string }).text,
                pos: (rec(posIdx) as { text: string }).text,
                negs: negIdx.map((j) => (rec(j) as { text: string }).text),
                label: labels[lab]!,
                negLabels: negIdx.map((j) => labels[ds.label![j]!]!),
              },
              r.instruction,
            );
          }),
        };
      }
    }
  }

  /** Closes the files. */
  close(): void {
    for (let i = 0; i < this.fds.length; i++) {
      const fd = this.fds[i];
      if (fd !== null && fd !== undefined) closeSync(fd);
      this.fds[i] = null;
    }
  }

  private dataset(name: string): DatasetIndex {
    const ds = this.index.get(name);
    if (!ds) throw new Error(`no dataset "${name}" (have: ${[...this.index.keys()].join(', ')})`);
    return ds;
  }

  private readLine(ds: DatasetIndex, i: number): string {
    const f = ds.file[i]!;
    const mem = this.memory[f];
    if (mem) return mem[ds.offset[i]!]!;
    const len = ds.length[i]!;
    if (this.scratch.length < len) this.scratch = Buffer.alloc(Math.max(len, this.scratch.length * 2));
    const fd = this.fds[f];
    if (fd === null || fd === undefined) throw new Error('RecordStore is closed');
    let done = 0;
    while (done < len) {
      const n = readSync(fd, this.scratch, done, len - done, ds.offset[i]! + done);
      if (n === 0) throw new Error(`${this.report.files[f]}: file shrank since it was indexed`);
      done += n;
    }
    return this.scratch.toString('utf8', 0, len);
  }
}

function withInstruction<T extends object>(e: T, instruction: string | undefined): T & { instruction?: string } {
  return instruction === undefined ? e : { ...e, instruction };
}

/** k distinct integers from [0, n), in draw order. */
function sampleDistinct(rng: Rng, n: number, k: number): number[] {
  if (k >= n) return rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const chosen = new Set<number>();
  while (chosen.size < k) chosen.add(rng.int(n));
  return [...chosen];
}

/** Calls `add(text, line, byteOffset, byteLength)` for every line of a UTF-8 file (a BOM is skipped). */
async function scanLines(file: string, add: (text: string, line: number, offset: number, length: number) => void): Promise<void> {
  let base = 0; // file offset of buf[0]
  let carry: Buffer | null = null;
  let line = 1;
  let first = true;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let buf: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    if (first && buf.length >= 3) {
      first = false;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
    }
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      let end = nl;
      if (end > start && buf[end - 1] === 13) end--;
      add(buf.toString('utf8', start, end), line++, base + start, end - start);
      start = nl + 1;
    }
    carry = start < buf.length ? buf.subarray(start) : null;
    base += start;
    if (!carry) buf = Buffer.alloc(0);
  }
  if (carry && carry.length) {
    let end = carry.length;
    if (carry[end - 1] === 13) end--;
    add(carry.toString('utf8', 0, end), line, base, end);
  }
}
