// Small transformer blocks written with plain ONNX ops, for gradient tests: a BERT-style post-norm
// block and a Qwen-style pre-norm block (RMSNorm, RoPE, GQA, SwiGLU). Every weight is a trainable param
// fed as an input; the block returns its mean-pooled output [batch, hidden], like an embedding model.
import type { DType, Graph, Value } from '../../src/graph/index.js';

export interface BlockDims {
  hidden: number;
  heads: number;
  ffn: number;
}

function linear(g: Graph, name: string, x: Value, dt: DType, inDim: number, outDim: number, bias = true): Value {
  const y = x.matmul(g.param(`${name}.weight`, dt, [inDim, outDim]));
  return bias ? y.add(g.param(`${name}.bias`, dt, [outDim])) : y;
}

/** Mean over the real tokens: Σ h·m / Σ m, [batch, hidden]. */
export function meanPool(h: Value, mask: Value): Value {
  const m = mask.cast(h.dtype).unsqueeze([2]);
  return h.mul(m).reduceSum([1], false).div(m.reduceSum([1], false));
}

/** Additive attention bias [batch, 1, 1, seq]: 0 for real tokens, −10⁴ for padding. */
function paddingBias(g: Graph, mask: Value, dt: DType): Value {
  return g.where(mask.cast('bool').unsqueeze([1, 2]), 0 as number, g.scalar(-1e4, dt));
}

/** Exact GELU x·½(1 + erf(x/√2)); erf runs in float32 (ORT has no float64 Erf kernel). */
export function geluErf(x: Value): Value {
  const g = x.graph;
  const e = x.mul(Math.SQRT1_2).cast('f32').erf().cast(x.dtype);
  return x.mul(e.add(g.scalar(1, x.dtype))).mul(0.5);
}

/** BERT-style block: self-attention with a padding mask, residual + LayerNorm, GELU FFN, residual + LayerNorm. */
export function bertBlock(g: Graph, dt: DType, d: BlockDims): Value {
  const { hidden: H, heads: nh, ffn: F } = d;
  const hd = H / nh;
  const x = g.input('x', dt, ['batch', 'seq', H]);
  const mask = g.input('mask', 'i64', ['batch', 'seq']);
  const split = (v: Value) => v.reshape([0, 0, nh, hd]).transpose([0, 2, 1, 3]);
  const q = split(linear(g, 'q', x, dt, H, H));
  const k = split(linear(g, 'k', x, dt, H, H));
  const v = split(linear(g, 'v', x, dt, H, H));
  const scores = q.matmul(k.transpose([0, 1, 3, 2])).mul(1 / Math.sqrt(hd)).add(paddingBias(g, mask, dt));
  const ctx = scores.softmax(-1).matmul(v).transpose([0, 2, 1, 3]).reshape([0, 0, H]);
  const ln = (name: string, v: Value) => g.op1('LayerNormalization', [v, g.param(`${name}.weight`, dt, [H]), g.param(`${name}.bias`, dt, [H])], { axis: -1, epsilon: 1e-5 });
  const a = ln('ln1', x.add(linear(g, 'o', ctx, dt, H, H)));
  const f = linear(g, 'ffn2', geluErf(linear(g, 'ffn1', a, dt, H, F)), dt, F, H);
  return meanPool(ln('ln2', a.add(f)), mask);
}

/**
 * Qwen-style block: RMSNorm → attention with RoPE (rotate-half via Slice/Neg/Concat, tables fed as inputs
 * cos/sin [seq, head_dim]), grouped-query attention (KV heads repeated with Unsqueeze/Expand/Reshape),
 * causal + padding mask → residual → RMSNorm → SwiGLU MLP → residual.
 */
export function qwenBlock(g: Graph, dt: DType, d: BlockDims & { kvHeads: number }): Value {
  const { hidden: H, heads: nh, ffn: F, kvHeads: nkv } = d;
  const hd = H / nh;
  const x = g.input('x', dt, ['batch', 'seq', H]);
  const mask = g.input('mask', 'i64', ['batch', 'seq']);
  const cos = g.input('cos', dt, ['seq', hd]);
  const sin = g.input('sin', dt, ['seq', hd]);
  const rms = (name: string, v: Value) => {
    const inv = v.pow(2).reduceMean([-1], true).add(1e-6).sqrt();
    return v.div(inv).mul(g.param(`${name}.weight`, dt, [H]));
  };
  const rope = (t: Value) => {
    const half = hd / 2;
    const rotated = g.concat([t.slice([half], [hd], [3]).neg(), t.slice([0], [half], [3])], 3);
    return t.mul(cos).add(rotated.mul(sin));
  };
  const heads = (v: Value, n: number) => v.reshape([0, 0, n, hd]).transpose([0, 2, 1, 3]);
  const h = rms('ln1', x);
  const q = rope(heads(linear(g, 'q', h, dt, H, nh * hd), nh));
  const k = rope(heads(linear(g, 'k', h, dt, H, nkv * hd), nkv));
  const v = heads(linear(g, 'v', h, dt, H, nkv * hd), nkv);
  const repeat = (t: Value) => {
    const shape = g.concat([g.shapeOf(t, 0, 2), g.constI64([nh / nkv]), g.shapeOf(t, 2, 4)], 0); // [b, nkv, group, s, hd]
    return t.unsqueeze([2]).expand(shape).reshape([0, nh, -1, hd]);
  };
  const seqShape = g.concat([g.shapeOf(x, 1, 2), g.shapeOf(x, 1, 2)], 0);
  const ones = g.op1('ConstantOfShape', [seqShape], { value: { dtype: 'bool', dims: [1], data: Uint8Array.of(1) } });
  const future = g.op1('Trilu', [ones, g.scalar(1, 'i64')], { upper: 1 }); // j > i
  const blocked = future.or(mask.cast('bool').not().unsqueeze([1, 2]));
  const scores = q.matmul(repeat(k).transpose([0, 1, 3, 2])).mul(1 / Math.sqrt(hd));
  const attn = g.where(blocked, g.scalar(-1e4, dt), scores).softmax(-1).matmul(repeat(v));
  const x2 = x.add(linear(g, 'o', attn.transpose([0, 2, 1, 3]).reshape([0, 0, nh * hd]), dt, nh * hd, H, false));
  const h2 = rms('ln2', x2);
  const gate = linear(g, 'gate', h2, dt, H, F, false);
  const mlp = linear(g, 'down', gate.mul(gate.sigmoid()).mul(linear(g, 'up', h2, dt, H, F, false)), dt, F, H, false);
  return meanPool(x2.add(mlp), mask);
}

/** RoPE tables for positions 0…seq−1, [seq, head_dim] each (rotate-half layout). */
export function ropeTables(seq: number, hd: number, theta = 10000): { cos: number[]; sin: number[] } {
  const cos: number[] = [];
  const sin: number[] = [];
  for (let s = 0; s < seq; s++) {
    for (let i = 0; i < hd; i++) {
      const f = s / theta ** ((2 * (i % (hd / 2))) / hd);
      cos.push(Math.cos(f));
      sin.push(Math.sin(f));
    }
  }
  return { cos, sin };
}
