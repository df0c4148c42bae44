// The ONNX-backed trainable encoder: its forward is the inference forward (loadEmbedder on the same
// weights), GradCache's chunked gradients equal the unchunked ones, the sparse embedding-row gradient
// equals the dense one, and the gradient of the whole contrastive loss agrees with central finite
// differences — for the Qwen2 (bidirectional) and BERT graphs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadEmbedder } from '../../src/model/index.js';
import { accumulateBatchGradients, GradientBuffers, retrievalInfoNCE, classificationInfoNCE, cosentLoss, type TrainBatch, type Parameter } from '../../src/train/index.js';
import type { GraphEncoder } from '../../src/train/graph-encoder.js';
import { CORPUS, fullEncoder, maxAbs, maxAbsDiff, removeDir, tempDir, tinyModel, type Arch } from './model-helpers.js';

const TEXTS = [...CORPUS, '', 'A much longer text about a card payment that was declined twice while I was travelling abroad last week'];

for (const arch of ['qwen2', 'qwen3', 'bert'] as Arch[]) {
  test(`${arch}: the training forward equals loadEmbedder on the same weights (padding, empty text, lengths)`, async () => {
    const m = await tinyModel(arch, 3);
    const enc = fullEncoder(m, { maxLength: { query: 64, passage: 64 } });
    const { writeRandomCheckpoint } = await import('../../src/model/random-init.js');
    const ckpt = join(m.dir, 'ckpt');
    await writeRandomCheckpoint(ckpt, { config: m.raw, tokenizerDir: m.tokenizerDir, seed: 3, maxSeqLength: 64 });
    const ref = await loadEmbedder(ckpt, { cacheDir: join(m.dir, 'cache'), instructionTable: false, threads: 1 });
    try {
      const want = await ref.embed(TEXTS);
      const got = await enc.embedTexts(TEXTS);
      const d = enc.dim;
      // The same graph on the same weights: equal up to float32 rounding (batches are padded differently).
      for (let i = 0; i < TEXTS.length; i++) {
        const diff = maxAbsDiff(got.subarray(i * d, (i + 1) * d), want[i]!);
        assert.ok(diff <= 3e-7, `text ${i}: ${diff}`);
      }
      // Chunk composition does not change a text's vector beyond rounding (padding is masked out).
      const alone = await enc.embedTexts([TEXTS[3]!]);
      assert.ok(maxAbsDiff(alone, got.subarray(3 * d, 4 * d)) <= 1e-6);
      // Saving the training encoder gives a checkpoint with the same vectors.
      const saved = join(m.dir, 'saved');
      await enc.save(saved);
      const back = await loadEmbedder(saved, { cacheDir: join(m.dir, 'cache'), instructionTable: false, threads: 1 });
      const again = await back.embed(TEXTS);
      for (let i = 0; i < TEXTS.length; i++) assert.deepEqual(again[i], want[i]);
      await back.close();
    } finally {
      await ref.close();
      await enc.close();
      removeDir(m.dir);
    }
  });
}

function batches(): TrainBatch<string>[] {
  return [
    { family: 'retrieval', queries: TEXTS.slice(0, 4), positives: TEXTS.slice(4, 8), negatives: TEXTS.slice(8, 13) },
    { family: 'pair', text1: TEXTS.slice(0, 5), text2: TEXTS.slice(5, 10), scores: [5, 1.2, 3, 3, 0.4] },
    { family: 'cls', anchors: TEXTS.slice(0, 4), positives: TEXTS.slice(4, 8), negatives: TEXTS.slice(8, 12), labels: ['a', 'b', 'a', 'c'], negativeLabels: ['b', 'c', 'a', 'd'] },
  ];
}

const LOSS = { temperature: 0.5, cosentScale: 5 };

async function gradsOf(enc: GraphEncoder, batch: TrainBatch<string>, chunkSize: number, packGroups = false): Promise<{ grads: GradientBuffers; loss: number }> {
  const grads = new GradientBuffers(enc.parameters);
  const r = await accumulateBatchGradients(enc, batch, grads, { chunkSize, loss: LOSS, seed: 5, packGroups });
  return { grads, loss: r.loss };
}

function compare(a: GradientBuffers, b: GradientBuffers, tol: number, what: string): void {
  let scale = 0;
  for (const [, g] of a.entries()) scale = Math.max(scale, maxAbs(g));
  assert.ok(scale > 0, `${what}: all gradients are zero`);
  for (const [name, g] of a.entries()) {
    const d = maxAbsDiff(g, b.get(name));
    assert.ok(d <= tol * scale, `${what}: ${name} differs by ${d} (largest gradient ${scale})`);
  }
}

