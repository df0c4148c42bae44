// Plain-text tables for the terminal: per-task scores, and a benchmark summary with type means.
import type { BenchmarkSummary } from './aggregate.js';

export interface TaskRow {
  task: string;
  type: string;
  split: string;
  subset: string;
  metric: string;
  /** The task's main score as mteb writes it (0–1; tables show it × 100). */
  score: number;
  seconds?: number;
}

function render(header: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const pct = (x: number) => (Number.isNaN(x) ? '—' : (x * 100).toFixed(2));

/** One row per evaluated (task, split, subset): main score ×100. */
export function formatTaskTable(rows: readonly TaskRow[]): string {
  return render(
    ['Task', 'Type', 'Split', 'Subset', 'Metric', 'Score', 'Time (s)'],
    rows.map((r) => [r.task, r.type, r.split, r.subset, r.metric, pct(r.score), r.seconds === undefined ? '' : r.seconds.toFixed(1)]),
    new Set([5, 6]),
  );
}

/** The benchmark view: per task, per type, then Mean(Task) and Mean(TaskType). */
export function formatBenchmarkSummary(s: BenchmarkSummary): string {
  const taskRows = s.tasks.map((t) => [t.task, t.type, pct(t.score), t.missing ?? '']);
  const typeRows = Object.entries(s.typeMeans).map(([type, v]) => [type, pct(v!)]);
  return [
    `${s.benchmark}: ${s.completed}/${s.tasks.length} tasks`,
    render(['Task', 'Type', 'Score', 'Note'], taskRows, new Set([2])),
    '',
    render(['Task type', 'Mean'], typeRows, new Set([1])),
    '',
    `Mean(Task)     ${Number.isNaN(s.meanTask) ? '— (tasks missing)' : s.display.meanTask.toFixed(2)}`,
    `Mean(TaskType) ${Number.isNaN(s.meanType) ? '— (tasks missing)' : s.display.meanType.toFixed(2)}`,
  ].join('\n');
}
