// report.html: one self-contained page (inline CSS and SVG, no script, no external resource; a
// Content-Security-Policy forbids loading any), so it opens offline and can be mailed as one file.
import { escapeHtml as esc } from './escape.js';
import type { ReportData } from './model.js';
import type { Plot } from './plots.js';
import { dataSetsTable, evaluationTable, miningTable, modelsTable, sourcesTable, stagesTable, stepsTable, synthesisTable, type Table } from './tables.js';

const CSS = `
:root { color-scheme: light; }
body { margin: 0; background: #f6f7f9; color: #1d1f23; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 64px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; border-bottom: 1px solid #d8dbe0; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 22px 0 8px; }
.meta { color: #5b616b; margin: 0 0 16px; }
.notice { background: #fff8e1; border: 1px solid #f0d98c; padding: 8px 12px; border-radius: 6px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; background: #fff; padding: 12px 16px; border-radius: 8px; border: 1px solid #e1e4e8; }
dl.facts dt { color: #5b616b; } dl.facts dd { margin: 0; word-break: break-word; }
table { border-collapse: collapse; background: #fff; margin: 8px 0 16px; font-size: 14px; width: 100%; }
th, td { border: 1px solid #e1e4e8; padding: 5px 9px; text-align: left; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 12px 0 20px; background: #fff; border: 1px solid #e1e4e8; border-radius: 8px; padding: 8px; }
figure svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { color: #5b616b; font-size: 13px; margin: 6px 4px 0; }
`;

function table(t: Table, id?: string): string {
  const head = t.header.map((h, i) => `<th${t.numeric.includes(i) ? ' class="num"' : ''} scope="col">${esc(h)}</th>`).join('');
  const body = t.rows
    .map((r, ri) => `<tr>${r.map((c, ci) => {
      const cls = t.numeric.includes(ci) ? ' class="num"' : '';
      const text = esc(c);
      return `<td${cls}>${t.strong?.has(`${ri}:${ci}`) ? `<strong>${text}</strong>` : text}</td>`;
    }).join('')}</tr>`)
    .join('\n');
  return `<table${id ? ` id="${esc(id)}"` : ''}><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function figure(p: Plot): string {
  return `<figure id="fig-${esc(p.id)}">${p.svg}<figcaption>${esc(p.caption)}</figcaption></figure>`;
}

/** The whole page. */
export function renderHtml(data: ReportData, plots: readonly Plot[]): string {
  const plot = (id: string) => plots.find((p) => p.id === id);
  const out: string[] = [];
  out.push(
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(data.title)}</title><style>${CSS}</style></head><body><main>`,
    `<h1>${esc(data.title)}</h1>`,
    `<p class="meta">Generated ${esc(data.generatedAt)} by qzhou pipeline.</p>`,
    '<section id="summary">',
    `<dl class="facts">${data.facts.map((f) => `<dt>${esc(f.label)}</dt><dd>${esc(f.value)}</dd>`).join('')}</dl>`,
    '</section>',
  );

  out.push('<section id="evaluation"><h2>Evaluation</h2>');
  const evalTable = evaluationTable(data);
  if (evalTable) {
    if (data.evaluation?.note) out.push(`<p>${esc(data.evaluation.note)}</p>`);
    out.push(table(evalTable, 'eval-table'));
    const mt = modelsTable(data);
    if (mt) out.push(table(mt, 'models-table'));
    const p = plot('plot-eval');
    if (p) out.push(figure(p));
  } else out.push('<p class="notice">No evaluation results in this run yet.</p>');
  out.push('</section>');

  out.push('<section id="training"><h2>Training</h2>');
  const st = stagesTable(data);
  if (st) out.push(table(st, 'stages-table'));
  const trainingPlots = plots.filter((x) => x.id.startsWith('plot-loss-') || ['plot-lr', 'plot-throughput', 'plot-train-eval'].includes(x.id));
  for (const p of trainingPlots) {
    out.push(figure(p));
  }
  if (!st) out.push('<p class="notice">No training metrics in this run yet.</p>');
  out.push('</section>');

  out.push('<section id="data"><h2>Data</h2>');
  const dm = plot('plot-data');
  if (dm) out.push(figure(dm));
  out.push('<h3>Training sets</h3>', table(dataSetsTable(data), 'sets-table'));
  out.push('<h3>Sources</h3>', table(sourcesTable(data), 'sources-table'));
  const mt = miningTable(data);
  if (mt) out.push('<h3>Hard-negative mining</h3>', table(mt, 'mining-table'));
  out.push('</section>');

  out.push('<section id="synthesis"><h2>Synthesis</h2>');
  if (data.synthesis.status === 'skipped') out.push(`<p class="notice" id="synth-skipped">Skipped: ${esc(data.synthesis.notice)}</p>`);
  else {
    out.push(`<p>Generator model: ${esc(data.synthesis.model)}</p>`);
    out.push(table(synthesisTable(data)!, 'synth-table'));
  }
  out.push('</section>');

  out.push('<section id="steps"><h2>Pipeline steps</h2>', table(stepsTable(data), 'steps-table'), '</section>');
  out.push('</main></body></html>', '');
  return out.join('\n');
}
