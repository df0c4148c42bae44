// `qzhou mine`: hard-negative mining with an embedding model over canonical retrieval records.
// A thin layer over src/synth/mine.ts: flags → MineFileOptions, progress and summary on stderr.
import { checkOutputPath, inputFileFlag, intFlag, numberFlag, parseFlags, requireFlag, UsageError, type Command } from '../command.js';
import type { Embedder } from '../../model/embedder.js';
import type { MineProgress, MineSummary } from '../../synth/mine.js';

const usage = `usage: qzhou mine --model DIR --input RECORDS.jsonl --output OUT.jsonl [--corpus DOCS.jsonl] [options]

Mines hard negatives for retrieval records: embeds queries and corpus, searches exactly (Gemm + TopK
on ONNX Runtime) and samples negatives from a rank window, skipping the record's positives and
candidates that score too close to the positive (likely false negatives). Other records (pair, cls)
are copied unchanged. Each mined record gets a "mining" field with ranks and scores.
Rerun the same command to resume an interrupted run.

Model:
  --model DIR|hashing[:DIM]   a Hugging Face checkpoint folder, or the built-in lexical hashing
                              retriever (bag of words, default 1024 dims)
  --device cpu|cuda|webgpu  --dtype f32|f16|int8|int4  --max-length N  --batch-tokens N  --threads N
  --cache-dir DIR       converted-weights cache of the model runtime (default $QZHOU_CACHE)
  --task NAME           instruction-table task (e.g. MMarcoRetrieval): its instruction and sides
  --instruction TEXT    one instruction for every query (overrides records' "instruction")
  --no-record-instructions   ignore the records' "instruction" fields
Input / output:
  --input FILE          canonical records (JSONL, JSON, CSV, TSV, Parquet)
  --corpus FILE         documents: records with "text" (+ "title", "id"/"_id"), or .txt (one per line);
                        default: all positives and negatives of the input
  --output FILE         JSONL, one line per input record, in input order
Sampling:
  --range A-B           skip the best A candidates, sample up to rank B (default 10-30 = ranks 11–30)
  --negatives N         mined negatives per record (default 4)
  --sampling random|top default random (seeded)
  --seed N              default 42
  --relative-margin F|none   drop candidates scoring above positive × (1 − F) (default 0.05)
  --absolute-margin F   drop candidates scoring above positive − F
  --max-score F  --min-score F
  --existing keep|replace    existing negatives (default keep; mined ones are appended)
Run:
  --batch N             records per search batch (default 1024)
  --corpus-batch N      documents per embedding checkpoint (default 4096)
  --keep-embeddings     keep OUT.jsonl.work/ (corpus embeddings) after success
  --skip-invalid        drop invalid input records instead of stopping
  --quiet               no progress lines

Example:
  qzhou mine --model hashing --input train.jsonl --corpus corpus.jsonl --output mined.jsonl`;

