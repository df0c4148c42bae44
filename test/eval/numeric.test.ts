// Python-compatible arithmetic: round(), repr(), json.dumps(indent=2), NumPy pairwise sums, SciPy-style
// correlations. Reference values were produced with CPython 3.11.7's standard library on this machine
// (round, repr, json.dumps, statistics.correlation with hand-written average ranks) and are pasted here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareCodePoints, npMean, npStd, pairwiseSum, pearson, pythonRound, rankAverage, spearman } from '../../src/eval/numeric.js';
import { parsePythonJson, pythonFloatRepr, pythonJson, roundScores } from '../../src/eval/results.js';

test('pythonRound matches CPython round(x, n), including exact binary ties (half to even)', () => {
  const r6: [number, number][] = [
    [0.0078125, 0.007812], // exact tie → even
    [0.0234375, 0.023438], // exact tie → even
    [2.5e-7, 0.0],
    [0.1234565, 0.123456], // looks like a tie in decimal; the double is below it
    [0.5, 0.5], [0.953125, 0.953125], [0.8536, 0.8536],
    [1 / 3, 0.333333], [2 / 3, 0.666667], [0.30000000000000004, 0.3],
    [123.4567895, 123.456789], [-0.0078125, -0.007812], [1e-7, 0.0], [4.9999999e-7, 0.0], [5e-7, 0.0],
    [0.9999995, 1.0], [0.99999949, 0.999999],
  ];
  for (const [x, y] of r6) assert.equal(pythonRound(x, 6), y, `round(${x}, 6)`);
  const r5: [number, number][] = [[0.840965, 0.84096], [0.125, 0.125], [5e-6, 1e-5], [0.762385, 0.76238], [0.1234549999, 0.12345]];
  for (const [x, y] of r5) assert.equal(pythonRound(x, 5), y, `round(${x}, 5)`);
  const r0: [number, number][] = [[0.5, 0], [1.5, 2], [2.5, 2], [3.5000000000000004, 4], [4.499999999999999, 4]];
  for (const [x, y] of r0) assert.equal(pythonRound(x, 0), y, `round(${x})`);
  assert.ok(Number.isNaN(pythonRound(NaN, 6)), 'Number.isNaN(pythonRound(NaN, 6))');
});

test('pythonFloatRepr matches CPython repr(float)', () => {
  const cases: [number, string][] = [
    [0.1, '0.1'], [1.0, '1.0'], [0.0, '0.0'], [-0.0, '-0.0'], [1e-5, '1e-05'], [0.0001, '0.0001'], [1.5e-7, '1.5e-07'],
    [123456789012345.0, '123456789012345.0'], [1e16, '1e+16'], [1.2345678901234568e16, '1.2345678901234568e+16'],
    [0.853669, '0.853669'], [29.456715, '29.456715'], [2.5e-5, '2.5e-05'], [-3.0, '-3.0'], [1e22, '1e+22'], [5e-324, '5e-324'],
    [0.30000000000000004, '0.30000000000000004'], [NaN, 'NaN'], [Infinity, 'Infinity'],
  ];
  for (const [x, s] of cases) assert.equal(pythonFloatRepr(x), s);
});

test('pythonJson reproduces json.dumps(obj, indent=2) byte for byte, and parsePythonJson reads NaN back', () => {
  const obj = {
    dataset_revision: 'abc',
    task_name: 'X',
    scores: { test: [{ a: 1.0, b: [0.5, 1e-5, NaN], c: { 'Level 0': [0.25] }, d: [], e: {}, hf_subset: 'default', languages: ['eng-Latn'], u: 'café \u{1F600} "q"\n' }] },
    evaluation_time: 12.5,
    kg_co2_emissions: null,
  };
  const python =
    '{\n  "dataset_revision": "abc",\n  "task_name": "X",\n  "scores": {\n    "test": [\n      {\n        "a": 1.0,\n        "b": [\n          0.5,\n          1e-05,\n          NaN\n        ],\n        "c": {\n          "Level 0": [\n            0.25\n          ]\n        },\n        "d": [],\n        "e": {},\n        "hf_subset": "default",\n        "languages": [\n          "eng-Latn"\n        ],\n        "u": "caf\\u00e9 \\ud83d\\ude00 \\"q\\"\\n"\n      }\n    ]\n  },\n  "evaluation_time": 12.5,\n  "kg_co2_emissions": null\n}';
  assert.equal(pythonJson(obj), python);
  const back = parsePythonJson(python) as typeof obj;
  assert.ok(Number.isNaN(back.scores.test[0]!.b[2]!), 'Number.isNaN(back.scores.test[0]!.b[2]!)');
  assert.equal(back.scores.test[0]!.u, obj.scores.test[0]!.u);
  assert.deepEqual(parsePythonJson('{"a": "NaN inside a string", "b": -Infinity}'), { a: 'NaN inside a string', b: -Infinity });
});

