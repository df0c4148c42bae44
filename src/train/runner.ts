// The stage runner behind `qzhou train`: runs the config's stages in order (stage 2 starts from stage 1's
// final weights), each with its grouped batch sampler over the configured data, the per-family losses,
// AdamW with its schedule and clipping, GradCache steps on the ONNX graph model, checkpoints every N steps
// and at the end (Hugging Face layout + optimizer + sampler position + run seeds, written atomically), a
// progress bar and a JSONL metrics file, optional evaluation through src/eval, and a final `model/`.
// `resume` continues from the latest checkpoint of the latest stage and reproduces the uninterrupted run
// exactly: every random draw derives from (seed, step), and the sampler and optimizer restore bit for bit.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { defaultCacheDir } from '../util/cache-dir.js';
import { join } from 'node:path';
import { RecordStore } from '../data/record-store.js';
import { GroupedBatchSampler, type SamplerDataset, type SamplerState } from '../data/sampler.js';
import { evaluate } from '../eval/run.js';
import { silentProgress } from '../eval/progress.js';
import { locateTask } from '../eval/datasets.js';
import { findTask } from '../eval/tasks.js';
import { loadEmbedder } from '../model/index.js';
import { toTrainBatch } from './batches.js';
import { stageIdentity } from './stage-identity.js';
import { saveCheckpoint, latestCheckpoint, listStageCheckpoints, removeStaleCheckpointTemps, type CheckpointInfo } from './checkpoint.js';
import type { DataSource, StageConfig, TrainConfig } from './config.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { GraphEncoder, type TrainingMode } from './graph-encoder.js';
import { GradCacheTrainer, type Family, type StepResult } from './gradcache.js';
import { MetricsLog, TrainingProgress, formatCount, type ProgressStream } from './metrics-log.js';
import { type FrozenBase, type ModelSource, checkpointBase, initialWeights, memoryBase, openModelSource, readCheckpointWeights } from './model-source.js';
import { AdamW } from './optimizer.js';
import { countParameters } from './parameters.js';
import { makeSchedule } from './schedule.js';

export interface RunTrainingOptions {
  /** Continue from the latest checkpoint in the output folder (an error when there is none). */
  resume?: boolean;
  /** ORT intra-op threads (default: all cores). */
  threads?: number;
  /** Cache for ORT model files and converted weights (default $QZHOU_CACHE or ~/.cache/qzhou). */
  cacheDir?: string;
  /** Where progress and messages go (default process.stderr); `quiet` silences them. */
  stream?: ProgressStream;
  quiet?: boolean;
  /** When aborted, the run finishes its current step, writes a checkpoint and returns `interrupted`. */
  signal?: AbortSignal;
  /** Stop (as if killed: no checkpoint) after this many steps of this invocation. For crash tests. */
  stopAfterSteps?: number;
  /** Called after every step. */
  onStep?: (r: StepResult & { stage: string; globalStep: number }) => void;
}

export interface StageSummary {
  name: string;
  steps: number;
  /** The stage's final checkpoint folder (undefined when the run stopped inside this stage). */
  checkpoint?: string;
  /** Mean loss per family over the stage's steps run in this invocation. */
  meanLoss: Partial<Record<Family, number>>;
}

export interface RunTrainingResult {
  /** The final model folder (`<output>/model`), when the run completed. */
  modelDir?: string;
  metricsFile: string;
  stages: StageSummary[];
  /** True when the run stopped early (signal or stopAfterSteps). */
  interrupted: boolean;
  /** Steps run by this invocation. */
  stepsRun: number;
}

const STATE_EXTRA_VERSION = 1;

/**
 * The resume check's hash before content identities (it hashed the model and data paths, so a moved output
 * folder could not be resumed). Still accepted, so that checkpoints written before stay resumable in place.
 */
export function stageHash(config: TrainConfig, stage: StageConfig): string {
  const { eval: _e, checkpointEvery: _c, ...rest } = stage;
  return createHash('sha256').update(JSON.stringify({ model: config.model, seed: config.seed, stage: rest })).digest('hex').slice(0, 16);
}

