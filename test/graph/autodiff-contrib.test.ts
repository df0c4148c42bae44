// Finite-difference checks of the VJP rules for the com.microsoft ops the model graphs use. These kernels
// are float32-only on CPU: step 1e-3, relative tolerance 2e-3 plus the float32 rounding floor (see
// gradcheck.ts). The central differences run ONNX Runtime's own forward kernels, so they also check that
// each rule matches the kernel's semantics (mask values, scales, layouts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Graph, Value } from '../../src/graph/index.js';
import { assertGradients, i64Tensor } from './gradcheck.js';

const MS = 'com.microsoft';
const f32 = 'f32' as const;
const spec = (v: Value) => ({ dtype: v.dtype, shape: v.shape });
const i32Tensor = (values: number[], dims: number[]) => ({ dtype: 'i32' as const, dims, data: Int32Array.from(values) });

test('VJP com.microsoft.Gelu and FastGelu (with bias)', async () => {
  await assertGradients({ build: (g) => { const a = g.param('a', f32, [3, 8]); return g.op1('Gelu', [a], {}, { domain: MS, output: spec(a) }).mul(g.param('w', f32, [8])); }, ranges: { a: [-3, 3] } }, 'Gelu');
  await assertGradients({
    build: (g) => { const a = g.param('a', f32, [3, 8]); return g.op1('FastGelu', [a, g.param('b', f32, [8])], {}, { domain: MS, output: spec(a) }).mul(g.param('w', f32, [8])); },
    ranges: { a: [-3, 3] },
  }, 'FastGelu');
});

test('VJP SkipLayerNormalization and SkipSimplifiedLayerNormalization, normalised output and the sum output', async () => {
  await assertGradients({
    build: (g) => {
      const a = g.param('a', f32, [2, 3, 8]);
      const stat = { dtype: f32, shape: [2, 3, 1] };
      const [y, , , s] = g.op('SkipLayerNormalization', [a, g.param('skip', f32, [2, 3, 8]), g.param('gamma', f32, [8]), g.param('beta', f32, [8]), g.param('bias', f32, [8])], { epsilon: 1e-5 }, 4, { domain: MS, outputs: [spec(a), stat, stat, spec(a)] });
      return y!.mul(g.param('w', f32, [8])).add(s!.mul(0.3));
    },
  }, 'SkipLayerNormalization');
  await assertGradients({
    build: (g) => {
      const a = g.param('a', f32, [4, 8]);
      return g.op1('SkipLayerNormalization', [a, g.param('skip', f32, [4, 8]), g.param('gamma', f32, [8]), g.param('beta', f32, [8])], { epsilon: 1e-12 }, { domain: MS, output: spec(a) }).mul(g.param('w', f32, [8]));
    },
  }, 'SkipLayerNormalization without bias, one output');
  await assertGradients({
    build: (g) => {
      const a = g.param('a', f32, [2, 3, 8]);
      const stat = { dtype: f32, shape: [2, 3, 1] };
      const [y, , , s] = g.op('SkipSimplifiedLayerNormalization', [a, g.param('skip', f32, [2, 3, 8]), g.param('gamma', f32, [8])], { epsilon: 1e-6 }, 4, { domain: MS, outputs: [spec(a), stat, stat, spec(a)] });
      return y!.mul(g.param('w', f32, [8])).add(s!.mul(s!));
    },
  }, 'SkipSimplifiedLayerNormalization');
});

test('VJP RotaryEmbedding (rotate-half and interleaved layouts, 3-D input with num_heads)', async () => {
  const maxPos = 6;
  const half = 2;
  const cos: number[] = [];
  const sin: number[] = [];
  for (let p = 0; p < maxPos; p++) for (let i = 0; i < half; i++) {
    cos.push(Math.cos(p / 10000 ** (i / half)));
    sin.push(Math.sin(p / 10000 ** (i / half)));
  }
  for (const interleaved of [0, 1]) {
    await assertGradients({
      build: (g: Graph) => {
        const a = g.param('a', f32, [2, 3, 8]);
        const pos = g.input('pos', 'i64', [2, 3]);
        const c = g.param('cos', f32, [maxPos, half], { kind: 'memory', data: Float32Array.from(cos) }, false);
        const s = g.param('sin', f32, [maxPos, half], { kind: 'memory', data: Float32Array.from(sin) }, false);
        return g.op1('RotaryEmbedding', [a, pos, c, s], { num_heads: 2, interleaved }, { domain: MS, output: spec(a) }).mul(g.param('w', f32, [8]));
      },
      feeds: { pos: i64Tensor([0, 1, 2, 3, 5, 4], [2, 3]) },
    }, `RotaryEmbedding interleaved=${interleaved}`);
  }
});

