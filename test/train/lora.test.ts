// LoRA: PEFT's target matching, the wrapped model equal to the base at init, gradients for the adapters
// only (base frozen, not fed), finite differences through the adapters (dropout replayed exactly), and the
// merged save (W += (alpha/r)·B·A) loading with loadEmbedder to the unmerged forward.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEmbedder } from '../../src/model/index.js';
import { accumulateBatchGradients, AdamW, GradCacheTrainer, GradientBuffers, matchLoraTargets, retrievalInfoNCE, LoraAdapters, type TrainBatch } from '../../src/train/index.js';
import { GraphEncoder, memoryWeights } from '../../src/train/graph-encoder.js';
import { CORPUS, fullEncoder, maxAbs, maxAbsDiff, removeDir, tinyModel, type Arch, type TinyModel } from './model-helpers.js';
import { Rng } from '../../src/train/random.js';
import { modelWeightRequests } from '../../src/model/random-init.js';

const QWEN_MODULES = ['layers.0.self_attn.q_proj', 'layers.0.self_attn.k_proj', 'layers.0.mlp.up_proj', 'layers.1.self_attn.q_proj', 'layers.1.mlp.down_proj'];

test('target matching follows PEFT: whole dotted suffixes, globs, and a clear error for a typo', () => {
  assert.deepEqual(matchLoraTargets(QWEN_MODULES, ['q_proj']), ['layers.0.self_attn.q_proj', 'layers.1.self_attn.q_proj']);
  assert.deepEqual(matchLoraTargets(QWEN_MODULES, ['self_attn.k_proj', 'down_proj']), ['layers.0.self_attn.k_proj', 'layers.1.mlp.down_proj']);
  assert.deepEqual(matchLoraTargets(QWEN_MODULES, ['*_proj']), QWEN_MODULES);
  assert.deepEqual(matchLoraTargets(QWEN_MODULES, ['layers.1.*']), ['layers.1.self_attn.q_proj', 'layers.1.mlp.down_proj']);
  // "proj" is not a whole component of any name: no partial-word matches.
  assert.throws(() => matchLoraTargets(QWEN_MODULES, ['proj']), /lora\.targets: "proj" matches no linear layer of this model \(layer names end in: down_proj, k_proj, q_proj, up_proj\)/);
  const bert = ['encoder.layer.0.attention.self.query', 'encoder.layer.0.attention.output.dense', 'encoder.layer.0.intermediate.dense', 'encoder.layer.0.output.dense'];
  assert.deepEqual(matchLoraTargets(bert, ['dense']), bert.slice(1));
  assert.deepEqual(matchLoraTargets(bert, ['query', 'output.dense']), [bert[0], bert[1], bert[3]]);
});

function loraEncoder(m: TinyModel, targets: string[], opts: { rank?: number; alpha?: number; dropout?: number; seed?: number } = {}): GraphEncoder {
  const base = memoryWeights(modelWeightRequests(m.config), m.weights);
  return new GraphEncoder({
    config: m.config, tokenizer: m.tokenizer, tokenizerDir: m.tokenizerDir,
    mode: { kind: 'lora', lora: { rank: opts.rank ?? 4, alpha: opts.alpha ?? 8, dropout: opts.dropout ?? 0, targets }, base, readBase: async (n) => m.weights.get(n)!, seed: opts.seed ?? 1 },
    maxLength: { query: 48, passage: 48 }, cacheDir: join(m.dir, 'cache'), threads: 1,
  });
}

const TARGETS: Record<Arch, string[]> = { qwen2: ['q_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj'], qwen3: ['q_proj', 'k_proj'], bert: ['query', 'value', 'dense'] };

const batch: TrainBatch<string> = { family: 'retrieval', queries: CORPUS.slice(0, 4), positives: CORPUS.slice(4, 8), negatives: CORPUS.slice(8, 12) };

/** Sets every B to small random values, so that A gets gradients and the adapters change the output. */
function perturbB(enc: GraphEncoder, seed: number): void {
  const rng = new Rng(seed);
  for (const m of enc.lora!.modules.values()) rng.fillNormal(m.B.data, 0.05);
}

