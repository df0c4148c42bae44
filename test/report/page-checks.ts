// Checks run inside a loaded report.html: what a reader would see. Shared by the report test and the
// pipeline's end-to-end test.
import type { Browser, PageEvent } from './browser.js';

export interface ChartInfo {
  id: string;
  width: number;
  height: number;
  paths: number;
  legend: string[];
}

export interface ReportPageCheck {
  /** Everything wrong, as sentences (empty when the page is fine). */
  problems: string[];
  title: string;
  pwned: boolean;
  evalRows: number;
  evalFirstRow: string[];
  charts: ChartInfo[];
  setsTableText: string;
}

const IN_PAGE = `(() => {
  const visible = (el) => {
    if (!el) return false;
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none' && Number(s.opacity) > 0;
  };
  const table = document.getElementById('eval-table');
  const rows = table ? [...table.querySelectorAll('tbody tr')] : [];
  const charts = [...document.querySelectorAll('svg.qz-chart')].map((svg) => {
    const r = svg.getBoundingClientRect();
    return {
      id: svg.id,
      width: r.width,
      height: r.height,
      visible: visible(svg),
      paths: svg.querySelectorAll('path.series, g.bar rect').length,
      legend: [...svg.querySelectorAll('g.legend text')].map((t) => t.textContent),
    };
  });
  return {
    title: document.title,
    h1: document.querySelector('h1')?.textContent ?? '',
    pwned: Boolean(window.__pwned),
    scripts: document.scripts.length,
    evalTable: Boolean(table),
    evalVisible: visible(table),
    evalRows: rows.length,
    evalFirstRow: rows[0] ? [...rows[0].cells].map((c) => c.textContent) : [],
    charts,
    setsTableText: document.getElementById('sets-table')?.textContent ?? '',
  };
})()`;

/** Loads nothing itself: inspects the page already opened in `session` and its collected events. */
export async function checkReportPage(browser: Browser, session: string, events: readonly PageEvent[], url: string): Promise<ReportPageCheck> {
  const r = await browser.evaluate<{
    title: string; h1: string; pwned: boolean; scripts: number; evalTable: boolean; evalVisible: boolean; evalRows: number;
    evalFirstRow: string[]; charts: (ChartInfo & { visible: boolean })[]; setsTableText: string;
  }>(session, IN_PAGE);
  const problems: string[] = [];
  for (const e of events) {
    if (e.kind === 'exception') problems.push(`uncaught exception: ${e.text}`);
    else if (e.kind === 'console' && (e.level === 'error' || e.level === 'assert')) problems.push(`console.${e.level}: ${e.text}`);
    else if (e.kind === 'log' && e.level === 'error') problems.push(`browser log error: ${e.text}`);
    else if (e.kind === 'request-failed') problems.push(`failed request: ${e.text}`);
    else if (e.kind === 'request' && e.text !== url) problems.push(`the page requested another resource: ${e.text}`);
  }
  if (r.scripts !== 0) problems.push(`${r.scripts} script element(s) in the page`);
  if (!r.evalTable) problems.push('no #eval-table');
  else if (!r.evalVisible) problems.push('#eval-table is not visible');
  if (r.evalTable && r.evalRows === 0) problems.push('#eval-table has no rows');
  if (r.charts.length === 0) problems.push('no SVG plots in the page');
  for (const c of r.charts) {
    if (!c.visible) problems.push(`plot ${c.id} is not visible`);
    if (c.paths === 0) problems.push(`plot ${c.id} draws no series or bars`);
  }
  if (r.h1 !== r.title) problems.push(`the heading "${r.h1}" differs from the title "${r.title}"`);
  return {
    problems,
    title: r.title,
    pwned: r.pwned,
    evalRows: r.evalRows,
    evalFirstRow: r.evalFirstRow,
    charts: r.charts.map(({ visible: _v, ...c }) => c),
    setsTableText: r.setsTableText,
  };
}
