// The step runner behind `qzhou pipeline`: runs the steps in order, each in its own folder of the run
// folder. A step is skipped when its `_DONE.json` marker matches the fingerprint of its inputs (settings,
// source files by content, upstream outputs by digest) and its outputs are still there; otherwise it runs,
// resuming in place when it was interrupted with the same inputs (through the underlying tool's own resume:
// transform checkpoints, the synthesis journal, the mining work folder, trainer checkpoints, evaluation
// result files), or from a clean folder when its inputs changed or it is forced (--force).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PipelineConfig } from './config.js';
import { formatSeconds } from '../report/tables.js';
import { describeOutputs, digestOf } from './fingerprint.js';
import { RunFolder, MARKER_VERSION, writeJsonAtomic, type StepMarker } from './run-folder.js';

export type StepName = 'transform' | 'synth' | 'mine' | 'init' | 'stage1' | 'stage2' | 'eval' | 'report';

export interface StepContext {
  readonly config: PipelineConfig;
  readonly run: RunFolder;
  /** This step's folder (exists, empty on a fresh start). */
  readonly dir: string;
  /** 1 on a fresh start; > 1 when resuming an interrupted attempt with the same inputs. */
  readonly attempt: number;
  readonly signal: AbortSignal;
  /** The marker of a completed upstream step. */
  upstream(step: StepName): StepMarker;
  /** Folder of another step. */
  stepDir(step: StepName): string;
  /** A line on stderr, prefixed with the step's name. */
  log(message: string): void;
  /**
   * Runs `fn` once per key within this step's attempts: its JSON result is saved under `_parts/` so that
   * a resumed step does not redo finished parts (e.g. one source file of several).
   */
  part<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

export interface StepOutcome {
  status?: 'done' | 'skipped';
  /** Why the step was skipped (shown and kept in the marker). */
  notice?: string;
  /** Files/folders the step produced, relative to its folder. */
  outputs: string[];
  summary: Record<string, unknown>;
  /**
   * The part of the summary that later steps act on (e.g. the record sets they read). It is part of
   * the outputs' digest, so a change to it reruns them even when the files are byte-identical.
   */
  exports?: unknown;
}

export interface PipelineStep {
  name: StepName;
  /** One line for logs and the plan. */
  title: string;
  /** Steps whose outputs this one reads (their digests are part of its fingerprint). */
  after: StepName[];
  /** Bump when the step's behaviour changes, so old markers no longer match. */
  version: number;
  /** What else the step's result depends on: its settings and source files (by content). */
  identity(config: PipelineConfig): Promise<unknown>;
  run(ctx: StepContext): Promise<StepOutcome>;
}

export interface StepReport {
  step: StepName;
  /** 'ran': executed now; 'reused': complete from an earlier run; 'skipped': nothing to do (see notice). */
  status: 'ran' | 'reused' | 'skipped' | 'pending';
  resumed: boolean;
  seconds: number;
  notice?: string;
  reason?: string;
  marker?: StepMarker;
}

export interface RunPipelineOptions {
  /** Steps to run even when complete, with the steps that read their outputs (transitively). */
  force?: StepName[];
  /** Stop after this step. */
  until?: StepName;
  signal?: AbortSignal;
  /** Lines for the user (default: stderr). */
  log?: (line: string) => void;
}

export interface PipelineResult {
  folder: string;
  steps: StepReport[];
  /** True when every step up to `until` (or the last) is complete. */
  complete: boolean;
}

export class PipelineInterrupted extends Error {
  /** `forced`: the run had --force (rerunning it would start the forced steps over, not resume them). */
  constructor(readonly step: StepName, forced = false) {
    super(`interrupted during step "${step}"; ${forced ? 'run the command again without --force to resume' : 'run the same command again to resume'}`);
    this.name = 'PipelineInterrupted';
  }
}

/** A step threw: the message names the step; finished steps stay reusable and a rerun resumes this one. */
export class StepFailedError extends Error {
  constructor(readonly step: StepName, cause: unknown) {
    super(`step ${step} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'StepFailedError';
  }
}

/** The forced steps and every step that reads, directly or not, one of their outputs. */
function forcedClosure(steps: readonly PipelineStep[], force: readonly StepName[]): Set<StepName> {
  const out = new Set<StepName>(force);
  for (const s of steps) if (s.after.some((a) => out.has(a))) out.add(s.name);
  return out;
}

export async function stepFingerprint(step: PipelineStep, config: PipelineConfig, upstream: Map<StepName, StepMarker>): Promise<string> {
  const deps: Record<string, string> = {};
  for (const d of step.after) {
    const m = upstream.get(d);
    if (!m) throw new Error(`step ${step.name}: upstream step ${d} has not completed`);
    deps[d] = m.outputsDigest;
  }
  return digestOf({ step: step.name, version: step.version, identity: await step.identity(config), upstream: deps });
}

/** Index of the last step to run (`until`, else the last one); unknown step names in the options are errors. */
function lastStepIndex(steps: readonly PipelineStep[], opts: Pick<RunPipelineOptions, 'force' | 'until'>): number {
  const names = steps.map((s) => s.name);
  for (const f of opts.force ?? []) if (!names.includes(f)) throw new Error(`--force: unknown step "${f}" (steps: ${names.join(', ')})`);
  if (opts.until && !names.includes(opts.until)) throw new Error(`--until: unknown step "${opts.until}" (steps: ${names.join(', ')})`);
  return opts.until ? names.indexOf(opts.until) : steps.length - 1;
}

/** Runs (or reuses) each step in order. */
export async function runSteps(config: PipelineConfig, steps: readonly PipelineStep[], opts: RunPipelineOptions = {}): Promise<PipelineResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const signal = opts.signal ?? new AbortController().signal;
  const run = new RunFolder(config.output);
  const names = steps.map((s) => s.name);
  const lastIndex = lastStepIndex(steps, opts);

  run.lock();
  try {
    writeJsonAtomic(join(config.output, 'pipeline.json'), { config, steps: names, updatedAt: new Date().toISOString() });
    const completed = new Map<StepName, StepMarker>();
    const reports: StepReport[] = [];
    const forcedSteps = forcedClosure(steps, opts.force ?? []);
    const interrupted = (s: StepName) => new PipelineInterrupted(s, forcedSteps.size > 0);
    log(`qzhou pipeline: run folder ${config.output}`);
    // Forced steps start from an empty folder (their old outputs, checkpoints, result files are not
    // resumed or read back). All of them that this run reaches are cleared before anything runs, the last
    // one first, so a kill at any point never leaves a step complete (or resumable) on top of a forced
    // step that was cleared: a rerun without --force resumes the forced rerun where it stopped.
    for (let i = lastIndex; i >= 0; i--) if (forcedSteps.has(steps[i]!.name)) run.discard(steps[i]!.name);
    for (let i = 0; i <= lastIndex; i++) {
      const step = steps[i]!;
      const tag = `[${i + 1}/${steps.length}] ${step.name}`;
      if (signal.aborted) throw interrupted(step.name);
      const forced = forcedSteps.has(step.name);
      const fingerprint = await stepFingerprint(step, config, completed);
      const state = run.check(step.name, fingerprint);
      if (state.complete && !forced) {
        completed.set(step.name, state.marker);
        const skippedNote = state.marker.status === 'skipped' ? ` (skipped: ${state.marker.notice})` : '';
        log(`qzhou pipeline: ${tag}: complete from an earlier run, reused${skippedNote}`);
        reports.push({ step: step.name, status: state.marker.status === 'skipped' ? 'skipped' : 'reused', resumed: false, seconds: 0, marker: state.marker, ...(state.marker.notice ? { notice: state.marker.notice } : {}) });
        continue;
      }
      const reason = forced ? 'forced' : state.complete ? '' : state.reason;
      const started = run.begin(step.name, fingerprint, { fresh: forced });
      const resumed = started.attempt > 1;
      log(`qzhou pipeline: ${tag}: ${step.title}${resumed ? ` — resuming (attempt ${started.attempt})` : reason && reason !== 'not run yet' ? ` — running (${reason})` : ''}`);
      const dir = run.stepDir(step.name);
      const t0 = Date.now();
      const ctx: StepContext = {
        config,
        run,
        dir,
        attempt: started.attempt,
        signal,
        upstream: (s) => {
          const m = completed.get(s);
          if (!m) throw new Error(`step ${step.name} reads step ${s}, which has not completed`);
          return m;
        },
        stepDir: (s) => run.stepDir(s),
        log: (message) => log(`qzhou pipeline: ${step.name}: ${message}`),
        part: async <T>(key: string, fn: () => Promise<T>): Promise<T> => {
          const file = join(dir, '_parts', `${key.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
          if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { value: T }).value;
          const value = await fn();
          writeJsonAtomic(file, { value });
          return value;
        },
      };
      let outcome: StepOutcome;
      try {
        outcome = await step.run(ctx);
      } catch (e) {
        if (signal.aborted) throw interrupted(step.name);
        throw new StepFailedError(step.name, e);
      }
      if (signal.aborted) throw interrupted(step.name);
      const outputs = await describeOutputs(dir, outcome.outputs);
      const seconds = (Date.now() - t0) / 1000;
      const marker: StepMarker = {
        version: MARKER_VERSION,
        step: step.name,
        fingerprint,
        status: outcome.status ?? 'done',
        ...(outcome.notice ? { notice: outcome.notice } : {}),
        startedAt: started.startedAt,
        finishedAt: new Date().toISOString(),
        seconds,
        attempts: started.attempt,
        outputs,
        outputsDigest: digestOf({ files: outputs.map((o) => [o.path, o.hash]), exports: outcome.exports ?? null }),
        summary: outcome.summary,
      };
      run.finish(marker);
      completed.set(step.name, marker);
      if (marker.status === 'skipped') log(`qzhou pipeline: ${tag}: skipped — ${marker.notice}`);
      else log(`qzhou pipeline: ${tag}: done in ${formatSeconds(seconds)}`);
      reports.push({ step: step.name, status: marker.status === 'skipped' ? 'skipped' : 'ran', resumed, seconds, marker, ...(reason ? { reason } : {}), ...(marker.notice ? { notice: marker.notice } : {}) });
    }
    for (let i = lastIndex + 1; i < steps.length; i++) reports.push({ step: steps[i]!.name, status: 'pending', resumed: false, seconds: 0 });
    return { folder: config.output, steps: reports, complete: true };
  } finally {
    run.unlock();
  }
}

