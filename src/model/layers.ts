// Graph building blocks shared by the model graphs: linear layers over flattened tokens, normalisations,
// activations, and pooling + L2 normalisation inside the graph (so a run returns only [batch, dim]).
// Fused ONNX Runtime ops (com.microsoft) are used where they exist on CPU, WebGPU and CUDA alike.
import type { Device, Graph, Value } from '../graph/index.js';
import type { PreparedWeights } from './weights.js';
import type { PoolingMode } from './sentence-transformers.js';

export interface LayerContext {
  g: Graph;
  w: PreparedWeights;
  /** Activation dtype: f32, or f16 for half-precision devices. */
  act: 'f32' | 'f16';
  /** Prefix of graph parameter names (keeps names unique when several weight sets share a graph). */
  namePrefix?: string;
  /** Training hook on every linear layer (LoRA adapters); absent for inference graphs. */
  adapter?: LinearAdapter;
}

/**
 * Called by `linear` with the layer's input x [tokens, in], its checkpoint name prefix (e.g.
 * `layers.0.self_attn.q_proj`) and its output y = x Wᵀ + b; returns the value to use instead (y itself
 * for layers it leaves alone). The trainer's LoRA adds (alpha/r)·(x Aᵀ) Bᵀ here.
 */
export type LinearAdapter = (g: Graph, x: Value, prefix: string, y: Value) => Value;

const MS = 'com.microsoft';

/**
 * y = x Wᵀ + b for x [tokens, in] and a checkpoint weight [out, in] (PyTorch layout, used as is: Gemm
 * with transB, or MatMulNBits for quantised weights).
 */
export function linear(ctx: LayerContext, x: Value, prefix: string, bias: boolean): Value {
  const y = baseLinear(ctx, x, prefix, bias);
  return ctx.adapter ? ctx.adapter(ctx.g, x, prefix, y) : y;
}

function baseLinear(ctx: LayerContext, x: Value, prefix: string, bias: boolean): Value {
  const { g, w } = ctx;
  const pn = `${ctx.namePrefix ?? ''}${prefix}`;
  const weight = w.get(`${prefix}.weight`);
  const b = bias ? w.float(g, `${prefix}.bias`, `${pn}.bias`) : null;
  if (weight.kind === 'float') {
    const wv = g.param(`${pn}.weight`, weight.dtype, weight.shape, weight.source, w.trainable);
    return g.op1('Gemm', b ? [x, wv, b] : [x, wv], { transB: 1 });
  }
  const blocks = Math.ceil(weight.k / weight.blockSize);
  const blob = (weight.blockSize * weight.bits) / 8;
  const zpLen = weight.n * (weight.bits === 8 ? blocks : Math.ceil(blocks / 2));
  const packed = g.param(`${pn}.weight.q`, 'u8', [weight.n, blocks, blob], weight.packed, false);
  const scales = g.param(`${pn}.weight.scales`, weight.scaleDtype, [weight.n * blocks], weight.scales, false);
  const zp = g.param(`${pn}.weight.zp`, 'u8', [zpLen], weight.zeroPoints, false);
  const y = g.op1('MatMulNBits', [x, packed, scales, zp], {
    K: weight.k, N: weight.n, bits: weight.bits, block_size: weight.blockSize, accuracy_level: 4,
  }, { domain: MS });
  return b ? y.add(b) : y;
}

/** RMSNorm (ORT SimplifiedLayerNormalization) over the last axis. */
export function rmsNorm(ctx: LayerContext, x: Value, weightName: string, eps: number): Value {
  const w = ctx.w.float(ctx.g, weightName);
  return ctx.g.op1('SimplifiedLayerNormalization', [x, w], { epsilon: eps, axis: -1, stash_type: 1 }, { output: { dtype: x.dtype, shape: x.shape } });
}

/** (x + residual) and RMSNorm of it, in one kernel. Returns [normalised, sum]. */
export function addRmsNorm(ctx: LayerContext, x: Value, residual: Value, weightName: string, eps: number): [Value, Value] {
  const w = ctx.w.float(ctx.g, weightName);
  const spec = { dtype: x.dtype, shape: x.shape };
  const stat = { dtype: 'f32' as const, shape: [...x.shape.slice(0, -1), 1] };
  const [y, , , sum] = ctx.g.op('SkipSimplifiedLayerNormalization', [x, residual, w], { epsilon: eps }, 4, { domain: MS, outputs: [spec, stat, stat, spec] });
  return [y!, sum!];
}

/** LayerNorm over the last axis (opset 17). */
export function layerNorm(ctx: LayerContext, x: Value, prefix: string, eps: number): Value {
  const g = ctx.g;
  return g.op1('LayerNormalization', [x, ctx.w.float(g, `${prefix}.weight`), ctx.w.float(g, `${prefix}.bias`)], { axis: -1, epsilon: eps });
}

