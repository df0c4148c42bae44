// Step 3, mine: assembles the training sets and mines hard negatives for the retrieval ones.
//   - Synthetic records join the set they were made from (batches never mix datasets, so they must be in
//     the same file as their dataset): paraphrases and augmentations are appended; a record that got
//     LLM hard negatives replaces its source record.
//   - Retrieval sets get negatives from src/synth's miner — by default the built-in lexical hashing
//     retriever, since a from-scratch run has no pretrained model — sampled from retriever ranks 11–30
//     with the 95 % false-negative margin; each set's corpus is its own positives and negatives.
// Resumes through the miner's work folder; finished sets are kept (one part per set).
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Embedder } from '../../model/embedder.js';
import { hash64 } from '../../data/hashset.js';
import { readRecords } from '../../data/readers.js';
import { validateRecord } from '../../data/records.js';
import { sourceIdOf } from '../../synth/records.js';
import type { MineStats } from '../../synth/mine.js';
import type { PipelineConfig } from '../config.js';
import { writeLinesAtomic } from '../derive.js';
import { describeOutputs } from '../fingerprint.js';
import { holds, recordSetsOf, type RecordSet } from '../record-sets.js';
import type { PipelineStep, StepContext } from '../runner.js';

async function openRetriever(spec: string): Promise<Embedder> {
  const hashing = /^hashing(?::(\d+))?$/.exec(spec);
  if (hashing) {
    const { HashingEmbedder } = await import('../../synth/hashing-embedder.js');
    return new HashingEmbedder(hashing[1] ? Number(hashing[1]) : 1024);
  }
  const { loadEmbedder } = await import('../../model/index.js');
  return loadEmbedder(spec);
}

/** One line of a JSONL file: where it is and the key it sorts by. */
interface LineRef {
  hi: number;
  lo: number;
  offset: number;
  length: number;
}

/**
 * Yields a JSONL file's records in a canonical order — by a 64-bit hash of their `id` (synthesis gives
 * every output one), else of the line — instead of the order the synthesis run finished them in, which
 * depends on request timing. Holds 24 bytes per line, not the records.
 */
async function* canonicalOrder(path: string): AsyncGenerator<Record<string, unknown>> {
  const refs: LineRef[] = [];
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let carry = Buffer.alloc(0);
    let base = 0; // file offset of carry[0]
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      const chunk = carry.length ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : Buffer.from(buf.subarray(0, bytesRead));
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
        const line = chunk.toString('utf8', start, nl);
        if (line.trim() !== '') {
          const id = (JSON.parse(line) as { id?: unknown }).id;
          const [hi, lo] = hash64(typeof id === 'string' || typeof id === 'number' ? `id:${id}` : `line:${line}`);
          refs.push({ hi, lo, offset: base + start, length: nl - start });
        }
        start = nl + 1;
      }
      carry = chunk.subarray(start);
      base += start;
    }
    if (carry.toString('utf8').trim() !== '') throw new Error(`${path}: the last line has no line end (an interrupted write?)`);
    refs.sort((a, b) => a.hi - b.hi || a.lo - b.lo || a.offset - b.offset);
    for (const r of refs) {
      const line = Buffer.alloc(r.length);
      await fh.read(line, 0, r.length, r.offset);
      yield JSON.parse(line.toString('utf8')) as Record<string, unknown>;
    }
  } finally {
    await fh.close();
  }
}

/**
 * Writes `set` merged with its synthetic records to `output`: records with LLM hard negatives replace
 * their source record (matched by the synthesis source id), other synthetic records are appended in a
 * canonical order, so the training set does not depend on the order requests finished in.
 */
export async function mergeSynthetic(runDir: string, set: RecordSet, extras: readonly RecordSet[], output: string): Promise<{ records: number; synthetic: number; replaced: number }> {
  const replacements = new Map<string, Record<string, unknown>>();
  for (const e of extras.filter((x) => x.generator === 'hard-negative')) {
    for await (const { record } of readRecords(join(runDir, e.file), { format: 'jsonl' })) {
      const sid = (record.provenance as { source_id?: unknown } | undefined)?.source_id;
      if (typeof sid === 'string') replacements.set(sid, record);
    }
  }
  const counts = { records: 0, synthetic: 0, replaced: 0 };
  async function* lines(): AsyncGenerator<string> {
    for await (const { record, file, line } of readRecords(join(runDir, set.file), { format: 'jsonl' })) {
      const r = replacements.get(sourceIdOf(validateRecord(record, file, line)));
      counts.records++;
      if (r) counts.replaced++;
      yield JSON.stringify(r ?? record);
    }
    for (const e of extras.filter((x) => x.generator !== 'hard-negative')) {
      for await (const record of canonicalOrder(join(runDir, e.file))) {
        counts.records++;
        counts.synthetic++;
        yield JSON.stringify(record);
      }
    }
  }
  await writeLinesAtomic(output, lines());
  return counts;
}

