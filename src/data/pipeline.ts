// The streaming transform job behind `qzhou data transform`: read → transform → length filter →
// contamination filter → dedup → JSONL, in bounded memory (beyond the dedup hash sets, 16 bytes a
// kept record). Bad records fail the job or are skipped and counted by reason. Output appears only
// when complete (written as <output>.partial, then renamed). Checkpoints every so often make the job
// resumable: a rerun with the same inputs and options continues where the last one stopped.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DataError, type Reason } from './errors.js';
import { readRecords, type ReadOptions, type ReadWarning } from './readers.js';
import { createTransform, type TransformConfig } from './transforms.js';
import { recordTexts, type CanonicalRecord, type Family } from './records.js';
import { Deduplicator, type DedupOptions } from './dedup.js';
import { applyLengthFilter, type LengthFilterOptions } from './length-filter.js';
import type { ContaminationIndex } from './contamination.js';
import { JsonlBlockWriter } from './jsonl-writer.js';
import { writeFileAtomic } from '../util/atomic-file.js';

export type OnError = 'skip' | 'fail';

export interface TransformProgress {
  file: string;
  read: number;
  written: number;
  skipped: number;
  seconds: number;
}

export interface TransformJob {
  /** Input files, read in order. */
  inputs: string[];
  /** Output JSONL (.jsonl, or .jsonl.gz for gzip). */
  output: string;
  transform: TransformConfig;
  /** How to read the inputs (format, delimiter, header, quote, encoding, invalidText, field). */
  read?: Omit<ReadOptions, 'onBadRecord' | 'onWarning' | 'signal'>;
  /** 'fail' (default): the first bad record stops the job; 'skip': skip it and count it. */
  onError?: OnError;
  dedup?: DedupOptions;
  length?: LengthFilterOptions;
  contamination?: ContaminationIndex;
  /** Checkpoint every this many source records or seconds, whichever comes first (default 200,000 / 30 s); false = never. */
  checkpoint?: false | { records?: number; seconds?: number };
  /** Continue from a checkpoint of the same job when one exists (default true). */
  resume?: boolean;
  /** Extra identity for the resume fingerprint (e.g. the tokenizer used by the length filter). */
  fingerprint?: unknown;
  /** Error messages kept per reason in the report (default 3). */
  examplesPerReason?: number;
  onProgress?: (p: TransformProgress) => void;
  /** Abort: the job stops at the next record, keeping its checkpoint for a later resume. */
  signal?: AbortSignal;
}

export interface TransformReport {
  inputs: string[];
  output: string;
  /** Source records read (bad ones included). */
  read: number;
  /** Canonical records written. */
  written: number;
  /** Written records per family. */
  byType: Record<Family, number>;
  /**
   * Dropped, by reason. Reading and transformation problems count source records; filters
   * (length, contamination, dedup) count canonical records (an STS line makes two).
   */
  skipped: Partial<Record<Reason, number>>;
  /** Recoverable oddities (invalid bytes replaced, ragged CSV rows). */
  warnings: Partial<Record<ReadWarning['kind'], number>>;
  /** Positives/negatives removed from kept records by the length filter. */
  textsRemoved: number;
  /** A few `file:line: field: problem` messages per reason. */
  examples: string[];
  /** Source records skipped over because a checkpoint had done them already. */
  resumedAt: number;
  seconds: number;
}

interface Checkpoint {
  version: 1;
  fingerprint: string;
  seq: number;
  input: number;
  /** Source items (records and bad records) of `inputs[input]` already handled. */
  consumed: number;
  bytes: number;
  report: Omit<TransformReport, 'seconds' | 'resumedAt' | 'examples'> & { examples: string[] };
}

function partialPaths(output: string) {
  return { data: `${output}.partial`, state: `${output}.partial.json`, dedup: (seq: number) => `${output}.partial.dedup.${seq}` };
}