/** One data source's store, with the dataset names it serves under. */
interface OpenedSource {
  source: DataSource;
  store: RecordStore;
  /** dataset name in the sampler → name in the store. */
  names: Map<string, string>;
}

/** Opens the stage's data, keeping datasets of the stage's families; returns the sampler's dataset list. */
async function openStageData(stage: StageConfig, log: (m: string) => void): Promise<{ sources: OpenedSource[]; datasets: SamplerDataset[]; owner: Map<string, OpenedSource> }> {
  const sources: OpenedSource[] = [];
  const datasets: SamplerDataset[] = [];
  const owner = new Map<string, OpenedSource>();
  const where = new Map<string, string>();
  try {
    for (const [i, source] of stage.data.entries()) {
      const store = await RecordStore.open(source.path, { seed: stage.seed, hardNegatives: stage.negatives.retrieval, clsNegatives: stage.negatives.cls });
      const opened: OpenedSource = { source, store, names: new Map() };
      sources.push(opened);
      const found = store.datasets();
      if (source.dataset !== undefined && found.length > 1) {
        throw new Error(`stages[${i}] data ${source.path}: "dataset: ${source.dataset}" renames a single dataset, but the records name ${found.length} (${found.map((d) => d.name).join(', ')}); drop "dataset" or split the files`);
      }
      for (const d of found) {
        const name = source.dataset ?? d.name;
        if (!stage.families.includes(d.family)) {
          log(`${stage.name}: skipping dataset "${name}" (${d.family}, ${formatCount(d.size)} records): the stage trains ${stage.families.join(', ')}`);
          continue;
        }
        const prev = where.get(name);
        if (prev !== undefined) throw new Error(`${stage.name}: dataset "${name}" comes from both ${prev} and ${source.path}; give one of them another "dataset" name`);
        where.set(name, source.path);
        opened.names.set(name, d.name);
        owner.set(name, opened);
        datasets.push({ name, family: d.family, size: d.size });
      }
    }
  } catch (e) {
    for (const s of sources) s.store.close();
    throw e;
  }
  if (datasets.length === 0) {
    for (const s of sources) s.store.close();
    throw new Error(`${stage.name}: no training data of the stage's families (${stage.families.join(', ')}) in ${stage.data.map((d) => d.path).join(', ')}`);
  }
  return { sources, datasets, owner };
}

