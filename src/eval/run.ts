// The evaluation run: resolves tasks (registry names, benchmark, or user task folders), loads each
// task's data, embeds through the cache with the task's instruction rule, runs the task type's
// evaluator per split and subset, writes one mteb-layout JSON per task (skipping tasks already written,
// so an interrupted run resumes), and summarises a benchmark. A result file is reused only when the
// folder's identity record (identity.ts) says the same model wrote it; another model's results are an error
// (or, with `overwrite`, recomputed and replaced).
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { Embedder } from '../model/embedder.js';
import { defaultCacheDir as sharedCacheDir } from '../util/cache-dir.js';
import { summarizeBenchmark, type BenchmarkSummary } from './aggregate.js';
import { getBenchmark, type Benchmark, type CmnConvention } from './benchmarks.js';
import { EmbeddingCache } from './cache.js';
import { describeIdentity, readIdentities, ResultIdentityError, sameIdentity, writeIdentities, type ModelIdentity, type TaskIdentity } from './identity.js';
import {
  loadClassificationData,
  loadClusteringData,
  loadPairData,
  loadRerankingData,
  loadRetrievalData,
  loadStsData,
  loadSummarizationData,
  loadTaskFolder,
  locateTask,
  withFolderOverrides,
  type TaskSource,
} from './datasets.js';
import { TaskEncoder } from './encoder.js';
import { evaluateClassification } from './evaluators/classification.js';
import { evaluateFastClustering, evaluateLegacyClustering, type ClusterSet, type FastClusteringData } from './evaluators/clustering.js';
import { evaluatePairClassification } from './evaluators/pair-classification.js';
import { evaluateReranking } from './evaluators/reranking.js';
import { evaluateRetrieval } from './evaluators/retrieval.js';
import { evaluateSts, type Scores } from './evaluators/sts.js';
import { evaluateSummarization } from './evaluators/summarization.js';
import { silentProgress, type Progress } from './progress.js';
import { mergeTaskResults, readTaskResult, resultsFolder, taskResult, writeJsonFile, writeModelMeta, writeTaskResult, MTEB_SEMANTICS_VERSION, type ScoreValue, type TaskResultJson } from './results.js';
import type { TaskRow } from './table.js';
import { findTask, getTask, type TaskMetadata } from './tasks.js';

/** Texts a fitted model (e.g. TF-IDF) may learn from for one task, without the evaluation labels. */
export interface FitContext {
  task: TaskMetadata;
  /** Classification: the train split's texts; other types: the texts being evaluated. */
  texts: string[];
}

/**
 * A factory that builds an Embedder per task (for models fitted on the task's data). `id` identifies the
 * factory's configuration (e.g. TF-IDF's options); it is what result files are checked against on a rerun
 * (without it, existing results cannot be verified and are reused with a warning).
 */
export type EvalModelFactory = ((ctx: FitContext) => Promise<Embedder>) & { readonly id?: string };

/** A fixed Embedder, or a factory that builds one per task. */
export type EvalModel = Embedder | EvalModelFactory;

export interface EvaluationOptions {
  model: EvalModel;
  /** Registry task names and/or paths of user task folders. */
  tasks?: string[];
  /** A benchmark name, e.g. "MTEB(eng, v2)". */
  benchmark?: string;
  cmnConvention?: CmnConvention;
  /** Where registry tasks' datasets are (one folder per task; see datasets.ts). */
  dataDir?: string;
  /** Results root: <outputDir>/<model>/<revision>/<Task>.json. */
  outputDir?: string;
  modelName?: string;
  modelRevision?: string;
  /** Evaluate these splits instead of the task's or benchmark's. */
  splits?: string[];
  /** Evaluate these subsets instead of the task's or benchmark's. */
  subsets?: string[];
  /** Embedding cache root (default $QZHOU_CACHE/embeddings or ~/.cache/qzhou/embeddings); false disables it. */
  cacheDir?: string | false;
  /** Apply task instructions (default true). */
  instructions?: boolean;
  /**
   * Re-run tasks whose result file exists (default false: they are read back, which makes a run resumable,
   * provided the folder's identity record says this same model wrote them; another model's results are
   * an error without `overwrite`, and are replaced with it).
   */
  overwrite?: boolean;
  /**
   * What existing result files are checked against, in place of the model's own id (which for a checkpoint
   * includes its path and file times). For a caller that pins the model's content itself, e.g. the pipeline
   * with its step fingerprint, so that a moved run folder still resumes.
   */
  modelIdentity?: string;
  progress?: Progress;
  /** Adds mteb 2.x's hit_rate_at_k to retrieval scores. */
  hitRate?: boolean;
  /** Keep going when a task fails (its error is reported); default true when several tasks run. */
  continueOnError?: boolean;
}