const flags = {
  model: { type: 'string' },
  input: { type: 'string' },
  output: { type: 'string' },
  corpus: { type: 'string' },
  device: { type: 'string' },
  dtype: { type: 'string' },
  'max-length': { type: 'string' },
  'batch-tokens': { type: 'string' },
  threads: { type: 'string' },
  'cache-dir': { type: 'string' },
  task: { type: 'string' },
  instruction: { type: 'string' },
  'no-record-instructions': { type: 'boolean' },
  range: { type: 'string' },
  negatives: { type: 'string' },
  sampling: { type: 'string' },
  seed: { type: 'string' },
  'relative-margin': { type: 'string' },
  'absolute-margin': { type: 'string' },
  'max-score': { type: 'string' },
  'min-score': { type: 'string' },
  existing: { type: 'string' },
  batch: { type: 'string' },
  'corpus-batch': { type: 'string' },
  'keep-embeddings': { type: 'boolean' },
  'skip-invalid': { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;


const optionalNumber = (name: string, value: string | undefined) => (value === undefined ? null : numberFlag(name, value, 0));

async function loadModel(spec: string, v: Record<string, unknown>): Promise<Embedder> {
  const hashing = /^hashing(?::(\d+))?$/.exec(spec);
  if (!hashing && spec.startsWith('hashing:')) throw new UsageError(`--model ${spec}: expected hashing or hashing:DIM with DIM a positive integer`);
  if (hashing) {
    if (hashing[1] !== undefined && !(Number(hashing[1]) >= 1)) throw new UsageError(`--model ${spec}: expected hashing or hashing:DIM with DIM a positive integer`);
    const { HashingEmbedder } = await import('../../synth/hashing-embedder.js');
    return new HashingEmbedder(hashing[1] ? Number(hashing[1]) : 1024);
  }
  const { loadEmbedder } = await import('../../model/index.js');
  const opt = (name: string) => (v[name] === undefined ? undefined : intFlag(name, v[name] as string, 0));
  return loadEmbedder(spec, {
    ...(v.device ? { device: v.device as 'cpu' | 'cuda' | 'webgpu' } : {}),
    ...(v.dtype ? { dtype: v.dtype as 'f32' | 'f16' | 'int8' | 'int4' } : {}),
    ...(opt('max-length') !== undefined ? { maxLength: opt('max-length') } : {}),
    ...(opt('batch-tokens') !== undefined ? { batchTokens: opt('batch-tokens') } : {}),
    ...(opt('threads') !== undefined ? { threads: opt('threads') } : {}),
    ...(v['cache-dir'] ? { cacheDir: v['cache-dir'] as string } : {}),
  });
}

function summaryText(s: MineSummary): string {
  const st = s.stats;
  const dropped = Object.entries(st.dropped).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  return [
    `mine: ${st.records} records (${st.mined} mined, ${st.passthrough} copied${s.invalid_records ? `, ${s.invalid_records} invalid dropped` : ''}) with ${s.model} over ${s.corpus.documents} documents`,
    `  ${st.negatives} negatives from ranks ${s.settings.range[0] + 1}–${s.settings.range[1]}; ${st.short} record(s) got fewer than ${s.settings.num_negatives}; dropped candidates: ${dropped}`,
    `  mean rank ${st.meanRank ?? '–'}, mean negative score ${st.meanNegativeScore ?? '–'}, mean positive score ${st.meanPositiveScore ?? '–'}; ${s.elapsed_s} s`,
    `  output: ${s.output} (summary: ${s.output}.summary.json)`,
  ].join('\n');
}

export const command: Command = {
  name: 'mine',
  summary: 'hard-negative mining with an embedding model (rank window, false-negative margin)',
  usage,
  async run(argv) {
    const { values: v } = parseFlags(argv, flags);
    const model = v.model;
    if (!model) throw new UsageError('--model is required (a checkpoint folder, or "hashing")');
    const input = requireFlag('input', v.input);
    const output = requireFlag('output', v.output);
    const corpus = v.corpus;
    let rangeMin = 10;
    let rangeMax = 30;
    if (v.range !== undefined) {
      const m = /^(\d+)-(\d+)$/.exec(v.range.trim());
      if (!m || Number(m[1]) >= Number(m[2])) throw new UsageError(`--range: expected A-B with 0 ≤ A < B, got "${v.range}"`);
      rangeMin = Number(m[1]);
      rangeMax = Number(m[2]);
    }
    const sampling = v.sampling ?? 'random';
    if (sampling !== 'random' && sampling !== 'top') throw new UsageError(`--sampling: expected random or top, got "${sampling}"`);
    const existing = v.existing ?? 'keep';
    if (existing !== 'keep' && existing !== 'replace') throw new UsageError(`--existing: expected keep or replace, got "${existing}"`);
    let relativeMargin: number | null = 0.05;
    if (v['relative-margin'] === 'none') relativeMargin = null;
    else if (v['relative-margin'] !== undefined) {
      relativeMargin = numberFlag('relative-margin', v['relative-margin'], 0.05);
      if (relativeMargin < 0 || relativeMargin >= 1) throw new UsageError(`--relative-margin: expected a number in [0, 1) or "none", got "${v['relative-margin']}"`);
    }
    const options = {
      input,
      output,
      corpus,
      rangeMin,
      rangeMax,
      numNegatives: intFlag('negatives', v.negatives, 4),
      sampling: sampling as 'random' | 'top',
      seed: intFlag('seed', v.seed, 42, 0),
      relativeMargin,
      absoluteMargin: optionalNumber('absolute-margin', v['absolute-margin']),
      maxScore: optionalNumber('max-score', v['max-score']),
      minScore: optionalNumber('min-score', v['min-score']),
      existingNegatives: existing as 'keep' | 'replace',
      task: v.task,
      instruction: v.instruction,
      recordInstructions: !v['no-record-instructions'],
      queryBatch: intFlag('batch', v.batch, 1024),
      corpusBatch: intFlag('corpus-batch', v['corpus-batch'], 4096),
      keepEmbeddings: v['keep-embeddings'] ?? false,
      skipInvalid: v['skip-invalid'] ?? false,
    };
    // Paths last, so that a bad flag value is reported first.
    inputFileFlag('input', input);
    if (corpus !== undefined) inputFileFlag('corpus', corpus);
    checkOutputPath('--output', output, { inputs: [input, corpus] });
    const embedder = await loadModel(model, v);
    const { mineFile } = await import('../../synth/mine.js');
    const tty = process.stderr.isTTY;
    let last = 0;
    const onProgress = (p: MineProgress) => {
      const now = Date.now();
      if (now - last < (tty ? 500 : 5000) && p.done !== p.total) return;
      last = now;
      const line = `mine: ${p.stage === 'corpus' ? 'embedding corpus' : 'mining'} ${p.done.toLocaleString('en-US')}${p.total !== null ? `/${p.total.toLocaleString('en-US')}` : ''}`;
      process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
    };
    try {
      const summary = await mineFile({
        ...options,
        embedder,
        onProgress: v.quiet ? undefined : onProgress,
        log: (line) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}mine: ${line}\n`),
      });
      if (tty && !v.quiet) process.stderr.write('\n');
      if (!v.quiet) process.stderr.write(`${summaryText(summary)}\n`);
      return 0;
    } finally {
      await embedder.close?.();
    }
  },
};
