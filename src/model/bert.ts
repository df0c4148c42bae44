// The BERT encoder as an embedding graph (bge, e5, MiniLM, ...): word + absolute position + token-type
// embeddings, post-LayerNorm blocks with GELU (erf) or the configured activation, padding-only attention,
// then pooling and L2 normalisation in the graph.
import { Graph, type Value } from '../graph/index.js';
import type { EncoderConfig } from './config.js';
import type { PreparedWeights, WeightRequest } from './weights.js';
import { type LayerContext, type EmbeddingGraphOptions, linear, layerNorm, addLayerNorm, activation, embeddingHead, cumSum, selfAttention } from './layers.js';

/** LayerNorm weights are `weight`/`bias` in current files and `gamma`/`beta` in old TF-converted ones. */
function norm(reqs: WeightRequest[], prefix: string, H: number): void {
  reqs.push({ name: `${prefix}.weight`, aliases: [`${prefix}.gamma`], shape: [H], role: 'vector' });
  reqs.push({ name: `${prefix}.bias`, aliases: [`${prefix}.beta`], shape: [H], role: 'vector' });
}

export function encoderWeightRequests(c: EncoderConfig): WeightRequest[] {
  const H = c.hiddenSize;
  const reqs: WeightRequest[] = [
    { name: 'embeddings.word_embeddings.weight', shape: [c.vocabSize, H], role: 'embedding' },
    { name: 'embeddings.position_embeddings.weight', shape: [c.maxPositionEmbeddings, H], role: 'embedding' },
    { name: 'embeddings.token_type_embeddings.weight', shape: [c.typeVocabSize, H], role: 'vector' },
  ];
  norm(reqs, 'embeddings.LayerNorm', H);
  const lin = (name: string, out: number, inp: number) => {
    reqs.push({ name: `${name}.weight`, shape: [out, inp], role: 'linear' });
    reqs.push({ name: `${name}.bias`, shape: [out], role: 'vector' });
  };
  for (let i = 0; i < c.numLayers; i++) {
    const p = `encoder.layer.${i}`;
    lin(`${p}.attention.self.query`, H, H);
    lin(`${p}.attention.self.key`, H, H);
    lin(`${p}.attention.self.value`, H, H);
    lin(`${p}.attention.output.dense`, H, H);
    norm(reqs, `${p}.attention.output.LayerNorm`, H);
    lin(`${p}.intermediate.dense`, c.intermediateSize, H);
    lin(`${p}.output.dense`, H, c.intermediateSize);
    norm(reqs, `${p}.output.LayerNorm`, H);
  }
  return reqs;
}

/**
 * Builds the encoder embedding graph. Inputs: `input_ids`, `attention_mask` (int64 [batch, seq]); token
 * type ids are all 0 (single texts). Positions are 0…n−1 over each row's real tokens.
 */
export function buildEncoderGraph(c: EncoderConfig, w: PreparedWeights, opts: EmbeddingGraphOptions): Graph {
  const g = new Graph('bert');
  const ctx: LayerContext = { g, w, act: opts.act, adapter: opts.linearAdapter };
  const H = c.hiddenSize;
  const ids = g.input('input_ids', 'i64', ['batch', 'seq']);
  const mask = g.input('attention_mask', 'i64', ['batch', 'seq']);
  const poolMask = opts.poolMaskInput ? g.input('pool_mask', 'i64', ['batch', 'seq']) : undefined;
  const batchSeq = g.shapeOf(ids);
  const to3d = g.concat([batchSeq, g.constI64([-1])], 0);

  const pos = cumSum(g, mask, 1).sub(g.scalar(1, 'i64')).max(g.scalar(0, 'i64'));
  const words = w.float(g, 'embeddings.word_embeddings.weight').gather(ids.reshape([-1]), 0);
  const positions = w.float(g, 'embeddings.position_embeddings.weight').gather(pos.reshape([-1]), 0);
  const cast = (v: Value) => (v.dtype === opts.act ? v : v.cast(opts.act));
  const typeRow = cast(w.float(g, 'embeddings.token_type_embeddings.weight').slice([0], [1], [0])); // [1, H]: type 0
  let h = layerNorm(ctx, cast(words).add(typeRow).add(cast(positions)), 'embeddings.LayerNorm', c.layerNormEps);
  const attention = { numHeads: c.numHeads, numKvHeads: c.numHeads, headDim: H / c.numHeads, causal: false, kernel: opts.attentionKernel ?? 'fused' };

  for (let i = 0; i < c.numLayers; i++) {
    const p = `encoder.layer.${i}`;
    g.scope(p, () => {
      const q = linear(ctx, h, `${p}.attention.self.query`, true).reshape(to3d);
      const k = linear(ctx, h, `${p}.attention.self.key`, true).reshape(to3d);
      const v = linear(ctx, h, `${p}.attention.self.value`, true).reshape(to3d);
      const attn = selfAttention(g, q, k, v, mask, attention);
      const o = linear(ctx, attn.reshape([-1, H]), `${p}.attention.output.dense`, true);
      const x = addLayerNorm(ctx, o, h, `${p}.attention.output.LayerNorm`, c.layerNormEps);
      const inter = activation(g, linear(ctx, x, `${p}.intermediate.dense`, true), c.hiddenAct);
      const out = linear(ctx, inter, `${p}.output.dense`, true);
      h = addLayerNorm(ctx, out, x, `${p}.output.LayerNorm`, c.layerNormEps);
    });
  }
  const hidden = h.reshape(g.concat([batchSeq, g.constI64([H])], 0));
  g.output(embeddingHead(g, hidden, mask, { ...opts, poolMask }), 'embedding');
  if (opts.withHidden) g.output(hidden.cast('f32'), 'last_hidden_state');
  return g;
}