export interface TaskOutcome {
  task: TaskMetadata;
  result: TaskResultJson;
  /** Where the JSON was written (or read from, when skipped). */
  path?: string;
  skipped: boolean;
  embedded: number;
  cached: number;
}

export interface TaskFailure {
  task: string;
  error: string;
}

export interface EvaluationReport {
  outcomes: TaskOutcome[];
  /** Tasks that failed (with continueOnError). */
  failures: TaskFailure[];
  rows: TaskRow[];
  folder?: string;
  summary?: BenchmarkSummary;
  warnings: string[];
}

/** The embedding cache's default root: `embeddings/` in the cache folder every area shares. */
export function defaultCacheDir(): string {
  return join(sharedCacheDir(), 'embeddings');
}

interface PlannedTask {
  task: TaskMetadata;
  source?: TaskSource;
  splits: string[];
  subsets: string[];
}

/** A --tasks entry names a task folder when it looks like a path, or is no registry task but an existing folder. */
function isTaskFolder(s: string): boolean {
  if (s.includes('/') || s.includes('\\') || s.startsWith('.')) return true;
  return !findTask(s) && existsSync(s);
}

function plan(opts: EvaluationOptions, benchmark?: Benchmark): PlannedTask[] {
  const planned: PlannedTask[] = [];
  if (benchmark) {
    for (const bt of benchmark.tasks) planned.push({ task: getTask(bt.task), splits: bt.splits, subsets: bt.subsets });
  }
  for (const name of opts.tasks ?? []) {
    if (isTaskFolder(name)) {
      const { task, source } = loadTaskFolder(name);
      planned.push({ task, source, splits: task.evalSplits, subsets: Object.keys(task.subsets) });
    } else {
      const task = getTask(name);
      planned.push({ task, splits: task.evalSplits, subsets: Object.keys(task.subsets) });
    }
  }
  if (planned.length === 0) throw new Error('nothing to evaluate: give tasks (names or task folders) or a benchmark');
  return planned.map((p) => ({ ...p, splits: opts.splits ?? p.splits, subsets: opts.subsets ?? p.subsets }));
}

function fitTexts(task: TaskMetadata, data: unknown): string[] {
  const d = data as Record<string, unknown>;
  switch (task.type) {
    case 'Classification':
      return (d.train as { texts: string[] }).texts;
    case 'STS':
    case 'PairClassification':
      return [...(d.sentence1 as string[]), ...(d.sentence2 as string[])];
    case 'Retrieval':
      return [...(d.corpus as { texts: string[] }).texts, ...(d.queries as { texts: string[] }).texts];
    case 'Reranking':
      return (data as { query: string | string[]; positive: string[]; negative: string[] }[]).flatMap((s) => [...(Array.isArray(s.query) ? s.query : [s.query]), ...s.positive, ...s.negative]);
    case 'Clustering':
      return Array.isArray(data) ? (data as ClusterSet[]).flatMap((s) => s.sentences) : (data as FastClusteringData).sentences;
    case 'Summarization':
      return (data as { human: string[]; machine: string[] }[]).flatMap((x) => [...x.human, ...x.machine]);
  }
}

async function loadData(task: TaskMetadata, source: TaskSource, split: string, subset: string): Promise<unknown> {
  switch (task.type) {
    case 'Classification':
      return loadClassificationData(task, source, split, subset);
    case 'STS':
      return loadStsData(source, split, subset);
    case 'PairClassification':
      return loadPairData(source, split, subset);
    case 'Retrieval':
      return loadRetrievalData(task, source, split, subset);
    case 'Reranking':
      return loadRerankingData(source, split, subset);
    case 'Clustering':
      return loadClusteringData(task, source, split, subset);
    case 'Summarization':
      return loadSummarizationData(source, split, subset);
  }
}

