// Public API of the pipeline area: `qzhou pipeline` as a library — load a pipeline config, run (or plan)
// its steps in a run folder, and the pieces (step runner, run folder, record-file helpers).
import type { PipelineConfig } from './config.js';
import { planSteps, runSteps, type PipelineResult, type PipelineStep, type PlannedStep, type RunPipelineOptions } from './runner.js';
import { PIPELINE_STEPS } from './steps.js';

export {
  loadPipelineConfig, parsePipelineConfig, PipelineConfigError, familyOf, readOptionsOf,
  type PipelineConfig, type SourceSpec, type SynthSpec, type SynthJobSpec, type MineSpec, type ModelSpec, type ModelInitSpec, type TrainSpec,
  type EvalSpec, type EvalTaskSpec, type FileRead, type DecontaminationSpec, type LoadPipelineOptions, type ConfigIssue, type StageName,
} from './config.js';
export {
  runSteps, planSteps, stepFingerprint, PipelineInterrupted, StepFailedError,
  type PipelineStep, type StepName, type StepContext, type StepOutcome, type StepReport, type PipelineResult, type PlannedStep, type RunPipelineOptions,
} from './runner.js';
export { RunFolder, RunLockedError, DONE_FILE, STARTED_FILE, writeJsonAtomic, type StepMarker, type StartedMarker } from './run-folder.js';
export { canonicalJson, digestOf, hashFile, fileIdentity, describeOutputs, type FileEntry } from './fingerprint.js';
export { sampleRecordFile, pairsToRetrieval, writeLinesAtomic, type SampleReport, type PairsToRetrievalReport } from './derive.js';
export { recordSetsOf, type RecordSet } from './record-sets.js';
export { resolveEndpoint, synthNotice } from './steps/synth.js';
export { mergeSynthetic } from './steps/mine.js';
export { modelConfigJson } from './steps/init.js';
export { rawStageConfig } from './steps/train.js';
export { gatherReport } from './steps/report.js';
export { PIPELINE_STEPS, STEP_NAMES } from './steps.js';

/** Runs the pipeline's steps (or `opts.steps`) in the config's run folder, skipping completed ones. */
export function runPipeline(config: PipelineConfig, opts: RunPipelineOptions & { steps?: readonly PipelineStep[] } = {}): Promise<PipelineResult> {
  return runSteps(config, opts.steps ?? PIPELINE_STEPS, opts);
}

/** What `runPipeline` would do now, without running anything. */
export function planPipeline(config: PipelineConfig, opts: Pick<RunPipelineOptions, 'force' | 'until'> & { steps?: readonly PipelineStep[] } = {}): Promise<PlannedStep[]> {
  return planSteps(config, opts.steps ?? PIPELINE_STEPS, opts);
}
