// Hard-negative mining with a retriever (QZhou recipe §4: ranks 10–30). Queries and corpus are
// embedded with an Embedder, searched exactly (src/eval/search.ts: Gemm + TopK on ONNX Runtime),
// and each query's negatives are sampled from a rank window, after dropping its positives (by text
// or id), the query itself, and candidates that score too close to the positive (likely false
// negatives: NV-Retriever's positive-aware margin, TopK-PercPos 95 % by default).
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { exactTopK } from '../eval/search.js';
import type { EmbedRequest, Embedder } from '../model/embedder.js';
import { AppendLog, readLines } from './append-log.js';
import { sha256Hex } from './canonical-json.js';
import { CorpusIndex, matchKey, readCorpus, type CorpusDoc } from './corpus.js';
import { EmbeddingFile } from './embedding-store.js';
import { acquireLock } from './file-lock.js';
import { countRows, readRows } from './record-reader.js';
import { DataError, parseRecord, type CanonicalRecord, type RetrievalRecord } from './records.js';
import { writeFileAtomicSync } from '../util/atomic-file.js';
import { assertNotAnInput } from '../util/paths.js';
import { Rng, deriveSeed } from '../data/rng.js';

export type DropReason = 'existing' | 'relative_margin' | 'absolute_margin' | 'max_score' | 'min_score';
const DROP_REASONS: readonly DropReason[] = ['existing', 'relative_margin', 'absolute_margin', 'max_score', 'min_score'];

export interface MineOptions {
  /**
   * The rank window, as FlagEmbedding's `range_for_sampling A-B` and sentence-transformers'
   * `range_min`/`range_max`: skip the best `rangeMin` candidates and take candidates up to rank
   * `rangeMax`, i.e. 1-based ranks rangeMin+1 … rangeMax (default 10 and 30: ranks 11–30). Ranks
   * count corpus documents other than the query's positives and the query text itself.
   */
  rangeMin?: number;
  rangeMax?: number;
  /** Mined negatives per record (default 4). */
  numNegatives?: number;
  /** 'random' (seeded; default) or 'top' (the best remaining candidates of the window). */
  sampling?: 'random' | 'top';
  /** Drop candidates scoring above positive × (1 − m) (default 0.05: above 95 % of the positive); null: off. */
  relativeMargin?: number | null;
  /** Drop candidates scoring above positive − m (default off). */
  absoluteMargin?: number | null;
  /** Drop candidates scoring above / below these (default off). */
  maxScore?: number | null;
  minScore?: number | null;
  /** Existing negatives: 'keep' (default; mined ones are appended and never repeat them) or 'replace'. */
  existingNegatives?: 'keep' | 'replace';
  /** Sampling seed (default 42). Record k's sample depends only on (seed, k). */
  seed?: number;
  /** A task of the instruction table (src/model/instructions.ts): the embedder applies its instruction and sides. */
  task?: string;
  /** One instruction for every query (overrides records' "instruction" fields and `task` for queries). */
  instruction?: string;
  /** Embed each query with its record's "instruction" field when it has one (default true). */
  recordInstructions?: boolean;
  /** Records embedded and searched together (default 1024). */
  queryBatch?: number;
  /** Corpus documents per embedding call (default 4096); also the on-disk checkpoint step. */
  corpusBatch?: number;
  onProgress?: (p: MineProgress) => void;
  signal?: AbortSignal;
}

export interface MineProgress {
  stage: 'corpus' | 'queries';
  done: number;
  total: number | null;
}

/** What mining attaches to each mined record (as `mining`). */
export interface MiningInfo {
  model: string;
  /** 1-based ranks (positives and the query excluded) of the mined negatives, best first. */
  ranks: number[];
  scores: number[];
  /** The lowest score among the record's positives (what the margins compare against). */
  positive_score: number;
  /** Window candidates not used, by reason (only nonzero reasons). */
  dropped?: Partial<Record<DropReason, number>>;
}

export interface MineStats {
  /** Records written. */
  records: number;
  /** Retrieval records that went through mining. */
  mined: number;
  /** Other records (pair, cls), written unchanged. */
  passthrough: number;
  /** Mined records that got fewer negatives than asked for. */
  short: number;
  negatives: number;
  dropped: Record<DropReason, number>;
  meanRank: number | null;
  meanNegativeScore: number | null;
  meanPositiveScore: number | null;
}

export function emptyMineStats(): MineStats {
  return {
    records: 0, mined: 0, passthrough: 0, short: 0, negatives: 0,
    dropped: { existing: 0, relative_margin: 0, absolute_margin: 0, max_score: 0, min_score: 0 },
    meanRank: null, meanNegativeScore: null, meanPositiveScore: null,
  };
}