async function runEvaluator(task: TaskMetadata, data: unknown, encoder: TaskEncoder, opts: EvaluationOptions, progress: Progress, label: string): Promise<Scores> {
  switch (task.type) {
    case 'Classification': {
      const d = data as Awaited<ReturnType<typeof loadClassificationData>>;
      const c = task.classification ?? { samplesPerLabel: 8, nExperiments: 10 };
      return evaluateClassification(d.train, d.test, encoder, { ...c, onExperiment: (i, n) => progress.update(`${label} logistic regression`, i, n) });
    }
    case 'STS':
      return evaluateSts(data as Awaited<ReturnType<typeof loadStsData>>, encoder, task.scoreRange);
    case 'PairClassification':
      return evaluatePairClassification(data as Awaited<ReturnType<typeof loadPairData>>, encoder);
    case 'Retrieval':
      return evaluateRetrieval(data as Awaited<ReturnType<typeof loadRetrievalData>>, encoder, {
        ignoreIdenticalIds: task.retrieval?.ignoreIdenticalIds,
        hitRate: opts.hitRate,
        onSearchProgress: (d, n) => progress.update(`${label} search`, d, n),
      });
    case 'Reranking':
      return evaluateReranking(data as Awaited<ReturnType<typeof loadRerankingData>>, encoder);
    case 'Clustering': {
      if (Array.isArray(data)) return evaluateLegacyClustering(data as ClusterSet[], encoder, { onSet: (i, n) => progress.update(`${label} k-means`, i, n) });
      return evaluateFastClustering(data as FastClusteringData, encoder, {
        maxFraction: task.clustering?.maxFraction,
        onRun: (i, n) => progress.update(`${label} k-means`, i, n),
      });
    }
    case 'Summarization':
      return evaluateSummarization(data as Awaited<ReturnType<typeof loadSummarizationData>>, encoder, task.scoreRange);
  }
}

