// Task metadata: the shape of a task definition, lookup in the shipped registry (task-registry.ts),
// and the instruction rule (which side of a task gets QZhou's instruction).
import { instructionForSide, taskInstruction, type InstructionSides } from '../model/instructions.js';
import { TASK_REGISTRY } from './task-registry.js';

export type TaskType = 'Retrieval' | 'Reranking' | 'STS' | 'PairClassification' | 'Classification' | 'Clustering' | 'Summarization';
export const TASK_TYPES: readonly TaskType[] = ['Retrieval', 'Reranking', 'STS', 'PairClassification', 'Classification', 'Clustering', 'Summarization'];

export interface ClassificationSettings {
  /** Training rows kept per label in each experiment (mteb default 8). */
  samplesPerLabel: number;
  /** Experiments averaged (mteb default 10). */
  nExperiments: number;
  /** The split the classifier is trained on (default 'train'). */
  trainSplit?: string;
  /** mteb subsamples the test split to this many rows with HF datasets' train_test_split, stratified by label (reproduced: hf-split.ts). */
  stratifiedTestSubsample?: number;
}

export interface RetrievalSettings {
  /** Drop a result whose doc id equals the query id (after top-k). */
  ignoreIdenticalIds: boolean;
  /** How a document's title and text become one string: 1.38's default loader (`title + " " + text`, unstripped) or C-MTEB's (stripped). */
  corpusText: 'title-space-text' | 'stripped';
}

export interface ClusteringSettings {
  /** 'fast': AbsTaskClusteringFast (v2 English tasks); 'legacy': AbsTaskClustering (C-MTEB). */
  mode: 'fast' | 'legacy';
  /** Fast: fraction of documents embedded (default 0.04); null embeds all. */
  maxFraction?: number | null;
  /** Fast: labels are split on this separator into hierarchy levels (ArXiv: "."). */
  labelSeparator?: string;
  /** mteb takes a seeded train_test_split of this many test rows first (reproduced: hf-split.ts). */
  testSubsample?: number;
  /** mteb takes a stratified train_test_split subsample of this size first (reproduced: hf-split.ts). */
  stratifiedSubsample?: number;
  /** Remove the one document of every label that occurs once (StackExchangeClusteringP2P.v2). */
  removeSoloLabels?: boolean;
}

export interface TaskMetadata {
  name: string;
  type: TaskType;
  mainScore: string;
  /** The task's own eval splits (a benchmark may select fewer). */
  evalSplits: string[];
  /** HF subset → language tags ("default" for monolingual tasks). */
  subsets: Record<string, string[]>;
  dataset: { path: string; revision: string; qrelsPath?: string; qrelsRevision?: string };
  classification?: ClassificationSettings;
  retrieval?: RetrievalSettings;
  clustering?: ClusteringSettings;
  /** Gold score bounds (STS, summarisation), used for mteb's normalisation (affine: correlations do not change). */
  scoreRange?: [number, number];
  /** The instruction, if the task has one. */
  instruction?: string;
  /** 'both': every text gets the instruction; 'query': only queries. */
  instructionSides?: InstructionSides;
}

const BY_NAME = new Map<string, TaskMetadata>();
for (const t of TASK_REGISTRY) {
  const ins = taskInstruction(t.name);
  BY_NAME.set(t.name, { ...t, ...(ins ? { instruction: ins.instruction, instructionSides: ins.sides } : {}) });
}

/** All registry tasks (72). */
export function listTasks(): TaskMetadata[] {
  return [...BY_NAME.values()];
}

/** A registry task by name (case-insensitive match as a fallback); undefined when unknown. */
export function findTask(name: string): TaskMetadata | undefined {
  const exact = BY_NAME.get(name);
  if (exact) return exact;
  const lower = name.toLowerCase();
  for (const t of BY_NAME.values()) if (t.name.toLowerCase() === lower) return t;
  return undefined;
}

/** A registry task by name; throws listing close names when unknown. */
export function getTask(name: string): TaskMetadata {
  const t = findTask(name);
  if (t) return t;
  const lower = name.toLowerCase();
  const close = [...BY_NAME.keys()].filter((n) => n.toLowerCase().includes(lower.slice(0, 4)) || lower.includes(n.toLowerCase().slice(0, 6))).slice(0, 8);
  throw new Error(`unknown task "${name}"${close.length ? `; did you mean ${close.join(', ')}?` : ''} (\`qzhou eval --list-tasks\` lists all ${BY_NAME.size})`);
}

export type TextSide = 'query' | 'document';

/**
 * The instruction applied to one side of a task: queries always get the task's instruction; documents
 * only when it goes on both sides. Non-retrieval tasks encode everything as 'query' (mteb passes no
 * prompt type, and QZhou's scripts put B-side instructions on all texts).
 */
export function instructionFor(task: TaskMetadata, side: TextSide): string {
  if (task.instruction === undefined) return instructionForSide(task.name, side) ?? '';
  if (side === 'query' || task.instructionSides === 'both') return task.instruction;
  return '';
}