type Settings = Required<Omit<MineOptions, 'task' | 'instruction' | 'onProgress' | 'signal'>> & Pick<MineOptions, 'task' | 'instruction' | 'onProgress' | 'signal'>;

function settingsOf(o: MineOptions): Settings {
  const s: Settings = {
    rangeMin: o.rangeMin ?? 10,
    rangeMax: o.rangeMax ?? 30,
    numNegatives: o.numNegatives ?? 4,
    sampling: o.sampling ?? 'random',
    relativeMargin: o.relativeMargin === undefined ? 0.05 : o.relativeMargin,
    absoluteMargin: o.absoluteMargin ?? null,
    maxScore: o.maxScore ?? null,
    minScore: o.minScore ?? null,
    existingNegatives: o.existingNegatives ?? 'keep',
    seed: o.seed ?? 42,
    recordInstructions: o.recordInstructions ?? true,
    queryBatch: o.queryBatch ?? 1024,
    corpusBatch: o.corpusBatch ?? 4096,
    task: o.task,
    instruction: o.instruction,
    onProgress: o.onProgress,
    signal: o.signal,
  };
  if (!Number.isInteger(s.rangeMin) || s.rangeMin < 0) throw new RangeError(`rangeMin must be an integer ≥ 0, got ${s.rangeMin}`);
  if (!Number.isInteger(s.rangeMax) || s.rangeMax <= s.rangeMin) throw new RangeError(`rangeMax must be an integer > rangeMin (${s.rangeMin}), got ${s.rangeMax}`);
  if (!Number.isInteger(s.numNegatives) || s.numNegatives < 1) throw new RangeError(`numNegatives must be a positive integer, got ${s.numNegatives}`);
  if (s.relativeMargin !== null && !(s.relativeMargin >= 0 && s.relativeMargin < 1)) throw new RangeError(`relativeMargin must be in [0, 1), got ${s.relativeMargin}`);
  if (!Number.isInteger(s.queryBatch) || s.queryBatch < 1) throw new RangeError(`queryBatch must be a positive integer, got ${s.queryBatch}`);
  return s;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** The request used for corpus documents (and positives outside the corpus). */
function documentRequest(s: Settings): EmbedRequest {
  return { kind: 'document', ...(s.task ? { task: s.task } : {}) };
}

/** Running sums behind MineStats' means. */
class StatsAccumulator {
  readonly stats = emptyMineStats();
  private rankSum = 0;
  private negScoreSum = 0;
  private posScoreSum = 0;

  constructor(private readonly numNegatives: number) {}

  add(record: CanonicalRecord): void {
    this.stats.records++;
    const info = (record as { mining?: MiningInfo }).mining;
    if (record.type !== 'retrieval' || !info) {
      this.stats.passthrough++;
      return;
    }
    this.stats.mined++;
    this.stats.negatives += info.ranks.length;
    if (info.ranks.length < this.numNegatives) this.stats.short++;
    for (const r of info.ranks) this.rankSum += r;
    for (const x of info.scores) this.negScoreSum += x;
    this.posScoreSum += info.positive_score;
    for (const k of DROP_REASONS) this.stats.dropped[k] += info.dropped?.[k] ?? 0;
    const n = this.stats.negatives;
    this.stats.meanRank = n ? round6(this.rankSum / n) : null;
    this.stats.meanNegativeScore = n ? round6(this.negScoreSum / n) : null;
    this.stats.meanPositiveScore = round6(this.posScoreSum / this.stats.mined);
  }
}

/** Mines negatives for batches of records against one embedded corpus. */
export class NegativeMiner {
  private readonly s: Settings;
  private readonly acc: StatsAccumulator;

  constructor(
    private readonly embedder: Embedder,
    private readonly corpus: CorpusIndex,
    private readonly vectors: readonly Float32Array[],
    options: MineOptions = {},
  ) {
    this.s = settingsOf(options);
    this.acc = new StatsAccumulator(this.s.numNegatives);
    if (vectors.length !== corpus.size) throw new Error(`${vectors.length} corpus vectors for ${corpus.size} documents`);
  }

  get stats(): MineStats {
    return this.acc.stats;
  }

  /** Counts an already written record (resume) into the statistics. */
  count(record: CanonicalRecord): void {
    this.acc.add(record);
  }

  /**
   * Mines one batch. `ordinal` is the record's position in the whole input (it seeds its sample).
   * Returns the records in the same order: retrieval records with `neg` updated and `mining` added,
   * other records unchanged.
   */
  async mine(batch: readonly { record: CanonicalRecord; ordinal: number }[]): Promise<CanonicalRecord[]> {
    const s = this.s;
    const work = batch.filter((b) => b.record.type === 'retrieval') as { record: RetrievalRecord; ordinal: number }[];
    const out = new Map<number, CanonicalRecord>();
    if (work.length > 0) {
      // Queries, grouped by the instruction they are embedded with.
      const qvec: Float32Array[] = new Array(work.length);
      const groups = new Map<string, number[]>();
      work.forEach((w, i) => {
        const instr = s.instruction ?? (s.recordInstructions && typeof w.record.instruction === 'string' && w.record.instruction !== '' ? w.record.instruction : undefined);
        const key = instr === undefined ? '' : `i:${instr}`;
        groups.set(key, [...(groups.get(key) ?? []), i]);
      });
      for (const [key, idx] of groups) {
        const request: EmbedRequest = key === '' ? { kind: 'query', ...(s.task ? { task: s.task } : {}) } : { kind: 'query', instruction: key.slice(2) };
        const vecs = await this.embedder.embed(idx.map((i) => work[i]!.record.query), request);
        idx.forEach((i, j) => (qvec[i] = vecs[j]!));
      }
      // Positives: the corpus vector when the text is in the corpus, else embedded as documents.
      const posVec = new Map<string, Float32Array>();
      const missing: string[] = [];
      const missingKeys = new Set<string>();
      for (const w of work) {
        for (const p of w.record.pos) {
          const key = matchKey(p);
          if (posVec.has(key) || missingKeys.has(key)) continue;
          const at = this.corpus.indexOfText(p);
          if (at !== undefined) posVec.set(key, this.vectors[at]!);
          else {
            missing.push(p);
            missingKeys.add(key);
          }
        }
      }
      if (missing.length > 0) {
        const vecs = await this.embedder.embed(missing, documentRequest(s));
        missing.forEach((p, j) => posVec.set(matchKey(p), vecs[j]!));
      }
      // Documents that are not candidates for a record: its positives (by text or id) and its query.
      const excluded = work.map((w) => {
        const ex = new Set<number>();
        for (const p of w.record.pos) {
          const at = this.corpus.indexOfText(p);
          if (at !== undefined) ex.add(at);
        }
        const posIds = w.record.pos_ids ?? w.record.pos_id;
        for (const id of Array.isArray(posIds) ? posIds : posIds === undefined ? [] : [posIds]) {
          const at = this.corpus.indexOfId(String(id));
          if (at !== undefined) ex.add(at);
        }
        const q = this.corpus.indexOfText(w.record.query);
        if (q !== undefined) ex.add(q);
        return ex;
      });
      const k = Math.min(this.corpus.size, s.rangeMax + Math.max(0, ...excluded.map((e) => e.size)));
      const results = k > 0 ? await exactTopK(qvec, this.vectors, k) : work.map(() => ({ indices: new Int32Array(0), scores: new Float32Array(0) }));

      work.forEach((w, i) => {
        const q = qvec[i]!;
        const positiveScore = Math.min(...w.record.pos.map((p) => dot(q, posVec.get(matchKey(p))!)));
        const existing = new Set(s.existingNegatives === 'keep' ? w.record.neg.map(matchKey) : []);
        const dropped: Record<DropReason, number> = { existing: 0, relative_margin: 0, absolute_margin: 0, max_score: 0, min_score: 0 };
        const pool: { doc: number; rank: number; score: number }[] = [];
        const res = results[i]!;
        let rank = 0;
        for (let t = 0; t < res.indices.length; t++) {
          const doc = res.indices[t]!;
          if (excluded[i]!.has(doc)) continue;
          rank++;
          if (rank <= s.rangeMin) continue;
          if (rank > s.rangeMax) break;
          const score = res.scores[t]!;
          if (existing.has(matchKey(this.corpus.texts[doc]!))) dropped.existing++;
          else if (s.relativeMargin !== null && score > positiveScore * (1 - s.relativeMargin)) dropped.relative_margin++;
          else if (s.absoluteMargin !== null && score > positiveScore - s.absoluteMargin) dropped.absolute_margin++;
          else if (s.maxScore !== null && score > s.maxScore) dropped.max_score++;
          else if (s.minScore !== null && score < s.minScore) dropped.min_score++;
          else pool.push({ doc, rank, score });
        }
        const chosen = s.sampling === 'top'
          ? pool.slice(0, s.numNegatives)
          : new Rng(deriveSeed(s.seed, w.ordinal)).sample(pool.length, s.numNegatives).sort((a, b) => a - b).map((j) => pool[j]!);
        const mined = chosen.map((c) => this.corpus.texts[c.doc]!);
        const info: MiningInfo = {
          model: this.embedder.id,
          ranks: chosen.map((c) => c.rank),
          scores: chosen.map((c) => round6(c.score)),
          positive_score: round6(positiveScore),
        };
        const nonzero = Object.fromEntries(Object.entries(dropped).filter(([, v]) => v > 0));
        if (Object.keys(nonzero).length > 0) info.dropped = nonzero;
        const neg = s.existingNegatives === 'keep' ? [...w.record.neg, ...mined] : mined;
        out.set(w.ordinal, { ...w.record, neg, mining: info });
      });
    }
    const records = batch.map((b) => out.get(b.ordinal) ?? b.record);
    for (const r of records) this.acc.add(r);
    return records;
  }
}

/** Embeds corpus documents, in batches, reporting progress. */
export async function embedCorpus(embedder: Embedder, texts: readonly string[], options: MineOptions = {}): Promise<Float32Array[]> {
  const s = settingsOf(options);
  const out: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += s.corpusBatch) {
    s.signal?.throwIfAborted();
    out.push(...(await embedder.embed(texts.slice(i, i + s.corpusBatch), documentRequest(s))));
    s.onProgress?.({ stage: 'corpus', done: out.length, total: texts.length });
  }
  return out;
}