/** Runs the evaluation described by `opts`. */
export async function evaluate(opts: EvaluationOptions): Promise<EvaluationReport> {
  const progress = opts.progress ?? silentProgress;
  const benchmark = opts.benchmark ? getBenchmark(opts.benchmark, opts.cmnConvention) : undefined;
  const planned = plan(opts, benchmark);
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    progress.log(`warning: ${m}`);
  };
  const fixed = typeof opts.model === 'function' ? undefined : opts.model;
  const modelName = opts.modelName ?? (fixed ? fixed.id : 'model');
  const revision = opts.modelRevision ?? 'no_revision_available';
  const folder = opts.outputDir ? resultsFolder(opts.outputDir, modelName, revision) : undefined;
  const instructions = opts.instructions !== false;
  // This run's model identity: the embedder's id (its embedding-cache key) or the factory's declared id.
  const factoryId = typeof opts.model === 'function' ? opts.model.id : undefined;
  const modelId = opts.modelIdentity ?? fixed?.id ?? factoryId;
  const identity: ModelIdentity | undefined = modelId !== undefined ? { model: modelId, instructions } : undefined;
  const records = folder ? readIdentities(folder) : new Map<string, TaskIdentity>();
  /** Tasks whose result file is another model's and is recomputed from scratch (overwrite). */
  const replaced = new Set<string>();
  if (folder) checkIdentities(folder, [...new Set(planned.map((p) => p.task.name))], records, identity, opts.overwrite ?? false, replaced, warn);
  const caches = new Map<string, EmbeddingCache>();
  const cacheFor = (e: Embedder): EmbeddingCache | undefined => {
    if (opts.cacheDir === false || (e as { cacheable?: boolean }).cacheable === false) return undefined;
    let c = caches.get(e.id);
    if (!c) {
      c = EmbeddingCache.open(opts.cacheDir ?? defaultCacheDir(), e.id, e.dim);
      caches.set(e.id, c);
    }
    return c;
  };
  const outcomes: TaskOutcome[] = [];
  const failures: TaskFailure[] = [];
  const rows: TaskRow[] = [];
  const continueOnError = opts.continueOnError ?? planned.length > 1;
  let metaWritten = false;
  const runTask = async (ti: number, p: PlannedTask): Promise<void> => {
    const { splits, subsets } = p;
    let task = p.task;
    const head = `[${ti + 1}/${planned.length}] ${task.name}`;
    // An earlier result file: its entries count as done (unless --overwrite) and are kept in the new file.
    const existingPath = folder ? join(folder, `${task.name}.json`) : undefined;
    const prev = existingPath && existsSync(existingPath) && !replaced.has(task.name) ? readTaskResult(existingPath) : undefined;
    const prevEntry = (split: string, subset: string) => prev?.scores[split]?.find((e) => e.hf_subset === subset);
    const wanted = splits.flatMap((split) => subsets.map((subset) => ({ split, subset })));
    const todo = opts.overwrite ? wanted : wanted.filter((w) => !prevEntry(w.split, w.subset));
    const rowOf = (w: { split: string; subset: string }, score: number, seconds?: number): TaskRow => ({ task: task.name, type: task.type, ...w, metric: task.mainScore, score, ...(seconds !== undefined ? { seconds } : {}) });
    if (todo.length === 0) {
      progress.log(`${head}: already evaluated (${existingPath}), skipping`);
      outcomes.push({ task, result: prev!, path: existingPath, skipped: true, embedded: 0, cached: 0 });
      for (const w of wanted) rows.push(rowOf(w, prevEntry(w.split, w.subset)!.main_score));
      return;
    }
    let source = p.source;
    if (!source) {
      if (!opts.dataDir) throw new Error(`${task.name}: --data-dir is required for registry tasks (or pass a task folder path)`);
      source = locateTask(opts.dataDir, task);
      task = withFolderOverrides(task, source);
    }
    const names = (key: 'split' | 'subset') => [...new Set(todo.map((w) => w[key]))].join('+');
    progress.log(`${head} (${task.type}, ${names('split')}${subsets.length > 1 || subsets[0] !== 'default' ? `, ${names('subset')}` : ''}) from ${source.dir}`);
    const started = performance.now();
    const scores: Record<string, Record<string, Record<string, ScoreValue>>> = {};
    let embedded = 0;
    let cached = 0;
    const fitted: Record<string, string> = {};
    for (const w of wanted) {
      const { split, subset } = w;
      if (!todo.includes(w)) {
        rows.push(rowOf(w, prevEntry(split, subset)!.main_score));
        continue;
      }
      const label = `[${task.name}] ${split}${subset !== 'default' ? `/${subset}` : ''}`;
      const t0 = performance.now();
      const data = await loadData(task, source, split, subset);
      const embedder = typeof opts.model === 'function' ? await opts.model({ task, texts: fitTexts(task, data) }) : opts.model;
      if (!fixed) fitted[`${split}/${subset}`] = embedder.id;
      const encoder = new TaskEncoder(embedder, task, { cache: cacheFor(embedder), instructions: opts.instructions, progress });
      const s = await runEvaluator(task, data, encoder, opts, progress, label);
      s.main_score = s[task.mainScore] as number;
      (scores[split] ??= {})[subset] = s as Record<string, ScoreValue>;
      embedded += encoder.embedded;
      cached += encoder.cached;
      const secs = (performance.now() - t0) / 1000;
      rows.push(rowOf(w, s.main_score as number, secs));
      progress.log(`${label}: ${task.mainScore} = ${(s.main_score as number).toFixed(6)} (${secs.toFixed(1)} s; ${encoder.embedded} texts embedded, ${encoder.cached} from cache)`);
      if (!folder || metaWritten) continue;
      writeModelMeta(folder, { name: modelName, revision, dim: embedder.dim, maxTokens: embedder.maxLength, instructions });
      metaWritten = true;
    }
    const fresh = taskResult(task, scores, (performance.now() - started) / 1000);
    const result = prev ? mergeTaskResults(prev, fresh) : fresh;
    // The record follows the result file. A record naming another model (or any record, when this model
    // has no identity) is removed before the file is replaced, so a crash in between leaves no record
    // (reuse with a warning), never a record that names a model the file's scores are not from. Records are
    // re-read from disk before each change, so runs on other tasks of the folder keep theirs.
    const before = records.get(task.name);
    const update = (change: (current: Map<string, TaskIdentity>) => void) => {
      const current = readIdentities(folder!);
      change(current);
      writeIdentities(folder!, current);
    };
    if (folder && before && !(identity && sameIdentity(before, identity))) update((c) => c.delete(task.name));
    const path = folder ? writeTaskResult(folder, result) : undefined;
    if (folder && identity) {
      const keep = prev && before && sameIdentity(before, identity) ? before.fitted : undefined;
      const all = { ...keep, ...fitted };
      update((c) => c.set(task.name, { ...identity, ...(Object.keys(all).length ? { fitted: all } : {}) }));
    }
    outcomes.push({ task, result, path, skipped: false, embedded, cached });
  };
  try {
    for (const [ti, p] of planned.entries()) {
      try {
        await runTask(ti, p);
      } catch (e) {
        if (!continueOnError) throw e;
        const error = (e as Error).message ?? String(e);
        failures.push({ task: p.task.name, error });
        progress.log(`[${ti + 1}/${planned.length}] ${p.task.name} FAILED: ${error}`);
      }
    }
  } finally {
    for (const c of caches.values()) c.close();
  }
  let summary: BenchmarkSummary | undefined;
  if (benchmark) {
    summary = summarizeBenchmark(benchmark, new Map(outcomes.map((o) => [o.task.name, o.result])));
    if (folder) writeJsonFile(join(folder, 'qzhou', `summary-${benchmark.name.replace(/[^A-Za-z0-9]+/g, '_')}.json`), summary);
  }
  if (folder) {
    writeJsonFile(join(folder, 'qzhou', 'run.json'), {
      tool: 'qzhou eval',
      semantics: `mteb ${MTEB_SEMANTICS_VERSION}`,
      model: modelName,
      revision,
      instructions,
      identity: identity ?? null,
      benchmark: benchmark?.name ?? null,
      tasks: outcomes.map((o) => ({ task: o.task.name, path: o.path, skipped: o.skipped, embedded: o.embedded, cached: o.cached })),
      failures,
      warnings,
      finished: new Date().toISOString(),
    });
  }
  return { outcomes, failures, rows, folder, summary, warnings };
}

