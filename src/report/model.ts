// What a report shows, as plain data: the pipeline gathers it from a run folder; the renderers turn it
// into report.md, report.html and SVG plots. Nothing here depends on how the run was produced.

export interface ReportFact {
  label: string;
  value: string;
}

export interface ReportStep {
  name: string;
  description: string;
  /** 'ran' | 'reused' | 'skipped' | 'resumed' | 'pending'. */
  status: string;
  seconds: number | null;
  note?: string;
}

export interface EvalModelInfo {
  name: string;
  /** 'trained' | 'init' | 'tfidf' | anything else. */
  role: string;
  description: string;
}

export interface EvalScore {
  model: string;
  task: string;
  split: string;
  metric: string;
  /** The main score as mteb writes it (0–1). */
  score: number;
}

export interface DataSetInfo {
  name: string;
  family: string;
  dataset: string;
  /** 'source' | 'derived' | 'synthetic' (mined sets keep their origin). */
  origin: string;
  records: number;
  /** How many of the records are LLM-synthesised. */
  synthetic?: number;
}

export interface SourceInfo {
  source: string;
  read: number;
  written: number;
  dropped: Record<string, number>;
  warnings: Record<string, number>;
  note?: string;
}

export interface MiningInfo {
  name: string;
  queries: number;
  negatives: number;
  /** Queries that got fewer negatives than asked for. */
  short: number;
  documents: number;
  dropped: Record<string, number>;
}

export interface SynthJobInfo {
  name: string;
  generator: string;
  source: string;
  items: number;
  outputs: number;
  tries: number;
  rejections: Record<string, number>;
  costUsd: number;
}

export type SynthesisInfo = { status: 'skipped'; notice: string } | { status: 'done'; model: string; jobs: SynthJobInfo[] };

/** One logged training step (or an aggregate of a few), on the run's global step axis. */
export interface TrainingPoint {
  step: number;
  stage: string;
  family: string;
  dataset?: string;
  loss: number;
  lr: number;
  tokensPerSecond?: number;
}

export interface StageInfo {
  name: string;
  steps: number;
  seconds: number | null;
  /** Batches drawn per family. */
  batches: Record<string, number>;
  settings: ReportFact[];
}

export interface ReportData {
  title: string;
  generatedAt: string;
  facts: ReportFact[];
  steps: ReportStep[];
  evaluation: { models: EvalModelInfo[]; rows: EvalScore[]; note?: string } | null;
  data: { sets: DataSetInfo[]; sources: SourceInfo[]; mining: MiningInfo[] | null };
  synthesis: SynthesisInfo;
  training: {
    stages: StageInfo[];
    points: TrainingPoint[];
    stageStarts: { name: string; step: number }[];
    /** Scores from evaluations during training (main score, 0–1), when the stages ran any. */
    evals?: { step: number; task: string; split: string; metric: string; score: number }[];
  } | null;
}
