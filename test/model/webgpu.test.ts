// The model graphs on ONNX Runtime's WebGPU provider, checked against the transformers fixtures. No GPU is
// needed: where no Vulkan driver is configured, the test points Dawn at SwiftShader, the software Vulkan
// device Chromium ships (installed by .ci/run), so the WebGPU kernels and the graphs' WebGPU paths (plain
// attention, shape buckets) run here exactly as on a GPU, only slower. SwiftShader has no 16-bit shaders,
// so f16 is checked for its error message there and for its values on a device that has them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceUnavailableError, Graph, Runtime, hostTensor } from '../../src/graph/index.js';
import { loadEmbedder } from '../../src/model/index.js';
import { prepareWeights, type WeightRequest } from '../../src/model/weights.js';
import { linear } from '../../src/model/layers.js';
import { SafetensorsCheckpoint, writeSafetensors, floatTensor } from '../../src/model/safetensors.js';
import { mulberry32 } from '../../src/util/random.js';
import { tempDir, removeDir, fixtureCheckpoint, loadCases, wordPieceTokenizer, indexVocab, dot, maxAbsDiff, checkFixtureBatch, fixtureTexts, type Cases } from './helpers.js';

const SWIFTSHADER = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/opt/google/chrome/vk_swiftshader_icd.json'].find((f) => existsSync(f));
if (!process.env.VK_ICD_FILENAMES && SWIFTSHADER) process.env.VK_ICD_FILENAMES = SWIFTSHADER;
process.env.XDG_RUNTIME_DIR ??= tmpdir();

/** Whether a WebGPU adapter answers: a one-node graph run on the provider. */
async function webgpuAvailable(): Promise<string | true> {
  const rt = new Runtime({ device: 'webgpu' });
  try {
    const g = new Graph('probe');
    g.output(g.input('x', 'f32', [2]).add(1), 'y');
    const s = await rt.session(g);
    const y = (await s.run({ x: hostTensor('f32', Float32Array.of(1, 2), [2]) })).y!.data as Float32Array;
    assert.deepEqual([...y], [2, 3]);
    return true;
  } catch (e) {
    if (e instanceof DeviceUnavailableError) {
      const hint = SWIFTSHADER ? 'SwiftShader did not start: is the Vulkan loader (libvulkan1) installed?' : 'install chromium (SwiftShader) and libvulkan1';
      return `no WebGPU adapter (${hint}): ${e.message.slice(0, 160)}`;
    }
    throw e;
  } finally {
    await rt.releaseAll();
  }
}

const available = await webgpuAvailable();
const skip = available === true ? false : available;

