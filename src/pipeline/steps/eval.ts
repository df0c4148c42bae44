// Step 7, eval: the trained model, the untrained starting model and the TF-IDF baseline on the configured
// tasks with the MTEB protocol (src/eval), results written in mteb's JSON layout under
// eval/results/<model>/no_revision_available/. Resumes through the result files (a finished task is
// read back) and an embedding cache kept in the step folder until the step completes.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Embedder } from '../../model/embedder.js';
import type { EvalModel } from '../../eval/run.js';
import type { TaskRow } from '../../eval/table.js';
import type { Progress } from '../../eval/progress.js';
import type { PipelineConfig } from '../config.js';
import { describeOutputs } from '../fingerprint.js';
import { initModelDir } from './init.js';
import type { PipelineStep, StepContext } from '../runner.js';
import type { StepMarker } from '../run-folder.js';

/** An eval table row (task, split, subset, main score, …) with the model it belongs to. */
export interface EvalRow extends TaskRow {
  model: string;
  /** 'trained' | 'init' | 'tfidf'. */
  role: string;
}

interface ModelEntry {
  name: string;
  role: 'trained' | 'init' | 'tfidf';
  description: string;
  /** `identity`: what existing results are checked against (see EvaluationOptions.modelIdentity). */
  open(): Promise<{ model: EvalModel; identity?: string; close?: () => Promise<void> }>;
}

/** The folder holding a task's data, by content, for fingerprints (null for a task that cannot be located yet). */
export async function taskDataIdentity(dataDir: string, task: string): Promise<unknown> {
  const { findTask, locateTask } = await import('../../eval/index.js');
  const meta = findTask(task);
  const dir = meta ? locateTask(dataDir, meta).dir : task;
  return existsSync(dir) ? describeOutputs(dir, ['.']) : null;
}

/** Progress lines through the step's log: a counter's end, and otherwise at most one line per 10 s. */
function throttledProgress(ctx: StepContext, model: string): Progress {
  let last = 0;
  let lastText = '';
  return {
    update(label, done, total) {
      const now = Date.now();
      const text = `${model}: ${label}: ${done}/${total}`;
      if (text === lastText || (done < total && now - last < 10_000)) return;
      last = now;
      lastText = text;
      ctx.log(text);
    },
    log(message) {
      ctx.log(`${model}: ${message}`);
    },
  };
}

/** The trained model's folder from the last training step's marker. */
export function trainedModelDir(config: PipelineConfig, summary: Record<string, unknown>): string {
  if (typeof summary.model !== 'string') throw new Error('the training step recorded no model folder');
  return join(config.output, summary.model);
}

export const evalStep: PipelineStep = {
  name: 'eval',
  title: 'MTEB-protocol evaluation: trained vs untrained vs TF-IDF (src/eval)',
  after: ['init', 'stage2'],
  version: 1,
  async identity(config: PipelineConfig) {
    const data: Record<string, unknown> = {};
    for (const t of config.eval.tasks) data[t.task] = await taskDataIdentity(config.eval.dataDir, t.task);
    const e = config.eval;
    return { tasks: e.tasks, baselines: e.baselines, batchTokens: e.batchTokens ?? null, dtype: e.dtype ?? null, device: e.device ?? null, data, name: config.name };
  },
  async run(ctx) {
    const { config } = ctx;
    const ev = await import('../../eval/index.js');
    const { loadEmbedder } = await import('../../model/index.js');
    const e = config.eval;
    const opts = { ...(e.batchTokens ? { batchTokens: e.batchTokens } : {}), ...(e.dtype ? { dtype: e.dtype } : {}), ...(e.device ? { device: e.device } : {}) };
    // A checkpoint's own id holds its path; the upstream step's fingerprint pins its content instead, so
    // results in a moved or copied run folder are still recognised as this model's.
    const checkpoint = (dir: string, upstream: StepMarker) => async () => {
      const e: Embedder & { close?: () => Promise<void> } = await loadEmbedder(dir, opts);
      return { model: e as EvalModel, identity: `pipeline:${upstream.step}@${upstream.fingerprint}`, close: e.close ? () => e.close!() : undefined };
    };
    const models: ModelEntry[] = [
      { name: config.name, role: 'trained', description: 'trained (stage 1 + stage 2)', open: checkpoint(trainedModelDir(config, ctx.upstream('stage2').summary), ctx.upstream('stage2')) },
    ];
    if (config.eval.baselines.includes('init')) {
      const init = ctx.upstream('init').summary;
      models.push({ name: `${config.name}-init`, role: 'init', description: init.pretrained ? 'starting checkpoint (before training)' : 'random initialisation (untrained)', open: checkpoint(initModelDir(config, init), ctx.upstream('init')) });
    }
    if (config.eval.baselines.includes('tfidf')) {
      models.push({
        name: 'tfidf', role: 'tfidf', description: 'TF-IDF bag of words (fitted per task)',
        open: async () => ({ model: ev.TfidfEmbedder.perTask({ maxFeatures: 8192 }) }),
      });
    }
    const resultsDir = join(ctx.dir, 'results');
    const cacheDir = join(ctx.dir, 'cache');
    const rows: EvalRow[] = [];
    for (const m of models) {
      const { model, identity, close } = await m.open();
      try {
        for (const t of config.eval.tasks) {
          const report = await ev.evaluate({
            model,
            tasks: [t.task],
            ...(t.splits ? { splits: t.splits } : {}),
            dataDir: config.eval.dataDir,
            outputDir: resultsDir,
            modelName: m.name,
            ...(identity ? { modelIdentity: identity } : {}),
            cacheDir,
            progress: throttledProgress(ctx, m.name),
            continueOnError: false,
          });
          if (report.failures.length) throw new Error(`eval: ${m.name} on ${t.task}: ${report.failures.map((f) => f.error).join('; ')}`);
          for (const r of report.rows) {
            rows.push({ model: m.name, role: m.role, task: r.task, type: r.type, split: r.split, subset: r.subset, metric: r.metric, score: r.score, ...(r.seconds !== undefined ? { seconds: r.seconds } : {}) });
            ctx.log(`${m.name}: ${r.task} (${r.split}) ${r.metric} = ${(100 * r.score).toFixed(2)}`);
          }
        }
      } finally {
        await close?.();
      }
    }
    await rm(cacheDir, { recursive: true, force: true });
    return {
      outputs: ['results'],
      exports: { models: models.map((m) => m.name) },
      summary: {
        rows,
        models: models.map((m) => ({ name: m.name, role: m.role, description: m.description })),
        results: relative(config.output, resultsDir),
      },
    };
  },
};