/** Runs (or resumes) the training described by `config`. */
export async function runTraining(config: TrainConfig, opts: RunTrainingOptions = {}): Promise<RunTrainingResult> {
  const stream: ProgressStream = opts.quiet ? { write: () => true } : (opts.stream ?? process.stderr);
  const log = (m: string) => stream.write(`${m}\n`);
  const output = config.output;
  mkdirSync(output, { recursive: true });
  await removeStaleCheckpointTemps(output);
  // Leftovers of an interrupted evaluation or final-model write (temporary folders, never complete).
  for (const n of readdirSync(output)) if (/^\.(eval-model-\d+|model\.tmp-)/.test(n)) rmSync(join(output, n), { recursive: true, force: true });
  for (const s of config.stages) if (s.eval) checkEvalTasks(s);
  const metricsFile = join(output, 'metrics.jsonl');
  const cacheDir = opts.cacheDir ?? defaultCacheDir();

  // Where to start.
  const latest = await latestCheckpoint(output);
  if (latest && !opts.resume) {
    throw new Error(`${output} already holds checkpoints of a run (latest ${latest.dir}): pass --resume to continue it, or choose another output folder`);
  }
  if (opts.resume && !latest) throw new Error(`--resume: ${output} has no checkpoint to resume from`);
  let startStage = 0;
  let resumeFrom: CheckpointInfo | undefined;
  // Each stage's identity (content hashes of its model and data) is computed once per invocation.
  const identities = new Map<number, Promise<string>>();
  const identityOf = (i: number) => {
    let p = identities.get(i);
    if (!p) identities.set(i, (p = stageIdentity(config, config.stages[i]!)));
    return p;
  };
  if (latest) {
    const st = latest.state;
    const stage = config.stages[st.stageIndex];
    if (!stage || stage.name !== st.stage) {
      throw new Error(`${latest.dir}: the checkpoint belongs to stage ${st.stageIndex} "${st.stage}", but the config's stage ${st.stageIndex} is ${stage ? `"${stage.name}"` : 'missing'}`);
    }
    if (st.configHash !== undefined && st.configHash !== (await identityOf(st.stageIndex)) && st.configHash !== stageHash(config, stage)) {
      throw new Error(`${latest.dir}: stage "${stage.name}" of the config changed since this checkpoint was written (model, seed, stage settings or training data; model and data files are compared by content); resume with the same config and files, or start a new output folder`);
    }
    if (st.step >= st.stageSteps) startStage = st.stageIndex + 1;
    else {
      startStage = st.stageIndex;
      resumeFrom = latest;
    }
  }
  const stepsBefore = (i: number) => config.stages.slice(0, i).reduce((s, x) => s + x.steps, 0);
  if (!latest && existsSync(metricsFile)) rmSync(metricsFile); // a new run: no records from an abandoned one
  const metrics = MetricsLog.open(metricsFile, latest ? { keepThroughStep: stepsBefore(latest.state.stageIndex) + latest.state.step } : {});
  await writeFileAtomic(join(output, 'train_config.json'), `${JSON.stringify(config, null, 2)}\n`);

  const src = await openModelSource(config.model);
  const result: RunTrainingResult = { metricsFile, stages: [], interrupted: false, stepsRun: 0 };
  try {
    // Weights the next stage starts from: the previous stage's final checkpoint, or the model itself.
    let weights: Map<string, Float32Array> | undefined;
    if (startStage > 0) {
      const prev = config.stages[startStage - 1]!;
      const final = (await listStageCheckpoints(join(output, prev.name))).find((c) => c.state.step === c.state.stageSteps);
      if (!final) throw new Error(`${join(output, prev.name)}: no final checkpoint of stage "${prev.name}" to start stage ${startStage + 1} from`);
      weights = await readCheckpointWeights(final.dir, src.requests);
      log(`resuming: stage "${prev.name}" is complete (${final.dir})`);
    }
    for (let si = startStage; si < config.stages.length; si++) {
      const stage = config.stages[si]!;
      const resume = si === startStage ? resumeFrom : undefined;
      const out = await runStage({ config, stage, stageIndex: si, identity: await identityOf(si), src, weights, resume, cacheDir, threads: opts.threads, metrics, log, stream, opts, globalOffset: stepsBefore(si), result });
      result.stages.push(out.summary);
      try {
        if (out.interrupted) {
          result.interrupted = true;
          return result;
        }
        // The next stage starts from this one's final weights (LoRA merged).
        if (si < config.stages.length - 1) weights = await out.encoder.modelWeights();
        else {
          const modelDir = join(output, 'model');
          await out.encoder.save(modelDir, { overwrite: true });
          result.modelDir = modelDir;
          log(`final model: ${modelDir}`);
        }
      } finally {
        // Each stage's sessions (and a LoRA stage's frozen base) are released before the next starts.
        await out.encoder.close();
        await out.base?.close();
      }
    }
    if (startStage >= config.stages.length) {
      // Every stage was already complete: (re)write the final model from the last stage's weights.
      const modelDir = join(output, 'model');
      if (!existsSync(join(modelDir, 'config.json'))) {
        const enc = new GraphEncoder({ config: src.config, tokenizer: src.tokenizer, tokenizerDir: src.tokenizerDir, mode: { kind: 'full', weights: weights! }, cacheDir, pooling: src.pooling, sentenceTransformers: src.sentenceTransformers, extraFiles: src.extraFiles, maxLength: maxLengthOf(config.stages.at(-1)!) });
        await enc.save(modelDir, { overwrite: true });
        await enc.close();
      }
      result.modelDir = modelDir;
      log(`all stages are complete; final model: ${modelDir}`);
    }
    return result;
  } finally {
    metrics.close();
  }
}

