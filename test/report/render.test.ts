import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  barChart, buildPlots, downsample, escapeHtml, escapeMarkdown, evaluationTable, formatSeconds, formatTick, lineChart, movingAverage, niceTicks, renderMarkdown, writeReport,
} from '../../src/report/index.js';
import { HOSTILE, sampleReport } from './sample-data.js';

test('niceTicks: round steps of 1, 2, 5 × 10^k covering the range', () => {
  assert.deepEqual(niceTicks(0, 1, 5).values, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  const t = niceTicks(3.7, 97.2, 5);
  assert.equal(t.step, 20);
  assert.deepEqual(t.values, [0, 20, 40, 60, 80, 100]);
  const lr = niceTicks(0, 5e-4, 5);
  assert.equal(lr.step, 1e-4);
  assert.equal(lr.values.length, 6);
  assert.ok(Math.abs(lr.values[5]! - 5e-4) < 1e-12);
  // A constant series still gets a range around its value.
  const c = niceTicks(2, 2, 5);
  assert.ok(c.min < 2 && c.max > 2);
});

test('formatTick: decimals follow the step; tiny values use exponents', () => {
  assert.equal(formatTick(0.4, 0.2), '0.4');
  assert.equal(formatTick(20, 20), '20');
  assert.equal(formatTick(2.5, 0.5), '2.5');
  assert.equal(formatTick(3e-4, 1e-4), '3e-4');
  assert.equal(formatTick(0.001, 2e-4), '1e-3', 'same form as the other labels of a learning-rate axis');
  assert.equal(formatTick(0.0025, 5e-4), '2.5e-3');
  assert.equal(formatTick(0, 1e-4), '0');
  assert.equal(formatTick(20000, 5000), '20,000');
});

test('movingAverage and downsample compute what they say', () => {
  assert.deepEqual(movingAverage([[1, 2], [2, 4], [3, 6], [4, 8]], 2), [[1, 2], [2, 3], [3, 5], [4, 7]]);
  const pts = Array.from({ length: 10 }, (_, i) => [i, i * 10] as const);
  const d = downsample(pts, 5);
  assert.equal(d.length, 5);
  assert.deepEqual(d[0], [0.5, 5]); // mean of (0,0) and (1,10)
  assert.deepEqual(downsample([[0, 1], [1, Number.NaN], [2, 3]], 10), [[0, 1], [2, 3]]);
});

test('lineChart maps larger values higher and later steps further right', () => {
  const svg = lineChart({ id: 'c', title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [[0, 1], [1, 3], [2, 2]] }] });
  const d = /<path class="series"[^>]* d="([^"]+)"/.exec(svg)![1]!;
  const coords = [...d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(coords.length, 3);
  assert.ok(coords[0]![0] < coords[1]![0] && coords[1]![0] < coords[2]![0], 'x increases');
  assert.ok(coords[1]![1] < coords[2]![1] && coords[2]![1] < coords[0]![1], 'y=3 is highest on screen, y=1 lowest');
  for (const [x, y] of coords) assert.ok(x >= 0 && x <= 720 && y >= 0 && y <= 340);
  assert.match(svg, /<title id="c-title">t<\/title>/);
});

test('SVG and HTML escape every user-provided string', () => {
  const svg = barChart({ id: 'b', title: HOSTILE, valueLabel: 'n', bars: [{ label: HOSTILE, value: 3 }] });
  assert.ok(!svg.includes('<script>'));
  assert.ok(svg.includes('&lt;script&gt;'));
  assert.equal(escapeHtml(`a<b>&"'`), 'a&lt;b&gt;&amp;&quot;&#39;');
  assert.equal(escapeMarkdown('a|b *c* [d](e) <f>'), 'a\\|b \\*c\\* \\[d\\](e) \\<f\\>');
});

test('evaluation table: scores × 100, best per row, Δ trained − TF-IDF', () => {
  const t = evaluationTable(sampleReport())!;
  assert.deepEqual(t.header, ['Task', 'Split', 'Metric', 'demo', 'demo-init', 'tfidf', 'Δ demo − tfidf']);
  assert.deepEqual(t.rows[0], ['Banking77Classification', 'test', 'accuracy', '71.23', '10.41', '63.61', '+7.62']);
  assert.deepEqual(t.rows[1], ['STSBenchmark', 'validation', 'cosine_spearman', '70.32', '30.35', '75.53', '−5.21']);
  assert.ok(t.strong!.has('0:3') && t.strong!.has('1:5'));
});

test('report.md: every table row has as many cells as its header; plots linked as files', () => {
  const data = sampleReport();
  const md = renderMarkdown(data, buildPlots(data));
  const lines = md.split('\n');
  let header = -1;
  for (const line of lines) {
    if (!line.startsWith('|')) {
      header = -1;
      continue;
    }
    const cells = line.replace(/\\\|/g, '').split('|').length - 2;
    if (header < 0) header = cells;
    else assert.equal(cells, header, `row with ${cells} cells under a ${header}-column header: ${line}`);
  }
  for (const f of ['loss-retrieval.svg', 'loss-pair.svg', 'loss-cls.svg', 'lr.svg', 'throughput.svg', 'eval.svg', 'data-mix.svg']) assert.ok(md.includes(`](plots/${f})`), f);
  assert.ok(!md.includes('<script>'));
  assert.ok(md.includes('Skipped: no LLM endpoint configured'));
});

test('writeReport writes report.html, report.md and one SVG per plot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-report-'));
  try {
    const out = writeReport(dir, sampleReport());
    assert.deepEqual(readdirSync(join(dir, 'plots')).sort(), ['data-mix.svg', 'eval.svg', 'loss-cls.svg', 'loss-pair.svg', 'loss-retrieval.svg', 'lr.svg', 'throughput.svg']);
    const html = readFileSync(out.html, 'utf8');
    assert.ok(html.startsWith('<!DOCTYPE html>'));
    assert.equal((html.match(/<svg /g) ?? []).length, 7);
    assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'no external resources');
    assert.ok(!readdirSync(dir).some((f) => f.includes('.tmp-')), 'no temporary files left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('formatSeconds rounds to the second before splitting minutes (never "1 min 60 s")', () => {
  assert.equal(formatSeconds(12.34), '12.3 s');
  assert.equal(formatSeconds(59.94), '59.9 s');
  assert.equal(formatSeconds(59.96), '1 min 00 s');
  assert.equal(formatSeconds(61), '1 min 01 s');
  assert.equal(formatSeconds(119.6), '2 min 00 s');
  assert.equal(formatSeconds(3599.5), '60 min 00 s');
  assert.equal(formatSeconds(null), '–');
  assert.equal(formatSeconds(NaN), '–');
});
