// The benchmark encoder, built twice: with the engine, and as raw onnx-proto objects with no engine code
// (same ops, same weights), plus deterministic weights and padded inputs. Shared by bench/graph-*.ts.
import * as ort from 'onnxruntime-node';
import pkg from 'onnx-proto';
import { type HostTensor, type Value, Graph } from '../src/graph/index.js';
import { mulberry32 } from '../src/util/random.js';

const { onnx } = pkg;

export interface EncoderConfig {
  layers: number;
  hidden: number;
  heads: number;
  ffn: number;
  vocab: number;
  maxPos: number;
  batch: number;
  seq: number;
  eps: number;
}

export const BERT_SMALL: EncoderConfig = { layers: 4, hidden: 256, heads: 4, ffn: 1024, vocab: 30522, maxPos: 512, batch: 32, seq: 128, eps: 1e-12 };

export interface Weight {
  shape: number[];
  data: Float32Array;
}

/** Deterministic random weights (LayerNorms: 1 and 0), by param name. */
export function encoderWeights(C: EncoderConfig, seed = 42): Map<string, Weight> {
  const rand = mulberry32(seed);
  const weights = new Map<string, Weight>();
  const weight = (name: string, shape: number[], init: 'normal' | 'ones' | 'zeros' = 'normal') => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (init === 'ones') data.fill(1);
    else if (init === 'normal') for (let i = 0; i < n; i++) data[i] = (rand() + rand() + rand() - 1.5) * 0.04;
    weights.set(name, { shape, data });
  };
  weight('emb.word', [C.vocab, C.hidden]);
  weight('emb.pos', [C.maxPos, C.hidden]);
  weight('emb.type', [2, C.hidden]);
  weight('emb.ln.w', [C.hidden], 'ones');
  weight('emb.ln.b', [C.hidden], 'zeros');
  for (let l = 0; l < C.layers; l++) {
    for (const m of ['q', 'k', 'v', 'o']) {
      weight(`l${l}.${m}.w`, [C.hidden, C.hidden]);
      weight(`l${l}.${m}.b`, [C.hidden], 'zeros');
    }
    weight(`l${l}.ffn1.w`, [C.hidden, C.ffn]);
    weight(`l${l}.ffn1.b`, [C.ffn], 'zeros');
    weight(`l${l}.ffn2.w`, [C.ffn, C.hidden]);
    weight(`l${l}.ffn2.b`, [C.hidden], 'zeros');
    for (const n of ['ln1', 'ln2']) {
      weight(`l${l}.${n}.w`, [C.hidden], 'ones');
      weight(`l${l}.${n}.b`, [C.hidden], 'zeros');
    }
  }
  return weights;
}

/** The encoder with the engine; `fed`: params are graph inputs (training), else embedded weights. */
export function engineEncoder(C: EncoderConfig, weights: Map<string, Weight>, fed: boolean): Graph {
  const HD = C.hidden / C.heads;
  const g = new Graph(fed ? 'bert_train' : 'bert');
  const P = (name: string) => {
    const w = weights.get(name)!;
    return g.param(name, 'f32', w.shape, fed ? { kind: 'input' } : { kind: 'memory', data: w.data });
  };
  const ids = g.input('input_ids', 'i64', ['batch', 'seq']);
  const pos = g.input('position_ids', 'i64', ['batch', 'seq']);
  const mask = g.input('attention_mask', 'i64', ['batch', 'seq']);
  const ln = (x: Value, n: string) => g.op1('LayerNormalization', [x, P(`${n}.w`), P(`${n}.b`)], { axis: -1, epsilon: C.eps });
  let h = ln(P('emb.word').gather(ids).add(P('emb.pos').gather(pos)).add(P('emb.type').slice([0], [1], [0])), 'emb.ln');
  const maskF = mask.cast('f32');
  const maskBias = g.scalar(1).sub(maskF).mul(-10000).unsqueeze([1, 2]); // [b, 1, 1, s]
  for (let l = 0; l < C.layers; l++) {
    const lin = (x: Value, n: string) => x.matmul(P(`l${l}.${n}.w`)).add(P(`l${l}.${n}.b`));
    const q = lin(h, 'q').reshape([0, 0, C.heads, HD]).transpose([0, 2, 1, 3]);
    const k = lin(h, 'k').reshape([0, 0, C.heads, HD]).transpose([0, 2, 3, 1]);
    const v = lin(h, 'v').reshape([0, 0, C.heads, HD]).transpose([0, 2, 1, 3]);
    const p = q.matmul(k).mul(1 / Math.sqrt(HD)).add(maskBias).softmax(-1);
    const ctx = p.matmul(v).transpose([0, 2, 1, 3]).reshape([0, 0, C.hidden]);
    h = ln(lin(ctx, 'o').add(h), `l${l}.ln1`);
    const u = lin(h, 'ffn1');
    const gelu = u.mul(u.div(Math.SQRT2).erf().add(1)).mul(0.5);
    h = ln(lin(gelu, 'ffn2').add(h), `l${l}.ln2`);
  }
  const m = maskF.unsqueeze([2]);
  g.output(h.mul(m).reduceSum([1], false).div(m.reduceSum([1], false)), 'embedding');
  return g;
}

