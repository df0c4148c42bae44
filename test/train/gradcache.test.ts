import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  accumulateBatchGradients,
  GradCacheTrainer,
  type EncodeContext,
  type LossSettings,
  type TrainableEncoder,
  type TrainBatch,
} from '../../src/train/gradcache.js';
import { StaticEmbeddingEncoder } from '../../src/train/static-encoder.js';
import { GradientBuffers } from '../../src/train/parameters.js';
import { AdamW } from '../../src/train/optimizer.js';
import { makeSchedule } from '../../src/train/schedule.js';
import { classificationInfoNCE, cosentLoss, retrievalInfoNCE } from '../../src/train/losses.js';
import { readTensorFile, writeTensorFile } from '../../src/train/tensor-file.js';
import { Rng } from '../../src/train/random.js';

type Ids = readonly number[];
const VOCAB = 40;

function randomTexts(rng: Rng, n: number): Ids[] {
  return Array.from({ length: n }, () => Array.from({ length: 1 + Math.floor(rng.next() * 6) }, () => Math.floor(rng.next() * VOCAB)));
}

function batches(seed: number): TrainBatch<Ids>[] {
  const rng = new Rng(seed);
  return [
    { family: 'retrieval', dataset: 'r', queries: randomTexts(rng, 6), positives: randomTexts(rng, 6), negatives: randomTexts(rng, 11) },
    { family: 'pair', dataset: 'p', text1: randomTexts(rng, 7), text2: randomTexts(rng, 7), scores: [0, 2.5, 5, 1, 2.5, 2.5, 4] },
    {
      family: 'cls',
      dataset: 'c',
      anchors: randomTexts(rng, 6),
      positives: randomTexts(rng, 6),
      negatives: randomTexts(rng, 9),
      labels: ['a', 'b', 'a', 'c', 'b', 'd'],
      negativeLabels: ['b', 'a', 'c', 'c', 'd', 'a', 'b', 'b', 'a'],
    },
  ];
}

function gradsOf(enc: StaticEmbeddingEncoder, batch: TrainBatch<Ids>, chunkSize: number, loss?: LossSettings) {
  const g = new GradientBuffers(enc.parameters);
  return accumulateBatchGradients(enc, batch, g, { chunkSize, loss }).then((r) => ({ r, g }));
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** The batch loss straight from the float64 forward (no GradCache, no f32 rounding of embeddings). */
function exactLoss(enc: StaticEmbeddingEncoder, batch: TrainBatch<Ids>, loss: LossSettings): number {
  const e = (xs: readonly Ids[]) => ({ data: enc.embed64(xs), rows: xs.length, dim: enc.dim });
  switch (batch.family) {
    case 'retrieval':
      return retrievalInfoNCE({ queries: e(batch.queries), positives: e(batch.positives), negatives: e(batch.negatives ?? []), temperature: loss.temperature, queryQuery: loss.queryQuery }).loss;
    case 'pair':
      return cosentLoss({ a: e(batch.text1), b: e(batch.text2), scores: batch.scores, scale: loss.cosentScale }).loss;
    case 'cls':
      return classificationInfoNCE({
        anchors: e(batch.anchors),
        positives: e(batch.positives),
        negatives: e(batch.negatives ?? []),
        labels: batch.labels,
        negativeLabels: batch.negativeLabels,
        temperature: loss.temperature,
        otherPositives: loss.clsOtherPositives,
      }).loss;
  }
}

test('GradCache: chunked gradients equal the unchunked computation for every family', async () => {
  for (const batch of batches(1)) {
    const enc = new StaticEmbeddingEncoder({ vocabSize: VOCAB, inputDim: 8, outputDim: 6, seed: 2 });
    const full = await gradsOf(enc, batch, 1000);
    for (const chunk of [1, 2, 4]) {
      const part = await gradsOf(enc, batch, chunk);
      assert.equal(part.r.loss, full.r.loss, `${batch.family}: loss depends on chunking`);
      for (const p of enc.parameters) {
        const a = part.g.get(p.name);
        const b = full.g.get(p.name);
        const scale = maxAbs(b);
        assert.ok(scale > 0, `${batch.family}: ${p.name} got no gradient`);
        for (let i = 0; i < a.length; i++) {
          assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-6 * scale, `${batch.family} chunk ${chunk}: ${p.name}[${i}] ${a[i]} vs ${b[i]}`);
        }
      }
    }
  }
});

