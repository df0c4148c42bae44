// Tables shared by the HTML and Markdown renderers, as rows of plain strings (renderers escape them).
import type { ReportData } from './model.js';

export interface Table {
  header: string[];
  rows: string[][];
  /** Column indexes that hold numbers (right-aligned). */
  numeric: number[];
  /** Cells to emphasise, as "row:col". */
  strong?: Set<string>;
}

const int = (n: number) => n.toLocaleString('en-US');
const countsText = (m: Record<string, number>) =>
  Object.entries(m)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${int(n)}`)
    .join(', ') || '–';

/** "12.3 s" below a minute, else "3 min 07 s" (rounded to the second first, so never "1 min 60 s"). */
export function formatSeconds(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '–';
  if (s < 59.95) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
}

/** Tasks × models, main score × 100; the best score of each row emphasised; Δ = trained − TF-IDF. */
export function evaluationTable(data: ReportData): Table | null {
  const ev = data.evaluation;
  if (!ev || ev.rows.length === 0) return null;
  const keys = [...new Map(ev.rows.map((r) => [`${r.task}\u0000${r.split}\u0000${r.metric}`, r])).values()];
  const trained = ev.models.find((m) => m.role === 'trained');
  const tfidf = ev.models.find((m) => m.role === 'tfidf');
  const header = ['Task', 'Split', 'Metric', ...ev.models.map((m) => m.name)];
  if (trained && tfidf) header.push(`Δ ${trained.name} − ${tfidf.name}`);
  const strong = new Set<string>();
  const rows = keys.map((k, ri) => {
    const scores = ev.models.map((m) => ev.rows.find((r) => r.model === m.name && r.task === k.task && r.split === k.split && r.metric === k.metric)?.score);
    const best = Math.max(...scores.filter((s): s is number => s !== undefined && Number.isFinite(s)));
    scores.forEach((s, ci) => {
      if (s !== undefined && s === best) strong.add(`${ri}:${3 + ci}`);
    });
    const row = [k.task, k.split, k.metric, ...scores.map((s) => (s === undefined ? '–' : (100 * s).toFixed(2)))];
    if (trained && tfidf) {
      const a = scores[ev.models.indexOf(trained)];
      const b = scores[ev.models.indexOf(tfidf)];
      row.push(a !== undefined && b !== undefined ? `${a >= b ? '+' : '−'}${Math.abs(100 * (a - b)).toFixed(2)}` : '–');
    }
    return row;
  });
  const numeric = header.map((_, i) => i).filter((i) => i >= 3);
  return { header, rows, numeric, strong };
}

export function modelsTable(data: ReportData): Table | null {
  const ev = data.evaluation;
  if (!ev) return null;
  return { header: ['Model', 'Role', 'What it is'], rows: ev.models.map((m) => [m.name, m.role, m.description]), numeric: [] };
}

export function dataSetsTable(data: ReportData): Table {
  return {
    header: ['Set', 'Family', 'Dataset', 'Origin', 'Records', 'Synthetic'],
    rows: data.data.sets.map((s) => [s.name, s.family, s.dataset, s.origin, int(s.records), int(s.synthetic ?? 0)]),
    numeric: [4, 5],
  };
}

export function sourcesTable(data: ReportData): Table {
  return {
    header: ['Source', 'Read', 'Written', 'Dropped (by reason)', 'Warnings', 'Note'],
    rows: data.data.sources.map((s) => [s.source, int(s.read), int(s.written), countsText(s.dropped), countsText(s.warnings), s.note ?? '']),
    numeric: [1, 2],
  };
}

export function miningTable(data: ReportData): Table | null {
  if (!data.data.mining || data.data.mining.length === 0) return null;
  return {
    header: ['Set', 'Queries', 'Corpus', 'Negatives', 'Queries short of negatives', 'Candidates dropped'],
    rows: data.data.mining.map((m) => [m.name, int(m.queries), int(m.documents), int(m.negatives), int(m.short), countsText(m.dropped)]),
    numeric: [1, 2, 3, 4],
  };
}

export function synthesisTable(data: ReportData): Table | null {
  const s = data.synthesis;
  if (s.status !== 'done') return null;
  return {
    header: ['Job', 'Generator', 'Source', 'Items', 'Outputs', 'LLM tries', 'Rejections (by reason)', 'Cost (USD)'],
    rows: s.jobs.map((j) => [j.name, j.generator, j.source, int(j.items), int(j.outputs), int(j.tries), countsText(j.rejections), j.costUsd.toFixed(4)]),
    numeric: [3, 4, 5, 7],
  };
}

export function stagesTable(data: ReportData): Table | null {
  const t = data.training;
  if (!t || t.stages.length === 0) return null;
  return {
    header: ['Stage', 'Steps', 'Time', 'Batches (by family)', 'Settings'],
    rows: t.stages.map((s) => [s.name, int(s.steps), formatSeconds(s.seconds), countsText(s.batches), s.settings.map((f) => `${f.label} ${f.value}`).join('; ')]),
    numeric: [1],
  };
}

export function stepsTable(data: ReportData): Table {
  return {
    header: ['Step', 'What it does', 'Status', 'Time', 'Note'],
    rows: data.steps.map((s) => [s.name, s.description, s.status, formatSeconds(s.seconds), s.note ?? '']),
    numeric: [],
  };
}