for (const arch of ['qwen2', 'bert'] as Arch[]) {
  test(`${arch}: LoRA at init equals the base; only A and B train; the base is frozen and not fed`, async () => {
    const m = await tinyModel(arch, 7);
    const base = fullEncoder(m);
    const enc = loraEncoder(m, TARGETS[arch]);
    try {
      // B = 0: the adapters add exactly zero.
      assert.deepEqual(await enc.embedTexts(CORPUS), await base.embedTexts(CORPUS));
      const names = enc.parameters.map((p) => p.name);
      assert.ok(names.length > 0 && names.every((n) => /\.lora_[AB]\.weight$/.test(n)), names.join(', '));
      const mods = [...enc.lora!.modules.keys()];
      assert.ok(mods.length >= 4);
      // A ~ U(−1/√in, 1/√in), B = 0 (PEFT's init).
      for (const mod of enc.lora!.modules.values()) {
        const bound = 1 / Math.sqrt(mod.inFeatures);
        assert.ok(maxAbs(mod.A.data) <= bound && maxAbs(mod.A.data) > 0.5 * bound);
        assert.equal(maxAbs(mod.B.data), 0);
      }
      // The VJP graph neither takes nor returns base weights.
      const g = enc.buildForwardGraph();
      const inputs = g.inputs.map((i) => i.name);
      assert.ok(!inputs.some((n) => m.weights.has(n)), 'base weights are not graph inputs');
      // At init dA = 0 (B is zero) and dB ≠ 0.
      const grads = new GradientBuffers(enc.parameters);
      await accumulateBatchGradients(enc, batch, grads, { chunkSize: 5, loss: { temperature: 0.5 } });
      for (const mod of enc.lora!.modules.values()) {
        assert.equal(maxAbs(grads.get(mod.A.name)), 0, `${mod.module}: dA at init`);
        assert.ok(maxAbs(grads.get(mod.B.name)) > 0, `${mod.module}: dB at init`);
      }
      // A training step changes the adapters and leaves the base weights as they were.
      const before = new Map([...m.weights].map(([k, v]) => [k, Float32Array.from(v)]));
      const trainer = new GradCacheTrainer({ encoder: enc, params: enc.parameters, optimizer: new AdamW(enc.parameters), schedule: () => 1e-2, chunkSize: 4, loss: { temperature: 0.5 } });
      await trainer.step(batch);
      await trainer.step(batch);
      for (const [k, v] of m.weights) assert.deepEqual(v, before.get(k), `${k} changed`);
      assert.ok(maxAbsDiff(await enc.embedTexts(CORPUS), await base.embedTexts(CORPUS)) > 1e-4, 'the adapters now change the output');
    } finally {
      await enc.close();
      await base.close();
      removeDir(m.dir);
    }
  });

  test(`${arch}: LoRA gradients agree with finite differences, and the merged save loads to the same vectors`, async () => {
    const m = await tinyModel(arch, 8);
    const enc = loraEncoder(m, TARGETS[arch], { rank: 3, alpha: 5 });
    try {
      perturbB(enc, 3);
      const grads = new GradientBuffers(enc.parameters);
      await accumulateBatchGradients(enc, batch, grads, { chunkSize: 3, loss: { temperature: 0.5 } });
      const lossNow = async () => {
        const e = async (t: readonly string[], kind: 'query' | 'document') => ({ data: Float64Array.from(await enc.embedTexts(t, kind)), rows: t.length, dim: enc.dim });
        return retrievalInfoNCE({ queries: await e(batch.queries, 'query'), positives: await e(batch.positives, 'document'), negatives: await e(batch.negatives!, 'document'), temperature: 0.5 }).loss;
      };
      for (const p of enc.parameters.filter((_, i) => i % 3 === 0)) {
        const g = grads.get(p.name);
        let k = 0;
        for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[k]!)) k = i;
        const old = p.data[k]!;
        p.data[k] = old + 1e-2;
        const up = p.data[k]!;
        const plus = await lossNow();
        p.data[k] = old - 1e-2;
        const down = p.data[k]!;
        const minus = await lossNow();
        p.data[k] = old;
        const fd = (plus - minus) / (up - down);
        assert.ok(Math.abs(fd - g[k]!) <= 2e-3 + 3e-2 * Math.abs(g[k]!), `${p.name}[${k}]: finite difference ${fd} vs ${g[k]}`);
      }
      // Merged save: W + (alpha/r)·B·A in [out, in] orientation, loadable by the inference runtime.
      const dir = join(m.dir, 'merged');
      await enc.save(dir);
      const loaded = await loadEmbedder(dir, { cacheDir: join(m.dir, 'cache'), instructionTable: false, threads: 1 });
      const want = await enc.embedTexts(CORPUS);
      const got = await loaded.embed(CORPUS);
      await loaded.close();
      for (let i = 0; i < CORPUS.length; i++) {
        const d = maxAbsDiff(got[i]!, want.subarray(i * enc.dim, (i + 1) * enc.dim));
        assert.ok(d <= 2e-5, `text ${i}: merged vs unmerged ${d}`);
      }
      // The merge by hand for one module: W' = W + scale·B·A.
      const mod = [...enc.lora!.modules.values()][0]!;
      const merged = enc.lora!.merge(mod.module, m.weights.get(`${mod.module}.weight`)!);
      const { inFeatures: n, outFeatures: o } = mod;
      for (const [i, j] of [[0, 0], [o - 1, n - 1], [Math.floor(o / 2), 1]] as [number, number][]) {
        let ba = 0;
        for (let r = 0; r < 3; r++) ba += mod.B.data[i * 3 + r]! * mod.A.data[r * n + j]!;
        assert.ok(Math.abs(merged[i * n + j]! - (m.weights.get(`${mod.module}.weight`)![i * n + j]! + (5 / 3) * ba)) < 1e-6);
      }
      // PEFT adapter files travel with the merged model and restore the adapters exactly.
      assert.ok(existsSync(join(dir, 'adapter_model.safetensors')));
      const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
      assert.equal(cfg.peft_type, 'LORA');
      assert.equal(cfg.r, 3);
      assert.equal(cfg.lora_alpha, 5);
      const again = loraEncoder(m, TARGETS[arch], { rank: 3, alpha: 5, seed: 99 });
      await again.lora!.load(dir);
      for (const p of enc.parameters) assert.deepEqual(again.parameters.find((q) => q.name === p.name)!.data, p.data);
      await again.close();
      // Adapters of a subset of the modules load; another rank is refused, naming the tensor.
      const subset = loraEncoder(m, TARGETS[arch].slice(0, 1), { rank: 3, alpha: 5 });
      await subset.lora!.load(dir);
      await subset.close();
      const wrong = loraEncoder(m, TARGETS[arch], { rank: 2, alpha: 5 });
      await assert.rejects(wrong.lora!.load(dir), /adapter_model\.safetensors: tensor "base_model\.model\..*\.lora_A\.weight"\.shape: is \[3, \d+\], this run's adapter is \[2, \d+\]/);
      await wrong.close();
    } finally {
      await enc.close();
      removeDir(m.dir);
    }
  });
}

