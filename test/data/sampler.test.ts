import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupedBatchSampler, computeProbabilities, type SampledBatch, type SamplerDataset } from '../../src/data/index.js';

const datasets: SamplerDataset[] = [
  { name: 'msmarco', family: 'retrieval', size: 1000 },
  { name: 'nq', family: 'retrieval', size: 4000 },
  { name: 'stsb', family: 'pair', size: 16000 },
  { name: 'banking77', family: 'cls', size: 300 },
];

test('probabilities: p_i ∝ n_i^α, and a fixed retrieval share splits the rest by n^α', () => {
  const p = computeProbabilities(datasets, 0.5, null);
  const w = [Math.sqrt(1000), Math.sqrt(4000), Math.sqrt(16000), Math.sqrt(300)];
  const total = w.reduce((a, b) => a + b);
  p.forEach((x, i) => assert.ok(Math.abs(x - w[i]! / total) < 1e-12));
  const s = computeProbabilities(datasets, 1, 0.72);
  assert.ok(Math.abs(s[0]! - 0.72 * (1000 / 5000)) < 1e-12);
  assert.ok(Math.abs(s[1]! - 0.72 * (4000 / 5000)) < 1e-12);
  assert.ok(Math.abs(s[2]! - 0.28 * (16000 / 16300)) < 1e-12);
  assert.ok(Math.abs(s[3]! - 0.28 * (300 / 16300)) < 1e-12);
  assert.deepEqual(computeProbabilities(datasets, 0, null), [0.25, 0.25, 0.25, 0.25]);
  assert.throws(() => computeProbabilities([{ name: 'a', family: 'pair', size: 3 }], 1, 0.5), /needs at least one retrieval dataset/);
});

test('every batch is one dataset, sized by family; draws follow the probabilities', () => {
  const sampler = new GroupedBatchSampler({ datasets, alpha: 0.5, batchSize: { retrieval: 32, pair: 96, cls: 16 }, seed: 1 });
  const counts = new Map<string, number>();
  const N = 20000;
  for (let i = 0; i < N; i++) {
    const b = sampler.next();
    assert.equal(b.step, i);
    const d = datasets.find((x) => x.name === b.dataset)!;
    assert.equal(b.family, d.family);
    assert.equal(b.indices.length, { retrieval: 32, pair: 96, cls: 16 }[d.family]);
    assert.equal(new Set(b.indices).size, b.indices.length, 'no repeated example within a batch');
    assert.ok(b.indices.every((j) => Number.isInteger(j) && j >= 0 && j < d.size));
    counts.set(b.dataset, (counts.get(b.dataset) ?? 0) + 1);
  }
  sampler.probabilities.forEach((p, i) => {
    const got = (counts.get(datasets[i]!.name) ?? 0) / N;
    const sd = Math.sqrt((p * (1 - p)) / N);
    assert.ok(Math.abs(got - p) < 5 * sd, `${datasets[i]!.name}: ${got} vs ${p}`);
  });
});

test('each pass over a dataset visits distinct examples, reshuffled per epoch; small datasets give whole batches', () => {
  const sampler = new GroupedBatchSampler({ datasets: [{ name: 'a', family: 'cls', size: 100 }, { name: 'tiny', family: 'pair', size: 5 }], batchSize: { cls: 30, pair: 768 }, alpha: 0, seed: 'x' });
  const byEpoch = new Map<number, number[]>();
  let tinySeen = 0;
  for (let i = 0; i < 200; i++) {
    const b = sampler.next();
    if (b.dataset === 'tiny') {
      assert.deepEqual([...b.indices].sort(), [0, 1, 2, 3, 4]);
      tinySeen++;
      continue;
    }
    byEpoch.set(b.epoch, [...(byEpoch.get(b.epoch) ?? []), ...b.indices]);
  }
  assert.ok(tinySeen > 50);
  const epochs = [...byEpoch.keys()].sort((x, y) => x - y);
  assert.ok(epochs.length > 5);
  for (const e of epochs.slice(0, -1)) {
    const seen = byEpoch.get(e)!;
    assert.equal(seen.length, 90, 'three batches of 30 per pass; the last 10 wait for the next pass');
    assert.equal(new Set(seen).size, 90);
  }
  assert.notDeepEqual(byEpoch.get(0), byEpoch.get(1), 'a new order each pass');
});

test('deterministic given the seed; another seed gives another stream', () => {
  const take = (seed: number, n: number) => {
    const s = new GroupedBatchSampler({ datasets, seed, retrievalShare: 0.72 });
    return Array.from({ length: n }, () => s.next());
  };
  assert.deepEqual(take(7, 50), take(7, 50));
  assert.notDeepEqual(take(7, 50), take(8, 50));
});

test('resume: k batches, save state (through JSON), restore, the rest equals a straight run', () => {
  const opts = { datasets, alpha: 0.7, retrievalShare: 0.6, batchSize: { retrieval: 300, pair: 1000, cls: 64 }, seed: 42 };
  const straight = new GroupedBatchSampler(opts);
  const all: SampledBatch[] = Array.from({ length: 400 }, () => straight.next());
  assert.ok(all.some((b) => b.epoch > 2), 'the run crosses epoch boundaries');
  for (const k of [0, 1, 137, 399]) {
    const first = new GroupedBatchSampler(opts);
    for (let i = 0; i < k; i++) first.next();
    const saved = JSON.parse(JSON.stringify(first.state()));
    const resumed = GroupedBatchSampler.fromState(saved, datasets);
    assert.equal(resumed.step, k);
    const rest = Array.from({ length: 400 - k }, () => resumed.next());
    assert.deepEqual(rest, all.slice(k), `resumed after ${k}`);
  }
});

test('fromState refuses changed datasets; bad options are clear errors', () => {
  const s = new GroupedBatchSampler({ datasets, seed: 1 });
  s.next();
  const changed = datasets.map((d) => (d.name === 'nq' ? { ...d, size: 3999 } : d));
  assert.throws(() => GroupedBatchSampler.fromState(s.state(), changed), /datasets changed since the state was saved/);
  assert.throws(() => GroupedBatchSampler.fromState({} as never), /not a sampler state/);
  assert.throws(() => new GroupedBatchSampler({ datasets: [], seed: 1 }), /no datasets/);
  assert.throws(() => new GroupedBatchSampler({ datasets: [{ name: 'a', family: 'pair', size: 0 }], seed: 1 }), /size 0/);
  assert.throws(() => new GroupedBatchSampler({ datasets: [datasets[0]!, datasets[0]!], seed: 1 }), /listed twice/);
  assert.throws(() => new GroupedBatchSampler({ datasets, seed: 1, retrievalShare: 1.5 }), /retrievalShare/);
  assert.throws(() => new GroupedBatchSampler({ datasets, seed: 1, batchSize: { pair: 0 } }), /batch size for pair/);
});
