// The Qwen2 / Qwen3 decoder as an embedding graph: RMSNorm, RoPE over positions 0…n−1 of each row's real
// tokens (so left padding does not shift them), grouped-query attention with q/k/v biases (Qwen2) or q/k
// RMSNorm (Qwen3), SwiGLU MLP, and bidirectional (padding mask only) or causal attention, then pooling and
// L2 normalisation in the graph.
import { Graph, type Value } from '../graph/index.js';
import type { DecoderConfig } from './config.js';
import { f32ToF16 } from '../graph/dtype.js';
import type { PreparedWeights, WeightRequest } from './weights.js';
import { type LayerContext, type EmbeddingGraphOptions, linear, rmsNorm, addRmsNorm, embeddingHead, cumSum, selfAttention } from './layers.js';

/** The tensors a decoder needs, with the shapes config.json implies. */
export function decoderWeightRequests(c: DecoderConfig): WeightRequest[] {
  const H = c.hiddenSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const reqs: WeightRequest[] = [{ name: 'embed_tokens.weight', shape: [c.vocabSize, H], role: 'embedding' }];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `layers.${i}`;
    const lin = (name: string, out: number, inp: number, bias: boolean) => {
      reqs.push({ name: `${p}.${name}.weight`, shape: [out, inp], role: 'linear' });
      if (bias) reqs.push({ name: `${p}.${name}.bias`, shape: [out], role: 'vector' });
    };
    reqs.push({ name: `${p}.input_layernorm.weight`, shape: [H], role: 'vector' });
    lin('self_attn.q_proj', qDim, H, c.qkvBias);
    lin('self_attn.k_proj', kvDim, H, c.qkvBias);
    lin('self_attn.v_proj', kvDim, H, c.qkvBias);
    lin('self_attn.o_proj', H, qDim, c.oBias);
    if (c.qkNorm) {
      reqs.push({ name: `${p}.self_attn.q_norm.weight`, shape: [c.headDim], role: 'vector' });
      reqs.push({ name: `${p}.self_attn.k_norm.weight`, shape: [c.headDim], role: 'vector' });
    }
    reqs.push({ name: `${p}.post_attention_layernorm.weight`, shape: [H], role: 'vector' });
    lin('mlp.gate_proj', c.intermediateSize, H, false);
    lin('mlp.up_proj', c.intermediateSize, H, false);
    lin('mlp.down_proj', H, c.intermediateSize, false);
  }
  reqs.push({ name: 'norm.weight', shape: [H], role: 'vector' });
  return reqs;
}

/**
 * RoPE cos/sin tables [positions, headDim/2], computed step by step in float32 as transformers does
 * (inv_freq = 1 / θ^(2i/d); angle = inv_freq · position), so angles round the same way.
 */
export function ropeTables(c: DecoderConfig, positions: number): { cos: Float32Array; sin: Float32Array } {
  const half = c.headDim / 2;
  const f = Math.fround;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    inv[i] = f(1 / f(Math.pow(c.ropeTheta, f((2 * i) / c.headDim))));
    if (c.ropeScaling.type === 'linear') inv[i] = f(inv[i]! / c.ropeScaling.factor);
  }
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const a = f(inv[i]! * p);
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

const MS = 'com.microsoft';

/**
 * Builds the decoder embedding graph. Inputs: `input_ids`, `attention_mask` (int64 [batch, seq], 1 = real
 * token, either padding side), optional `pool_mask`. Output: `embedding` float32 [batch, dim], L2-normalised.
 */
