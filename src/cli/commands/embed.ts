// `qzhou embed`: a thin layer over loadEmbedder(). Streams records in chunks (bounded memory), writes one JSONL
// line per input record in input order to OUTPUT.partial, resumes an interrupted run from that file, shows
// progress on stderr, and renames the result into place when done.
import { createReadStream, existsSync, mkdirSync, openSync, closeSync, writeSync, fsyncSync, renameSync, rmSync, readFileSync, writeFileSync, statSync, ftruncateSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import { createGunzip } from 'node:zlib';
import { inputFileFlag, optionalIntFlag, outputFlag, parseFlags, requireFlag, UsageError, type Command } from '../command.js';
import { loadEmbedder, POOLING_MODES, WEIGHT_DTYPES, type EmbedRequest, type PoolingMode, type WeightDtype, type AttentionMode } from '../../model/index.js';
import { readRecords, type ReadWarning, type RecordFormat } from '../../data/readers.js';
import { DEVICES, type Device } from '../../graph/index.js';
import { CMTEB_INSTRUCTIONS, MTEB_ENG_V2_INSTRUCTIONS } from '../../model/instructions.js';
import { closestKey } from '../../util/suggest.js';

const usage = `usage: qzhou embed --model DIR --input FILE --output FILE [options]

Embeds texts with a Hugging Face checkpoint (Qwen2 / Qwen3 decoders such as QZhou-Embedding, gte-Qwen2,
Qwen3-Embedding; BERT encoders such as bge, e5, MiniLM). Writes one line {"embedding": [...]} per input
record, in input order; vectors are L2-normalised float32.

  --model DIR            checkpoint folder: config.json, tokenizer.json, model.safetensors (or shards)
  --input FILE           .jsonl/.json/.csv/.tsv/.parquet (optionally .gz); one text per record
  --output FILE          JSONL output (written to FILE.partial, renamed when complete)
  --field NAME           record field holding the text (default text)
  --id-field NAME        copy this field into each output line as "id"
  --format F             input format when the extension does not tell (jsonl, json, csv, tsv, parquet)

Instructions:
  --task NAME            task name: QZhou's instruction table (decoders) or the model's prompts,
                         e.g. Banking77Classification, FiQA2018
  --instruction TEXT     explicit instruction, formatted as "Instruct: TEXT\\nQuery: " (overrides --task)
  --kind query|document  which side of the task the texts are (default query)
  --no-truncate          fail on texts longer than the max length instead of cutting them

Model:
  --pooling MODE         ${POOLING_MODES.join(' | ')} (default: the checkpoint's)
  --attention MODE       bidirectional | causal (decoders; default from config.json)
  --max-length N         max tokens per text, instruction included
  --device D             ${DEVICES.join(' | ')} (default cpu)
  --dtype T              ${WEIGHT_DTYPES.join(' | ')} (default f32; f16 on webgpu). int8/int4 quantise the
                         linear layers (converted once into the cache)
  --batch-tokens N       padded tokens per batch (default 16384)
  --batch-size N         most texts per batch (default 256)
  --threads N            CPU threads (default: all cores)
  --cache DIR            cache for converted weights and ONNX files (default $QZHOU_CACHE or ~/.cache/qzhou)

Run:
  --chunk N              texts read and embedded per step (default 4096)
  --no-resume            start over even if OUTPUT.partial exists
  --quiet                no progress on stderr

Example:
  qzhou embed --model ./QZhou-Embedding --input queries.jsonl --output vectors.jsonl \\
    --task Banking77Classification --dtype int8
`;

/** Shortest decimal that reads back as the same float32. */
export function formatFloat32(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`non-finite value ${x} in an embedding`);
  for (let p = 6; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return String(Number(s));
  }
  return String(x);
}

function embeddingLine(v: Float32Array, id: unknown): string {
  const parts = new Array<string>(v.length);
  for (let i = 0; i < v.length; i++) parts[i] = formatFloat32(v[i]!);
  const head = id === undefined ? '' : `"id":${JSON.stringify(id)},`;
  return `{${head}"embedding":[${parts.join(',')}]}\n`;
}