test('GradCache: weight gradients agree with central finite differences of the whole-batch loss', async () => {
  const settings: LossSettings[] = [{ temperature: 0.02 }, { temperature: 0.05, queryQuery: false }, { cosentScale: 20 }, { temperature: 0.1, clsOtherPositives: 'masked' }];
  const bs = batches(3);
  const cases: [TrainBatch<Ids>, LossSettings][] = [
    [bs[0]!, settings[0]!],
    [bs[0]!, settings[1]!],
    [bs[1]!, settings[2]!],
    [bs[2]!, settings[0]!],
    [bs[2]!, settings[3]!],
  ];
  const rng = new Rng(4);
  for (const [batch, loss] of cases) {
    const enc = new StaticEmbeddingEncoder({ vocabSize: VOCAB, inputDim: 5, outputDim: 4, seed: 5 });
    const { g } = await gradsOf(enc, batch, 3, loss);
    for (const p of enc.parameters) {
      const grad = g.get(p.name);
      const scale = Math.max(1e-3, maxAbs(grad));
      // Every bias/projection entry, and a sample of the embedding table.
      const idx = p.data.length <= 40 ? [...p.data.keys()] : Array.from({ length: 25 }, () => Math.floor(rng.next() * p.data.length));
      for (const i of idx) {
        const w = p.data[i]!;
        p.data[i] = w + 1e-3;
        const wUp = p.data[i]!;
        const up = exactLoss(enc, batch, loss);
        p.data[i] = w - 1e-3;
        const wDown = p.data[i]!;
        const down = exactLoss(enc, batch, loss);
        p.data[i] = w;
        const fd = (up - down) / (wUp - wDown); // the exact f32 step actually taken
        assert.ok(Math.abs(fd - grad[i]!) <= 2e-4 * scale, `${batch.family} ${JSON.stringify(loss)} ${p.name}[${i}]: analytic ${grad[i]} vs FD ${fd}`);
      }
    }
  }
});

/** Wraps an encoder and records the calls, to check the GradCache protocol. */
class SpyEncoder implements TrainableEncoder<Ids> {
  calls: { op: 'embed' | 'backward'; n: number; ctx: EncodeContext }[] = [];
  constructor(private inner: StaticEmbeddingEncoder) {}
  get dim() {
    return this.inner.dim;
  }
  tokenCount(x: Ids) {
    return x.length;
  }
  async embed(inputs: readonly Ids[], ctx: EncodeContext) {
    this.calls.push({ op: 'embed', n: inputs.length, ctx });
    return this.inner.embed(inputs);
  }
  async backward(inputs: readonly Ids[], dE: Float32Array, grads: GradientBuffers, ctx: EncodeContext) {
    this.calls.push({ op: 'backward', n: inputs.length, ctx });
    return this.inner.backward(inputs, dE, grads);
  }
}