test('VJP MultiHeadAttention: key padding mask, causal masking, unequal value size', async () => {
  const build = (unidirectional: number, vHidden = 8) => (g: Graph) => {
    const q = g.param('q', f32, [2, 3, 8]);
    const k = g.param('k', f32, [2, 3, 8]);
    const v = g.param('v', f32, [2, 3, vHidden]);
    const m = g.input('m', 'i32', [2, 3]);
    return g.op1('MultiHeadAttention', [q, k, v, null, m], { num_heads: 2, unidirectional }, { domain: MS, output: { dtype: f32, shape: [2, 3, vHidden] } })
      .mul(g.param('w', f32, [vHidden]));
  };
  const feeds = { m: i32Tensor([1, 1, 1, 1, 1, 0], [2, 3]) };
  await assertGradients({ build: build(0), feeds, ranges: { q: [-2, 2], k: [-2, 2] } }, 'MHA padding mask');
  await assertGradients({ build: build(1), feeds, ranges: { q: [-2, 2], k: [-2, 2] } }, 'MHA causal');
  await assertGradients({ build: build(0, 4), feeds }, 'MHA value hidden 4');
});

test('a BERT layer written like src/model/bert.ts (Gemm transB, MultiHeadAttention, Add + LayerNormalization, Gelu)', async () => {
  const H = 8;
  const F = 12;
  const r = await assertGradients({
    build: (g) => {
      const x = g.input('x', f32, ['tokens', H]); // [batch·seq, hidden], as the models flatten tokens
      const mask = g.input('attention_mask', 'i64', ['batch', 'seq']);
      const to3d = g.concat([g.shapeOf(mask), g.constI64([-1])], 0);
      const lin = (name: string, v: Value, i: number, o: number) => g.op1('Gemm', [v, g.param(`${name}.weight`, f32, [o, i]), g.param(`${name}.bias`, f32, [o])], { transB: 1 });
      const q = lin('q', x, H, H).reshape(to3d);
      const k = lin('k', x, H, H).reshape(to3d);
      const v = lin('v', x, H, H).reshape(to3d);
      const attn = g.op1('MultiHeadAttention', [q, k, v, null, mask.cast('i32')], { num_heads: 2 }, { domain: MS, output: spec(q) });
      const o = lin('o', attn.reshape([-1, H]), H, H);
      const skipLn = (name: string, a: Value, b: Value) => g.op1('LayerNormalization', [a.add(b), g.param(`${name}.weight`, f32, [H]), g.param(`${name}.bias`, f32, [H])], { axis: -1, epsilon: 1e-12 });
      const h = skipLn('ln1', o, x);
      const up = lin('ffn1', h, H, F);
      const ff = lin('ffn2', g.op1('Gelu', [up], {}, { domain: MS, output: spec(up) }), F, H);
      const out = skipLn('ln2', ff, h).reshape(g.concat([g.shapeOf(mask), g.constI64([H])], 0));
      const m = mask.cast(f32).unsqueeze([2]);
      return out.mul(m).reduceSum([1], false).div(m.reduceSum([1], false));
    },
    dims: { tokens: 8, batch: 2, seq: 4 },
    feeds: { attention_mask: i64Tensor([1, 1, 1, 1, 1, 1, 0, 0], [2, 4]) },
    inputGrads: ['x'],
    maxElements: 24,
    step: 1e-2,
    rtol: 5e-3,
  }, 'bert layer with contrib ops');
  assert.ok(r.targets.includes('ffn1.weight') && r.targets.includes('ln2.weight') && r.targets.includes('x'));
});