test('WebGPU: qwen2-tiny causal and bidirectional match the fixture (hidden ≤ 1e-4, cos ≥ 0.99999), by batch and by text through shape buckets', { skip }, async () => {
  const cases = loadCases('qwen2-tiny') as Cases;
  const dir = fixtureCheckpoint('qwen2-tiny', wordPieceTokenizer(indexVocab(384), { specials: false }));
  const cache = tempDir('cache');
  try {
    for (const attention of ['causal', 'bidirectional'] as const) {
      const e = await loadEmbedder(dir, { device: 'webgpu', dtype: 'f32', attention, withHiddenStates: true, cacheDir: cache, maxLength: 64 });
      try {
        await checkFixtureBatch(e, cases, `${attention}_last_hidden_state`, `${attention}_mean_embedding`);
        await checkFixtureBatch(e, cases, `${attention}_last_hidden_state`, `${attention}_mean_embedding`, true);
        // Texts: sorted by length, padded to a bucket length (not the longest text), left padding.
        const texts = fixtureTexts(cases);
        const order = [3, 1, 0, 2, 1];
        const vecs = await e.embed(order.map((i) => texts[i]!));
        order.forEach((i, k) => {
          const cos = dot(vecs[k]!, (cases[`${attention}_mean_embedding`] as number[][])[i]!);
          assert.ok(cos >= 0.99999, `${attention} text ${i}: cos ${cos}`);
        });
      } finally {
        await e.close();
      }
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});

test('WebGPU: bert-tiny CLS and mean pooling match the fixture', { skip }, async () => {
  const cases = loadCases('bert-tiny') as Cases;
  const dir = fixtureCheckpoint('bert-tiny', wordPieceTokenizer(indexVocab(300), { specials: false }));
  const cache = tempDir('cache');
  try {
    for (const pooling of ['cls', 'mean'] as const) {
      const e = await loadEmbedder(dir, { device: 'webgpu', dtype: 'f32', pooling, withHiddenStates: true, cacheDir: cache });
      try {
        await checkFixtureBatch(e, cases, 'last_hidden_state', `${pooling}_embedding`, true);
      } finally {
        await e.close();
      }
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});

/** Runs `f`; where the adapter lacks 16-bit shaders (SwiftShader), the error must name the fix instead. */
async function unlessNoF16(f: () => Promise<void>): Promise<'ran' | 'no f16'> {
  try {
    await f();
    return 'ran';
  } catch (e) {
    assert.match((e as Error).message, /no 16-bit float support \(shader-f16\).*load the model with dtype f32 \(--dtype f32\)/);
    return 'no f16';
  }
}

test('WebGPU: f16 (the default there) and int8 (f16 embedding table) either match f32/CPU or name the fix', { skip }, async () => {
  const cases = loadCases('qwen2-tiny') as Cases;
  const texts = fixtureTexts(cases);
  const dir = fixtureCheckpoint('qwen2-tiny', wordPieceTokenizer(indexVocab(384), { specials: false }), {}, { architectures: ['QZhouModel'] });
  const cache = tempDir('cache');
  try {
    const cpu = await loadEmbedder(dir, { dtype: 'int8', cacheDir: cache, maxLength: 64 });
    const gpu = await loadEmbedder(dir, { device: 'webgpu', dtype: 'int8', cacheDir: cache, maxLength: 64 });
    const f32 = await loadEmbedder(dir, { device: 'webgpu', dtype: 'f32', cacheDir: cache, maxLength: 64 });
    const half = await loadEmbedder(dir, { device: 'webgpu', cacheDir: cache, maxLength: 64 });
    try {
      const a = await cpu.embed(texts);
      const int8 = await unlessNoF16(async () => {
        const b = await gpu.embed(texts);
        a.forEach((v, i) => assert.ok(maxAbsDiff(v, b[i]!) < 1e-3, `text ${i}: int8 webgpu vs cpu ${maxAbsDiff(v, b[i]!)}`));
      });
      assert.equal(half.dtype, 'f16', 'WebGPU defaults to f16');
      const want = await f32.embed(texts);
      const f16 = await unlessNoF16(async () => {
        const got = await half.embed(texts);
        got.forEach((v, i) => assert.ok(dot(v, want[i]!) > 0.999, `text ${i}: f16 vs f32 cos ${dot(v, want[i]!)}`));
      });
      assert.equal(int8, f16, 'both need 16-bit shaders, so both ran or both named the fix');
    } finally {
      await Promise.all([cpu.close(), gpu.close(), f32.close(), half.close()]);
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});

test('WebGPU: 8- and 4-bit linear layers (MatMulNBits with our packing) give what they give on CPU', { skip }, async () => {
  const dir = tempDir('nbits-webgpu');
  try {
    const n = 24;
    const k = 96;
    const r = mulberry32(5);
    const rand = (len: number) => Float32Array.from({ length: len }, () => r() - 0.5);
    const w = rand(n * k);
    const bias = rand(n);
    const x = rand(5 * k);
    await writeSafetensors(join(dir, 'model.safetensors'), [floatTensor('fc.weight', [n, k], w), floatTensor('fc.bias', [n], bias)]);
    const ck = await SafetensorsCheckpoint.open(dir);
    const reqs: WeightRequest[] = [{ name: 'fc.weight', shape: [n, k], role: 'linear' }, { name: 'fc.bias', shape: [n], role: 'vector' }];
    const cpu = new Runtime({ cacheDir: join(dir, 'cache') });
    const gpu = new Runtime({ device: 'webgpu', cacheDir: join(dir, 'cache') });
    try {
      for (const dtype of ['int8', 'int4'] as const) {
        const pw = await prepareWeights(ck, reqs, { dtype, cacheDir: join(dir, 'cache') });
        const g = new Graph(`fc-${dtype}`);
        g.output(linear({ g, w: pw, act: 'f32' }, g.input('x', 'f32', ['t', k]), 'fc', true), 'y');
        const feeds = { x: hostTensor('f32', x, [5, k]) };
        const a = (await (await cpu.session(g)).run(feeds)).y!.data as Float32Array;
        const b = (await (await gpu.session(g)).run(feeds)).y!.data as Float32Array;
        const scale = Math.max(...a.map(Math.abs));
        // The CPU kernel also quantises activations to int8 (accuracy level 4); the WebGPU one may not.
        assert.ok(maxAbsDiff(a, b) <= 0.02 * scale, `${dtype}: webgpu vs cpu ${maxAbsDiff(a, b)} (outputs up to ${scale})`);
      }
    } finally {
      await cpu.releaseAll();
      await gpu.releaseAll();
      await ck.close();
    }
  } finally {
    removeDir(dir);
  }
});

test('WebGPU: every pooling mode gives the CPU vectors (texts of different lengths, left padding, bucketed)', { skip }, async () => {
  const cases = loadCases('qwen2-tiny') as Cases;
  const texts = [...fixtureTexts(cases), 'w5', 'w9 w10 w11 w12 w13 w14 w15 w16 w17 w18 w19 w20 w21'];
  const dir = fixtureCheckpoint('qwen2-tiny', wordPieceTokenizer(indexVocab(384), { specials: false }), {}, { architectures: ['QZhouModel'] });
  const cache = tempDir('cache');
  try {
    for (const pooling of ['lasttoken', 'max', 'mean_sqrt_len', 'weightedmean', 'cls'] as const) {
      const cpu = await loadEmbedder(dir, { pooling, cacheDir: cache, maxLength: 64 });
      const gpu = await loadEmbedder(dir, { device: 'webgpu', dtype: 'f32', pooling, cacheDir: cache, maxLength: 64 });
      try {
        const [a, b] = [await cpu.embed(texts), await gpu.embed(texts)];
        a.forEach((v, i) => assert.ok(maxAbsDiff(v, b[i]!) < 1e-5, `${pooling}, text ${i}: ${maxAbsDiff(v, b[i]!)}`));
      } finally {
        await Promise.all([cpu.close(), gpu.close()]);
      }
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});
