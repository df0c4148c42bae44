import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspectFiles, formatInspectReport, LengthHistogram } from '../../src/data/index.js';
import { tempDir, writeText } from './helpers.js';

const dir = tempDir();

test('LengthHistogram: quantiles and power-of-two buckets match hand-computed values', () => {
  const h = new LengthHistogram();
  for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 100]) h.add(n);
  const s = h.stats();
  assert.equal(s.count, 10);
  assert.equal(s.min, 1);
  assert.equal(s.max, 100);
  assert.equal(s.mean, 14.5);
  assert.equal(s.p50, 5, 'the 5th of 10 sorted values');
  assert.equal(s.p90, 9);
  assert.equal(s.p99, 100);
  assert.deepEqual(
    s.buckets.map((b) => [b.from, b.to, b.count]),
    [
      [0, 7, 7],
      [8, 15, 2],
      [16, 31, 0],
      [32, 63, 0],
      [64, 127, 1],
    ],
  );
  const big = new LengthHistogram();
  big.add(70000);
  assert.equal(big.stats().max, 70000);
  assert.equal(big.stats().buckets.at(-1)!.to, Infinity);
});

test('inspect: counts per type and dataset, label and score distributions, negatives, lengths, duplicates, invalid lines', async () => {
  const a = writeText(
    dir,
    'a.jsonl',
    [
      { type: 'cls', text: 'abc', label: 'x', dataset: 'bank' },
      { type: 'cls', text: 'ABC!', label: 'x', dataset: 'bank' },
      { type: 'cls', text: 'abc', label: 'y', dataset: 'bank' },
      { type: 'pair', text1: 'ab', text2: 'abcd', score: 2 },
      { type: 'pair', text1: 'abcd', text2: 'ab', score: 2 },
      { type: 'pair', text1: 'a', text2: 'b', score: 0 },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n') + '\n{"type":"cls","text":""}\n',
  );
  const b = writeText(dir, 'b.jsonl', JSON.stringify({ type: 'retrieval', query: '中文查询', pos: ['p'], neg: ['n1', 'n2'], dataset: 'ret' }) + '\n' + JSON.stringify({ type: 'retrieval', query: 'q', pos: ['p'], dataset: 'ret' }) + '\n');
  const r = await inspectFiles([a, b], { countTokens: (t) => [...t].length * 2 });
  assert.equal(r.records, 8);
  assert.equal(r.invalid, 1);
  assert.match(r.invalidExamples[0]!, /a\.jsonl:7: text: empty text/);
  assert.deepEqual(r.byType, { retrieval: 2, pair: 3, cls: 3 });
  assert.deepEqual(r.duplicates, { exact: 1, normalized: 2 });
  const bank = r.datasets.find((d) => d.name === 'bank')!;
  assert.deepEqual(bank.labels, { x: 2, y: 1 });
  const pairs = r.datasets.find((d) => d.name === 'a')!;
  assert.deepEqual(pairs.scores, { min: 0, max: 2, mean: 4 / 3, counts: { 0: 1, 2: 2 } });
  const ret = r.datasets.find((d) => d.name === 'ret')!;
  assert.deepEqual(ret.negatives, { min: 0, max: 2, mean: 1, withNone: 1 });
  assert.deepEqual([r.chars.text!.count, r.chars.text!.min, r.chars.text!.max], [3, 3, 4]);
  assert.deepEqual([r.chars.query!.min, r.chars.query!.max], [1, 4], 'characters, not UTF-16 units or bytes');
  assert.equal(r.tokens!.text1!.max, 8);
  const text = formatInspectReport(r);
  assert.match(text, /records: 8 \(retrieval 2, pair 3, cls 3\); invalid lines: 1/);
  assert.match(text, /labels: x: 2, y: 1/);
});
