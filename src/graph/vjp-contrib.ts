// VJP rules for the com.microsoft contrib ops the model graphs use (src/model/layers.ts, bert.ts, qwen2.ts):
// fused GELUs, skip + layer norms, rotary embeddings, multi-head attention and 4/8-bit linear layers. ONNX Runtime has no
// backward kernels for them outside its training build, so each gradient is written with plain ops
// (attention probabilities are recomputed from Q and K).
import type { DType } from './dtype.js';
import type { Value } from './ir.js';
import type { VjpContext, VjpRule } from './vjp-context.js';
import { normBackward } from './vjp-math.js';

const MS = 'com.microsoft';

/** Elementwise math for f16 inputs runs in f32 (Erf has no f16 kernel on CPU). */
function working(v: Value): Value {
  return v.dtype === 'f16' || v.dtype === 'bf16' ? v.cast('f32') : v;
}

/** Exact GELU y = x·Φ(x): dy/dx = Φ(x) + x·φ(x). */
const gelu: VjpRule = (c) => {
  const x = working(c.x(0));
  const dt = x.dtype;
  const cdf = x.mul(c.scalar(Math.SQRT1_2, dt)).erf().mul(c.scalar(0.5, dt)).add(c.scalar(0.5, dt));
  const pdf = x.mul(x).mul(c.scalar(-0.5, dt)).exp().mul(c.scalar(1 / Math.sqrt(2 * Math.PI), dt));
  const slope = cdf.add(x.mul(pdf));
  return [c.dyBroadcastable()!.mul(slope.cast(c.fx(0).dtype))];
};

/**
 * FastGelu (tanh approximation) of u = x (+ bias): y = ½u(1 + t), t = tanh(k(u + 0.044715u³)), k = √(2/π);
 * dy/du = ½(1 + t) + ½u(1 − t²)·k(1 + 3·0.044715u²).
 */
const fastGelu: VjpRule = (c) => {
  let u = working(c.x(0));
  if (c.has(1)) u = u.add(working(c.x(1)));
  const dt = u.dtype;
  const k = Math.sqrt(2 / Math.PI);
  const u2 = u.mul(u);
  const t = u.add(u2.mul(u).mul(c.scalar(0.044715, dt))).mul(c.scalar(k, dt)).tanh();
  const inner = u2.mul(c.scalar(3 * 0.044715 * k, dt)).add(c.scalar(k, dt));
  const slope = t.add(c.scalar(1, dt)).add(u.mul(c.scalar(1, dt).sub(t.mul(t))).mul(inner)).mul(c.scalar(0.5, dt));
  const du = c.dy()!.mul(slope.cast(c.fx(0).dtype));
  return [du, c.has(1) && c.needs(1) ? c.sumTo(du, c.fx(1)) : null];
};

/**
 * SkipLayerNormalization / SkipSimplifiedLayerNormalization: s = input + skip (+ bias), y = norm(s)·γ (+ β),
 * with s also returned as output 3. The gradient of s is the norm's input gradient plus output 3's.
 */
function skipNorm(rms: boolean): VjpRule {
  return (c) => {
    const X = c.fx(0);
    const biasIndex = rms ? 3 : 4;
    let s = c.x(0).add(c.x(1));
    if (c.has(biasIndex)) s = s.add(c.x(biasIndex));
    const axes = [X.rank - 1];
    let ds: Value | null = null;
    let dGamma: Value | null = null;
    let dBeta: Value | null = null;
    const d0 = c.dy(0);
    if (d0) {
      const r = normBackward(c, { x: s, d: d0, scale: c.x(2), axes, eps: c.attrFloat('epsilon', 1e-5), rms });
      ds = r.dx.cast(X.dtype);
      if (c.needs(2)) dGamma = c.sumTo(r.dScale, c.fx(2)).cast(c.fx(2).dtype);
      if (!rms && c.has(3) && c.needs(3)) dBeta = c.sumTo(r.dBias, c.fx(3)).cast(c.fx(3).dtype);
    }
    const d3 = c.node.outputs.length > 3 ? c.dyBroadcastable(3) : null;
    if (d3) ds = ds ? ds.add(d3) : d3;
    const through = (i: number) => (c.has(i) && c.needs(i) ? (ds ? c.sumTo(ds, c.fx(i)) : null) : null);
    const out: (Value | null)[] = [through(0), through(1), dGamma];
    if (rms) out.push(through(3));
    else out.push(dBeta, through(4));
    return out;
  };
}

