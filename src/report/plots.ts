// The report's plots, built from ReportData: loss per task family, learning rate, throughput, the data
// mix and the evaluation scores. Each plot is an SVG string plus the file name it is saved under.
import type { ReportData, TrainingPoint } from './model.js';
import { PALETTE, barChart, groupedBarChart, lineChart, type Series } from './svg.js';

export interface Plot {
  id: string;
  title: string;
  /** File name under plots/. */
  file: string;
  caption: string;
  svg: string;
}

export const FAMILY_COLORS: Record<string, string> = { retrieval: '#0072B2', pair: '#D55E00', cls: '#009E73', mixed: '#CC79A7' };
const familyColor = (f: string, i: number) => FAMILY_COLORS[f] ?? PALETTE[(i + 4) % PALETTE.length]!;

/** Trailing moving average over `window` points. */
export function movingAverage(points: readonly (readonly [number, number])[], window: number): [number, number][] {
  const out: [number, number][] = [];
  let sum = 0;
  for (let i = 0; i < points.length; i++) {
    sum += points[i]![1];
    if (i >= window) sum -= points[i - window]![1];
    out.push([points[i]![0], sum / Math.min(i + 1, window)]);
  }
  return out;
}

function smoothingWindow(n: number): number {
  return Math.max(1, Math.min(50, Math.round(n / 25)));
}

function byFamily(points: readonly TrainingPoint[]): Map<string, TrainingPoint[]> {
  const m = new Map<string, TrainingPoint[]>();
  for (const p of points) {
    if (!m.has(p.family)) m.set(p.family, []);
    m.get(p.family)!.push(p);
  }
  for (const list of m.values()) list.sort((a, b) => a.step - b.step);
  return m;
}