export function buildDecoderGraph(c: DecoderConfig, w: PreparedWeights, opts: EmbeddingGraphOptions): Graph {
  const g = new Graph(`${c.modelType}-${c.attention}`);
  const ctx: LayerContext = { g, w, act: opts.act, adapter: opts.linearAdapter };
  const H = c.hiddenSize;
  const D = c.headDim;
  const ids = g.input('input_ids', 'i64', ['batch', 'seq']);
  const mask = g.input('attention_mask', 'i64', ['batch', 'seq']);
  const poolMask = opts.poolMaskInput ? g.input('pool_mask', 'i64', ['batch', 'seq']) : undefined;

  const batchSeq = g.shapeOf(ids); // [b, s]
  const to3d = g.concat([batchSeq, g.constI64([-1])], 0); // [b, s, -1]

  // token embeddings over flattened tokens [b·s, H]
  let h: Value = w.float(g, 'embed_tokens.weight').gather(ids.reshape([-1]), 0);
  if (h.dtype !== opts.act) h = h.cast(opts.act);

  // positions 0…n−1 over each row's real tokens (pads get 0; their outputs are discarded)
  const pos = cumSum(g, mask, 1).sub(g.scalar(1, 'i64')).max(g.scalar(0, 'i64'));
  const tables = ropeTables(c, opts.maxLength);
  const half = (a: Float32Array) => (opts.act === 'f16' ? { dtype: 'f16' as const, data: f32ToF16(a) } : { dtype: 'f32' as const, data: a });
  const cosT = half(tables.cos);
  const sinT = half(tables.sin);
  const cos = g.param('rope.cos', cosT.dtype, [opts.maxLength, D / 2], { kind: 'memory', data: cosT.data }, false);
  const sin = g.param('rope.sin', sinT.dtype, [opts.maxLength, D / 2], { kind: 'memory', data: sinT.data }, false);
  const attention = { numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: D, causal: c.attention === 'causal', kernel: opts.attentionKernel ?? 'fused' };

  const rotary = (x: Value, heads: number) =>
    g.op1('RotaryEmbedding', [x, pos, cos, sin], { num_heads: heads }, { domain: MS, output: { dtype: x.dtype, shape: x.shape } });
  const headNorm = (x: Value, heads: number, name: string) =>
    rmsNorm(ctx, x.reshape([0, 0, heads, D]), name, c.rmsNormEps).reshape([0, 0, heads * D]);

  let x: Value = h;
  let mlpOut: Value | undefined;
  for (let i = 0; i < c.numLayers; i++) {
    const p = `layers.${i}`;
    g.scope(p, () => {
      if (mlpOut) [x, h] = addRmsNorm(ctx, mlpOut, h, `${p}.input_layernorm.weight`, c.rmsNormEps);
      else x = rmsNorm(ctx, h, `${p}.input_layernorm.weight`, c.rmsNormEps);
      let q = linear(ctx, x, `${p}.self_attn.q_proj`, c.qkvBias).reshape(to3d);
      let k = linear(ctx, x, `${p}.self_attn.k_proj`, c.qkvBias).reshape(to3d);
      const v = linear(ctx, x, `${p}.self_attn.v_proj`, c.qkvBias).reshape(to3d);
      if (c.qkNorm) {
        q = headNorm(q, c.numHeads, `${p}.self_attn.q_norm.weight`);
        k = headNorm(k, c.numKvHeads, `${p}.self_attn.k_norm.weight`);
      }
      q = rotary(q, c.numHeads);
      k = rotary(k, c.numKvHeads);
      const attn = selfAttention(g, q, k, v, mask, attention);
      const o = linear(ctx, attn.reshape([-1, c.numHeads * D]), `${p}.self_attn.o_proj`, c.oBias);
      [x, h] = addRmsNorm(ctx, o, h, `${p}.post_attention_layernorm.weight`, c.rmsNormEps);
      const gate = linear(ctx, x, `${p}.mlp.gate_proj`, false);
      const up = linear(ctx, x, `${p}.mlp.up_proj`, false);
      mlpOut = linear(ctx, gate.mul(gate.sigmoid()).mul(up), `${p}.mlp.down_proj`, false);
    });
  }
  const last = mlpOut ? addRmsNorm(ctx, mlpOut, h, 'norm.weight', c.rmsNormEps)[0] : rmsNorm(ctx, h, 'norm.weight', c.rmsNormEps);
  const hidden = last.reshape(g.concat([batchSeq, g.constI64([H])], 0));
  g.output(embeddingHead(g, hidden, mask, { ...opts, poolMask }), 'embedding');
  if (opts.withHidden) g.output(hidden.cast('f32'), 'last_hidden_state');
  return g;
}