/** Counts newline-terminated lines; truncates a trailing partial line. */
function completeLines(path: string): number {
  const fd = openSync(path, 'r+');
  try {
    const size = statSync(path).size;
    const buf = Buffer.alloc(1 << 20);
    let lines = 0;
    let lastNewline = -1;
    for (let pos = 0; pos < size;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        if (buf[i] === 10) {
          lines++;
          lastNewline = pos + i;
        }
      }
      pos += n;
    }
    if (lastNewline + 1 !== size) ftruncateSync(fd, lastNewline + 1);
    return lines;
  } finally {
    closeSync(fd);
  }
}

/** Number of records for progress, when cheap to know (line-based formats): newline count. */
async function countLines(path: string): Promise<number | undefined> {
  if (!/\.(jsonl|ndjson)(\.gz)?$/i.test(path)) return undefined;
  let n = 0;
  let last = 10;
  const stream = path.endsWith('.gz') ? createReadStream(path).pipe(createGunzip()) : createReadStream(path);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) n++;
    if (chunk.length) last = chunk[chunk.length - 1]!;
  }
  return last === 10 ? n : n + 1; // may count blank lines; only used for the progress estimate
}

class Progress {
  private readonly start = Date.now();
  private lastPrint = 0;
  private lastDone = -1;
  constructor(private readonly total: number | undefined, private readonly quiet: boolean, private readonly offset: number) {}

  update(done: number, final = false): void {
    if (this.quiet) return;
    const now = Date.now();
    if (!final && now - this.lastPrint < (process.stderr.isTTY ? 200 : 5000)) return;
    if (final && !process.stderr.isTTY && done === this.lastDone) return;
    this.lastPrint = now;
    this.lastDone = done;
    const rate = (done - this.offset) / Math.max(0.001, (now - this.start) / 1000);
    let line = `embed: ${done.toLocaleString('en-US')}`;
    if (this.total) {
      const eta = rate > 0 ? (this.total - done) / rate : 0;
      line += `/${this.total.toLocaleString('en-US')} texts (${((100 * done) / this.total).toFixed(1)}%), ${rate.toFixed(1)} texts/s, ETA ${formatSeconds(eta)}`;
    } else line += ` texts, ${rate.toFixed(1)} texts/s`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  }
}

function formatSeconds(s: number): string {
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`--${flag}: expected ${allowed.join(' | ')}, got "${value}"`);
  return value as T;
}


