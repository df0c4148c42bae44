// Benchmark aggregation (mteb-semantics.md §9): a task's score is the plain mean of main_score over the
// benchmark's split × subset entries (the 6-decimal values stored in the JSON); Mean(Task) is the plain
// mean of task scores (NaN when any task is missing); Mean(TaskType) the mean of per-type means. Display
// values are ×100 rounded to 2 decimals. Also the leaderboard's Borda rank over several models.
import type { Benchmark } from './benchmarks.js';
import { npMean, pythonRound } from './numeric.js';
import type { TaskResultJson } from './results.js';
import { findTask, TASK_TYPES, type TaskType } from './tasks.js';

export interface TaskScore {
  task: string;
  type: TaskType;
  /** 0–1; NaN when the result or one of its selected entries is missing. */
  score: number;
  /** What is missing, when score is NaN. */
  missing?: string;
  entries: { split: string; subset: string; main_score: number }[];
}

export interface BenchmarkSummary {
  benchmark: string;
  tasks: TaskScore[];
  /** Per type: mean of its task scores (0–1). */
  typeMeans: Partial<Record<TaskType, number>>;
  /** 0–1, unrounded. */
  meanTask: number;
  meanType: number;
  /** ×100, rounded to 2 decimals (the leaderboard's display). */
  display: { meanTask: number; meanType: number; types: Partial<Record<TaskType, number>> };
  /** Tasks present with a score. */
  completed: number;
}

/** A task's score from its result file, over the selected splits and subsets. */
export function taskScore(result: TaskResultJson | undefined, splits: readonly string[], subsets: readonly string[]): { score: number; missing?: string; entries: TaskScore['entries'] } {
  if (!result) return { score: NaN, missing: 'no result file', entries: [] };
  const entries: TaskScore['entries'] = [];
  for (const split of splits) {
    const list = result.scores[split];
    if (!list) return { score: NaN, missing: `split "${split}" missing`, entries };
    for (const subset of subsets) {
      const e = list.find((x) => x.hf_subset === subset);
      if (!e) return { score: NaN, missing: `subset "${subset}" of split "${split}" missing`, entries };
      entries.push({ split, subset, main_score: e.main_score });
    }
  }
  return { score: npMean(entries.map((e) => e.main_score)), entries };
}

export function summarizeBenchmark(benchmark: Benchmark, results: ReadonlyMap<string, TaskResultJson>): BenchmarkSummary {
  const tasks: TaskScore[] = benchmark.tasks.map((bt) => {
    const meta = findTask(bt.task);
    const { score, missing, entries } = taskScore(results.get(bt.task), bt.splits, bt.subsets);
    return { task: bt.task, type: meta?.type ?? 'Retrieval', score, ...(missing ? { missing } : {}), entries };
  });
  const typeMeans: Partial<Record<TaskType, number>> = {};
  for (const type of TASK_TYPES) {
    const scores = tasks.filter((t) => t.type === type).map((t) => t.score);
    if (scores.length) typeMeans[type] = npMean(scores);
  }
  const meanTask = npMean(tasks.map((t) => t.score));
  const meanType = npMean(Object.values(typeMeans));
  const types: Partial<Record<TaskType, number>> = {};
  for (const [t, v] of Object.entries(typeMeans)) types[t as TaskType] = pythonRound(v! * 100, 2);
  return {
    benchmark: benchmark.name,
    tasks,
    typeMeans,
    meanTask,
    meanType,
    display: { meanTask: pythonRound(meanTask * 100, 2), meanType: pythonRound(meanType * 100, 2), types },
    completed: tasks.filter((t) => !Number.isNaN(t.score)).length,
  };
}

/** Average ranks (1 = best) of values, descending, ties sharing the mean rank. */
function averageRanksDesc(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
  const ranks = new Array<number>(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    for (let t = i; t <= j; t++) ranks[order[t]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return ranks;
}

/**
 * The leaderboard's Borda rank: per task, models get n − rank (average ranks for ties); points are summed
 * over tasks; models are ranked by total points, tied totals sharing the best (minimum) rank.
 */
export function bordaRanks(scores: ReadonlyMap<string, ReadonlyMap<string, number>>): Map<string, { points: number; rank: number }> {
  const models = [...scores.keys()];
  const tasks = new Set<string>();
  for (const m of scores.values()) for (const t of m.keys()) tasks.add(t);
  const points = new Map(models.map((m) => [m, 0]));
  for (const task of tasks) {
    const vals = models.map((m) => scores.get(m)!.get(task) ?? -Infinity);
    const ranks = averageRanksDesc(vals);
    models.forEach((m, i) => points.set(m, points.get(m)! + (models.length - ranks[i]!)));
  }
  const out = new Map<string, { points: number; rank: number }>();
  for (const m of models) {
    const p = points.get(m)!;
    const rank = 1 + models.filter((o) => points.get(o)! > p).length;
    out.set(m, { points: p, rank });
  }
  return out;
}