test('GradCache protocol: all embeds before any backward, one call per chunk, same seed for a chunk, zero-dE chunks skipped', async () => {
  const rng = new Rng(6);
  const spy = new SpyEncoder(new StaticEmbeddingEncoder({ vocabSize: VOCAB, inputDim: 4, outputDim: 4 }));
  const batch: TrainBatch<Ids> = {
    family: 'cls',
    anchors: randomTexts(rng, 5),
    positives: randomTexts(rng, 5),
    // The last three negatives share every anchor's class, so they are masked and get dE = 0.
    negatives: randomTexts(rng, 7),
    labels: ['x', 'x', 'x', 'x', 'x'],
    negativeLabels: ['y', 'y', 'y', 'y', 'x', 'x', 'x'],
  };
  const progress: string[] = [];
  const g = new GradientBuffers(spy['inner'].parameters);
  const r = await accumulateBatchGradients(spy, batch, g, { chunkSize: 2, seed: 9, onProgress: (phase, done, total) => progress.push(`${phase}:${done}/${total}`) });
  const embeds = spy.calls.filter((c) => c.op === 'embed');
  const backwards = spy.calls.filter((c) => c.op === 'backward');
  // Chunks: anchors 3, positives 3, negatives 4 = 10.
  assert.equal(embeds.length, 10);
  assert.equal(spy.calls.findIndex((c) => c.op === 'backward'), 10, 'every embed precedes every backward');
  assert.deepEqual(embeds.map((c) => c.n), [2, 2, 1, 2, 2, 1, 2, 2, 2, 1]);
  // Negatives chunk 2 = rows 4,5 (both masked) and chunk 3 = row 6 (masked): skipped.
  assert.equal(r.skippedChunks, 2);
  assert.equal(backwards.length, 8);
  for (const b of backwards) {
    const e = embeds.find((x) => x.ctx.group === b.ctx.group && x.ctx.chunk === b.ctx.chunk)!;
    assert.equal(b.ctx.seed, e.ctx.seed);
  }
  assert.equal(new Set(embeds.map((c) => c.ctx.seed)).size, 10, 'chunk seeds differ');
  assert.equal(progress.length, 20);
  assert.equal(progress[19], 'backward:10/10');
  assert.equal(r.texts, 17);
  assert.equal(r.tokens, [...batch.anchors, ...batch.positives, ...batch.negatives!].reduce((s, x) => s + x.length, 0));
});

test('GradCache: clear errors for a misbehaving encoder or a malformed batch', async () => {
  const enc = new StaticEmbeddingEncoder({ vocabSize: VOCAB, inputDim: 4, outputDim: 4 });
  const g = new GradientBuffers(enc.parameters);
  const bad: TrainableEncoder<Ids> = { dim: 4, embed: async (xs) => new Float32Array(xs.length * 3), backward: async () => undefined };
  await assert.rejects(accumulateBatchGradients(bad, batches(1)[0]!, g, { chunkSize: 4 }), /encoder\.embed returned 12 values for 4 queries × dim 4/);
  await assert.rejects(
    accumulateBatchGradients(enc, { family: 'retrieval', queries: [[1]], positives: [[1], [2]] }, g, { chunkSize: 4 }),
    /1 queries but 2 positives/,
  );
  await assert.rejects(accumulateBatchGradients(enc, batches(1)[0]!, g, { chunkSize: 0 }), /chunkSize must be a positive integer/);
  await assert.rejects(accumulateBatchGradients(enc, { family: 'pair', text1: [[1]], text2: [[99]], scores: [1] }, g, { chunkSize: 4 }), /input 0: token id 99 outside \[0, 40\)/);
});

// --- The trainer: schedule, clipping, optimizer, resume ----------------------------------------------

function makeRun(seed: number) {
  const enc = new StaticEmbeddingEncoder({ vocabSize: VOCAB, inputDim: 8, outputDim: 6, seed });
  const optimizer = new AdamW(enc.parameters, { weightDecay: 0.01 });
  const trainer = new GradCacheTrainer({
    encoder: enc,
    params: enc.parameters,
    optimizer,
    schedule: makeSchedule({ kind: 'cosine', lr: 0.05, warmup: 2, total: 10 }),
    chunkSize: 3,
    maxGradNorm: 1,
    loss: { temperature: 0.05 },
    seed: 17,
  });
  return { enc, optimizer, trainer };
}

const batchAt = (step: number) => batches(1000 + step)[step % 3]!;

