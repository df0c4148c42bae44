// Step 1, transform: raw sources → canonical records through src/data (validation, dedup, evaluation-set
// decontamination), an optional seeded sample, and retrieval records derived from high-scoring pairs.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ContaminationIndex } from '../../data/contamination.js';
import { transformFiles, type TransformReport } from '../../data/pipeline.js';
import { readRecords } from '../../data/readers.js';
import { familyOf, readOptionsOf, type PipelineConfig, type SourceSpec } from '../config.js';
import { fileIdentity } from '../fingerprint.js';
import { pairsToRetrieval, sampleRecordFile } from '../derive.js';
import type { RecordSet } from '../record-sets.js';
import type { PipelineStep, StepContext } from '../runner.js';

interface SourceResult {
  sets: RecordSet[];
  report: Omit<TransformReport, 'inputs' | 'output' | 'examples'> & { examples: string[] };
  decontamination: { files: number; texts: number } | null;
  sample: { from: number; kept: number } | null;
  derived: { minScore: number; pairs: number; selected: number } | null;
}

async function contaminationFor(source: SourceSpec): Promise<ContaminationIndex | undefined> {
  if (source.decontaminate.length === 0) return undefined;
  const index = new ContaminationIndex();
  for (const d of source.decontaminate) {
    for await (const { record } of readRecords(d.path, readOptionsOf(d.read))) {
      const values = d.fields ? d.fields.map((f) => record[f]) : Object.values(record);
      for (const v of values) if (typeof v === 'string') index.add(v);
    }
  }
  return index;
}

async function runSource(ctx: StepContext, source: SourceSpec): Promise<SourceResult> {
  const finalFile = join(ctx.dir, `${source.name}.jsonl`);
  const transformed = source.sample ? join(ctx.dir, `${source.name}.all.jsonl`) : finalFile;
  const contamination = await contaminationFor(source);
  if (contamination) ctx.log(`${source.name}: ${contamination.texts.toLocaleString('en-US')} evaluation texts indexed for decontamination`);
  let last = 0;
  const report = await transformFiles({
    inputs: source.inputs,
    output: transformed,
    read: readOptionsOf(source.read),
    transform: { type: source.type, ...(source.map ? { map: source.map } : {}), dataset: source.dataset },
    onError: source.onError,
    ...(source.dedup !== 'none' ? { dedup: { mode: source.dedup } } : {}),
    ...(contamination ? { contamination } : {}),
    fingerprint: { decontaminate: source.decontaminate },
    signal: ctx.signal,
    onProgress: (p) => {
      if (Date.now() - last < 5000) return;
      last = Date.now();
      ctx.log(`${source.name}: ${p.read.toLocaleString('en-US')} read, ${p.written.toLocaleString('en-US')} written`);
    },
  });
  let sample: SourceResult['sample'] = null;
  let records = report.written;
  if (source.sample) {
    const s = await sampleRecordFile(transformed, finalFile, source.sample, `${ctx.config.seed}:${source.name}`);
    await rm(transformed, { force: true });
    sample = { from: s.input, kept: s.kept };
    records = s.kept;
  }
  const family = familyOf(source.type);
  const byType = Object.fromEntries(Object.entries(report.byType).filter(([, n]) => n > 0));
  const sets: RecordSet[] = [
    {
      name: source.name, file: `transform/${source.name}.jsonl`, family, dataset: source.dataset, records, origin: 'source',
      ...(family === 'mixed' ? { byType } : {}),
      ...(source.instruction ? { instruction: source.instruction } : {}), ...(source.task ? { task: source.task } : {}), ...(source.sides ? { sides: source.sides } : {}),
    },
  ];
  let derived: SourceResult['derived'] = null;
  if (source.retrieval) {
    const r = source.retrieval;
    const d = await pairsToRetrieval(finalFile, join(ctx.dir, `${r.dataset}.jsonl`), { minScore: r.minScore, dataset: r.dataset });
    derived = { minScore: r.minScore, pairs: d.pairs, selected: d.selected };
    sets.push({
      name: r.dataset, file: `transform/${r.dataset}.jsonl`, family: 'retrieval', dataset: r.dataset, records: d.written, origin: 'derived',
      ...(r.instruction ? { instruction: r.instruction } : {}), ...(r.task ? { task: r.task } : {}), ...(r.sides ? { sides: r.sides } : {}),
    });
    ctx.log(`${source.name}: ${d.written.toLocaleString('en-US')} retrieval records from pairs scoring ≥ ${r.minScore}`);
  }
  const { inputs: _i, output: _o, ...rest } = report;
  ctx.log(`${source.name}: ${report.read.toLocaleString('en-US')} read → ${records.toLocaleString('en-US')} records${sample ? ` (sample of ${sample.from.toLocaleString('en-US')})` : ''}${skippedText(report)}`);
  return { sets, report: rest, decontamination: contamination ? { files: source.decontaminate.length, texts: contamination.texts } : null, sample, derived };
}

function skippedText(r: TransformReport): string {
  const parts = Object.entries(r.skipped).filter(([, n]) => (n ?? 0) > 0).map(([k, n]) => `${k} ${n}`);
  return parts.length ? `; dropped: ${parts.join(', ')}` : '';
}

export const transformStep: PipelineStep = {
  name: 'transform',
  title: 'raw sources → canonical records (src/data)',
  after: [],
  version: 1,
  async identity(config: PipelineConfig) {
    const sources = [];
    for (const s of config.sources) {
      const inputs = [];
      for (const p of s.inputs) inputs.push((await fileIdentity(p)).hash);
      const decon = [];
      for (const d of s.decontaminate) decon.push({ hash: (await fileIdentity(d.path)).hash, read: d.read, fields: d.fields ?? null });
      const { inputs: _paths, decontaminate: _d, ...settings } = s;
      sources.push({ ...settings, inputs, decontaminate: decon });
    }
    return { seed: config.seed, sources };
  },
  async run(ctx) {
    const sets: RecordSet[] = [];
    const perSource: Record<string, Omit<SourceResult, 'sets'>> = {};
    for (const source of ctx.config.sources) {
      const r = await ctx.part(`source-${source.name}`, () => runSource(ctx, source));
      sets.push(...r.sets);
      const { sets: _s, ...rest } = r;
      perSource[source.name] = rest;
    }
    return { outputs: sets.map((s) => s.file.slice('transform/'.length)), summary: { sets, sources: perSource }, exports: { sets } };
  },
};