/** RotaryEmbedding rotates pairs by angle θ; its transpose rotates by −θ: the same op with −sin. */
const rotary: VjpRule = (c) => {
  if (c.needs(2) || c.needs(3)) throw c.error('gradients of the cos/sin caches are not supported; make them frozen params');
  const d = c.dy()!;
  const attrs = Object.fromEntries(Object.entries(c.node.attrs));
  const back = c.g.op1('RotaryEmbedding', [d, c.x(1), c.x(2), c.x(3).neg()], attrs, { domain: MS, output: { dtype: d.dtype, shape: d.shape } });
  return [back, null, null, null];
};

/**
 * MultiHeadAttention with query/key/value as [batch, seq, heads·dim] (the layout the models use), an
 * optional key padding mask [batch, kv_seq] (0 = masked, mask_filter_value added to the scores),
 * optional causal masking (unidirectional) and optional additive attention bias (no gradient).
 * The backward recomputes the probabilities P = softmax(QKᵀ·scale + mask) in plain ops:
 * dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − Σ dP⊙P), dQ = dS·K·scale, dK = dSᵀ·Q·scale.
 */
const multiHeadAttention: VjpRule = (c) => {
  const g = c.g;
  const Q = c.fx(0);
  if (Q.rank !== 3 || !c.has(1) || !c.has(2) || c.fx(1).rank !== 3 || c.fx(2).rank !== 3) {
    throw c.error('the gradient supports query, key and value as [batch, seq, hidden] only');
  }
  for (const i of [3, 6, 7]) if (c.has(i)) throw c.error(`input ${i} (bias / past key / past value) is not supported by the gradient`);
  if (c.has(5) && c.needs(5)) throw c.error('the attention bias gets no gradient; pass it as a constant or frozen value');
  const heads = c.attrInt('num_heads', 0);
  if (heads <= 0) throw c.error('num_heads is needed');
  const dt: DType = Q.dtype === 'f64' ? 'f64' : 'f32';
  // Hidden sizes may be known only at run time (the models reshape with a computed shape): -1 infers them.
  const toHeads = (v: Value) => v.cast(dt).reshape([0, 0, heads, -1]).transpose([0, 2, 1, 3]); // [b, h, s, d]
  const q = toHeads(c.x(0));
  const k = toHeads(c.x(1));
  const v = toHeads(c.x(2));
  const hidden = Q.shape[2];
  const given = c.attrFloat('scale', 0);
  const scale = given ? c.scalar(given, dt)
    : typeof hidden === 'number' ? c.scalar(Math.fround(1 / Math.sqrt(hidden / heads)), dt)
    : g.shapeOf(q, 3, 4).cast(dt).sqrt().reciprocal(); // 1/√head_dim at run time
  let scores = q.matmul(k.transpose([0, 1, 3, 2])).mul(scale);
  const filter = c.scalar(c.attrFloat('mask_filter_value', -10000), dt);
  const zero = c.scalar(0, dt);
  if (c.has(4)) {
    const m = c.x(4);
    if (m.rank !== 2) throw c.error('the gradient supports a 2-D key padding mask [batch, kv_seq] only');
    const keep = m.cast('bool').unsqueeze([1, 2]); // [b, 1, 1, kv]
    scores = scores.add(g.where(keep, zero, filter));
  }
  if (c.attrInt('unidirectional', 0)) {
    // Future keys (j > i) get the filter value, as ORT's causal mask.
    const ones = g.op1('ConstantOfShape', [g.shapeOf(scores, 2, 4)], { value: { dtype: 'bool', dims: [1], data: Uint8Array.of(1) } });
    const future = g.op1('Trilu', [ones, g.scalar(1, 'i64')], { upper: 1 });
    scores = scores.add(g.where(future, filter, zero));
  }
  if (c.has(5)) scores = scores.add(c.x(5).cast(dt));
  const p = scores.softmax(-1);
  const dO = toHeads(c.dy()!);
  const fromHeads = (x: Value, like: Value) => {
    const r = x.transpose([0, 2, 1, 3]).reshape([0, 0, -1]);
    return like.dtype === dt ? r : r.cast(like.dtype);
  };
  const out: (Value | null)[] = [null, null, null, null, null, null, null, null];
  if (c.needs(2)) out[2] = fromHeads(p.transpose([0, 1, 3, 2]).matmul(dO), c.fx(2));
  if (c.needs(0) || c.needs(1)) {
    const dp = dO.matmul(v.transpose([0, 1, 3, 2]));
    const ds = p.mul(dp.sub(dp.mul(p).reduceSum([-1], true))).mul(scale);
    if (c.needs(0)) out[0] = fromHeads(ds.matmul(k), Q);
    if (c.needs(1)) out[1] = fromHeads(ds.transpose([0, 1, 3, 2]).matmul(q), c.fx(1));
  }
  return out.slice(0, c.node.inputs.length);
};