/** Fails before training when an evaluation task cannot be found (rather than at the first evaluation). */
function checkEvalTasks(stage: StageConfig): void {
  const ev = stage.eval!;
  for (const t of ev.tasks) {
    const isPath = t.includes('/') || t.startsWith('.');
    if (isPath) {
      if (!existsSync(t) || !statSync(t).isDirectory()) throw new Error(`stage "${stage.name}": eval task folder ${t} does not exist`);
      continue;
    }
    const task = findTask(t);
    if (!task) throw new Error(`stage "${stage.name}": eval task "${t}" is not a registry task (see qzhou eval --list-tasks) or a task folder path`);
    if (!ev.dataDir) throw new Error(`stage "${stage.name}": eval task "${t}" needs eval.dataDir (the folder holding its dataset)`);
    locateTask(ev.dataDir, task); // throws, listing the folders it looked for
  }
}

function maxLengthOf(stage: StageConfig): { query: number; passage: number } {
  return { query: stage.maxLength.query, passage: stage.maxLength.passage };
}

interface StageRun {
  config: TrainConfig;
  stage: StageConfig;
  stageIndex: number;
  /** stageIdentity() of the stage, recorded in its checkpoints. */
  identity: string;
  src: ModelSource;
  /** Weights the stage starts from (undefined: the model source's own). */
  weights: Map<string, Float32Array> | undefined;
  resume: CheckpointInfo | undefined;
  cacheDir: string;
  threads: number | undefined;
  metrics: MetricsLog;
  log: (m: string) => void;
  stream: ProgressStream;
  opts: RunTrainingOptions;
  globalOffset: number;
  result: RunTrainingResult;
}