/**
 * Library entry for data in memory: mines negatives for `records` from `corpus` (or, when null,
 * from all positive and negative texts of the records). Returns the records and the statistics.
 */
export async function mineHardNegatives(
  embedder: Embedder,
  records: readonly CanonicalRecord[],
  corpus: readonly CorpusDoc[] | null,
  options: MineOptions = {},
): Promise<{ records: CanonicalRecord[]; stats: MineStats; corpusSize: number }> {
  const s = settingsOf(options);
  const index = CorpusIndex.build(corpus ?? poolOf(records));
  const vectors = await embedCorpus(embedder, index.texts, options);
  const miner = new NegativeMiner(embedder, index, vectors, options);
  const out: CanonicalRecord[] = [];
  for (let i = 0; i < records.length; i += s.queryBatch) {
    s.signal?.throwIfAborted();
    const batch = records.slice(i, i + s.queryBatch).map((record, j) => ({ record, ordinal: i + j }));
    out.push(...(await miner.mine(batch)));
    s.onProgress?.({ stage: 'queries', done: out.length, total: records.length });
  }
  return { records: out, stats: miner.stats, corpusSize: index.size };
}

function* poolOf(records: Iterable<CanonicalRecord>): Generator<CorpusDoc> {
  for (const r of records) {
    if (r.type !== 'retrieval') continue;
    for (const t of [...r.pos, ...r.neg]) yield { text: t };
  }
}