test('trainer: N steps straight = k steps + save + restore (weights and optimizer) + N − k steps, bit for bit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-gc-'));
  try {
    const N = 10;
    const k = 4;
    const a = makeRun(1);
    const results = [];
    for (let s = 0; s < N; s++) results.push(await a.trainer.step(batchAt(s)));
    assert.deepEqual(results.map((r) => r.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(results[0]!.lr, 0, 'warmup starts at 0 (transformers convention)');
    assert.equal(results[2]!.lr, 0.05);
    assert.ok(results.some((r) => r.clipFactor < 1), 'clipping at norm 1 should engage');
    for (const r of results) if (r.clipFactor < 1) assert.ok(Math.abs(r.clipFactor - 1 / (r.gradNorm + 1e-6)) < 1e-12);

    const b = makeRun(1);
    for (let s = 0; s < k; s++) await b.trainer.step(batchAt(s));
    await writeTensorFile(join(dir, 'weights'), b.enc.parameters);
    await b.optimizer.save(dir);

    // "New process": a differently initialised model, then everything restored from disk.
    const c = makeRun(999);
    const byName = new Map(c.enc.parameters.map((p) => [p.name, p.data]));
    await readTensorFile(join(dir, 'weights'), (e) => byName.get(e.name));
    await c.optimizer.load(dir);
    assert.equal(c.trainer.stepCount, k);
    for (let s = k; s < N; s++) {
      const r = await c.trainer.step(batchAt(s));
      assert.equal(r.loss, results[s]!.loss, `loss at step ${s + 1}`);
      assert.equal(r.lr, results[s]!.lr);
    }
    a.enc.parameters.forEach((p, i) => assert.deepEqual(c.enc.parameters[i]!.data, p.data, `${p.name} differs`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('trainer: a static encoder learns a synthetic intent task (held-out nearest-centroid accuracy rises)', async () => {
  // 8 intents; a sentence = 3 of its intent's 4 keywords + 3 shared filler words, shuffled.
  const classes = 8;
  const fillers = 24;
  const vocab = classes * 4 + fillers;
  const rng = new Rng(21);
  const sentence = (c: number): number[] => {
    const words = [0, 1, 2, 3].map((k) => fillers + c * 4 + k).sort(() => rng.next() - 0.5).slice(0, 3);
    for (let i = 0; i < 3; i++) words.push(Math.floor(rng.next() * fillers));
    return words.sort(() => rng.next() - 0.5);
  };
  const heldOut = Array.from({ length: 160 }, (_, i) => ({ ids: sentence(i % classes), label: i % classes }));
  const enc = new StaticEmbeddingEncoder({ vocabSize: vocab, inputDim: 16, outputDim: 16, seed: 4 });
  const accuracy = (): number => {
    const e = enc.embedSync(heldOut.map((x) => x.ids));
    const d = enc.dim;
    const centroids = new Float64Array(classes * d);
    heldOut.forEach((x, i) => {
      for (let k = 0; k < d; k++) centroids[x.label * d + k] += e[i * d + k]!;
    });
    let right = 0;
    heldOut.forEach((x, i) => {
      let best = -1;
      let bestScore = -Infinity;
      for (let c = 0; c < classes; c++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += centroids[c * d + k]! * e[i * d + k]!;
        if (s > bestScore) [best, bestScore] = [c, s];
      }
      if (best === x.label) right++;
    });
    return right / heldOut.length;
  };
  const before = accuracy();
  const optimizer = new AdamW(enc.parameters, { weightDecay: 0.01 });
  const steps = 60;
  const trainer = new GradCacheTrainer({ encoder: enc, params: enc.parameters, optimizer, schedule: makeSchedule({ kind: 'linear', lr: 0.05, warmup: 5, total: steps }), chunkSize: 16, maxGradNorm: 1, loss: { temperature: 0.05 } });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const labels = Array.from({ length: 16 }, () => Math.floor(rng.next() * classes));
    const negLabels = labels.flatMap((l) => [(l + 1 + Math.floor(rng.next() * (classes - 1))) % classes]);
    const r = await trainer.step({
      family: 'cls',
      anchors: labels.map(sentence),
      positives: labels.map(sentence),
      negatives: negLabels.map(sentence),
      labels,
      negativeLabels: negLabels,
    });
    losses.push(r.loss);
  }
  const after = accuracy();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(losses.slice(-10)) < 0.5 * mean(losses.slice(0, 10)), `loss ${mean(losses.slice(0, 10))} → ${mean(losses.slice(-10))}`);
  assert.ok(after >= 0.95 && after > before + 0.1, `held-out accuracy ${before} → ${after}`);
});

test('trainer: the optimizer must own exactly the trainable parameters', () => {
  const enc = new StaticEmbeddingEncoder({ vocabSize: 4, inputDim: 2, outputDim: 2 });
  assert.throws(
    () => new GradCacheTrainer({ encoder: enc, params: enc.parameters, optimizer: new AdamW(enc.parameters.slice(1)), schedule: () => 1, chunkSize: 1 }),
    /optimizer must own exactly the trainable parameters/,
  );
});

test('StaticEmbeddingEncoder.backward is the VJP of its forward for an arbitrary upstream gradient', async () => {
  // A generic dE (not orthogonal to the outputs) exercises the normalisation's Jacobian too.
  const rng = new Rng(30);
  for (const bias of [true, false]) {
    const enc = new StaticEmbeddingEncoder({ vocabSize: 12, inputDim: 5, outputDim: 4, bias, seed: 31 });
    const inputs = [[1, 2, 2], [0], [11, 3, 5, 7], [4, 4]];
    const c = new Float64Array(inputs.length * enc.dim);
    rng.fillNormal(c);
    const objective = () => enc.embed64(inputs).reduce((s, v, i) => s + v * c[i]!, 0);
    const g = new GradientBuffers(enc.parameters);
    await enc.backward(inputs, Float32Array.from(c), g);
    for (const p of enc.parameters) {
      const grad = g.get(p.name);
      for (let i = 0; i < p.data.length; i++) {
        const w = p.data[i]!;
        p.data[i] = w + 1e-3;
        const wUp = p.data[i]!;
        const up = objective();
        p.data[i] = w - 1e-3;
        const wDown = p.data[i]!;
        const down = objective();
        p.data[i] = w;
        const fd = (up - down) / (wUp - wDown);
        assert.ok(Math.abs(fd - grad[i]!) <= 1e-4 * Math.max(1, maxAbs(grad)), `bias=${bias} ${p.name}[${i}]: ${grad[i]} vs ${fd}`);
      }
    }
  }
});

test('GradCache packGroups: chunks run across group boundaries with per-input sides; same gradients, fewer passes', async () => {
  const enc = new StaticEmbeddingEncoder({ vocabSize: VOCAB, inputDim: 6, outputDim: 5, seed: 4 });
  for (const batch of batches(21)) {
    const plain = new GradientBuffers(enc.parameters);
    const packed = new GradientBuffers(enc.parameters);
    const a = await accumulateBatchGradients(enc, batch, plain, { chunkSize: 4, seed: 2 });
    const spy = new SpyEncoder(enc);
    const b = await accumulateBatchGradients(spy, batch, packed, { chunkSize: 4, seed: 2, packGroups: true });
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-12 * Math.abs(a.loss), batch.family);
    for (const [name, g] of plain.entries()) {
      const h = packed.get(name);
      for (let i = 0; i < g.length; i++) assert.ok(Math.abs(g[i]! - h[i]!) <= 1e-6 * (1 + maxAbs(g)), `${batch.family} ${name}[${i}]`);
    }
    const embeds = spy.calls.filter((c) => c.op === 'embed');
    // Every chunk but the last is full, however the groups are sized.
    assert.deepEqual(embeds.slice(0, -1).map((c) => c.n), Array(embeds.length - 1).fill(4));
    assert.equal(embeds.reduce((s, c) => s + c.n, 0), b.texts);
    // A chunk spanning sides says which side each input is on; one-sided chunks give just `kind`.
    if (batch.family === 'retrieval') {
      const mixed = embeds.find((c) => c.ctx.kinds);
      assert.deepEqual(mixed?.ctx.kinds, ['query', 'query', 'document', 'document']);
      assert.equal(mixed?.ctx.kind, 'query');
    } else assert.ok(embeds.every((c) => c.ctx.kinds === undefined), 'pair and cls texts are all query-side');
    for (const bw of spy.calls.filter((c) => c.op === 'backward')) {
      assert.deepEqual(bw.ctx, embeds.find((e) => e.ctx.chunk === bw.ctx.chunk)!.ctx, 'backward gets the chunk\'s own context');
    }
  }
});
