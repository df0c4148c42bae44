// Step 8, report: gathers the run folder (step markers, the trainer's metrics.jsonl files, evaluation
// rows, data and synthesis counts) into ReportData and writes report.html, report.md and plots/*.svg
// (src/report).
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { readMetrics } from '../../train/metrics-log.js';
import { writeReport, type ReportData, type StageInfo, type TrainingPoint } from '../../report/index.js';
import type { PipelineConfig } from '../config.js';
import type { StepMarker } from '../run-folder.js';
import type { PipelineStep, StepName } from '../runner.js';
import { recordSetsOf } from '../record-sets.js';

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const counts = (v: unknown): Record<string, number> => {
  const out: Record<string, number> = {};
  if (v && typeof v === 'object') for (const [k, n] of Object.entries(v)) if (typeof n === 'number') out[k] = n;
  return out;
};

function describeModel(init: StepMarker): string {
  const s = init.summary;
  if (s.pretrained) return `checkpoint ${String(s.model)}`;
  const c = s.config as Record<string, unknown>;
  const tok = s.tokenizer as Record<string, unknown>;
  const params = num(s.parameters);
  return `${String(s.architecture)} from scratch: ${c.num_hidden_layers} layers, hidden ${c.hidden_size}, ${c.num_attention_heads} heads, ` +
    `${String(tok.kind)} tokenizer of ${num(tok.vocabSize).toLocaleString('en-US')} tokens (${(params / 1e6).toFixed(2)}M parameters)`;
}

/** Training curves of both stages on one step axis (stage 2 continues where stage 1 ended). */
function trainingData(config: PipelineConfig, markers: Map<StepName, StepMarker>): ReportData['training'] {
  const stages: StageInfo[] = [];
  const points: TrainingPoint[] = [];
  const evals: NonNullable<NonNullable<ReportData['training']>['evals']> = [];
  const stageStarts: { name: string; step: number }[] = [];
  let offset = 0;
  for (const name of ['stage1', 'stage2'] as const) {
    const m = markers.get(name);
    if (!m || m.status !== 'done') continue;
    const file = join(config.output, String(m.summary.metrics));
    const records = existsSync(file) ? readMetrics(file) : [];
    const batches: Record<string, number> = {};
    let seconds = 0;
    for (const r of records) {
      if (r.type === 'step') {
        const step = offset + num(r.stageStep ?? r.step);
        const family = String(r.family);
        batches[family] = (batches[family] ?? 0) + 1;
        seconds += num(r.seconds);
        const tps = num(r.seconds) > 0 ? num(r.tokens) / num(r.seconds) : undefined;
        points.push({ step, stage: name, family, ...(r.dataset ? { dataset: String(r.dataset) } : {}), loss: Number(r.loss), lr: num(r.lr), ...(tps !== undefined ? { tokensPerSecond: tps } : {}) });
      } else if (r.type === 'eval') {
        evals.push({ step: offset + num(r.stageStep ?? r.step), task: String(r.task), split: String(r.split), metric: String(r.metric), score: num(r.score) });
      }
    }
    const st = m.summary.settings as Record<string, unknown>;
    const bs = st.batchSize as Record<string, number>;
    const settings = [
      { label: 'preset', value: String(st.preset) },
      { label: 'lr', value: String(st.lr) },
      { label: 'warmup', value: String(st.warmup) },
      { label: 'schedule', value: String(st.schedule) },
      { label: 'batch', value: (st.families as string[]).map((f) => `${f} ${bs[f]}`).join(', ') },
      { label: 'τ', value: String(st.temperature) },
      { label: 'max length', value: `${(st.maxLength as Record<string, number>).query}/${(st.maxLength as Record<string, number>).passage}` },
    ];
    if (st.retrievalShare !== null && st.retrievalShare !== undefined) settings.push({ label: 'retrieval share', value: String(st.retrievalShare) });
    stageStarts.push({ name, step: offset });
    stages.push({ name, steps: num(m.summary.steps), seconds: seconds || m.seconds, batches, settings });
    offset += num(m.summary.steps);
  }
  if (stages.length === 0) return null;
  return { stages, points, stageStarts, ...(evals.length ? { evals } : {}) };
}