async function runStage(r: StageRun): Promise<{ encoder: GraphEncoder; base?: FrozenBase; summary: StageSummary; interrupted: boolean }> {
  const { config, stage, src, log, metrics, opts, identity } = r;
  const data = await openStageData(stage, log);
  let base: FrozenBase | undefined;
  let encoder: GraphEncoder | undefined;
  try {
    // The model for this stage.
    let mode: TrainingMode;
    if (stage.lora) {
      if (r.weights) base = memoryBase(src.requests, r.weights);
      else if (src.checkpointDir) base = await checkpointBase(src.checkpointDir, src.requests, src.prefixes, config.model.dtype ?? 'f32', r.cacheDir);
      else base = memoryBase(src.requests, await initialWeights(src, config.model));
      mode = { kind: 'lora', lora: stage.lora, base: base.weights, readBase: base.read, seed: stage.seed };
    } else {
      if (config.model.dtype && config.model.dtype !== 'f32') throw new Error(`model.dtype ${config.model.dtype} applies to LoRA stages only; stage "${stage.name}" fine-tunes every weight in f32`);
      mode = { kind: 'full', weights: r.resume ? await readCheckpointWeights(r.resume.dir, src.requests) : (r.weights ?? (await initialWeights(src, config.model))) };
    }
    encoder = new GraphEncoder({
      config: src.config, tokenizer: src.tokenizer, tokenizerDir: src.tokenizerDir, mode, maxLength: maxLengthOf(stage),
      pooling: src.pooling, sentenceTransformers: src.sentenceTransformers, extraFiles: src.extraFiles, cacheDir: r.cacheDir, threads: r.threads,
      lowercase: src.sentenceTransformers?.doLowerCase,
    });
    const enc = encoder;
    if (r.resume && enc.lora) await enc.lora.load(r.resume.dir);
    const optimizer = new AdamW(enc.parameters, { betas: stage.betas, eps: stage.eps, weightDecay: stage.weightDecay, noDecay: stage.noDecay });
    let sampler: GroupedBatchSampler;
    if (r.resume) {
      await optimizer.load(r.resume.dir);
      if (optimizer.stepCount !== r.resume.state.step) throw new Error(`${r.resume.dir}: optimizer.json says ${optimizer.stepCount} steps, trainer_state.json ${r.resume.state.step}`);
      sampler = GroupedBatchSampler.fromState(r.resume.state.sampler as SamplerState, data.datasets);
    } else {
      const hasRet = data.datasets.some((d) => d.family === 'retrieval');
      const hasOther = data.datasets.some((d) => d.family !== 'retrieval');
      const share = stage.retrievalShare !== null && hasRet && hasOther ? stage.retrievalShare : undefined;
      if (stage.retrievalShare !== null && share === undefined) log(`${stage.name}: retrievalShare ${stage.retrievalShare} does not apply (the data has ${hasRet ? 'only retrieval' : 'no retrieval'} datasets)`);
      sampler = new GroupedBatchSampler({ datasets: data.datasets, batchSize: stage.batchSize, alpha: stage.alpha, retrievalShare: share, seed: stage.seed });
    }
    const trainer = new GradCacheTrainer({
      encoder: enc, params: enc.parameters, optimizer, chunkSize: stage.gradCacheChunk, maxGradNorm: stage.gradClip, seed: stage.seed, packGroups: true,
      schedule: makeSchedule({ kind: stage.schedule, lr: stage.lr, warmup: stage.warmup, total: stage.steps, minLrRatio: stage.minLrRatio }),
      loss: { temperature: stage.temperature, queryQuery: stage.queryQueryNegatives, cosentScale: stage.cosentScale, clsOtherPositives: stage.clsOtherPositives },
    });
    const startStep = optimizer.stepCount;
    const c = src.config;
    log(`${stage.name}: ${c.modelType} ${c.numLayers}×${c.hiddenSize} (${c.attention}, ${enc.pooling} pooling), ` +
      `${stage.lora ? `LoRA r=${stage.lora.rank} on ${enc.lora!.modules.size} layers, ${formatCount(countParameters(enc.parameters))} trainable` : `${formatCount(countParameters(enc.parameters))} parameters`}; ` +
      `${stage.steps} steps${startStep ? ` (resuming after step ${startStep})` : ''}, lr ${stage.lr}, data: ` +
      data.datasets.map((d, i) => `${d.name} (${d.family}, ${formatCount(d.size)}, p=${sampler.probabilities[i]!.toFixed(2)})`).join(', '));

    const progress = new TrainingProgress({ total: stage.steps, label: stage.name, startStep, stream: r.stream });
    const lossSum: Partial<Record<Family, { s: number; n: number }>> = {};
    const saveCkpt = async (step: number) => {
      const dir = await saveCheckpoint({
        output: config.output,
        state: {
          stage: stage.name, stageIndex: r.stageIndex, step, stageSteps: stage.steps, sampler: sampler.state(), configHash: identity,
          extra: { version: STATE_EXTRA_VERSION, globalStep: r.globalOffset + step, seed: stage.seed, lora: stage.lora !== null },
        },
        writeModel: (d) => enc.save(d, { overwrite: true }),
        optimizer,
        keepLast: config.keepCheckpoints,
      });
      metrics.write({ type: 'checkpoint', step: r.globalOffset + step, stage: stage.name, stageStep: step, dir });
      metrics.flush();
      progress.log(`${stage.name}: checkpoint ${dir}`);
      return dir;
    };
    const runEval = async (step: number) => {
      if (!stage.eval) return;
      await evaluateNow(enc, stage, r.globalOffset + step, step, config.output, metrics, (m) => progress.log(m));
    };

    let interrupted = false;
    let checkpointDir: string | undefined;
    for (let step = startStep + 1; step <= stage.steps; step++) {
      if (opts.stopAfterSteps !== undefined && r.result.stepsRun >= opts.stopAfterSteps) return { encoder: enc, base, summary: summarize(stage, lossSum), interrupted: true };
      const sample = sampler.next();
      const owner = data.owner.get(sample.dataset)!;
      const batch = owner.store.batch({ ...sample, dataset: owner.names.get(sample.dataset)! });
      const res = await trainer.step({ ...toTrainBatch(batch, { source: owner.source }), dataset: sample.dataset });
      if (res.step !== step) throw new Error(`internal: trainer step ${res.step} ≠ ${step}`);
      r.result.stepsRun++;
      const ls = (lossSum[res.family] ??= { s: 0, n: 0 });
      ls.s += res.loss;
      ls.n++;
      progress.update({ step, family: res.family, loss: res.loss, lr: res.lr, tokens: res.tokens });
      metrics.write({
        type: 'step', step: r.globalOffset + step, stage: stage.name, stageStep: step, family: res.family, dataset: sample.dataset,
        loss: res.loss, accuracy: res.accuracy ?? null, lr: res.lr, gradNorm: res.gradNorm, clipFactor: res.clipFactor,
        texts: res.texts, tokens: res.tokens, seconds: Number(res.seconds.toFixed(4)),
      });
      opts.onStep?.({ ...res, stage: stage.name, globalStep: r.globalOffset + step });
      const last = step === stage.steps;
      if (last || (stage.checkpointEvery > 0 && step % stage.checkpointEvery === 0) || opts.signal?.aborted) checkpointDir = await saveCkpt(step);
      if (stage.eval && (last || step % stage.eval.every === 0)) await runEval(step);
      if (opts.signal?.aborted && !last) {
        progress.log(`${stage.name}: interrupted after step ${step}; resume with --resume`);
        interrupted = true;
        break;
      }
    }
    progress.finish();
    return { encoder: enc, base, summary: { ...summarize(stage, lossSum), checkpoint: interrupted ? undefined : checkpointDir }, interrupted };
  } catch (e) {
    await encoder?.close();
    await base?.close();
    throw e;
  } finally {
    for (const s of data.sources) s.store.close();
  }
}