export interface PlannedStep {
  step: StepName;
  title: string;
  /** 'reuse': complete and unchanged; 'run': will run (reason says why). */
  action: 'reuse' | 'run';
  reason: string;
}

/** What a run would do, without running anything. */
export async function planSteps(config: PipelineConfig, steps: readonly PipelineStep[], opts: Pick<RunPipelineOptions, 'force' | 'until'> = {}): Promise<PlannedStep[]> {
  const run = new RunFolder(config.output);
  const completed = new Map<StepName, StepMarker>();
  const out: PlannedStep[] = [];
  let blocked: string | null = null;
  const forcedSteps = forcedClosure(steps, opts.force ?? []);
  const lastIndex = lastStepIndex(steps, opts);
  for (let i = 0; i <= lastIndex; i++) {
    const step = steps[i]!;
    const forced = forcedSteps.has(step.name);
    if (blocked) {
      out.push({ step: step.name, title: step.title, action: 'run', reason: `after ${blocked}` });
      continue;
    }
    const fp = await stepFingerprint(step, config, completed);
    const state = run.check(step.name, fp);
    if (state.complete && !forced) {
      completed.set(step.name, state.marker);
      out.push({ step: step.name, title: step.title, action: 'reuse', reason: state.marker.status === 'skipped' ? `skipped earlier: ${state.marker.notice}` : 'complete' });
    } else {
      const started = run.started(step.name);
      const reason = forced ? 'forced' : started && started.fingerprint === fp && !run.marker(step.name) ? 'interrupted earlier: will resume' : state.complete ? 'complete' : state.reason;
      out.push({ step: step.name, title: step.title, action: 'run', reason });
      blocked = step.name;
    }
  }
  return out;
}
