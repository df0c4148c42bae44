// The pipeline's steps, in order: transform → synth → mine → init → stage1 → stage2 → eval → report.
import type { PipelineStep, StepName } from './runner.js';
import { transformStep } from './steps/transform.js';
import { synthStep } from './steps/synth.js';
import { mineStep } from './steps/mine.js';
import { initStep } from './steps/init.js';
import { stage1Step, stage2Step } from './steps/train.js';
import { evalStep } from './steps/eval.js';
import { reportStep } from './steps/report.js';

export const PIPELINE_STEPS: readonly PipelineStep[] = [transformStep, synthStep, mineStep, initStep, stage1Step, stage2Step, evalStep, reportStep];

export const STEP_NAMES: readonly StepName[] = PIPELINE_STEPS.map((s) => s.name);
