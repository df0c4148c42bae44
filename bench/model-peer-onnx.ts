// Writes the peers' copy of a Qwen2 checkpoint as a standard Hugging Face ONNX export for transformers.js:
// <out>/onnx/model.onnx (+ model.onnx_data), config.json and tokenizer files. The graph is what an Optimum
// export of Qwen2Model looks like — plain ONNX ops, MatMul weights stored transposed ([in, out]), inputs
// input_ids / attention_mask / position_ids, output last_hidden_state — except that attention is
// bidirectional (padding mask only), to match QZhou. Built with our graph code; transformers.js pools.
//   npx tsx bench/model-peer-onnx.ts CHECKPOINT OUT
import { copyFileSync, existsSync, mkdirSync, openSync, writeSync, closeSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Graph, serializeGraph, type Value } from '../src/graph/index.js';
import { loadModelConfig, type DecoderConfig } from '../src/model/config.js';
import { SafetensorsCheckpoint } from '../src/model/safetensors.js';

function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}

export async function writePeerOnnx(src: string, out: string): Promise<void> {
  if (existsSync(join(out, 'onnx', 'model.onnx'))) return;
  const c = (await loadModelConfig(src, { attention: 'bidirectional' })) as DecoderConfig;
  const ck = await SafetensorsCheckpoint.open(src);
  const g = new Graph('qwen2-optimum-style');
  const H = c.hiddenSize;
  const D = c.headDim;
  const N = c.numHeads;
  const KV = c.numKvHeads;
  const mem = async (name: string, shape: number[], transposeIt = false): Promise<Value> => {
    let data = await ck.readFloat32(name);
    if (transposeIt) data = transpose(data, shape[1]!, shape[0]!);
    return g.param(name, 'f32', shape, { kind: 'memory', data }, false);
  };
  const ids = g.input('input_ids', 'i64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', 'i64', ['batch_size', 'sequence_length']);
  const pos = g.input('position_ids', 'i64', ['batch_size', 'sequence_length']);
  let h = (await mem('embed_tokens.weight', [c.vocabSize, H])).gather(ids, 0);
  // additive padding mask [b, 1, 1, s]
  const maskBias = g.scalar(1, 'f32').sub(mask.cast('f32')).mul(-3.4028234663852886e38).unsqueeze([1, 2]);
  // RoPE as transformers: inv_freq ⊗ positions, cat(freqs, freqs), cos/sin
  const inv = Float32Array.from({ length: D / 2 }, (_, i) => Math.fround(1 / Math.fround(c.ropeTheta ** Math.fround((2 * i) / D))));
  const freqs = pos.cast('f32').unsqueeze([2]).mul(g.constant({ dtype: 'f32', dims: [D / 2], data: inv }));
  const emb = g.concat([freqs, freqs], -1).unsqueeze([1]); // [b, 1, s, D]
  const cos = emb.cos();
  const sin = emb.sin();
  const rope = (x: Value) => {
    const [x1, x2] = x.split([D / 2, D / 2], -1);
    return x.mul(cos).add(g.concat([x2!.neg(), x1!], -1).mul(sin));
  };
  const norm = async (x: Value, name: string) => {
    const variance = x.pow(2).reduceMean([-1], true);
    return x.mul(variance.add(c.rmsNormEps).sqrt().reciprocal()).mul(await mem(name, [H]));
  };
  const lin = async (x: Value, name: string, out: number, inp: number, bias: boolean) => {
    const y = x.matmul(await mem(`${name}.weight`, [inp, out], true));
    return bias ? y.add(await mem(`${name}.bias`, [out])) : y;
  };
  const heads = (x: Value, n: number) => x.reshape([0, 0, n, D]).transpose([0, 2, 1, 3]);
  const repeatKv = (x: Value) => {
    if (KV === N) return x;
    const shape = g.concat([g.shapeOf(x, 0, 1), g.constI64([KV, N / KV]), g.shapeOf(x, 2, 4)], 0);
    return x.unsqueeze([2]).expand(shape).reshape([0, N, -1, D]);
  };
  for (let i = 0; i < c.numLayers; i++) {
    const p = `layers.${i}`;
    const x = await norm(h, `${p}.input_layernorm.weight`);
    const q = rope(heads(await lin(x, `${p}.self_attn.q_proj`, N * D, H, true), N));
    const k = repeatKv(rope(heads(await lin(x, `${p}.self_attn.k_proj`, KV * D, H, true), KV)));
    const v = repeatKv(heads(await lin(x, `${p}.self_attn.v_proj`, KV * D, H, true), KV));
    const scores = q.matmul(k.transpose([0, 1, 3, 2])).mul(1 / Math.sqrt(D)).add(maskBias);
    const attn = scores.softmax(-1).matmul(v).transpose([0, 2, 1, 3]).reshape([0, 0, N * D]);
    h = h.add(await lin(attn, `${p}.self_attn.o_proj`, H, N * D, false));
    const y = await norm(h, `${p}.post_attention_layernorm.weight`);
    const gate = await lin(y, `${p}.mlp.gate_proj`, c.intermediateSize, H, false);
    const up = await lin(y, `${p}.mlp.up_proj`, c.intermediateSize, H, false);
    h = h.add(await lin(gate.mul(gate.sigmoid()).mul(up), `${p}.mlp.down_proj`, H, c.intermediateSize, false));
  }
  g.output(await norm(h, 'norm.weight'), 'last_hidden_state');
  await ck.close();

  mkdirSync(join(out, 'onnx'), { recursive: true });
  const model = serializeGraph(g, { memoryParams: 'external', modelDir: join(out, 'onnx'), externalFile: 'model.onnx_data' });
  const fd = openSync(join(out, 'onnx', 'model.onnx_data'), 'w');
  for (const ch of model.external!.chunks) {
    const b = new Uint8Array(ch.data.buffer, ch.data.byteOffset, ch.data.byteLength);
    let done = 0;
    while (done < b.length) done += writeSync(fd, b, done, b.length - done, ch.offset + done);
  }
  closeSync(fd);
  writeFileSync(join(out, 'onnx', 'model.onnx'), model.bytes);
  const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
  writeFileSync(join(out, 'config.json'), JSON.stringify({ ...cfg, architectures: ['Qwen2Model'] }, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(src, f), join(out, f));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [src, out] = process.argv.slice(2);
  if (!src || !out) {
    console.error('usage: npx tsx bench/model-peer-onnx.ts CHECKPOINT OUT');
    process.exit(2);
  }
  await writePeerOnnx(src, out);
  console.log(`wrote ${out}/onnx/model.onnx`);
}
