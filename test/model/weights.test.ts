import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Graph, Runtime, hostTensor } from '../../src/graph/index.js';
import { quantizeRows, dequantizeRows, prepareWeights, type WeightRequest } from '../../src/model/weights.js';
import { linear } from '../../src/model/layers.js';
import { SafetensorsCheckpoint, writeSafetensors, floatTensor } from '../../src/model/safetensors.js';
import { tempDir, removeDir } from './helpers.js';

function rand(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
}

test('block quantisation: error within half a step, zero exact, ragged last block padded', () => {
  for (const bits of [4, 8] as const) {
    const rows = 3;
    const k = 70; // 32 + 32 + 6: the last block is ragged
    const w = rand(rows * k, bits);
    w[5] = 0;
    const q = quantizeRows(w, rows, k, bits, 32);
    assert.equal(q.packed.length, rows * 3 * (32 * bits) / 8);
    assert.equal(q.scales.length, rows * 3);
    assert.equal(q.zeroPoints.length, rows * (bits === 8 ? 3 : 2));
    const d = dequantizeRows(q, rows, k, bits, 32);
    for (let i = 0; i < w.length; i++) {
      const scale = q.scales[Math.floor(i / k) * 3 + Math.floor((i % k) / 32)]!;
      assert.ok(Math.abs(d[i]! - w[i]!) <= scale / 2 + 1e-7, `${bits}-bit element ${i}`);
    }
    assert.equal(d[5], 0, 'zero is representable');
  }
});

test('MatMulNBits in ONNX Runtime reads our packing: x·Wᵀ matches the dequantised weights', async () => {
  const dir = tempDir('nbits');
  try {
    const n = 24;
    const k = 96;
    const w = rand(n * k, 7);
    const bias = rand(n, 9);
    await writeSafetensors(join(dir, 'model.safetensors'), [floatTensor('fc.weight', [n, k], w), floatTensor('fc.bias', [n], bias)]);
    const ck = await SafetensorsCheckpoint.open(dir);
    const reqs: WeightRequest[] = [{ name: 'fc.weight', shape: [n, k], role: 'linear' }, { name: 'fc.bias', shape: [n], role: 'vector' }];
    const rt = new Runtime({ cacheDir: join(dir, 'cache') });
    const x = rand(5 * k, 3);
    for (const dtype of ['f32', 'int8', 'int4'] as const) {
      const pw = await prepareWeights(ck, reqs, { dtype, cacheDir: join(dir, 'cache') });
      const g = new Graph(`fc-${dtype}`);
      g.output(linear({ g, w: pw, act: 'f32' }, g.input('x', 'f32', ['t', k]), 'fc', true), 'y');
      const { y } = await (await rt.session(g)).run({ x: hostTensor('f32', x, [5, k]) });
      const ref = dtype === 'f32' ? w : dequantizeRows(quantizeRows(w, n, k, dtype === 'int8' ? 8 : 4, 32), n, k, dtype === 'int8' ? 8 : 4, 32);
      let worst = 0;
      let scale = 0;
      for (let r = 0; r < 5; r++) {
        for (let c = 0; c < n; c++) {
          let s = bias[c]!;
          for (let i = 0; i < k; i++) s += x[r * k + i]! * ref[c * k + i]!;
          worst = Math.max(worst, Math.abs((y!.data as Float32Array)[r * n + c]! - s));
          scale = Math.max(scale, Math.abs(s));
        }
      }
      // f32: exact up to rounding; quantised: ORT also quantises activations to int8 (accuracy level 4)
      assert.ok(worst <= (dtype === 'f32' ? 1e-5 : 0.02 * scale), `${dtype}: max error ${worst} (outputs up to ${scale})`);
      assert.equal(pw.get('fc.weight').kind, dtype === 'f32' ? 'float' : 'nbits');
    }
    await rt.releaseAll();
    await ck.close();
  } finally {
    removeDir(dir);
  }
});