test('roundScores rounds every number of a nested score tree to 6 decimals and keeps key order', () => {
  const r = roundScores({ a: 0.0078125, b: [0.1234565, { c: 2 / 3 }], d: 'x', e: { 'Level 0': [1 / 3] } });
  assert.deepEqual(r, { a: 0.007812, b: [0.123456, { c: 0.666667 }], d: 'x', e: { 'Level 0': [0.333333] } });
  assert.deepEqual(Object.keys(r), ['a', 'b', 'd', 'e']);
});

test('pairwiseSum follows NumPy: 8 accumulators up to 128 values, then halves at multiples of 8', () => {
  // With values whose float sum depends on association, compare with the explicit NumPy order.
  const a = Float64Array.from({ length: 300 }, (_, i) => (i % 7 === 0 ? 1e16 : 1) * (i % 2 ? -1 : 1) + i * 1e-3);
  const blocked = (x: Float64Array, s: number, n: number): number => {
    if (n < 8) {
      let r = 0;
      for (let i = 0; i < n; i++) r += x[s + i]!;
      return r;
    }
    if (n <= 128) {
      const r = Array.from({ length: 8 }, (_, j) => x[s + j]!);
      let i = 8;
      for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = r[j]! + x[s + i + j]!;
      let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
      for (; i < n; i++) res += x[s + i]!;
      return res;
    }
    let n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return blocked(x, s, n2) + blocked(x, s + n2, n - n2);
  };
  assert.equal(pairwiseSum(a), blocked(a, 0, a.length));
  assert.equal(pairwiseSum([1, 2, 3]), 6);
  assert.equal(npMean([1, 2, 3, 4]), 2.5);
  assert.equal(npStd([1, 2, 3, 4]), Math.sqrt(1.25));
});

test('Pearson and Spearman (average ranks for ties) against statistics.correlation', () => {
  const x = [0.2, 1.5, 3.1, 4.8, 2.2, 0.0, 5.0, 3.1, 1.1, 4.4];
  const y = [0.31, 0.52, 0.61, 0.93, 0.47, 0.12, 0.88, 0.7, 0.33, 0.95];
  const yt = [1, 2, 2, 3, 1, 0, 3, 2, 1, 3];
  assert.deepEqual([...rankAverage(x)], [2.0, 4.0, 6.5, 9.0, 5.0, 1.0, 10.0, 6.5, 3.0, 8.0]);
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-14, `${a} vs ${b}`);
  close(pearson(x, y), 0.9692895977618651);
  close(spearman(x, y), 0.9361745372672994);
  close(spearman(x, yt), 0.9280036733712484);
  close(pearson(x, yt), 0.9230400087244062);
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])), 'constant input → NaN, as SciPy');
  assert.equal(spearman([1, 2, 3], [30, 20, 10]), -1);
});

test('compareCodePoints orders like Python str comparison (UTF-8 byte order), unlike UTF-16 units', () => {
  assert.ok(compareCodePoints('doc9', 'doc10') > 0, 'compareCodePoints(\'doc9\', \'doc10\') > 0');
  assert.ok(compareCodePoints('a', 'ab') < 0, 'compareCodePoints(\'a\', \'ab\') < 0');
  // U+FF5E (BMP, above the surrogates) vs U+1F600 (astral): code-point order puts the emoji last.
  assert.ok(compareCodePoints('\uff5e', '\u{1F600}') < 0, 'compareCodePoints(\'\\uff5e\', \'\\u{1F600}\') < 0');
  assert.ok('\uff5e' > '\u{1F600}', 'plain JS comparison gets this wrong');
});