export const command: Command = {
  name: 'embed',
  summary: 'embed texts with a Hugging Face checkpoint (JSONL in, JSONL vectors out)',
  usage,
  async run(argv) {
    const { values: f } = parseFlags(argv, {
      model: { type: 'string' }, input: { type: 'string' }, output: { type: 'string' }, field: { type: 'string' },
      'id-field': { type: 'string' }, format: { type: 'string' }, task: { type: 'string' }, instruction: { type: 'string' },
      kind: { type: 'string' }, 'no-truncate': { type: 'boolean' }, pooling: { type: 'string' }, attention: { type: 'string' },
      'max-length': { type: 'string' }, device: { type: 'string' }, dtype: { type: 'string' }, 'batch-tokens': { type: 'string' },
      'batch-size': { type: 'string' }, threads: { type: 'string' }, cache: { type: 'string' }, chunk: { type: 'string' },
      'no-resume': { type: 'boolean' }, quiet: { type: 'boolean' },
    });
    const model = requireFlag('model', f.model);
    const input = inputFileFlag('input', f.input);
    const output = outputFlag('output', f.output, { inputs: [input] });
    const field = f.field ?? 'text';
    const idField = f['id-field'];
    const kind = oneOf('kind', f.kind, ['query', 'document'] as const);
    const format = oneOf('format', f.format, ['jsonl', 'json', 'csv', 'tsv', 'parquet'] as const) as RecordFormat | undefined;
    const chunk = optionalIntFlag('chunk', f.chunk) ?? 4096;
    const quiet = f.quiet ?? false;
    const request: EmbedRequest = { task: f.task, instruction: f.instruction, kind, truncate: !f['no-truncate'] };

    const embedder = await loadEmbedder(model, {
      device: oneOf('device', f.device, DEVICES) as Device | undefined,
      dtype: oneOf('dtype', f.dtype, WEIGHT_DTYPES) as WeightDtype | undefined,
      pooling: oneOf('pooling', f.pooling, POOLING_MODES) as PoolingMode | undefined,
      attention: oneOf('attention', f.attention, ['bidirectional', 'causal'] as const) as AttentionMode | undefined,
      maxLength: optionalIntFlag('max-length', f['max-length']),
      batchTokens: optionalIntFlag('batch-tokens', f['batch-tokens']),
      batchSize: optionalIntFlag('batch-size', f['batch-size']),
      threads: optionalIntFlag('threads', f.threads),
      cacheDir: f.cache,
      onLoadProgress: quiet ? undefined : (done, total) => process.stderr.write(`\rconverting weights: ${((100 * done) / total).toFixed(0)}%${done === total ? '\n' : ''}`),
    });
    try {
      // A task that changes nothing (not in the instruction tables the model uses, no prompt of the model
      // names it) is most likely a typo: say so, even with --quiet, since the vectors are not what was asked.
      if (f.task !== undefined && f.instruction === undefined && embedder.promptFor({ task: f.task, kind: 'query' }) === embedder.promptFor({ kind: 'query' })) {
        const near = closestKey(f.task, [...MTEB_ENG_V2_INSTRUCTIONS.keys(), ...CMTEB_INSTRUCTIONS.keys()]);
        process.stderr.write(`warning: --task ${f.task}: neither the instruction tables this model uses nor its prompts name it, so it adds no instruction` +
          `${near ? ` (did you mean ${near}?)` : ''}; give --instruction TEXT for your own task\n`);
      }
      if (!quiet) {
        const c = embedder.config;
        process.stderr.write(`model: ${embedder.id} (${c.modelType}, ${c.attention}: ${c.attentionReason}; ${embedder.pooling} pooling, dim ${embedder.dim}, max length ${embedder.maxLength}, ${embedder.dtype} on ${embedder.device})\n`);
        const prompt = embedder.promptFor(request);
        if (prompt) process.stderr.write(`prompt: ${JSON.stringify(prompt)}\n`);
      }
      // Resume: a partial output from the same job (same input, model and request) continues where it stopped.
      const partial = `${output}.partial`;
      const job = `${output}.partial.json`;
      const jobInfo = JSON.stringify({ input, model: embedder.id, field, idField, request: { ...request } });
      let skip = 0;
      if (!f['no-resume'] && existsSync(partial) && existsSync(job) && readFileSync(job, 'utf8') === jobInfo) {
        skip = completeLines(partial);
        if (!quiet && skip) process.stderr.write(`resuming after ${skip} texts already in ${partial}\n`);
      } else {
        rmSync(partial, { force: true });
        mkdirSync(dirname(output), { recursive: true });
        writeFileSync(job, jobInfo);
      }
      const fd = openSync(partial, skip ? 'a' : 'w');
      const progress = new Progress(await countLines(input), quiet, skip);
      let seen = 0;
      let done = skip;
      let texts: string[] = [];
      let ids: unknown[] = [];
      const flush = async () => {
        if (!texts.length) return;
        const base = done;
        const vecs = await embedder.embed(texts, { ...request, onProgress: (d) => progress.update(base + d) });
        let out = '';
        vecs.forEach((v, i) => (out += embeddingLine(v, idField ? ids[i] : undefined)));
        writeSync(fd, out);
        fsyncSync(fd);
        done += texts.length;
        texts = [];
        ids = [];
      };
      try {
        let warnings = 0;
        const onWarning = (w: ReadWarning) => {
          if (++warnings <= 5) process.stderr.write(`warning: ${w.file}:${w.line}: ${w.message}\n`);
          else if (warnings === 6) process.stderr.write('warning: more warnings not shown\n');
        };
        for await (const { record, file, line } of readRecords(input, { format, onWarning })) {
          if (seen++ < skip) continue;
          const text = record[field];
          if (typeof text !== 'string') {
            throw new UsageError(`${file}:${line}: field "${field}": ${text === undefined ? 'missing' : `expected a string, got ${JSON.stringify(text)?.slice(0, 40)}`} (choose the field with --field)`);
          }
          texts.push(text);
          if (idField) ids.push(record[idField]);
          if (texts.length >= chunk) await flush();
        }
        await flush();
      } finally {
        closeSync(fd);
      }
      progress.update(done, true);
      renameSync(partial, output);
      rmSync(job, { force: true });
      if (!quiet) process.stderr.write(`wrote ${done} embeddings to ${output}\n`);
      return 0;
    } finally {
      await embedder.close();
    }
  },
};