/**
 * LayerNorm(x + residual) (BERT's post-norm). A plain Add and LayerNormalization, not ORT's fused
 * SkipLayerNormalization: on [tokens, hidden] the fused CPU kernel is about 3× slower (bench/graph-contrib.ts).
 */
export function addLayerNorm(ctx: LayerContext, x: Value, residual: Value, prefix: string, eps: number): Value {
  return layerNorm(ctx, x.add(residual), prefix, eps);
}

export type Activation = 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'relu' | 'silu';

export function activation(g: Graph, x: Value, act: Activation): Value {
  const spec = { dtype: x.dtype, shape: x.shape };
  switch (act) {
    case 'gelu':
      return g.op1('Gelu', [x], {}, { domain: MS, output: spec }); // exact (erf) GELU
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return g.op1('FastGelu', [x], {}, { domain: MS, output: spec }); // tanh approximation
    case 'relu':
      return x.relu();
    case 'silu':
      return x.mul(x.sigmoid());
  }
}

/**
 * Pooling over the sequence of h [batch, seq, hidden] with mask [batch, seq] (1 = real token), computed in
 * float32, then optional L2 normalisation (x / max(‖x‖, 1e-12), as torch.nn.functional.normalize).
 * mean: Σ h·m / max(Σ m, 1e-9) (sentence-transformers); cls: the first real token; lasttoken: the last real
 * token (works for left and right padding); max: max over real tokens; mean_sqrt_len: Σ h·m / √Σ m;
 * weightedmean: weights 1…n over real positions.
 */
export function pool(g: Graph, h: Value, mask: Value, mode: PoolingMode): Value {
  const hf = h.cast('f32');
  const m = mask.cast('f32').unsqueeze([2]); // [b, s, 1]
  switch (mode) {
    case 'mean':
    case 'mean_sqrt_len': {
      const sum = hf.mul(m).reduceSum([1], false);
      const count = m.reduceSum([1], false).max(1e-9);
      return sum.div(mode === 'mean' ? count : count.sqrt());
    }
    case 'weightedmean': {
      const w = cumSum(g, mask, 1).cast('f32').mul(mask.cast('f32')).unsqueeze([2]); // 1…n on real tokens, 0 on pads
      return hf.mul(w).reduceSum([1], false).div(w.reduceSum([1], false).max(1e-9));
    }
    case 'max': {
      const masked = g.where(mask.cast('bool').unsqueeze([2]), hf, -1e9);
      return masked.reduceMax([1], false);
    }
    case 'cls':
    case 'lasttoken': {
      // index of the first / last real token: position where the running count of real tokens is 1 / n
      const pos = positionsOf(g, mask); // 0-based index along the row, [b, s]
      const big = g.scalar(1 << 30, 'i64');
      const idx = mode === 'lasttoken'
        ? g.where(mask.cast('bool'), pos, g.scalar(-1, 'i64')).reduceMax([1], true)
        : g.op1('ReduceMin', [g.where(mask.cast('bool'), pos, big)], { axes: [1], keepdims: 1 });
      const gatherIdx = idx.unsqueeze([2]).expand(g.concat([g.shapeOf(h, 0, 1), g.constI64([1]), g.shapeOf(h, 2, 3)], 0));
      return g.op1('GatherElements', [hf, gatherIdx], { axis: 1 }).squeeze([1]);
    }
  }
}

/** L2 normalisation along the last axis: x / max(‖x‖₂, 1e-12). */
export function l2Normalize(x: Value): Value {
  return x.div(x.mul(x).reduceSum([-1], true).sqrt().max(1e-12));
}

/** 0…s−1 along each row of a [b, s] tensor, as int64. */
export function positionsOf(g: Graph, mask: Value): Value {
  const ones = g.op1('ConstantOfShape', [g.shapeOf(mask)], { value: { dtype: 'i64', dims: [1], data: BigInt64Array.of(1n) } });
  return cumSum(g, ones, 1).sub(g.scalar(1, 'i64'));
}

/** Inclusive running sum along an axis (ONNX CumSum). */
export function cumSum(g: Graph, x: Value, axis: number): Value {
  return g.op1('CumSum', [x, g.scalar(axis, 'i64')]);
}

/** A sentence-transformers Dense module with its prepared weights (`linear.weight`, `linear.bias`). */
export interface DenseLayer {
  weights: PreparedWeights;
  bias: boolean;
  activation: 'identity' | 'tanh';
}

export interface HeadOptions {
  pooling: PoolingMode;
  /** Mask for pooling when it differs from the attention mask (prompt tokens excluded: include_prompt false). */
  poolMask?: Value;
  dense?: readonly DenseLayer[];
}