interface AssembledSet {
  set: RecordSet;
  /** Mining statistics (retrieval sets). */
  mined?: MineStats & { documents: number; seconds: number };
  merged?: { synthetic: number; replaced: number };
}

export const mineStep: PipelineStep = {
  name: 'mine',
  title: 'training sets: synthetic records merged, hard negatives mined (src/synth)',
  after: ['transform', 'synth'],
  version: 1,
  async identity(config: PipelineConfig) {
    const m = config.mine;
    const retriever = /^hashing/.test(m.retriever) ? m.retriever : { checkpoint: await describeOutputs(m.retriever, ['.']) };
    return { retriever, range: m.range, negatives: m.negatives, relativeMargin: m.relativeMargin, seed: m.seed };
  },
  async run(ctx: StepContext) {
    const m = ctx.config.mine;
    const runDir = ctx.config.output;
    const sources = recordSetsOf(ctx.upstream('transform').summary);
    const synthetic = recordSetsOf(ctx.upstream('synth').summary);
    const { mineFile } = await import('../../synth/mine.js');
    let embedder: Embedder | null = null;
    const assembled: AssembledSet[] = [];
    const outputs: string[] = [];
    try {
      for (const set of sources) {
        const extras = synthetic.filter((s) => s.from === set.name && s.records > 0);
        const r = await ctx.part(`set-${set.name}`, async (): Promise<AssembledSet> => {
          let input = set;
          let merged: AssembledSet['merged'];
          if (extras.length > 0) {
            const file = holds(set, 'retrieval') ? `${set.name}.with-synthetic.jsonl` : `${set.name}.jsonl`;
            const c = await mergeSynthetic(runDir, set, extras, join(ctx.dir, file));
            merged = { synthetic: c.synthetic, replaced: c.replaced };
            input = { ...set, file: `mine/${file}`, records: c.records, synthetic: c.synthetic };
            ctx.log(`${set.name}: ${c.synthetic} synthetic record(s) added, ${c.replaced} record(s) with LLM hard negatives`);
          }
          if (!holds(set, 'retrieval')) return { set: input, ...(merged ? { merged } : {}) };
          embedder ??= await openRetriever(m.retriever);
          let last = 0;
          const summary = await mineFile({
            embedder,
            input: join(runDir, input.file),
            output: join(ctx.dir, `${set.name}.jsonl`),
            rangeMin: m.range[0],
            rangeMax: m.range[1],
            numNegatives: m.negatives,
            relativeMargin: m.relativeMargin,
            seed: m.seed,
            signal: ctx.signal,
            log: (line) => ctx.log(`${set.name}: ${line}`),
            onProgress: (p) => {
              if (Date.now() - last < 10_000) return;
              last = Date.now();
              ctx.log(`${set.name}: ${p.stage === 'corpus' ? 'embedding corpus' : 'mining'} ${p.done}${p.total !== null ? `/${p.total}` : ''}`);
            },
          });
          const s = summary.stats;
          ctx.log(`${set.name}: ${s.negatives} negatives for ${s.mined} queries from ranks ${m.range[0] + 1}–${m.range[1]} of ${summary.corpus.documents} documents (${s.short} got fewer than ${m.negatives})`);
          return {
            set: { ...input, file: `mine/${set.name}.jsonl`, records: s.records },
            mined: { ...s, documents: summary.corpus.documents, seconds: summary.elapsed_s },
            ...(merged ? { merged } : {}),
          };
        });
        assembled.push(r);
        if (r.set.file.startsWith('mine/')) outputs.push(r.set.file.slice('mine/'.length));
      }
    } finally {
      await (embedder as Embedder | null)?.close?.();
    }
    const mined = assembled.filter((a) => a.mined);
    return {
      outputs,
      exports: { sets: assembled.map((a) => a.set) },
      summary: {
        sets: assembled.map((a) => a.set),
        retriever: m.retriever.startsWith('hashing') ? m.retriever : 'checkpoint',
        range: m.range,
        negatives: m.negatives,
        mined: mined.map((a) => ({ name: a.set.name, ...a.mined })),
        merged: assembled.filter((a) => a.merged).map((a) => ({ name: a.set.name, ...a.merged })),
      },
    };
  },
};
