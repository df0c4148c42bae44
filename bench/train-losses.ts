// Cost of the training losses with their analytic gradients, against the bare similarity matrix they
// cannot avoid (measured side by side in this run; float64 JS on the CPU).
// Run: npx tsx bench/train-losses.ts [--quick]
import { retrievalInfoNCE, classificationInfoNCE, cosentLoss, scaledProducts, type Embeddings } from '../src/train/losses.js';
import { Rng } from '../src/train/random.js';

const quick = process.argv.includes('--quick');
const rng = new Rng(1);
function rows(n: number, d: number): Embeddings {
  const data = new Float32Array(n * d);
  rng.fillNormal(data);
  return { data, rows: n, dim: d };
}

/**
 * One float64 matrix product anchors·candidatesᵀ with the four-rows-at-a-time kernel the losses use for
 * their logits (`scaledProducts`): the unit of work. Loss + gradients needs three such products (logits,
 * dA, dC), so a ratio near 3 means the loss adds little beyond its matrix work.
 */
function similarityOnly(anchors: Embeddings, candidates: Embeddings[]): Float64Array {
  const A = Float64Array.from(anchors.data);
  const C = candidates.map((c) => ({ rows: c.rows, hat: Float64Array.from(c.data) }));
  return scaledProducts(A, anchors.rows, anchors.dim, C, 1);
}

/** Median milliseconds of `reps` runs of each function, interleaved so load changes hit both alike. */
function timeSideBySide(fns: (() => unknown)[], reps: number): number[] {
  for (const f of fns) f(); // warm up
  const samples = fns.map(() => [] as number[]);
  for (let r = 0; r < reps; r++) {
    fns.forEach((f, i) => {
      const t0 = performance.now();
      f();
      samples[i]!.push(performance.now() - t0);
    });
  }
  return samples.map((s) => s.sort((a, b) => a - b)[Math.floor(s.length / 2)]!);
}

interface Case {
  name: string;
  run: () => unknown;
  baseline: () => unknown;
}

function retrievalCase(label: string, n: number, negPerQuery: number, d: number): Case {
  const q = rows(n, d);
  const p = rows(n, d);
  const neg = rows(n * negPerQuery, d);
  return {
    name: `retrieval InfoNCE + q–q, ${label}: ${n} queries, ${n * negPerQuery} negatives, dim ${d}`,
    run: () => retrievalInfoNCE({ queries: q, positives: p, negatives: neg }),
    baseline: () => similarityOnly(q, [p, neg, q]),
  };
}

function clsCase(label: string, n: number, negPerAnchor: number, d: number, classes: number): Case {
  const a = rows(n, d);
  const p = rows(n, d);
  const neg = rows(n * negPerAnchor, d);
  const labels = Array.from({ length: n }, (_, i) => i % classes);
  const negLabels = Array.from({ length: n * negPerAnchor }, (_, i) => (i + 1) % classes);
  return {
    name: `classification masked InfoNCE, ${label}: ${n} anchors, ${n * negPerAnchor} negatives, dim ${d}`,
    run: () => classificationInfoNCE({ anchors: a, positives: p, negatives: neg, labels, negativeLabels: negLabels }),
    baseline: () => similarityOnly(a, [p, neg, a]),
  };
}

function cosentCase(label: string, n: number, d: number): Case {
  const a = rows(n, d);
  const b = rows(n, d);
  const scores = Array.from({ length: n }, () => Math.round(rng.next() * 50) / 10);
  return {
    name: `CoSENT, ${label}: ${n} pairs, dim ${d}`,
    run: () => cosentLoss({ a, b, scores }),
    // The unavoidable part: the pair exponentials (the n cosines are negligible).
    baseline: () => {
      let acc = 0;
      for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) if (scores[i]! > scores[k]!) acc += Math.exp(scores[k]! - scores[i]!);
      return acc;
    },
  };
}

const cases: Case[] = [
  retrievalCase('demo', 32, 1, 256),
  clsCase('demo', 64, 3, 256, 77),
  cosentCase('demo', 128, 256),
  retrievalCase('paper', 256, 4, quick ? 512 : 3584),
  clsCase('paper', 256, 7, quick ? 512 : 3584, 20),
  cosentCase('paper', 768, quick ? 512 : 3584),
];

console.log(`node ${process.version}, ${quick ? 'quick (paper dims cut to 512)' : 'full'}`);
console.log('| case | loss + gradients (ms) | one similarity product (ms) | ratio (ideal ≈ 3 for InfoNCE) |');
console.log('|---|---|---|---|');
for (const c of cases) {
  const [full, base] = timeSideBySide([c.run, c.baseline], c.name.includes('demo') ? 21 : 3);
  console.log(`| ${c.name} | ${full!.toFixed(1)} | ${base!.toFixed(1)} | ${(full! / base!).toFixed(2)} |`);
}