/** Pooling → Dense modules → L2 normalisation, all in float32: [batch, dim]. */
export function embeddingHead(g: Graph, h: Value, mask: Value, opts: HeadOptions): Value {
  let x = pool(g, h, opts.poolMask ?? mask, opts.pooling);
  (opts.dense ?? []).forEach((d, i) => {
    x = linear({ g, w: d.weights, act: 'f32', namePrefix: `dense${i}.` }, x, 'linear', d.bias);
    if (d.activation === 'tanh') x = x.tanh();
  });
  return l2Normalize(x);
}

export interface EmbeddingGraphOptions extends HeadOptions {
  /** Longest sequence the graph will see (sizes the RoPE tables). */
  maxLength: number;
  /** Activation dtype. */
  act: 'f32' | 'f16';
  /** Also output `last_hidden_state` [batch, seq, hidden] (parity tests). */
  withHidden?: boolean;
  /** Adds a `pool_mask` input (pooling over other tokens than attention: include_prompt false). */
  poolMaskInput?: boolean;
  /** Training hook on the model's linear layers (not the Dense head), e.g. LoRA. */
  linearAdapter?: LinearAdapter;
  /** How attention is computed (default `fused`; see attentionKernelFor). */
  attentionKernel?: AttentionKernel;
}

/** How self-attention is computed: ORT's fused MultiHeadAttention, or plain MatMul → Softmax → MatMul. */
export type AttentionKernel = 'fused' | 'matmul';

/**
 * The attention kernel for a device. ONNX Runtime's WebGPU MultiHeadAttention does not implement the key
 * padding mask (it fails at run time: "input `key_padding_mask` not implemented for webgpu"), so WebGPU
 * gets the plain form; CPU and CUDA get the fused kernel.
 */
export function attentionKernelFor(device: Device): AttentionKernel {
  return device === 'webgpu' ? 'matmul' : 'fused';
}

export interface AttentionSpec {
  numHeads: number;
  /** Key/value heads (grouped-query attention when fewer than numHeads). */
  numKvHeads: number;
  headDim: number;
  causal: boolean;
  kernel: AttentionKernel;
}

/**
 * Self-attention over q [b, s, heads·D] and k, v [b, s, kvHeads·D] with a key padding mask [b, s] (int64,
 * 1 = real token); returns [b, s, heads·D]. The plain form lets the query heads of a group share their
 * key/value head by broadcasting (no copies), and gives masked keys the dtype's lowest finite value (as
 * transformers does), so a row whose keys are all masked (a pad query under causal attention) comes out
 * finite rather than NaN; pad rows are discarded by pooling either way.
 */
export function selfAttention(g: Graph, q: Value, k: Value, v: Value, mask: Value, a: AttentionSpec): Value {
  const { numHeads: H, numKvHeads: KV, headDim: D } = a;
  const G = H / KV;
  if (a.kernel === 'fused') {
    const expandTo = G > 1 ? g.concat([g.shapeOf(q, 0, 2), g.constI64([KV, G, D])], 0) : undefined;
    const repeatKv = (x: Value) => (expandTo ? x.reshape([0, 0, KV, 1, D]).expand(expandTo).reshape([0, 0, H * D]) : x);
    return g.op1('MultiHeadAttention', [q, repeatKv(k), repeatKv(v), null, mask.cast('i32')], {
      num_heads: H, unidirectional: a.causal ? 1 : 0,
    }, { domain: MS, output: { dtype: q.dtype, shape: q.shape } });
  }
  const qh = q.reshape([0, 0, KV, G, D]).transpose([0, 2, 3, 1, 4]); // [b, KV, G, s, D]
  const kt = k.reshape([0, 0, KV, 1, D]).transpose([0, 2, 3, 4, 1]); // [b, KV, 1, D, s]
  const vh = v.reshape([0, 0, KV, 1, D]).transpose([0, 2, 3, 1, 4]); // [b, KV, 1, s, D]
  const scores = qh.matmul(kt).mul(g.scalar(1 / Math.sqrt(D), q.dtype)); // [b, KV, G, s, s]
  let keep = mask.cast('bool').reshape([0, 1, 1, 1, -1]); // [b, 1, 1, 1, s]
  if (a.causal) {
    const side = g.shapeOf(q, 1, 2);
    const ones = g.op1('ConstantOfShape', [g.concat([side, side], 0)], { value: { dtype: 'i64', dims: [1], data: BigInt64Array.of(1n) } });
    keep = keep.and(g.op1('Trilu', [ones], { upper: 0 }).cast('bool')); // key j ≤ query i
  }
  const lowest = q.dtype === 'f16' ? -65504 : -3.4028234663852886e38;
  const probs = g.where(keep, scores, lowest).softmax(-1);
  return probs.matmul(vh).transpose([0, 3, 1, 2, 4]).reshape([0, 0, H * D]); // [b, s, KV, G, D] → [b, s, H·D]
}