test('weights: F32 checkpoints are used in place; conversions are cached and reused', async () => {
  const dir = tempDir('wcache');
  try {
    await writeSafetensors(join(dir, 'model.safetensors'), [floatTensor('a.weight', [4, 32], rand(128, 1)), floatTensor('n.weight', [32], rand(32, 2), 'BF16')]);
    const ck = await SafetensorsCheckpoint.open(dir);
    const reqs: WeightRequest[] = [{ name: 'a.weight', shape: [4, 32], role: 'linear' }, { name: 'n.weight', shape: [32], role: 'vector' }];
    const cache = join(dir, 'cache');
    const direct = await prepareWeights(ck, reqs.slice(0, 1), { dtype: 'f32', cacheDir: cache });
    assert.equal(direct.storeFile, undefined);
    const src = direct.get('a.weight');
    assert.ok(src.kind === 'float' && src.source.kind === 'file' && src.source.path === join(dir, 'model.safetensors'));
    const first = await prepareWeights(ck, reqs, { dtype: 'f32', cacheDir: cache }); // BF16 norm → converted
    assert.ok(first.storeFile);
    const mtime = statSync(first.storeFile!).mtimeMs;
    const again = await prepareWeights(ck, reqs, { dtype: 'f32', cacheDir: cache });
    assert.equal(again.storeFile, first.storeFile);
    assert.equal(statSync(again.storeFile!).mtimeMs, mtime, 'reused, not rewritten');
    await assert.rejects(prepareWeights(ck, [{ name: 'a.weight', shape: [4, 31], role: 'linear' }], { dtype: 'f32', cacheDir: cache }), /"a\.weight"\.shape: is \[4,32\], config\.json implies \[4,31\]/);
    await ck.close();
  } finally {
    removeDir(dir);
  }
});

test('training graphs: the same builder with weights as inputs gives the same vectors and differentiates (finite differences)', async () => {
  const { buildVjp } = await import('../../src/graph/index.js');
  const { loadModelConfig } = await import('../../src/model/config.js');
  const { buildDecoderGraph, decoderWeightRequests } = await import('../../src/model/qwen2.js');
  const { inputWeights, readFloatWeights } = await import('../../src/model/weights.js');
  const { FIXTURES, loadCases, dot } = await import('./helpers.js');
  const dir = join(FIXTURES, 'qwen2-tiny');
  const cases = loadCases('qwen2-tiny');
  const config = await loadModelConfig(dir, { attention: 'bidirectional' });
  if (config.family !== 'decoder') throw new Error('decoder expected');
  const reqs = decoderWeightRequests(config);
  const ck = await SafetensorsCheckpoint.open(dir);
  const values = await readFloatWeights(ck, reqs);
  await ck.close();
  const g = buildDecoderGraph(config, inputWeights(reqs), { pooling: 'mean', maxLength: 16, act: 'f32' });
  const B = cases.input_ids.length;
  const S = cases.input_ids[0]!.length;
  const feeds: Record<string, ReturnType<typeof hostTensor>> = {
    input_ids: hostTensor('i64', BigInt64Array.from(cases.input_ids.flat().map(BigInt)), [B, S]),
    attention_mask: hostTensor('i64', BigInt64Array.from(cases.attention_mask.flat().map(BigInt)), [B, S]),
  };
  for (const r of reqs) feeds[r.name] = hostTensor('f32', values.get(r.name)!, r.shape);
  const cache = tempDir('train');
  const rt = new Runtime({ cacheDir: cache });
  try {
    const fwd = await rt.session(g);
    const emb = (await fwd.run(feeds)).embedding!.data as Float32Array;
    const want = cases.bidirectional_mean_embedding as unknown as number[][];
    for (let b = 0; b < B; b++) assert.ok(dot(emb.subarray(b * 64, (b + 1) * 64), want[b]!) >= 0.99999);
    // d⟨c, embedding⟩/d(one weight) against a central difference
    const name = 'layers.1.mlp.up_proj.weight';
    const step = buildVjp(g, { output: 'embedding', wrt: [name] });
    const c = rand(B * 64, 5);
    const grad = (await (await rt.session(step)).run({ ...feeds, 'grad:embedding': hostTensor('f32', c, [B, 64]) }))[`grad:${name}`]!.data as Float32Array;
    const w = values.get(name)!;
    const i = 37;
    const h = 1e-2;
    const at = async (delta: number) => {
      const v = Float32Array.from(w);
      v[i]! += delta;
      const e = (await fwd.run({ ...feeds, [name]: hostTensor('f32', v, [160, 64]) })).embedding!.data as Float32Array;
      return dot(e, c);
    };
    const fd = ((await at(h)) - (await at(-h))) / (2 * h);
    assert.ok(Math.abs(fd - grad[i]!) <= 1e-3 + 1e-2 * Math.abs(fd), `finite difference ${fd} vs autodiff ${grad[i]}`);
  } finally {
    await rt.releaseAll();
    removeDir(cache);
  }
});