/** Unpacks 4-bit values stored two per byte (even element in the low nibble) along a new last axis: [..., n] → [..., 2n]. */
function unpackNibbles(c: VjpContext, bytes: Value): Value {
  const sixteen = c.scalar(16, 'i32');
  const lo = c.g.op1('Mod', [bytes, sixteen]);
  const hi = bytes.div(sixteen);
  const pairs = c.g.concat([lo.unsqueeze([bytes.rank]), hi.unsqueeze([bytes.rank])], bytes.rank); // [..., n, 2]
  return pairs.reshape([...bytes.shape.slice(0, -1).map(() => 0), -1]);
}

/**
 * MatMulNBits: y = A·Wᵀ (+ bias) with W [N, K] stored as 4- or 8-bit blocks, dequantised as (q − zp)·scale.
 * The weights are frozen; A's gradient is d·W with W dequantised in the graph (QLoRA's backward). Layout:
 * B [N, blocks, blob] with 4-bit values two per byte, the even element in the low nibble; zero points packed
 * the same way per row (uint8) or given as floats, default 2^(bits−1).
 */
const matMulNBits: VjpRule = (c) => {
  for (const i of [1, 2, 3]) if (c.needs(i)) throw c.error('quantised weights, scales and zero points get no gradient (they are frozen)');
  if (c.has(4)) throw c.error('act-order weights (g_idx) are not supported by the gradient');
  const A = c.fx(0);
  const K = c.attrInt('K', 0);
  const N = c.attrInt('N', 0);
  const bits = c.attrInt('bits', 4);
  const bs = c.attrInt('block_size', 0);
  if (bits !== 4 && bits !== 8) throw c.error(`${bits}-bit weights are not supported by the gradient (4 or 8)`);
  const blocks = Math.ceil(K / bs);
  const wt: DType = 'f32';
  const bytes = c.x(1).cast('i32'); // [N, blocks, blob]
  const q = (bits === 4 ? unpackNibbles(c, bytes) : bytes).reshape([N, blocks, bs]);
  let zp: Value;
  if (!c.has(3)) zp = c.scalar(2 ** (bits - 1), wt);
  else if (c.fx(3).dtype === 'u8') {
    const packed = c.x(3).cast('i32').reshape([N, -1]);
    const z = bits === 4 ? unpackNibbles(c, packed).slice([0], [blocks], [1]) : packed;
    zp = z.reshape([N, blocks, 1]).cast(wt);
  } else zp = c.x(3).cast(wt).reshape([N, blocks, 1]);
  const scales = c.x(2).cast(wt).reshape([N, blocks, 1]);
  let W = q.cast(wt).sub(zp).mul(scales).reshape([N, blocks * bs]);
  if (blocks * bs !== K) W = W.slice([0], [K], [1]); // the last block is padded
  const d = c.dy()!;
  const dA = d.cast(wt).matmul(W);
  const out: (Value | null)[] = [A.dtype === wt ? dA : dA.cast(A.dtype), null, null, null, null];
  if (c.has(5)) out.push(c.needs(5) ? c.sumTo(d, c.fx(5)) : null);
  return out;
};

export const CONTRIB_RULES: Record<string, VjpRule> = {
  [`${MS}.MatMulNBits`]: matMulNBits,
  [`${MS}.Gelu`]: gelu,
  [`${MS}.FastGelu`]: fastGelu,
  [`${MS}.SkipLayerNormalization`]: skipNorm(false),
  [`${MS}.SkipSimplifiedLayerNormalization`]: skipNorm(true),
  [`${MS}.RotaryEmbedding`]: rotary,
  [`${MS}.MultiHeadAttention`]: multiHeadAttention,
};
