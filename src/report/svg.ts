// Hand-written SVG charts for the report (no dependency): line charts with axes, "nice" ticks, grid,
// legend and vertical markers, and bar charts (horizontal for counts, grouped vertical for scores).
// Output is plain SVG 1.1 text with every label escaped; it renders the same inline in HTML and as a
// standalone .svg file linked from Markdown.
import { escapeHtml as esc } from './escape.js';

/** Okabe–Ito: distinguishable with the common colour-vision deficiencies. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  color?: string;
  /** Stroke width (default 2). */
  width?: number;
  opacity?: number;
  dashed?: boolean;
  /** Shown in the legend (default true). */
  legend?: boolean;
}

export interface LineChartSpec {
  /** Unique id (element ids inside the SVG are prefixed with it). */
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  width?: number;
  height?: number;
  /** Force the y axis to include this value (e.g. 0). */
  yInclude?: number;
  /** Vertical dashed lines with a label, e.g. where stage 2 starts. */
  markers?: readonly { x: number; label: string }[];
  /** Longest polyline kept per series; longer ones are averaged into buckets (default 600). */
  maxPoints?: number;
}

export interface Ticks {
  min: number;
  max: number;
  step: number;
  values: number[];
}

/** Round tick positions (1, 2, 5 × 10^k) covering [lo, hi] with about `count` intervals. */
export function niceTicks(lo: number, hi: number, count = 5): Ticks {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = Number(((norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag).toPrecision(12));
  const min = Math.floor(lo / step + 1e-9) * step;
  const max = Math.ceil(hi / step - 1e-9) * step;
  const values: number[] = [];
  for (let k = 0; min + k * step <= max + step * 1e-9; k++) values.push(cleanFloat(min + k * step, step));
  return { min: cleanFloat(min, step), max: cleanFloat(max, step), step, values };
}

function cleanFloat(v: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(Math.min(20, decimals)));
}

/**
 * A tick label: fixed decimals from the step; exponent form when the step is below 1e-3 (so every
 * label of an axis has the same form) or the value is very large.
 */
export function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (step < 1e-3 || a >= 1e6) {
    const [m, e] = v.toExponential(Math.max(0, Math.min(3, -Math.floor(Math.log10(step)) + Math.floor(Math.log10(a))))).split('e');
    return `${m!.replace(/\.?0+$/, '')}e${Number(e)}`;
  }
  if (step >= 1 && Number.isInteger(v)) return v.toLocaleString('en-US');
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(10, decimals));
}

/** Averages consecutive points into at most `max` buckets (keeps the shape of long noisy curves). */
export function downsample(points: readonly (readonly [number, number])[], max: number): [number, number][] {
  const finite = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (finite.length <= max) return finite.map(([x, y]) => [x, y]);
  const out: [number, number][] = [];
  const per = finite.length / max;
  for (let b = 0; b < max; b++) {
    const from = Math.floor(b * per);
    const to = Math.max(from + 1, Math.floor((b + 1) * per));
    let sx = 0;
    let sy = 0;
    for (let i = from; i < to; i++) {
      sx += finite[i]![0];
      sy += finite[i]![1];
    }
    out.push([sx / (to - from), sy / (to - from)]);
  }
  return out;
}

const fmt = (n: number) => (Math.round(n * 10) / 10).toString();

function svgOpen(id: string, title: string, width: number, height: number, desc?: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" ` +
    `aria-labelledby="${esc(id)}-title" class="qz-chart" id="${esc(id)}" ${FONT} font-size="12">` +
    `<title id="${esc(id)}-title">${esc(title)}</title>${desc ? `<desc>${esc(desc)}</desc>` : ''}` +
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>` +
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600" fill="#222">${esc(title)}</text>`
  );
}