export interface MineFileOptions extends MineOptions {
  embedder: Embedder;
  /** Canonical records (JSONL/JSON/CSV/Parquet through src/data). */
  input: string;
  /** Output JSONL: one line per valid input record, in input order. */
  output: string;
  /** Corpus file; default: the positives and negatives of the input. */
  corpus?: string;
  /** Keep the corpus embeddings (`<output>.work/`) after a successful run (default: delete them). */
  keepEmbeddings?: boolean;
  /** Drop invalid input records (counted) instead of stopping at the first one. */
  skipInvalid?: boolean;
  log?: (line: string) => void;
}

export interface MineSummary {
  input: string;
  output: string;
  corpus: { path: string | null; documents: number; duplicates: number };
  model: string;
  settings: {
    range: [number, number];
    num_negatives: number;
    sampling: 'random' | 'top';
    relative_margin: number | null;
    absolute_margin: number | null;
    max_score: number | null;
    min_score: number | null;
    existing_negatives: 'keep' | 'replace';
    seed: number;
    task: string | null;
    instruction: string | null;
  };
  stats: MineStats;
  invalid_records: number;
  resumed_records: number;
  elapsed_s: number;
}

/** Mines a file into a file; resumable (a rerun continues after the last complete batch). */
export async function mineFile(opts: MineFileOptions): Promise<MineSummary> {
  const started = Date.now();
  const s = settingsOf(opts);
  for (const f of [opts.input, opts.corpus]) if (f !== undefined && !existsSync(f)) throw new Error(`${f}: file not found`);
  // An existing output is renamed to OUTPUT.partial below (to extend it): never do that to an input.
  assertNotAnInput(opts.output, [opts.input, opts.corpus]);
  const log = opts.log ?? (() => {});
  const partial = `${opts.output}.partial`;
  const workDir = `${opts.output}.work`;
  mkdirSync(dirname(opts.output), { recursive: true });
  const release = acquireLock(`${opts.output}.lock`, `the mining output ${opts.output}`);
  let out: AppendLog | undefined;
  try {
    if (existsSync(opts.output)) {
      if (existsSync(partial)) throw new Error(`both ${opts.output} and ${partial} exist; remove the one that is not wanted`);
      renameSync(opts.output, partial);
    }
    let invalid = 0;
    const onBad = opts.skipInvalid ? () => void invalid++ : undefined;
    const rows = async function* () {
      for await (const row of readRows(opts.input, onBad)) {
        try {
          yield { record: parseRecord(row.record, row) };
        } catch (e) {
          if (!(e instanceof DataError) || !opts.skipInvalid) throw e;
          invalid++;
        }
      }
    };

    // The corpus and its embeddings (kept on disk, so a restart does not embed it again).
    let docs: CorpusDoc[];
    if (opts.corpus) docs = await readCorpus(opts.corpus);
    else {
      docs = [];
      for await (const { record } of rows()) for (const d of poolOf([record])) docs.push(d);
      invalid = 0;
    }
    const index = CorpusIndex.build(docs);
    docs = [];
    if (index.duplicates > 0) log(`corpus: ${index.duplicates} duplicate document(s) merged`);
    mkdirSync(workDir, { recursive: true });
    const key = sha256Hex(`${opts.embedder.id}\u0000${JSON.stringify(documentRequest(s))}\u0000${index.texts.join('\u0000')}`);
    const store = await EmbeddingFile.open(join(workDir, 'corpus.f32'), { key, dim: opts.embedder.dim, rows: index.size });
    let vectors: Float32Array[];
    try {
      if (store.rowsDone > 0 && store.rowsDone < index.size) log(`corpus: resuming embeddings at ${store.rowsDone}/${index.size}`);
      for (let i = store.rowsDone; i < index.size; i += s.corpusBatch) {
        s.signal?.throwIfAborted();
        const vecs = await opts.embedder.embed(index.texts.slice(i, i + s.corpusBatch), documentRequest(s));
        await store.append(vecs);
        s.onProgress?.({ stage: 'corpus', done: store.rowsDone, total: index.size });
      }
      vectors = await store.readAll();
    } finally {
      await store.close();
    }

    // Records already written by an interrupted run (one line per valid input record, in order).
    const miner = new NegativeMiner(opts.embedder, index, vectors, opts);
    out = await AppendLog.open(partial, { fsyncEvery: 1 });
    let done = 0;
    for await (const { text, line } of readLines(partial)) {
      try {
        miner.count(JSON.parse(text) as CanonicalRecord);
      } catch (e) {
        throw new Error(`${partial}:${line}: invalid line (${(e as Error).message}); the file is damaged`);
      }
      done++;
    }
    const resumed = done;
    if (resumed > 0) log(`resuming after ${resumed} record(s) already in ${partial}`);
    const total = await countRows(opts.input);
    let ordinal = 0;
    let batch: { record: CanonicalRecord; ordinal: number }[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const mined = await miner.mine(batch);
      await out!.append(mined.map((r) => `${JSON.stringify(r)}\n`).join(''));
      batch = [];
      s.onProgress?.({ stage: 'queries', done: ordinal, total });
    };
    for await (const { record } of rows()) {
      const k = ordinal++;
      if (k < resumed) continue;
      s.signal?.throwIfAborted();
      batch.push({ record, ordinal: k });
      if (batch.length >= s.queryBatch) await flush();
    }
    await flush();
    await out.close();
    out = undefined;
    renameSync(partial, opts.output);
    if (!opts.keepEmbeddings) rmSync(workDir, { recursive: true, force: true });
    const summary: MineSummary = {
      input: opts.input,
      output: opts.output,
      corpus: { path: opts.corpus ?? null, documents: index.size, duplicates: index.duplicates },
      model: opts.embedder.id,
      settings: {
        range: [s.rangeMin, s.rangeMax], num_negatives: s.numNegatives, sampling: s.sampling, relative_margin: s.relativeMargin,
        absolute_margin: s.absoluteMargin, max_score: s.maxScore, min_score: s.minScore, existing_negatives: s.existingNegatives,
        seed: s.seed, task: s.task ?? null, instruction: s.instruction ?? null,
      },
      stats: miner.stats,
      invalid_records: invalid,
      resumed_records: resumed,
      elapsed_s: Math.round((Date.now() - started) / 100) / 10,
    };
    writeFileAtomicSync(`${opts.output}.summary.json`, `${JSON.stringify(summary, null, 2)}\n`);
    return summary;
  } finally {
    await out?.close().catch(() => undefined);
    release();
  }
}