async function fingerprintOf(job: TransformJob): Promise<string> {
  const files = [];
  for (const p of job.inputs) {
    const s = await stat(p);
    files.push([p, s.size, s.mtimeMs]);
  }
  const l = job.length;
  const ident = {
    files,
    output: job.output,
    transform: job.transform,
    read: job.read ?? {},
    onError: job.onError ?? 'fail',
    dedup: job.dedup ?? null,
    length: l ? { min: l.min, max: l.max, maxQuery: l.maxQuery, maxDoc: l.maxDoc } : null,
    contamination: job.contamination ? { ngram: job.contamination.ngram, texts: job.contamination.texts, ngrams: job.contamination.ngrams } : null,
    extra: job.fingerprint ?? null,
  };
  return createHash('sha256').update(JSON.stringify(ident)).digest('hex');
}

async function removeStale(output: string, keepSeq: number | null): Promise<void> {
  const dir = dirname(output);
  const prefix = `${basename(output)}.partial.dedup.`;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (n.startsWith(prefix) && n !== `${prefix}${keepSeq}`) await rm(join(dir, n), { force: true });
  }
}

/** Runs a transform job; resolves with its report once the output is complete and in place. */
export async function transformFiles(job: TransformJob): Promise<TransformReport> {
  const started = Date.now();
  const onError = job.onError ?? 'fail';
  const perReason = job.examplesPerReason ?? 3;
  const transform = createTransform(job.transform);
  if (job.inputs.some((p) => resolve(p) === resolve(job.output))) throw new Error(`${job.output}: the output would overwrite an input`);
  await mkdir(dirname(resolve(job.output)), { recursive: true });
  const paths = partialPaths(job.output);
  const gzip = /\.gz$/i.test(job.output);
  const cpEvery = job.checkpoint === false ? null : { records: job.checkpoint?.records ?? 200_000, ms: (job.checkpoint?.seconds ?? 30) * 1000 };
  const fingerprint = await fingerprintOf(job);

  const report: TransformReport = {
    inputs: job.inputs,
    output: job.output,
    read: 0,
    written: 0,
    byType: { retrieval: 0, pair: 0, cls: 0 },
    skipped: {},
    warnings: {},
    textsRemoved: 0,
    examples: [],
    resumedAt: 0,
    seconds: 0,
  };
  const exampleCount = new Map<string, number>();

  // Resume from a checkpoint of the same job, if any.
  let dedup = job.dedup ? new Deduplicator(job.dedup) : null;
  let startInput = 0;
  let skipItems = 0;
  let startBytes = 0;
  let seq = 0;
  let resumed = false;
  if (cpEvery && (job.resume ?? true)) {
    let cp: Checkpoint | null = null;
    try {
      cp = JSON.parse(await readFile(paths.state, 'utf8')) as Checkpoint;
    } catch {
      cp = null;
    }
    if (cp && cp.version === 1 && cp.fingerprint === fingerprint) {
      const dataSize = (await stat(paths.data).catch(() => null))?.size ?? -1;
      if (dataSize >= cp.bytes) {
        if (dedup) dedup = Deduplicator.deserialize(job.dedup!, await readFile(paths.dedup(cp.seq)));
        Object.assign(report, cp.report, { inputs: job.inputs, output: job.output });
        for (const [reason, n] of Object.entries(report.skipped)) exampleCount.set(reason, Math.min(perReason, n ?? 0));
        startInput = cp.input;
        skipItems = cp.consumed;
        startBytes = cp.bytes;
        seq = cp.seq;
        resumed = true;
        report.resumedAt = report.read;
      }
    }
  }
  if (!resumed) {
    await rm(paths.state, { force: true });
    await removeStale(job.output, null);
  }

  const writer = await JsonlBlockWriter.open(paths.data, { gzip, start: startBytes });
  let ok = false;
  let keepPartial = false;
  try {
    let lastCp = Date.now();
    let sinceCp = 0;
    let lastProgress = Date.now();
    const saveCheckpoint = async (input: number, consumed: number) => {
      await writer.sync();
      seq++;
      if (dedup) await writeFileAtomic(paths.dedup(seq), dedup.serialize());
      const cp: Checkpoint = { version: 1, fingerprint, seq, input, consumed, bytes: writer.bytes, report: { ...report } };
      await writeFileAtomic(paths.state, JSON.stringify(cp));
      await removeStale(job.output, dedup ? seq : null);
      lastCp = Date.now();
      sinceCp = 0;
    };
    for (let fi = startInput; fi < job.inputs.length; fi++) {
      const file = job.inputs[fi]!;
      let items = 0;
      const skipUntil = fi === startInput ? skipItems : 0;

      const note = (e: DataError) => {
        report.skipped[e.reason] = (report.skipped[e.reason] ?? 0) + 1;
        const key = e.reason;
        const n = exampleCount.get(key) ?? 0;
        if (n < perReason) {
          exampleCount.set(key, n + 1);
          report.examples.push(e.message);
        }
      };
      const bad = (e: DataError) => {
        if (onError === 'fail') throw e;
        note(e);
      };
      const source = readRecords(file, {
        ...job.read,
        signal: job.signal,
        onBadRecord: (e) => {
          items++;
          if (items <= skipUntil) return;
          report.read++;
          sinceCp++;
          bad(e);
        },
        onWarning: (w) => {
          if (items < skipUntil) return;
          report.warnings[w.kind] = (report.warnings[w.kind] ?? 0) + 1;
        },
      });
      for await (const src of source) {
        items++;
        if (items <= skipUntil) continue;
        job.signal?.throwIfAborted();
        report.read++;
        sinceCp++;
        let records: CanonicalRecord[];
        try {
          records = transform(src);
        } catch (e) {
          if (!(e instanceof DataError)) throw e;
          bad(e);
          records = [];
        }
        for (let r of records) {
          if (job.length) {
            const v = applyLengthFilter(r, job.length);
            if (!v.record) {
              note(new DataError(src.file, src.line, v.field, `${v.tokens} tokens (${v.reason === 'too-long' ? 'over the limit' : 'under the minimum'})`, v.reason!));
              continue;
            }
            report.textsRemoved += v.removed;
            r = v.record;
          }
          if (job.contamination) {
            let hit: Reason | null = null;
            for (const t of recordTexts(r)) if ((hit = job.contamination.check(t))) break;
            if (hit) {
              note(new DataError(src.file, src.line, undefined, hit === 'contaminated-exact' ? 'text found in an evaluation set' : 'shares an n-gram with an evaluation set', hit));
              continue;
            }
          }
          if (dedup) {
            const dup = dedup.check(r);
            if (dup) {
              note(new DataError(src.file, src.line, undefined, dup === 'duplicate' ? 'duplicate record' : 'near-duplicate record (same normalised texts)', dup));
              continue;
            }
          }
          writer.push(JSON.stringify(r));
          report.written++;
          report.byType[r.type]++;
        }
        if (writer.full) await writer.flush();
        if (cpEvery && (sinceCp >= cpEvery.records || ((sinceCp & 1023) === 0 && Date.now() - lastCp >= cpEvery.ms))) {
          await saveCheckpoint(fi, items);
        }
        if (job.onProgress && Date.now() - lastProgress >= 1000) {
          lastProgress = Date.now();
          job.onProgress({ file, read: report.read, written: report.written, skipped: sumValues(report.skipped), seconds: (Date.now() - started) / 1000 });
        }
      }
      // Each finished file is a clean checkpoint boundary.
      if (cpEvery && fi + 1 < job.inputs.length) await saveCheckpoint(fi + 1, 0);
    }
    await writer.close();
    await rename(paths.data, job.output);
    ok = true;
  } catch (e) {
    // A data error in fail mode would recur on a rerun: nothing worth resuming. Anything else
    // (abort, I/O) keeps the last checkpoint.
    keepPartial = !!cpEvery && !(e instanceof DataError);
    await writer.abandon();
    throw e;
  } finally {
    if (ok || !keepPartial) {
      if (!ok) await rm(paths.data, { force: true });
      await rm(paths.state, { force: true });
      await removeStale(job.output, null);
    }
  }
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

export function sumValues(o: Partial<Record<string, number>>): number {
  let s = 0;
  for (const v of Object.values(o)) s += v ?? 0;
  return s;
}