/** A line chart as an SVG document string. */
export function lineChart(spec: LineChartSpec): string {
  const width = spec.width ?? 720;
  const height = spec.height ?? 340;
  const m = { left: 64, right: 20, top: 34, bottom: 50 };
  const legendItems = spec.series.filter((s) => s.legend !== false);
  const legendRows = Math.ceil(legendItems.length / 4);
  m.bottom += legendRows * 18;
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const maxPoints = spec.maxPoints ?? 600;
  const series = spec.series.map((s) => ({ ...s, pts: downsample(s.points, maxPoints) }));
  const xs = series.flatMap((s) => s.pts.map((p) => p[0])).concat((spec.markers ?? []).map((mk) => mk.x));
  const ys = series.flatMap((s) => s.pts.map((p) => p[1]));
  if (spec.yInclude !== undefined) ys.push(spec.yInclude);
  const xt = niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1, 6);
  const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1, 5);
  const X = (x: number) => m.left + ((x - xt.min) / (xt.max - xt.min || 1)) * pw;
  const Y = (y: number) => m.top + ph - ((y - yt.min) / (yt.max - yt.min || 1)) * ph;
  const parts: string[] = [svgOpen(spec.id, spec.title, width, height)];

  // Grid and ticks.
  parts.push('<g class="grid" stroke="#e6e6e6" stroke-width="1">');
  for (const v of yt.values) parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${fmt(Y(v))}" y2="${fmt(Y(v))}"/>`);
  for (const v of xt.values) parts.push(`<line x1="${fmt(X(v))}" x2="${fmt(X(v))}" y1="${m.top}" y2="${m.top + ph}"/>`);
  parts.push('</g>');
  parts.push(`<g class="axes" stroke="#444" stroke-width="1"><line x1="${m.left}" x2="${m.left + pw}" y1="${m.top + ph}" y2="${m.top + ph}"/><line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}"/></g>`);
  parts.push('<g class="ticks" fill="#444">');
  for (const v of yt.values) parts.push(`<text x="${m.left - 6}" y="${fmt(Y(v) + 4)}" text-anchor="end">${esc(formatTick(v, yt.step))}</text>`);
  for (const v of xt.values) parts.push(`<text x="${fmt(X(v))}" y="${m.top + ph + 16}" text-anchor="middle">${esc(formatTick(v, xt.step))}</text>`);
  parts.push('</g>');
  parts.push(`<text x="${m.left + pw / 2}" y="${m.top + ph + 34}" text-anchor="middle" fill="#222">${esc(spec.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#222">${esc(spec.yLabel)}</text>`);

  // Markers.
  for (const mk of spec.markers ?? []) {
    const x = fmt(X(mk.x));
    parts.push(`<g class="marker"><line x1="${x}" x2="${x}" y1="${m.top}" y2="${m.top + ph}" stroke="#888" stroke-dasharray="4 3"/><text x="${fmt(X(mk.x) + 4)}" y="${m.top + 12}" fill="#555">${esc(mk.label)}</text></g>`);
  }

  // Lines (non-finite values were dropped by downsample).
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    if (s.pts.length === 0) return;
    const d = s.pts.map((p, k) => `${k === 0 ? 'M' : 'L'}${fmt(X(p[0]))} ${fmt(Y(p[1]))}`).join(' ');
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(`<path class="series" data-series="${esc(s.name)}" d="${d}" fill="none" stroke="${esc(color)}" stroke-width="${s.width ?? 2}" stroke-opacity="${s.opacity ?? 1}" stroke-linejoin="round"${dash}/>`);
    if (s.pts.length === 1) parts.push(`<circle cx="${fmt(X(s.pts[0]![0]))}" cy="${fmt(Y(s.pts[0]![1]))}" r="3" fill="${esc(color)}"/>`);
  });

  // Legend below the plot.
  parts.push('<g class="legend">');
  legendItems.forEach((s, k) => {
    const color = s.color ?? PALETTE[spec.series.indexOf(s) % PALETTE.length]!;
    const col = k % 4;
    const row = Math.floor(k / 4);
    const lx = m.left + col * (pw / 4);
    const ly = height - legendRows * 18 + row * 18 - 4;
    parts.push(`<line x1="${fmt(lx)}" x2="${fmt(lx + 18)}" y1="${ly - 4}" y2="${ly - 4}" stroke="${esc(color)}" stroke-width="3"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    parts.push(`<text x="${fmt(lx + 24)}" y="${ly}" fill="#222">${esc(s.name)}</text>`);
  });
  parts.push('</g></svg>');
  return parts.join('');
}

export interface BarChartSpec {
  id: string;
  title: string;
  /** Label of the value axis. */
  valueLabel: string;
  bars: readonly { label: string; value: number; color?: string }[];
  legend?: readonly { name: string; color: string }[];
  width?: number;
}

/** Horizontal bars (one per label), values printed at the bar ends. */
export function barChart(spec: BarChartSpec): string {
  const width = spec.width ?? 720;
  const rowH = 22;
  const longest = Math.max(4, ...spec.bars.map((b) => b.label.length));
  const m = { left: Math.min(260, 16 + longest * 7), right: 70, top: 34, bottom: 44 + (spec.legend?.length ? 20 : 0) };
  const height = m.top + m.bottom + rowH * Math.max(1, spec.bars.length);
  const pw = width - m.left - m.right;
  const xt = niceTicks(0, Math.max(1e-9, ...spec.bars.map((b) => b.value)), 5);
  const X = (v: number) => m.left + (v / (xt.max || 1)) * pw;
  const parts: string[] = [svgOpen(spec.id, spec.title, width, height)];
  parts.push('<g class="grid" stroke="#e6e6e6">');
  for (const v of xt.values) parts.push(`<line x1="${fmt(X(v))}" x2="${fmt(X(v))}" y1="${m.top}" y2="${height - m.bottom}"/>`);
  parts.push('</g><g class="ticks" fill="#444">');
  for (const v of xt.values) parts.push(`<text x="${fmt(X(v))}" y="${height - m.bottom + 16}" text-anchor="middle">${esc(formatTick(v, xt.step))}</text>`);
  parts.push('</g>');
  spec.bars.forEach((b, i) => {
    const y = m.top + i * rowH;
    const color = b.color ?? PALETTE[0]!;
    const label = b.label.length > 36 ? `${b.label.slice(0, 35)}…` : b.label;
    parts.push(
      `<g class="bar" data-label="${esc(b.label)}"><text x="${m.left - 6}" y="${y + 15}" text-anchor="end" fill="#222">${esc(label)}</text>` +
        `<rect x="${m.left}" y="${y + 3}" width="${fmt(Math.max(0, X(b.value) - m.left))}" height="${rowH - 6}" fill="${esc(color)}"/>` +
        `<text x="${fmt(X(b.value) + 4)}" y="${y + 15}" fill="#222">${esc(b.value.toLocaleString('en-US'))}</text></g>`,
    );
  });
  parts.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${height - m.bottom}" stroke="#444"/>`);
  parts.push(`<text x="${m.left + pw / 2}" y="${height - m.bottom + 32}" text-anchor="middle" fill="#222">${esc(spec.valueLabel)}</text>`);
  if (spec.legend?.length) {
    parts.push('<g class="legend">');
    let x = m.left;
    for (const l of spec.legend) {
      parts.push(`<rect x="${x}" y="${height - 16}" width="12" height="12" fill="${esc(l.color)}"/><text x="${x + 16}" y="${height - 6}" fill="#222">${esc(l.name)}</text>`);
      x += 28 + l.name.length * 7;
    }
    parts.push('</g>');
  }
  parts.push('</svg>');
  return parts.join('');
}

export interface GroupedBarChartSpec {
  id: string;
  title: string;
  valueLabel: string;
  categories: readonly string[];
  series: readonly { name: string; values: readonly (number | null)[]; color?: string }[];
  width?: number;
  height?: number;
}

/** Vertical bars grouped by category (e.g. tasks), one colour per series (e.g. models). */
export function groupedBarChart(spec: GroupedBarChartSpec): string {
  const width = spec.width ?? 720;
  const height = spec.height ?? 320;
  const m = { left: 56, right: 16, top: 34, bottom: 70 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const values = spec.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const yt = niceTicks(Math.min(0, ...values), Math.max(1e-9, ...values), 5);
  const Y = (v: number) => m.top + ph - ((v - yt.min) / (yt.max - yt.min || 1)) * ph;
  const groupW = pw / Math.max(1, spec.categories.length);
  const barW = Math.min(48, (groupW * 0.8) / Math.max(1, spec.series.length));
  const parts: string[] = [svgOpen(spec.id, spec.title, width, height)];
  parts.push('<g class="grid" stroke="#e6e6e6">');
  for (const v of yt.values) parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${fmt(Y(v))}" y2="${fmt(Y(v))}"/>`);
  parts.push('</g><g class="ticks" fill="#444">');
  for (const v of yt.values) parts.push(`<text x="${m.left - 6}" y="${fmt(Y(v) + 4)}" text-anchor="end">${esc(formatTick(v, yt.step))}</text>`);
  parts.push('</g>');
  spec.categories.forEach((cat, ci) => {
    const gx = m.left + ci * groupW + (groupW - barW * spec.series.length) / 2;
    spec.series.forEach((s, si) => {
      const v = s.values[ci];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const color = s.color ?? PALETTE[si % PALETTE.length]!;
      const y0 = Y(Math.max(0, yt.min));
      const y1 = Y(v);
      parts.push(
        `<g class="bar" data-series="${esc(s.name)}" data-category="${esc(cat)}"><rect x="${fmt(gx + si * barW)}" y="${fmt(Math.min(y0, y1))}" width="${fmt(barW - 2)}" height="${fmt(Math.abs(y0 - y1))}" fill="${esc(color)}"/>` +
          `<text x="${fmt(gx + si * barW + barW / 2 - 1)}" y="${fmt(Math.min(y0, y1) - 4)}" text-anchor="middle" font-size="10" fill="#222">${esc(v.toFixed(1))}</text></g>`,
      );
    });
    parts.push(`<text x="${fmt(m.left + ci * groupW + groupW / 2)}" y="${m.top + ph + 16}" text-anchor="middle" fill="#222">${esc(cat)}</text>`);
  });
  parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${fmt(Y(Math.max(0, yt.min)))}" y2="${fmt(Y(Math.max(0, yt.min)))}" stroke="#444"/>`);
  parts.push(`<text transform="translate(14 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#222">${esc(spec.valueLabel)}</text>`);
  parts.push('<g class="legend">');
  let x = m.left;
  spec.series.forEach((s, si) => {
    const color = s.color ?? PALETTE[si % PALETTE.length]!;
    parts.push(`<rect x="${fmt(x)}" y="${height - 22}" width="12" height="12" fill="${esc(color)}"/><text x="${fmt(x + 16)}" y="${height - 12}" fill="#222">${esc(s.name)}</text>`);
    x += 28 + s.name.length * 7;
  });
  parts.push('</g></svg>');
  return parts.join('');
}
