// report.md: the same content as report.html in Markdown, with the plots linked as SVG files
// (plots/<name>.svg next to it), for reading on a code host or in an editor.
import { escapeMarkdown, markdownCell } from './escape.js';
import type { ReportData } from './model.js';
import type { Plot } from './plots.js';
import { dataSetsTable, evaluationTable, miningTable, modelsTable, sourcesTable, stagesTable, stepsTable, synthesisTable, type Table } from './tables.js';

function table(t: Table): string {
  const head = `| ${t.header.map(markdownCell).join(' | ')} |`;
  const rule = `| ${t.header.map((_, i) => (t.numeric.includes(i) ? '---:' : '---')).join(' | ')} |`;
  const rows = t.rows.map((r, ri) => `| ${r.map((c, ci) => {
    const cell = markdownCell(c) || ' ';
    return t.strong?.has(`${ri}:${ci}`) ? `**${cell}**` : cell;
  }).join(' | ')} |`);
  return [head, rule, ...rows].join('\n');
}

/** Link text and destination for an image: the destination is a relative file name we chose ourselves. */
function image(p: Plot, dir: string): string {
  return `![${markdownCell(p.title)}](${dir}/${encodeURI(p.file)})\n\n*${escapeMarkdown(p.caption)}*`;
}

export function renderMarkdown(data: ReportData, plots: readonly Plot[], plotsDir = 'plots'): string {
  const plot = (id: string) => plots.find((p) => p.id === id);
  const out: string[] = [];
  out.push(`# ${escapeMarkdown(data.title)}`, '', `Generated ${escapeMarkdown(data.generatedAt)} by qzhou pipeline.`, '');
  out.push(...data.facts.map((f) => `- **${escapeMarkdown(f.label)}:** ${escapeMarkdown(f.value)}`), '');

  out.push('## Evaluation', '');
  const evalTable = evaluationTable(data);
  if (evalTable) {
    if (data.evaluation?.note) out.push(escapeMarkdown(data.evaluation.note), '');
    out.push(table(evalTable), '');
    const mt = modelsTable(data);
    if (mt) out.push(table(mt), '');
    const p = plot('plot-eval');
    if (p) out.push(image(p, plotsDir), '');
  } else out.push('No evaluation results in this run yet.', '');

  out.push('## Training', '');
  const st = stagesTable(data);
  if (st) out.push(table(st), '');
  const trainingPlots = plots.filter((x) => x.id.startsWith('plot-loss-') || ['plot-lr', 'plot-throughput', 'plot-train-eval'].includes(x.id));
  for (const p of trainingPlots) {
    out.push(image(p, plotsDir), '');
  }
  if (!st) out.push('No training metrics in this run yet.', '');

  out.push('## Data', '');
  const dm = plot('plot-data');
  if (dm) out.push(image(dm, plotsDir), '');
  out.push('### Training sets', '', table(dataSetsTable(data)), '', '### Sources', '', table(sourcesTable(data)), '');
  const mt = miningTable(data);
  if (mt) out.push('### Hard-negative mining', '', table(mt), '');

  out.push('## Synthesis', '');
  if (data.synthesis.status === 'skipped') out.push(`Skipped: ${escapeMarkdown(data.synthesis.notice)}`, '');
  else out.push(`Generator model: ${escapeMarkdown(data.synthesis.model)}`, '', table(synthesisTable(data)!), '');

  out.push('## Pipeline steps', '', table(stepsTable(data)), '');
  return out.join('\n');
}
