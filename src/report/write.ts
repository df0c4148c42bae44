// Writes a report folder: report.html, report.md and plots/*.svg, each file atomically (temporary
// sibling + rename), so a reader never sees a half-written file.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';
import type { ReportData } from './model.js';
import { buildPlots } from './plots.js';
import { writeFileAtomicSync } from '../util/atomic-file.js';

export interface WrittenReport {
  html: string;
  markdown: string;
  plots: string[];
}

/** Renders the report into `dir` (created). Returns the paths written. */
export function writeReport(dir: string, data: ReportData): WrittenReport {
  mkdirSync(join(dir, 'plots'), { recursive: true });
  const plots = buildPlots(data);
  const plotFiles: string[] = [];
  for (const p of plots) {
    const file = join(dir, 'plots', p.file);
    writeFileAtomicSync(file, `<?xml version="1.0" encoding="UTF-8"?>\n${p.svg}\n`);
    plotFiles.push(file);
  }
  const markdown = join(dir, 'report.md');
  writeFileAtomicSync(markdown, renderMarkdown(data, plots, 'plots'));
  const html = join(dir, 'report.html');
  writeFileAtomicSync(html, renderHtml(data, plots));
  return { html, markdown, plots: plotFiles };
}