test('LoRA dropout: the backward pass replays the forward masks (gradient = finite difference at the same seed)', async () => {
  const m = await tinyModel('qwen2', 9);
  const enc = loraEncoder(m, ['q_proj', 'up_proj'], { dropout: 0.3 });
  try {
    perturbB(enc, 4);
    const ctx = (seed: number) => ({ kind: 'query' as const, group: 'queries' as const, chunk: 0, seed });
    const texts = CORPUS.slice(0, 5);
    const a = await enc.embed(texts, ctx(11));
    assert.deepEqual(await enc.embed(texts, ctx(11)), a, 'same seed, same masks');
    assert.ok(maxAbsDiff(await enc.embed(texts, ctx(12)), a) > 1e-5, 'another seed draws other masks');
    assert.ok(maxAbsDiff(await enc.embedTexts(texts), a) > 1e-5, 'plain embedding keeps everything');
    // d⟨c, E⟩/dθ from backward against a central difference of ⟨c, E(seed 11)⟩.
    const c = new Float32Array(a.length);
    new Rng(5).fillNormal(c, 1);
    const grads = new GradientBuffers(enc.parameters);
    await enc.backward(texts, c, grads, ctx(11));
    const dot = async () => {
      const e = await enc.embed(texts, ctx(11));
      let s = 0;
      for (let i = 0; i < e.length; i++) s += e[i]! * c[i]!;
      return s;
    };
    for (const p of enc.parameters) {
      const g = grads.get(p.name);
      let k = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[k]!)) k = i;
      const old = p.data[k]!;
      p.data[k] = old + 1e-2;
      const plus = await dot();
      const up = p.data[k]!;
      p.data[k] = old - 1e-2;
      const minus = await dot();
      const down = p.data[k]!;
      p.data[k] = old;
      const fd = (plus - minus) / (up - down);
      assert.ok(Math.abs(fd - g[k]!) <= 2e-3 + 3e-2 * Math.abs(g[k]!), `${p.name}[${k}]: ${fd} vs ${g[k]}`);
    }
  } finally {
    await enc.close();
    removeDir(m.dir);
  }
});

test('LoRA configuration errors name the field', () => {
  const reqs = [{ name: 'layers.0.self_attn.q_proj.weight', shape: [8, 8], role: 'linear' as const }];
  assert.throws(() => LoraAdapters.create(reqs, { rank: 0, alpha: 1, dropout: 0, targets: ['q_proj'] }, 1), /lora\.rank must be a positive integer, got 0/);
  assert.throws(() => LoraAdapters.create(reqs, { rank: 2, alpha: 1, dropout: 1, targets: ['q_proj'] }, 1), /lora\.dropout must be in \[0, 1\), got 1/);
  assert.throws(() => LoraAdapters.create(reqs, { rank: 2, alpha: 1, dropout: 0, targets: ['k_proj'] }, 1), /"k_proj" matches no linear layer/);
  const a = LoraAdapters.create(reqs, { rank: 2, alpha: 1, dropout: 0, targets: ['q_proj'] }, 1);
  const b = LoraAdapters.create(reqs, { rank: 2, alpha: 1, dropout: 0, targets: ['q_proj'] }, 1);
  assert.deepEqual(a.parameters[0]!.data, b.parameters[0]!.data, 'initialisation is seeded');
});