export function gatherReport(config: PipelineConfig, markers: Map<StepName, StepMarker>, stepList: readonly { name: StepName; title: string }[]): ReportData {
  const transform = markers.get('transform');
  const synth = markers.get('synth');
  const mine = markers.get('mine');
  const init = markers.get('init');
  const ev = markers.get('eval');
  const stage2 = markers.get('stage2');

  const facts = [
    { label: 'Run folder', value: config.output },
    { label: 'Config', value: config.file },
  ];
  if (init) facts.push({ label: 'Model', value: describeModel(init) });
  if (stage2?.status === 'done') {
    const dir = join(config.output, String(stage2.summary.model));
    facts.push({ label: 'Trained model', value: `${dir} — serve it with: qzhou serve --model ${dir}` });
  }
  const trainSeconds = ['stage1', 'stage2'].reduce((s, n) => s + (markers.get(n as StepName)?.seconds ?? 0), 0);
  if (trainSeconds > 0) {
    const resumed = ['stage1', 'stage2'].filter((n) => (markers.get(n as StepName)?.attempts ?? 1) > 1);
    facts.push({ label: 'Training time', value: `${(trainSeconds / 60).toFixed(1)} min (stage 1 + stage 2${resumed.length ? `; ${resumed.join(' and ')} resumed after an interruption, last attempt timed` : ''})` });
  }
  const total = [...markers.values()].reduce((s, m) => s + m.seconds, 0);
  facts.push({ label: 'Pipeline time', value: `${(total / 60).toFixed(1)} min (sum of the steps’ last attempts)` });

  const steps = stepList.filter((s) => s.name !== 'report').map((s) => {
    const m = markers.get(s.name);
    return {
      name: s.name,
      description: s.title,
      status: !m ? 'pending' : m.status === 'skipped' ? 'skipped' : m.attempts > 1 ? `done (resumed, ${m.attempts} attempts)` : 'done',
      seconds: m ? m.seconds : null,
      ...(m?.notice ? { note: m.notice } : {}),
    };
  });

  const evaluation: ReportData['evaluation'] = ev
    ? {
        models: (ev.summary.models as { name: string; role: string; description: string }[]) ?? [],
        rows: ((ev.summary.rows as { model: string; task: string; split: string; metric: string; score: number }[]) ?? []).map((r) => ({ model: r.model, task: r.task, split: r.split, metric: r.metric, score: r.score })),
        note: `MTEB protocol (src/eval, mteb 1.38 semantics); results in mteb’s JSON layout under ${relative(config.output, join(config.output, String(ev.summary.results ?? 'eval/results')))}/. Evaluation splits are never trained on.`,
      }
    : null;

  const trainedSets = stage2 ? recordSetsOf(stage2.summary) : mine ? recordSetsOf(mine.summary) : transform ? recordSetsOf(transform.summary) : [];
  const synthetic = (name: string) => (mine ? recordSetsOf(mine.summary).find((s) => s.name === name)?.synthetic : undefined);
  const sources = transform
    ? Object.entries((transform.summary.sources ?? {}) as Record<string, Record<string, unknown>>).map(([source, r]) => {
        const report = r.report as Record<string, unknown>;
        const notes: string[] = [];
        const sample = r.sample as { from: number; kept: number } | null;
        if (sample) notes.push(`sample of ${sample.kept.toLocaleString('en-US')} from ${sample.from.toLocaleString('en-US')}`);
        const decon = r.decontamination as { files: number; texts: number } | null;
        if (decon) notes.push(`decontaminated against ${decon.texts.toLocaleString('en-US')} evaluation texts`);
        const derived = r.derived as { minScore: number; selected: number } | null;
        if (derived) notes.push(`${derived.selected.toLocaleString('en-US')} retrieval records from pairs scoring ≥ ${derived.minScore}`);
        return { source, read: num(report.read), written: num(report.written), dropped: counts(report.skipped), warnings: counts(report.warnings), ...(notes.length ? { note: notes.join('; ') } : {}) };
      })
    : [];
  const mining = mine && mine.status === 'done'
    ? ((mine.summary.mined ?? []) as Record<string, unknown>[]).map((x) => ({
        name: String(x.name), queries: num(x.mined), negatives: num(x.negatives), short: num(x.short), documents: num(x.documents), dropped: counts(x.dropped),
      }))
    : null;

  let synthesis: ReportData['synthesis'] = { status: 'skipped', notice: synth?.notice ?? 'the synthesis step has not run' };
  if (synth && synth.status === 'done') {
    const jobs = (synth.summary.jobs ?? []) as Record<string, unknown>[];
    synthesis = {
      status: 'done',
      model: String((synth.summary.endpoint as Record<string, unknown> | undefined)?.model ?? ''),
      jobs: jobs.map((j) => ({
        name: `${String(j.generator)}-${String(j.source)}`, generator: String(j.generator), source: String(j.source),
        items: num((j.items as Record<string, unknown>)?.finished), outputs: num(j.outputs), tries: num(j.tries), rejections: counts(j.rejections), costUsd: num(j.cost_usd),
      })),
    };
  }

  return {
    title: config.report.title,
    generatedAt: new Date().toISOString(),
    facts,
    steps,
    evaluation,
    data: {
      sets: trainedSets.map((s) => ({ name: s.name, family: s.family, dataset: s.dataset, origin: s.origin ?? 'source', records: s.records, synthetic: s.synthetic ?? synthetic(s.name) ?? 0 })),
      sources,
      mining,
    },
    synthesis,
    training: trainingData(config, markers),
  };
}

export const reportStep: PipelineStep = {
  name: 'report',
  title: 'report.html + report.md with SVG plots (src/report)',
  after: ['transform', 'synth', 'mine', 'init', 'stage1', 'stage2', 'eval'],
  version: 1,
  async identity(config) {
    return { title: config.report.title };
  },
  async run(ctx) {
    const markers = new Map<StepName, StepMarker>();
    for (const s of reportStep.after) markers.set(s, ctx.upstream(s));
    const { PIPELINE_STEPS } = await import('../steps.js');
    const data = gatherReport(ctx.config, markers, PIPELINE_STEPS);
    const out = writeReport(ctx.dir, data);
    ctx.log(`written: ${out.html}`);
    return { outputs: ['report.html', 'report.md', 'plots'], summary: { html: 'report/report.html', markdown: 'report/report.md', plots: out.plots.length } };
  },
};