for (const arch of ['qwen2', 'qwen3', 'bert'] as Arch[]) {
  test(`${arch}: GradCache gradients equal the unchunked computation for every family; sparse rows = dense table`, async () => {
    const m = await tinyModel(arch, 4);
    // Short, different max lengths per side: packed chunks must truncate each text for its own side.
    const enc = fullEncoder(m, { maxLength: { query: 5, passage: 14 } });
    const dense = fullEncoder(m, { sparseEmbeddings: false, maxLength: { query: 5, passage: 14 } });
    try {
      for (const batch of batches()) {
        const whole = await gradsOf(enc, batch, 100);
        // Chunks within groups, and packed across groups (queries and passages, truncated per side, in one run).
        for (const [chunk, packed] of [[1, false], [3, false], [3, true], [7, true]] as const) {
          const c = await gradsOf(enc, batch, chunk, packed);
          assert.ok(Math.abs(c.loss - whole.loss) <= 1e-6 * Math.abs(whole.loss), `${batch.family} chunk ${chunk}${packed ? ' packed' : ''}: loss ${c.loss} vs ${whole.loss}`);
          compare(whole.grads, c.grads, 1e-5, `${arch} ${batch.family} chunk ${chunk}${packed ? ' packed' : ''}`);
        }
        const d = await gradsOf(dense, batch, 100);
        compare(whole.grads, d.grads, 1e-5, `${arch} ${batch.family} dense embedding gradient`);
        // Rows of tokens no text uses get nothing (the sparse scatter touches only used rows).
        const emb = whole.grads.get(m.config.family === 'decoder' ? 'embed_tokens.weight' : 'embeddings.word_embeddings.weight');
        const H = m.config.hiddenSize;
        const used = new Set<number>();
        for (const t of TEXTS) for (const id of m.tokenizer.encode(t === '' && arch !== 'bert' ? 'Null' : t)) used.add(id);
        used.add(m.tokenizer.padId);
        for (let id = 0; id < m.config.vocabSize; id++) {
          if (used.has(id)) continue;
          for (let k = 0; k < H; k++) assert.equal(emb[id * H + k], 0, `unused token ${id} got a gradient`);
        }
      }
    } finally {
      await enc.close();
      await dense.close();
      removeDir(m.dir);
    }
  });
}

/** The whole-batch loss at the encoder's current weights, from its forward pass (float64 loss). */
async function lossAt(enc: GraphEncoder, batch: TrainBatch<string>): Promise<number> {
  const e = async (texts: readonly string[], kind: 'query' | 'document') => ({ data: Float64Array.from(texts.length ? await enc.embedTexts(texts, kind) : []), rows: texts.length, dim: enc.dim });
  switch (batch.family) {
    case 'retrieval':
      return retrievalInfoNCE({ queries: await e(batch.queries, 'query'), positives: await e(batch.positives, 'document'), negatives: await e(batch.negatives ?? [], 'document'), temperature: LOSS.temperature }).loss;
    case 'pair':
      return cosentLoss({ a: await e(batch.text1, 'query'), b: await e(batch.text2, 'query'), scores: batch.scores, scale: LOSS.cosentScale }).loss;
    case 'cls':
      return classificationInfoNCE({ anchors: await e(batch.anchors, 'query'), positives: await e(batch.positives, 'query'), negatives: await e(batch.negatives ?? [], 'query'), labels: batch.labels, negativeLabels: batch.negativeLabels ?? [], temperature: LOSS.temperature }).loss;
  }
}

/**
 * Central differences of the whole loss: along the computed gradient (all parameters at once) and for
 * single elements with large gradients in several tensors. f32 forward: h is large enough that rounding
 * stays well under the tolerance.
 */
