import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  retrievalInfoNCE,
  classificationInfoNCE,
  cosentLoss,
  multipleNegativesRankingLoss,
  stackRows,
  embeddings,
  type Embeddings,
  type Label,
} from '../../src/train/losses.js';
import { Rng } from '../../src/train/random.js';

const fixture = JSON.parse(readFileSync(new URL('../fixtures/losses.json', import.meta.url), 'utf8'));

function randomMatrix(rng: Rng, rows: number, dim: number, scale = 1): Embeddings {
  const data = new Float64Array(rows * dim);
  // Rows of different norms, so the normalisation's gradient matters.
  for (let r = 0; r < rows; r++) {
    const s = scale * (0.3 + 2 * rng.next());
    for (let k = 0; k < dim; k++) data[r * dim + k] = rng.normal() * s;
  }
  return { data, rows, dim };
}

/**
 * Central finite differences of `lossOf` over every coordinate of every input matrix, compared with
 * the analytic gradient. Error is measured relative to the largest gradient entry of that matrix.
 */
function checkGradients(
  inputs: Record<string, Embeddings>,
  lossOf: (inputs: Record<string, Embeddings>) => number,
  analytic: Record<string, Float64Array>,
  tol = 1e-6,
): void {
  const h = 1e-6;
  for (const [name, m] of Object.entries(inputs)) {
    const grad = analytic[name];
    assert.ok(grad, `no analytic gradient for ${name}`);
    assert.equal(grad.length, m.data.length, `${name}: gradient length`);
    let maxAbs = 0;
    for (const g of grad) maxAbs = Math.max(maxAbs, Math.abs(g));
    for (let i = 0; i < m.data.length; i++) {
      const data = Float64Array.from(m.data);
      data[i] = m.data[i]! + h;
      const up = lossOf({ ...inputs, [name]: { ...m, data } });
      data[i] = m.data[i]! - h;
      const down = lossOf({ ...inputs, [name]: { ...m, data } });
      const fd = (up - down) / (2 * h);
      const err = Math.abs(fd - grad[i]!);
      assert.ok(err <= tol * Math.max(1, maxAbs), `${name}[${i}]: analytic ${grad[i]} vs finite difference ${fd} (err ${err})`);
    }
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function cos(x: Embeddings, i: number, y: Embeddings, j: number): number {
  const d = x.dim;
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let k = 0; k < d; k++) {
    const a = x.data[i * d + k]!;
    const b = y.data[j * d + k]!;
    xy += a * b;
    xx += a * a;
    yy += b * b;
  }
  return xy / Math.sqrt(xx * yy);
}

// --- Independent references written straight from recipe.md §3 (plain sums of exponentials). -------

function referenceRetrieval(q: Embeddings, p: Embeddings, neg: Embeddings | undefined, tau: number, qq: boolean): number {
  let total = 0;
  for (let i = 0; i < q.rows; i++) {
    const pos = Math.exp(cos(q, i, p, i) / tau);
    let z = pos;
    for (let j = 0; j < p.rows; j++) if (j !== i) z += Math.exp(cos(q, i, p, j) / tau);
    for (let j = 0; j < (neg?.rows ?? 0); j++) z += Math.exp(cos(q, i, neg!, j) / tau);
    if (qq) for (let j = 0; j < q.rows; j++) if (j !== i) z += Math.exp(cos(q, i, q, j) / tau);
    total += -Math.log(pos / z);
  }
  return total / q.rows;
}

function referenceClassification(
  t: Embeddings,
  tp: Embeddings,
  neg: Embeddings,
  labels: Label[],
  negLabels: Label[],
  tau: number,
  otherPositives: 'omit' | 'masked',
): number {
  const M = (a: Label, b: Label): number => (a === b ? 0 : 1);
  let total = 0;
  for (let i = 0; i < t.rows; i++) {
    const pos = Math.exp(cos(t, i, tp, i) / tau);
    let z = pos;
    for (let m = 0; m < neg.rows; m++) z += M(labels[i]!, negLabels[m]!) * Math.exp(cos(t, i, neg, m) / tau);
    for (let j = 0; j < t.rows; j++) if (j !== i) z += M(labels[i]!, labels[j]!) * Math.exp(cos(t, i, t, j) / tau);
    if (otherPositives === 'masked') for (let j = 0; j < t.rows; j++) if (j !== i) z += M(labels[i]!, labels[j]!) * Math.exp(cos(t, i, tp, j) / tau);
    total += -Math.log(pos / z);
  }
  return total / t.rows;
}

function referenceCosent(a: Embeddings, b: Embeddings, y: number[], scale: number): number {
  const s = y.map((_, i) => cos(a, i, b, i));
  let sum = 1;
  for (let i = 0; i < y.length; i++) for (let k = 0; k < y.length; k++) if (y[i]! > y[k]!) sum += Math.exp((s[k]! - s[i]!) * scale);
  return Math.log(sum);
}

// --- Fixture parity: sentence-transformers 6.0.1 ------------------------------------------------

test('MNRL (q–q off, τ = 0.05) equals sentence-transformers MultipleNegativesRankingLoss: loss, dq, dp, dneg', () => {
  const q = stackRows(fixture.q);
  const p = stackRows(fixture.p);
  const neg = stackRows((fixture.neg as number[][][]).flat());
  const r = multipleNegativesRankingLoss({ anchors: q, positives: p, negatives: neg, scale: fixture.mnrl.scale });
  assert.ok(Math.abs(r.loss - fixture.mnrl.loss) <= 1e-6 * Math.abs(fixture.mnrl.loss), `loss ${r.loss} vs ${fixture.mnrl.loss}`);
  for (const [ours, ref] of [
    [r.grads.anchors, (fixture.mnrl.dq as number[][]).flat()],
    [r.grads.positives, (fixture.mnrl.dp as number[][]).flat()],
    [r.grads.negatives, (fixture.mnrl.dneg as number[][][]).flat(2)],
  ] as const) {
    // The reference ran in float32: compare against the largest entry.
    assert.ok(maxAbsDiff(ours, ref) <= 2e-6 * maxAbs(ref), `max abs diff ${maxAbsDiff(ours, ref)} (max |ref| ${maxAbs(ref)})`);
  }
  // The same numbers through the QZhou retrieval loss with its q–q terms switched off.
  const r2 = retrievalInfoNCE({ queries: q, positives: p, negatives: neg, temperature: 1 / fixture.mnrl.scale, queryQuery: false });
  assert.equal(r2.loss, r.loss);
  assert.deepEqual(r2.grads.queries, r.grads.anchors);
});

test('CoSENT (scale 20) equals sentence-transformers CoSENTLoss: loss, da, db', () => {
  const a = stackRows(fixture.q);
  const b = stackRows(fixture.p);
  const r = cosentLoss({ a, b, scores: fixture.cosent.labels, scale: fixture.cosent.scale });
  assert.ok(Math.abs(r.loss - fixture.cosent.loss) <= 1e-6 * Math.abs(fixture.cosent.loss), `loss ${r.loss} vs ${fixture.cosent.loss}`);
  for (const [ours, ref] of [
    [r.grads.a, (fixture.cosent.da as number[][]).flat()],
    [r.grads.b, (fixture.cosent.db as number[][]).flat()],
  ] as const) {
    assert.ok(maxAbsDiff(ours, ref) <= 2e-6 * maxAbs(ref), `max abs diff ${maxAbsDiff(ours, ref)} (max |ref| ${maxAbs(ref)})`);
  }
});

// --- Retrieval -----------------------------------------------------------------------------------

test('retrieval InfoNCE: value matches the recipe formula and gradients match finite differences', () => {
  const rng = new Rng(1);
  const cases = [
    { n: 5, negs: 10, tau: 0.02, qq: true },
    { n: 5, negs: 10, tau: 0.02, qq: false },
    { n: 4, negs: 0, tau: 0.05, qq: true },
    { n: 3, negs: 7, tau: 1, qq: true },
    { n: 1, negs: 3, tau: 0.1, qq: true },
  ];
  for (const c of cases) {
    const dim = 6;
    const inputs: Record<string, Embeddings> = {
      queries: randomMatrix(rng, c.n, dim),
      positives: randomMatrix(rng, c.n, dim),
      negatives: randomMatrix(rng, c.negs, dim),
    };
    const run = (x: Record<string, Embeddings>) =>
      retrievalInfoNCE({ queries: x.queries!, positives: x.positives!, negatives: x.negatives, temperature: c.tau, queryQuery: c.qq });
    const r = run(inputs);
    const ref = referenceRetrieval(inputs.queries!, inputs.positives!, inputs.negatives, c.tau, c.qq);
    assert.ok(Math.abs(r.loss - ref) <= 1e-10 * Math.max(1, Math.abs(ref)), `${JSON.stringify(c)}: ${r.loss} vs ${ref}`);
    checkGradients(inputs, (x) => run(x).loss, r.grads);
  }
});

test('retrieval InfoNCE: q–q terms change the loss and default on at τ = 0.02', () => {
  const rng = new Rng(2);
  const q = randomMatrix(rng, 6, 5);
  const p = randomMatrix(rng, 6, 5);
  const dflt = retrievalInfoNCE({ queries: q, positives: p });
  assert.equal(dflt.loss, retrievalInfoNCE({ queries: q, positives: p, temperature: 0.02, queryQuery: true }).loss);
  const off = retrievalInfoNCE({ queries: q, positives: p, queryQuery: false });
  assert.ok(dflt.loss > off.loss, 'extra denominator terms must raise the loss');
  // Query–query similarity must produce gradient on queries through their role as candidates too.
  assert.notDeepEqual(dflt.grads.queries, off.grads.queries);
});

test('retrieval InfoNCE without normalisation uses dot products as given', () => {
  const rng = new Rng(3);
  const inputs: Record<string, Embeddings> = { queries: randomMatrix(rng, 3, 4, 0.3), positives: randomMatrix(rng, 3, 4, 0.3), negatives: randomMatrix(rng, 2, 4, 0.3) };
  const run = (x: Record<string, Embeddings>) => retrievalInfoNCE({ queries: x.queries!, positives: x.positives!, negatives: x.negatives, temperature: 0.5, normalize: false });
  const r = run(inputs);
  checkGradients(inputs, (x) => run(x).loss, r.grads);
  // For unit rows, normalising or not gives the same loss.
  const unit = (m: Embeddings): Embeddings => {
    const data = Float64Array.from(m.data);
    for (let i = 0; i < m.rows; i++) {
      let s = 0;
      for (let k = 0; k < m.dim; k++) s += data[i * m.dim + k]! ** 2;
      for (let k = 0; k < m.dim; k++) data[i * m.dim + k]! /= Math.sqrt(s);
    }
    return { ...m, data };
  };
  const u = { queries: unit(inputs.queries!), positives: unit(inputs.positives!), negatives: unit(inputs.negatives!) };
  const a = retrievalInfoNCE({ ...u, temperature: 0.5, normalize: false }).loss;
  const b = retrievalInfoNCE({ ...u, temperature: 0.5 }).loss;
  assert.ok(Math.abs(a - b) < 1e-12);
});

test('retrieval InfoNCE stays finite and exact at very small τ (stable logsumexp)', () => {
  const rng = new Rng(4);
  const q = randomMatrix(rng, 4, 8);
  const p = randomMatrix(rng, 4, 8);
  const neg = randomMatrix(rng, 4, 8);
  const tau = 1e-3; // logits up to ±1000: a naive sum of exponentials overflows
  const r = retrievalInfoNCE({ queries: q, positives: p, negatives: neg, temperature: tau });
  assert.ok(Number.isFinite(r.loss));
  for (const g of Object.values(r.grads)) for (const v of g) assert.ok(Number.isFinite(v));
  // Check against logsumexp written out in the test (hinge-like limit: max logit − positive logit).
  let expected = 0;
  for (let i = 0; i < 4; i++) {
    const logits = [cos(q, i, p, i)];
    for (let j = 0; j < 4; j++) if (j !== i) logits.push(cos(q, i, p, j));
    for (let j = 0; j < 4; j++) logits.push(cos(q, i, neg, j));
    for (let j = 0; j < 4; j++) if (j !== i) logits.push(cos(q, i, q, j));
    const l = logits.map((v) => v / tau);
    const m = Math.max(...l);
    expected += m + Math.log(l.reduce((s, v) => s + Math.exp(v - m), 0)) - l[0]!;
  }
  expected /= 4;
  assert.ok(Math.abs(r.loss - expected) <= 1e-9 * Math.max(1, expected), `${r.loss} vs ${expected}`);
});

test('MNRL gradients match finite differences and the negative pool order does not matter', () => {
  const rng = new Rng(5);
  const inputs: Record<string, Embeddings> = { anchors: randomMatrix(rng, 4, 5), positives: randomMatrix(rng, 4, 5), negatives: randomMatrix(rng, 8, 5) };
  const run = (x: Record<string, Embeddings>) => multipleNegativesRankingLoss({ anchors: x.anchors!, positives: x.positives!, negatives: x.negatives, scale: 20 });
  const r = run(inputs);
  checkGradients(inputs, (x) => run(x).loss, r.grads);
  // Reverse the negatives' rows: same loss.
  const neg = inputs.negatives!;
  const rev = new Float64Array(neg.data.length);
  for (let i = 0; i < neg.rows; i++) rev.set(neg.data.subarray((neg.rows - 1 - i) * neg.dim, (neg.rows - i) * neg.dim), i * neg.dim);
  const r2 = run({ ...inputs, negatives: { ...neg, data: rev } });
  assert.ok(Math.abs(r2.loss - r.loss) < 1e-12);
});

// --- Classification ------------------------------------------------------------------------------

test('classification InfoNCE: value matches the masked formula and gradients match finite differences', () => {
  const rng = new Rng(6);
  const labels: Label[] = ['a', 'b', 'a', 'c', 'b', 'a'];
  const negLabels: Label[] = ['b', 'c', 'a', 'a', 'c', 'b', 'b', 'c', 'a', 'c', 'b', 'a']; // includes anchors' own classes
  for (const tau of [0.02, 0.05, 0.5]) {
    for (const otherPositives of ['omit', 'masked'] as const) {
      const inputs: Record<string, Embeddings> = {
        anchors: randomMatrix(rng, labels.length, 5),
        positives: randomMatrix(rng, labels.length, 5),
        negatives: randomMatrix(rng, negLabels.length, 5),
      };
      const run = (x: Record<string, Embeddings>) =>
        classificationInfoNCE({ anchors: x.anchors!, positives: x.positives!, negatives: x.negatives, labels, negativeLabels: negLabels, temperature: tau, otherPositives });
      const r = run(inputs);
      const ref = referenceClassification(inputs.anchors!, inputs.positives!, inputs.negatives!, labels, negLabels, tau, otherPositives);
      assert.ok(Math.abs(r.loss - ref) <= 1e-10 * Math.max(1, Math.abs(ref)), `τ=${tau} ${otherPositives}: ${r.loss} vs ${ref}`);
      checkGradients(inputs, (x) => run(x).loss, r.grads);
    }
  }
});

test('classification mask: same-class candidates never enter the denominator', () => {
  const rng = new Rng(7);
  const dim = 6;
  const anchors = randomMatrix(rng, 4, dim);
  const positives = randomMatrix(rng, 4, dim);
  const negatives = randomMatrix(rng, 6, dim);
  // Everything in one class: every candidate but the own positive is masked, so the loss is exactly 0
  // and nothing has a gradient.
  const one = classificationInfoNCE({ anchors, positives, negatives, labels: [1, 1, 1, 1], negativeLabels: [1, 1, 1, 1, 1, 1] });
  assert.equal(one.loss, 0);
  for (const g of Object.values(one.grads)) assert.equal(maxAbs(g), 0);

  // One anchor of class x; two of its negatives are same-class near-copies of the anchor (cos ≈ 1),
  // which would dominate Z if they leaked. Masked, the loss equals the plain InfoNCE over the
  // other-class negatives only.
  const a0 = embeddings(anchors.data.slice(0, dim), dim);
  const p0 = embeddings(positives.data.slice(0, dim), dim);
  const negData = new Float64Array(4 * dim);
  for (let k = 0; k < dim; k++) {
    negData[k] = a0.data[k]! * 1.01;
    negData[dim + k] = a0.data[k]! * 0.99 + 1e-3;
  }
  negData.set(negatives.data.slice(0, 2 * dim), 2 * dim);
  const negs = embeddings(negData, dim);
  const masked = classificationInfoNCE({ anchors: a0, positives: p0, negatives: negs, labels: ['x'], negativeLabels: ['x', 'x', 'y', 'z'] });
  const otherClassOnly = retrievalInfoNCE({ queries: a0, positives: p0, negatives: embeddings(negData.slice(2 * dim), dim) });
  assert.ok(Math.abs(masked.loss - otherClassOnly.loss) < 1e-12, `masked ${masked.loss} vs ${otherClassOnly.loss}`);
  assert.equal(maxAbs(masked.grads.negatives.subarray(0, 2 * dim)), 0, 'masked negatives must get no gradient');
  const leaky = retrievalInfoNCE({ queries: a0, positives: p0, negatives: negs });
  assert.ok(leaky.loss > masked.loss + 10, `a leaking denominator gives ${leaky.loss}, masked ${masked.loss}`);

  // Same-class *anchors* are masked too: anchor 2 is a near-copy of anchor 0. Relabelling anchor 2 to a
  // third class lets it into anchor 0's denominator and must raise the loss sharply.
  const aData = Float64Array.from(anchors.data);
  for (let k = 0; k < dim; k++) aData[2 * dim + k] = aData[k]! * 1.02;
  const twins = embeddings(aData, dim);
  const sameClass = classificationInfoNCE({ anchors: twins, positives, labels: ['x', 'y', 'x', 'y'] });
  const differentClass = classificationInfoNCE({ anchors: twins, positives, labels: ['x', 'y', 'z', 'y'] });
  assert.ok(differentClass.loss > sameClass.loss + 5, `${differentClass.loss} vs ${sameClass.loss}`);
  assert.ok(Math.abs(sameClass.loss - referenceClassification(twins, positives, embeddings(new Float64Array(0), dim), ['x', 'y', 'x', 'y'], [], 0.02, 'omit')) < 1e-9);
});

// --- CoSENT ---------------------------------------------------------------------------------------

test('CoSENT: value matches the formula and gradients match finite differences, with ties and several scales', () => {
  const rng = new Rng(8);
  const labelSets = [
    [0, 2.5, 5, 1, 2.5, 2.5, 0], // ties
    [1, 1, 1, 0], // mostly ties
    [0.2, 3.1, 4.8, 4.8, 1.7],
  ];
  for (const scores of labelSets) {
    for (const scale of [20, 50, 5]) {
      const inputs: Record<string, Embeddings> = { a: randomMatrix(rng, scores.length, 5), b: randomMatrix(rng, scores.length, 5) };
      const run = (x: Record<string, Embeddings>) => cosentLoss({ a: x.a!, b: x.b!, scores, scale });
      const r = run(inputs);
      const ref = referenceCosent(inputs.a!, inputs.b!, scores, scale);
      assert.ok(Math.abs(r.loss - ref) <= 1e-10 * Math.max(1, ref), `${r.loss} vs ${ref}`);
      checkGradients(inputs, (x) => run(x).loss, r.grads);
    }
  }
});

test('CoSENT: all-equal gold scores give zero loss; default scale is 1/0.02', () => {
  const rng = new Rng(9);
  const a = randomMatrix(rng, 5, 4);
  const b = randomMatrix(rng, 5, 4);
  const r = cosentLoss({ a, b, scores: [3, 3, 3, 3, 3] });
  assert.equal(r.loss, 0);
  assert.equal(maxAbs(r.grads.a), 0);
  const y = [0, 1, 2, 3, 4];
  assert.ok(Math.abs(cosentLoss({ a, b, scores: y }).loss - referenceCosent(a, b, y, 50)) < 1e-9);
  // Only the order of the scores matters.
  assert.ok(Math.abs(cosentLoss({ a, b, scores: y }).loss - cosentLoss({ a, b, scores: [0, 10, 20, 30, 40] }).loss) < 1e-12);
});

// --- Inputs ---------------------------------------------------------------------------------------

test('bad inputs get clear errors naming the matrix and row', () => {
  const q = embeddings(new Float64Array([1, 0, 0, 1]), 2);
  const p = embeddings(new Float64Array([1, 0, NaN, 1]), 2);
  assert.throws(() => retrievalInfoNCE({ queries: q, positives: p }), /positives: row 1 has a non-finite value/);
  assert.throws(() => retrievalInfoNCE({ queries: q, positives: embeddings(new Float64Array(2), 2) }), /2 queries but 1 positives/);
  assert.throws(() => retrievalInfoNCE({ queries: q, positives: embeddings(new Float64Array(6), 3) }), /positives: dim 3 differs from 2/);
  assert.throws(() => retrievalInfoNCE({ queries: q, positives: q, temperature: 0 }), /temperature must be a positive number/);
  assert.throws(() => cosentLoss({ a: q, b: q, scores: [1] }), /2 pairs but 1 scores/);
  assert.throws(() => cosentLoss({ a: q, b: q, scores: [1, NaN] }), /scores\[1\] must be a finite number/);
  assert.throws(() => classificationInfoNCE({ anchors: q, positives: q, labels: ['a'] }), /2 anchors but 1 labels/);
  assert.throws(() => classificationInfoNCE({ anchors: q, positives: q, negatives: q, labels: ['a', 'b'], negativeLabels: ['a'] }), /2 negatives but 1 negative labels/);
  assert.throws(() => embeddings(new Float32Array(5), 2), /not a multiple of dim 2/);
});

test('a zero vector gets finite gradients (normalisation clamps the norm like torch)', () => {
  const q = embeddings(new Float64Array([0, 0, 0, 1, 0, 0]), 3);
  const p = embeddings(new Float64Array([1, 1, 0, 0, 1, 1]), 3);
  const r = retrievalInfoNCE({ queries: q, positives: p });
  assert.ok(Number.isFinite(r.loss));
  for (const g of Object.values(r.grads)) for (const v of g) assert.ok(Number.isFinite(v));
});