function summarize(stage: StageConfig, sums: Partial<Record<Family, { s: number; n: number }>>): StageSummary {
  const meanLoss: Partial<Record<Family, number>> = {};
  for (const [f, v] of Object.entries(sums)) if (v && v.n) meanLoss[f as Family] = v.s / v.n;
  return { name: stage.name, steps: stage.steps, meanLoss };
}

/**
 * Evaluates the current weights with src/eval: the model is saved to a temporary folder and loaded by
 * the model runtime, exactly as `qzhou eval` would load it (inference graph, prompts, batching), with
 * no embedding cache (the weights change between evaluations). Scores go to the metrics file.
 */
async function evaluateNow(enc: GraphEncoder, stage: StageConfig, globalStep: number, step: number, output: string, metrics: MetricsLog, log: (m: string) => void): Promise<void> {
  const ev = stage.eval!;
  const dir = join(output, `.eval-model-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  try {
    await enc.save(dir, { overwrite: true });
    // ORT model files and weight links go inside the temporary folder, so nothing accumulates in the cache.
    const model = await loadEmbedder(dir, { cacheDir: join(dir, '.cache') });
    try {
      const report = await evaluate({
        model, tasks: ev.tasks, dataDir: ev.dataDir, splits: ev.splits, cacheDir: false, overwrite: true, progress: silentProgress,
        outputDir: join(output, 'eval', stage.name, `step-${step}`), modelName: 'model', continueOnError: true,
      });
      for (const row of report.rows) {
        metrics.write({ type: 'eval', step: globalStep, stage: stage.name, stageStep: step, task: row.task, split: row.split, subset: row.subset, metric: row.metric, score: row.score });
      }
      for (const f of report.failures) metrics.write({ type: 'eval-error', step: globalStep, stage: stage.name, task: f.task, error: f.error });
      metrics.flush();
      log(`${stage.name} step ${step}: ` + [...report.rows.map((x) => `${x.task} ${x.split} ${x.metric} ${(x.score * 100).toFixed(2)}`), ...report.failures.map((f) => `${f.task} failed: ${f.error}`)].join('; '));
    } finally {
      await model.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
