// Steps 5 and 6, stage1 / stage2: the trainer (src/train runTraining) on the pipeline's data. Stage 1
// trains on the mined retrieval sets from the starting model; stage 2 on every set (retrieval + pairs +
// classification, single-dataset batches through the grouped sampler) from stage 1's final model. Each
// stage is its own trainer run in its own folder (checkpoints, metrics.jsonl, model/); an interrupted
// stage resumes from its latest checkpoint and reproduces the uninterrupted run exactly.
import { join } from 'node:path';
import { resolveTrainConfig, type TrainConfig } from '../../train/config.js';
import type { PipelineConfig, StageName } from '../config.js';
import { PipelineConfigError, type PathSeg } from '../config-checker.js';
import { holds, recordSetsOf, type RecordSet } from '../record-sets.js';
import type { PipelineStep, StepContext } from '../runner.js';
import { initModelDir } from './init.js';
import { taskDataIdentity } from './eval.js';

/** The raw trainer config (before the trainer's own validation and defaults) for one stage. */
export function rawStageConfig(config: PipelineConfig, stage: StageName, modelDir: string, output: string, sets: readonly RecordSet[]): Record<string, unknown> {
  const fields = { ...(stage === 'stage1' ? config.train.stage1 : config.train.stage2) };
  // In-training evaluation reads the pipeline's evaluation data unless the stage names its own.
  const ev = fields.eval as Record<string, unknown> | undefined | null;
  if (ev && typeof ev === 'object' && ev.dataDir === undefined) fields.eval = { ...ev, dataDir: config.eval.dataDir };
  const data = sets.map((s) => ({
    path: join(config.output, s.file),
    ...(s.instruction ? { instruction: s.instruction } : {}),
    ...(s.task ? { task: s.task } : {}),
    ...(s.sides ? { sides: s.sides } : {}),
  }));
  return {
    model: { path: modelDir, ...(config.model.attention ? { attention: config.model.attention } : {}) },
    output,
    seed: config.seed,
    preset: config.train.preset,
    stages: [{ name: stage, preset: `${config.train.preset}-${stage}`, ...fields, data }],
  };
}

/**
 * Checks the stage fields of a pipeline config with the trainer's own validation (placeholder model and
 * data), reporting problems at their place in the pipeline config.
 */
export function validateStageFields(config: PipelineConfig, locate: (path: readonly PathSeg[], atKey: boolean) => string): void {
  const issues: { where: string; path: string; message: string }[] = [];
  for (const stage of ['stage1', 'stage2'] as const) {
    const raw = rawStageConfig(config, stage, config.output, config.output, []);
    (raw.stages as Record<string, unknown>[])[0]!.data = [{ path: config.file }];
    try {
      resolveTrainConfig(raw, {
        baseDir: join(config.file, '..'),
        checkPaths: false,
        locate: (path, atKey) => locate(['train', stage, ...path.slice(2)], atKey),
      });
    } catch (e) {
      const list = (e as { issues?: { where: string; path: string; message: string }[] }).issues;
      if (!list) throw e;
      for (const i of list) issues.push({ ...i, path: i.path.replace(/^stages\[0\]/, `train.${stage}`) });
    }
  }
  if (issues.length) throw new PipelineConfigError(issues);
}

/** Data sets a stage trains on (assembled by the mine step): stage 1 the retrieval sets, stage 2 every set. */
export function stageSets(ctx: Pick<StepContext, 'upstream'>, stage: StageName): RecordSet[] {
  const sets = recordSetsOf(ctx.upstream('mine').summary);
  return stage === 'stage1' ? sets.filter((s) => holds(s, 'retrieval')) : sets;
}

function trainStep(stage: StageName): PipelineStep {
  const previous = stage === 'stage1' ? 'init' : 'stage1';
  return {
    name: stage,
    title: stage === 'stage1' ? 'training stage 1: retrieval (src/train)' : 'training stage 2: retrieval + pairs + classification (src/train)',
    after: stage === 'stage1' ? ['transform', 'synth', 'mine', 'init'] : ['transform', 'synth', 'mine', 'stage1'],
    version: 1,
    async identity(config: PipelineConfig) {
      const fields = stage === 'stage1' ? config.train.stage1 : config.train.stage2;
      // The in-training evaluation's data by content, not by path, so a moved project keeps its fingerprints.
      const ev = fields.eval as { tasks?: unknown; dataDir?: unknown } | undefined | null;
      const evalData: Record<string, unknown> = {};
      if (ev && typeof ev === 'object' && Array.isArray(ev.tasks)) {
        const dir = typeof ev.dataDir === 'string' ? ev.dataDir : config.eval.dataDir;
        for (const t of ev.tasks) if (typeof t === 'string') evalData[t] = await taskDataIdentity(dir, t);
      }
      return { preset: config.train.preset, fields, seed: config.seed, attention: config.model.attention ?? null, evalData };
    },
    async run(ctx) {
      const { config } = ctx;
      const modelDir = previous === 'init' ? initModelDir(config, ctx.upstream('init').summary) : join(config.output, String(ctx.upstream('stage1').summary.model));
      const sets = stageSets(ctx, stage);
      if (sets.length === 0) throw new Error(`${stage}: no training data (${stage === 'stage1' ? 'stage 1 trains on retrieval sets; add a retrieval source or derive one with sources.<name>.retrieval' : 'no record sets'})`);
      const raw = rawStageConfig(config, stage, modelDir, ctx.dir, sets);
      const trainConfig: TrainConfig = resolveTrainConfig(raw, { baseDir: join(config.file, '..') });
      const { runTraining, latestCheckpoint } = await import('../../train/index.js');
      const resume = Boolean(await latestCheckpoint(ctx.dir));
      if (resume) ctx.log('resuming from the latest checkpoint');
      const result = await runTraining(trainConfig, { resume, signal: ctx.signal });
      if (ctx.signal.aborted) return { outputs: [], summary: {} }; // the runner reports the interruption
      if (result.interrupted || !result.modelDir) throw new Error(`${stage}: the trainer stopped without writing a final model`);
      const s = trainConfig.stages[0]!;
      return {
        outputs: ['model', 'metrics.jsonl'],
        exports: { model: `${stage}/model` },
        summary: {
          model: `${stage}/model`,
          metrics: `${stage}/metrics.jsonl`,
          steps: s.steps,
          meanLoss: result.stages[0]?.meanLoss ?? {},
          sets: sets.map((x) => ({ name: x.name, file: x.file, family: x.family, dataset: x.dataset, records: x.records, origin: x.origin, ...(x.synthetic ? { synthetic: x.synthetic } : {}) })),
          settings: {
            preset: s.preset, steps: s.steps, lr: s.lr, warmup: s.warmup, schedule: s.schedule, batchSize: s.batchSize, negatives: s.negatives,
            temperature: s.temperature, cosentScale: s.cosentScale, maxLength: s.maxLength, families: s.families, retrievalShare: s.retrievalShare,
            gradCacheChunk: s.gradCacheChunk, lora: s.lora,
          },
        },
      };
    },
  };
}

export const stage1Step = trainStep('stage1');
export const stage2Step = trainStep('stage2');