export function buildPlots(data: ReportData): Plot[] {
  const plots: Plot[] = [];
  const training = data.training;
  const markers = (training?.stageStarts ?? []).filter((s) => s.step > 0).map((s) => ({ x: s.step, label: `${s.name} starts` }));
  if (training && training.points.length > 0) {
    const fams = byFamily(training.points);
    const LOSS_NAMES: Record<string, string> = { retrieval: 'InfoNCE with query–query negatives', pair: 'CoSENT', cls: 'InfoNCE with a same-class mask' };
    // One chart per family: their losses live on different scales (CoSENT is not a log-probability).
    [...fams.entries()].forEach(([family, pts], i) => {
      const raw = pts.filter((p) => Number.isFinite(p.loss)).map((p) => [p.step, p.loss] as const);
      const color = familyColor(family, i);
      // Smoothed within each stage, so the average does not blend two stages' losses.
      const smooth = [...new Set(pts.map((p) => p.stage))].flatMap((stage) => {
        const seg = pts.filter((p) => p.stage === stage && Number.isFinite(p.loss)).map((p) => [p.step, p.loss] as const);
        return movingAverage(seg, smoothingWindow(seg.length));
      });
      const series: Series[] = [];
      if (raw.length > 1) series.push({ name: `${family} (per step)`, points: raw, color, width: 1, opacity: 0.25, legend: false });
      series.push({ name: `${family} loss`, points: smooth, color, width: 2.2 });
      const id = `plot-loss-${family.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      const title = `Training loss: ${family}`;
      plots.push({
        id, title, file: `loss-${family.replace(/[^A-Za-z0-9_-]/g, '_')}.svg`,
        caption: `${family} batches (${LOSS_NAMES[family] ?? 'loss'}) on the run’s global step axis: the light line is per step, the bold line a moving average within each stage.`,
        svg: lineChart({ id, title, xLabel: 'step', yLabel: 'loss', series, markers, yInclude: 0, height: 260 }),
      });
    });
    const lrPts = dedupeSteps(training.points.map((p) => [p.step, p.lr] as const));
    plots.push({
      id: 'plot-lr', title: 'Learning rate', file: 'lr.svg',
      caption: 'Learning rate per step (warm-up, then the stage’s schedule).',
      svg: lineChart({ id: 'plot-lr', title: 'Learning rate', xLabel: 'step', yLabel: 'learning rate', series: [{ name: 'lr', points: lrPts, color: PALETTE[4] }], markers, yInclude: 0 }),
    });
    const tps = dedupeSteps(training.points.filter((p) => p.tokensPerSecond !== undefined && Number.isFinite(p.tokensPerSecond)).map((p) => [p.step, p.tokensPerSecond!] as const));
    if (tps.length > 0) {
      plots.push({
        id: 'plot-throughput', title: 'Training throughput', file: 'throughput.svg',
        caption: 'Tokens per second processed by the trainer (moving average), forward and backward passes included.',
        svg: lineChart({
          id: 'plot-throughput', title: 'Training throughput', xLabel: 'step', yLabel: 'tokens / s',
          series: [{ name: 'tokens/s', points: movingAverage(tps, smoothingWindow(tps.length)), color: PALETTE[2] }], markers, yInclude: 0,
        }),
      });
    }
  }
  if (training?.evals && training.evals.length > 0) {
    const keys = [...new Set(training.evals.map((e) => `${e.task} (${e.split}) ${e.metric}`))];
    plots.push({
      id: 'plot-train-eval', title: 'Evaluation during training', file: 'train-eval.svg',
      caption: 'Main scores (× 100) of the evaluations the trainer ran between steps.',
      svg: lineChart({
        id: 'plot-train-eval', title: 'Evaluation during training', xLabel: 'step', yLabel: 'score × 100', markers,
        series: keys.map((k, i) => ({
          name: k, color: PALETTE[i % PALETTE.length],
          points: training.evals!.filter((e) => `${e.task} (${e.split}) ${e.metric}` === k).map((e) => [e.step, 100 * e.score] as const).sort((a, b) => a[0] - b[0]),
        })),
      }),
    });
  }
  if (data.evaluation && data.evaluation.rows.length > 0) {
    const ev = data.evaluation;
    const cats = [...new Set(ev.rows.map((r) => `${r.task} (${r.split})`))];
    plots.push({
      id: 'plot-eval', title: 'Evaluation (main score × 100)', file: 'eval.svg',
      caption: 'Main score of each task (MTEB protocol) for the trained model and the baselines.',
      svg: groupedBarChart({
        id: 'plot-eval', title: 'Evaluation (main score × 100)', valueLabel: 'score', categories: cats,
        series: ev.models.map((m, i) => ({
          name: m.name, color: PALETTE[i % PALETTE.length],
          values: cats.map((c) => {
            const r = ev.rows.find((x) => x.model === m.name && `${x.task} (${x.split})` === c);
            return r ? 100 * r.score : null;
          }),
        })),
      }),
    });
  }
  if (data.data.sets.length > 0) {
    const fams = [...new Set(data.data.sets.map((s) => s.family))];
    plots.push({
      id: 'plot-data', title: 'Training data mix (records per set)', file: 'data-mix.svg',
      caption: 'Canonical records per training set, coloured by task family.',
      svg: barChart({
        id: 'plot-data', title: 'Training data mix (records per set)', valueLabel: 'records',
        bars: data.data.sets.map((s) => ({ label: `${s.name} (${s.origin})`, value: s.records, color: familyColor(s.family, fams.indexOf(s.family)) })),
        legend: fams.map((f, i) => ({ name: f, color: familyColor(f, i) })),
      }),
    });
  }
  return plots;
}

/** One point per step (the mean of duplicates), sorted by step. */
function dedupeSteps(points: readonly (readonly [number, number])[]): [number, number][] {
  const m = new Map<number, { s: number; n: number }>();
  for (const [x, y] of points) {
    if (!Number.isFinite(y)) continue;
    const e = m.get(x) ?? { s: 0, n: 0 };
    e.s += y;
    e.n++;
    m.set(x, e);
  }
  return [...m.entries()].sort((a, b) => a[0] - b[0]).map(([x, e]) => [x, e.s / e.n]);
}