/** The same encoder as a raw ONNX ModelProto (onnx-proto objects only). */
export function handEncoder(C: EncoderConfig, weights: Map<string, Weight>): Uint8Array {
  const HD = C.hidden / C.heads;
  const nodes: object[] = [];
  const inits: object[] = [];
  let n = 0;
  const T = onnx.AttributeProto.AttributeType;
  const bytes = (a: Float32Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const f32 = (name: string, dims: number[], data: Float32Array) => { inits.push({ name, dims, dataType: 1, rawData: bytes(data) }); return name; };
  const scalars = new Map<number, string>();
  const sc = (x: number) => scalars.get(x) ?? (scalars.set(x, f32(`s${n++}`, [], Float32Array.of(x))), scalars.get(x)!);
  const i64 = (vals: number[]) => { const name = `c${n++}`; inits.push({ name, dims: [vals.length], dataType: 7, rawData: bytes(BigInt64Array.from(vals.map(BigInt))) }); return name; };
  const node = (op: string, input: string[], attribute: object[] = []) => { const out = `v${n++}`; nodes.push({ opType: op, input, output: [out], attribute, name: `${op}_${n}` }); return out; };
  const int = (name: string, i: number) => ({ name, type: T.INT, i });
  const ints = (name: string, v: number[]) => ({ name, type: T.INTS, ints: v });
  for (const [name, w] of weights) f32(name, w.shape, w.data);
  const ln = (x: string, p: string) => node('LayerNormalization', [x, `${p}.w`, `${p}.b`], [int('axis', -1), { name: 'epsilon', type: T.FLOAT, f: C.eps }]);
  const emb = node('Add', [node('Add', [node('Gather', ['emb.word', 'input_ids'], [int('axis', 0)]), node('Gather', ['emb.pos', 'position_ids'], [int('axis', 0)])]), node('Slice', ['emb.type', i64([0]), i64([1]), i64([0])])]);
  let h = ln(emb, 'emb.ln');
  const maskF = node('Cast', ['attention_mask'], [int('to', 1)]);
  const maskBias = node('Unsqueeze', [node('Mul', [node('Sub', [sc(1), maskF]), sc(-10000)]), i64([1, 2])]);
  for (let l = 0; l < C.layers; l++) {
    const lin = (x: string, m: string) => node('Add', [node('MatMul', [x, `l${l}.${m}.w`]), `l${l}.${m}.b`]);
    const heads = (x: string, perm: number[]) => node('Transpose', [node('Reshape', [x, i64([0, 0, C.heads, HD])])], [ints('perm', perm)]);
    const q = heads(lin(h, 'q'), [0, 2, 1, 3]);
    const k = heads(lin(h, 'k'), [0, 2, 3, 1]);
    const v = heads(lin(h, 'v'), [0, 2, 1, 3]);
    const p = node('Softmax', [node('Add', [node('Mul', [node('MatMul', [q, k]), sc(1 / Math.sqrt(HD))]), maskBias])], [int('axis', -1)]);
    const ctx = node('Reshape', [node('Transpose', [node('MatMul', [p, v])], [ints('perm', [0, 2, 1, 3])]), i64([0, 0, C.hidden])]);
    h = ln(node('Add', [lin(ctx, 'o'), h]), `l${l}.ln1`);
    const u = lin(h, 'ffn1');
    const gelu = node('Mul', [node('Mul', [u, node('Add', [node('Erf', [node('Div', [u, sc(Math.SQRT2)])]), sc(1)])]), sc(0.5)]);
    h = ln(node('Add', [lin(gelu, 'ffn2'), h]), `l${l}.ln2`);
  }
  const m = node('Unsqueeze', [maskF, i64([2])]);
  const sum = node('ReduceSum', [node('Mul', [h, m]), i64([1])], [int('keepdims', 0)]);
  const count = node('ReduceSum', [m, i64([1])], [int('keepdims', 0)]);
  nodes.push({ opType: 'Div', input: [sum, count], output: ['embedding'], name: 'Div_out' });
  const io = (name: string, elemType: number, dims: (number | string)[]) => ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'bert_hand',
      node: nodes,
      initializer: inits,
      input: ['input_ids', 'position_ids', 'attention_mask'].map((x) => io(x, 7, ['batch', 'seq'])),
      output: [io('embedding', 1, ['batch', C.hidden])],
    },
  };
  const err = onnx.ModelProto.verify(model);
  if (err) throw new Error(err);
  return onnx.ModelProto.encode(model).finish();
}

/** Token ids, positions and a padding mask (rows padded to random lengths, as real batches are). */
export function encoderInputs(C: EncoderConfig, seed = 7): { host: Record<string, HostTensor>; ort: Record<string, ort.Tensor> } {
  const rand = mulberry32(seed);
  const tokens = C.batch * C.seq;
  const ids = new BigInt64Array(tokens);
  const pos = new BigInt64Array(tokens);
  const mask = new BigInt64Array(tokens);
  for (let b = 0; b < C.batch; b++) {
    const len = Math.max(8, C.seq - Math.floor(rand() * C.seq * 0.5));
    for (let s = 0; s < C.seq; s++) {
      ids[b * C.seq + s] = BigInt(Math.floor(rand() * C.vocab));
      pos[b * C.seq + s] = BigInt(s);
      mask[b * C.seq + s] = s < len ? 1n : 0n;
    }
  }
  const dims = [C.batch, C.seq];
  const host: Record<string, HostTensor> = {
    input_ids: { dtype: 'i64', dims, data: ids },
    position_ids: { dtype: 'i64', dims, data: pos },
    attention_mask: { dtype: 'i64', dims, data: mask },
  };
  return { host, ort: Object.fromEntries(Object.entries(host).map(([k, t]) => [k, new ort.Tensor('int64', t.data as BigInt64Array, t.dims)])) };
}

/** Forward matmul FLOPs: projections, FFN, attention scores and weighted sums. */
export function encoderFlops(C: EncoderConfig): number {
  const t = C.batch * C.seq;
  const perLayer = 4 * 2 * t * C.hidden * C.hidden + 2 * 2 * t * C.hidden * C.ffn + 2 * 2 * C.batch * C.seq * C.seq * C.hidden;
  return C.layers * perLayer;
}