async function finiteDifferences(enc: GraphEncoder, params: readonly Parameter[], batch: TrainBatch<string>, chunkSize: number, label: string): Promise<void> {
  const { grads } = await gradsOf(enc, batch, chunkSize);
  // 1. Along the gradient direction: d/dh L(θ + h·g/‖g‖) = ‖g‖.
  const norm = grads.globalNorm();
  const h = 2e-3;
  const saved = params.map((p) => Float32Array.from(p.data));
  const shift = async (t: number) => {
    params.forEach((p, k) => {
      const g = grads.get(p.name);
      const w = saved[k]!;
      for (let i = 0; i < g.length; i++) p.data[i] = w[i]! + (t * g[i]!) / norm;
    });
    return lossAt(enc, batch);
  };
  const fd = ((await shift(h)) - (await shift(-h))) / (2 * h);
  params.forEach((p, k) => p.data.set(saved[k]!));
  assert.ok(Math.abs(fd - norm) <= 2e-2 * norm, `${label}: directional derivative ${fd} vs ‖g‖ ${norm}`);
  // 2. Single elements: the largest gradient entry of a few tensors.
  const picks = params.filter((_, i) => i % Math.max(1, Math.floor(params.length / 6)) === 0);
  for (const p of picks) {
    const g = grads.get(p.name);
    let best = 0;
    for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[best]!)) best = i;
    if (g[best] === 0) continue;
    const old = p.data[best]!;
    p.data[best] = old + 1e-2;
    const up = p.data[best]!;
    const plus = await lossAt(enc, batch);
    p.data[best] = old - 1e-2;
    const down = p.data[best]!;
    const minus = await lossAt(enc, batch);
    p.data[best] = old;
    const fde = (plus - minus) / (up - down);
    assert.ok(Math.abs(fde - g[best]!) <= 2e-3 + 3e-2 * Math.abs(g[best]!), `${label}: ${p.name}[${best}] finite difference ${fde} vs gradient ${g[best]}`);
  }
}

for (const arch of ['qwen2', 'bert'] as Arch[]) {
  test(`${arch}: gradients of the whole loss agree with central finite differences (retrieval and cls, chunked)`, async () => {
    const m = await tinyModel(arch, 5);
    const enc = fullEncoder(m);
    try {
      const [retrieval, , cls] = batches();
      await finiteDifferences(enc, enc.parameters, retrieval!, 3, `${arch} retrieval`);
      await finiteDifferences(enc, enc.parameters, cls!, 2, `${arch} cls`);
    } finally {
      await enc.close();
      removeDir(m.dir);
    }
  });
}

test('max lengths per side truncate queries and passages differently; bad inputs are named', async () => {
  const m = await tinyModel('bert', 6);
  const enc = fullEncoder(m, { maxLength: { query: 5, passage: 9 } });
  try {
    const long = TEXTS.at(-1)!;
    assert.equal(enc.tokenize(long, 'query').length, 5);
    assert.equal(enc.tokenize(long, 'document').length, 9);
    const q = await enc.embedTexts([long], 'query');
    const d = await enc.embedTexts([long], 'document');
    assert.ok(maxAbsDiff(q, d) > 1e-4, 'different truncation gives different vectors');
    const grads = new GradientBuffers(enc.parameters);
    await assert.rejects(enc.backward(['a'], new Float32Array(3), grads, { kind: 'query', group: 'queries', chunk: 0, seed: 0 }), /dE has 3 values for 1 texts × 24/);
    assert.throws(() => fullEncoder(m, { maxLength: { query: 2, passage: 9 } }), /max length \(query\) must be an integer ≥ 3, got 2/);
  } finally {
    await enc.close();
    removeDir(m.dir);
  }
});

test('gradients are exact with two ORT threads: repeated tokens and BERT positions (race-free Gather gradients)', async () => {
  // 64 texts × 62 tokens: every position index repeats 64 times and the few distinct words hundreds of
  // times — the case where ORT's multi-threaded ScatterND(add) loses updates (src/graph's Gather rule avoids it).
  const m = await tinyModel('bert', 12, { hidden_size: 128, intermediate_size: 128, num_attention_heads: 2, num_hidden_layers: 1, max_position_embeddings: 128 });
  const texts = Array.from({ length: 64 }, (_, i) => Array.from({ length: 60 }, (_, j) => CORPUS[(i + j) % CORPUS.length]!.split(' ')[0]).join(' '));
  const batch: TrainBatch<string> = { family: 'pair', text1: texts.slice(0, 32), text2: texts.slice(32), scores: texts.slice(0, 32).map((_, i) => i % 5) };
  const one = fullEncoder(m, { threads: 1, maxLength: { query: 64, passage: 64 } });
  const two = fullEncoder(m, { threads: 2, maxLength: { query: 64, passage: 64 } });
  try {
    const a = await gradsOf(one, batch, 64, true);
    for (let rep = 0; rep < 3; rep++) {
      const b = await gradsOf(two, batch, 64, true);
      compare(a.grads, b.grads, 1e-5, `2 threads, repetition ${rep}`);
    }
  } finally {
    await one.close();
    await two.close();
    removeDir(m.dir);
  }
});