/** Block quantisation in MatMulNBits layout (as src/model/weights.ts writes it), for W [n, k]. */
function quantize(w: Float32Array, n: number, k: number, bits: 4 | 8, bs: number) {
  const blocks = Math.ceil(k / bs);
  const levels = 2 ** bits - 1;
  const q = new Uint8Array(n * blocks * bs);
  const scales = new Float32Array(n * blocks);
  const zps = new Uint8Array(n * blocks);
  for (let r = 0; r < n; r++) for (let b = 0; b < blocks; b++) {
    let lo = 0;
    let hi = 0;
    for (let j = b * bs; j < Math.min(k, (b + 1) * bs); j++) {
      lo = Math.min(lo, w[r * k + j]!);
      hi = Math.max(hi, w[r * k + j]!);
    }
    const scale = (hi - lo) / levels || 1;
    const zp = Math.min(levels, Math.max(0, Math.round(-lo / scale)));
    scales[r * blocks + b] = scale;
    zps[r * blocks + b] = zp;
    for (let j = 0; j < bs; j++) {
      const col = b * bs + j;
      q[(r * blocks + b) * bs + j] = col < k ? Math.min(levels, Math.max(0, Math.round(w[r * k + col]! / scale + zp))) : zp;
    }
  }
  const pack = (vals: Uint8Array, rows: number, per: number) => {
    if (bits === 8) return vals;
    const out = new Uint8Array(rows * Math.ceil(per / 2));
    for (let r = 0; r < rows; r++) for (let i = 0; i < per; i++) out[r * Math.ceil(per / 2) + (i >> 1)]! |= vals[r * per + i]! << (4 * (i & 1));
    return out;
  };
  return { packed: pack(q, n * blocks, bs), scales, zeroPoints: pack(zps, n, blocks), blocks, blob: (bs * bits) / 8 };
}

test('VJP MatMulNBits (frozen 4/8-bit weights, QLoRA-style input gradient): packed and default zero points, a padded last block, bias', async () => {
  const cases: { bits: 4 | 8; k: number; zp: boolean; bias: boolean }[] = [
    { bits: 4, k: 48, zp: true, bias: false }, // 3 blocks: zero points 2 per byte, the last byte half used
    { bits: 4, k: 40, zp: false, bias: true }, // default zero point 8; K not a multiple of the block size
    { bits: 8, k: 32, zp: true, bias: false },
  ];
  for (const { bits, k, zp, bias } of cases) {
    const n = 6;
    const bs = 16;
    const w = Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 1.37) * 0.5);
    const qz = quantize(w, n, k, bits, bs);
    if (!zp) { // re-quantise around the default zero point 2^(bits−1)
      const mid = 2 ** (bits - 1);
      const q = new Uint8Array(n * qz.blocks * bs);
      for (let r = 0; r < n; r++) for (let b = 0; b < qz.blocks; b++) for (let j = 0; j < bs; j++) {
        const col = b * bs + j;
        q[(r * qz.blocks + b) * bs + j] = col < k ? Math.min(2 * mid - 1, Math.max(0, Math.round(w[r * k + col]! / qz.scales[r * qz.blocks + b]! + mid))) : mid;
      }
      qz.packed = new Uint8Array(q.length / 2);
      for (let i = 0; i < q.length; i++) qz.packed[i >> 1]! |= q[i]! << (4 * (i & 1));
    }
    await assertGradients({
      build: (g: Graph) => {
        const a = g.param('a', f32, [3, k]);
        const frozen = <T extends Uint8Array | Float32Array>(name: string, dtype: 'u8' | 'f32', dims: number[], data: T) => g.param(name, dtype, dims, { kind: 'memory', data }, false);
        const inputs: (Value | null)[] = [a, frozen('q', 'u8', [n, qz.blocks, qz.blob], qz.packed), frozen('s', 'f32', [n * qz.blocks], qz.scales), zp ? frozen('zp', 'u8', [qz.zeroPoints.length], qz.zeroPoints) : null];
        if (bias) inputs.push(null, g.param('bias', f32, [n]));
        const y = g.op1('MatMulNBits', inputs, { K: k, N: n, bits, block_size: bs }, { domain: MS, output: { dtype: f32, shape: [3, n] } });
        return y.mul(g.param('w', f32, [n]));
      },
    }, `MatMulNBits ${bits}-bit K=${k}${zp ? ' zp' : ''}${bias ? ' bias' : ''}`);
  }
});