/**
 * Checks the planned tasks' existing result files against the folder's identity records before anything
 * runs: another model's results are a ResultIdentityError (listing every such task), or with `overwrite`
 * are marked for replacement; files without a record (older qzhou, mteb) are reused with a warning.
 */
function checkIdentities(
  folder: string,
  tasks: string[],
  records: ReadonlyMap<string, TaskIdentity>,
  identity: ModelIdentity | undefined,
  overwrite: boolean,
  replaced: Set<string>,
  warn: (m: string) => void,
): void {
  const conflicts: { task: string; recorded: ModelIdentity }[] = [];
  const unrecorded: string[] = [];
  const unverifiable: string[] = [];
  for (const task of tasks) {
    if (!existsSync(join(folder, `${task}.json`))) continue;
    const recorded = records.get(task);
    if (!recorded) unrecorded.push(task);
    else if (!identity) unverifiable.push(task);
    else if (!sameIdentity(recorded, identity)) conflicts.push({ task, recorded });
  }
  if (conflicts.length && identity) {
    if (!overwrite) throw new ResultIdentityError(folder, conflicts, identity);
    for (const c of conflicts) replaced.add(c.task);
    warn(`${folder}: replacing the results of ${conflicts.map((c) => `${c.task} (${describeIdentity(c.recorded)})`).join(', ')} with this run's model ${describeIdentity(identity)}`);
  }
  if (unrecorded.length) {
    warn(
      `${folder}: ${unrecorded.map((t) => `${t}.json`).join(', ')} ${unrecorded.length > 1 ? 'have' : 'has'} no model identity record ` +
        `(written by an older qzhou or by mteb); ${overwrite ? 'splits and subsets not re-run are kept' : 'reused'} as results of this model without verification`,
    );
  }
  if (unverifiable.length) {
    warn(`${folder}: the model factory declares no id, so ${unverifiable.map((t) => `${t}.json`).join(', ')} cannot be checked against it; ${overwrite ? 'splits and subsets not re-run are kept' : 'reused'} without verification`);
  }
}
