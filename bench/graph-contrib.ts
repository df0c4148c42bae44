// Fused com.microsoft kernels vs the same maths in plain ONNX ops, side by side in one run.
// The model graphs use a contrib op only where it exists on the CPU, WebGPU and CUDA providers and is
// measurably faster; this bench is the measurement (CPU here; run it on a GPU machine with
// QZHOU_BENCH_DEVICE=webgpu for that provider).
//
//   npx tsx bench/graph-contrib.ts [--batch 16] [--seq 128] [--reps 15]
import { parseArgs } from 'node:util';
import { Graph, Runtime, hostTensor, type Device, type Value } from '../src/graph/index.js';

const { values } = parseArgs({ options: { batch: { type: 'string' }, seq: { type: 'string' }, reps: { type: 'string' } } });
const B = Number(values.batch ?? 16);
const S = Number(values.seq ?? 128);
const REPS = Number(values.reps ?? 15);
const N = 14; // Qwen2-0.5B: 14 heads × 64 = 896
const D = 64;
const H = N * D;
const MS = 'com.microsoft';
const device = (process.env.QZHOU_BENCH_DEVICE ?? 'cpu') as Device;
const rt = new Runtime({ device });

let seed = 7;
const rand = (n: number) => Float32Array.from({ length: n }, () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1);

const x = rand(B * S * H);
const res = rand(B * S * H);
const w = rand(H);
// Left-padded rows with a mix of lengths (pad queries still attend to real keys, so every output is defined).
const mask = new BigInt64Array(B * S);
const lens = Array.from({ length: B }, (_, b) => S - Math.floor((b * S) / (2 * B)));
lens.forEach((len, b) => { for (let t = S - len; t < S; t++) mask[b * S + t] = 1n; });
const pos = new BigInt64Array(B * S);
lens.forEach((len, b) => { for (let t = 0; t < len; t++) pos[b * S + S - len + t] = BigInt(t); });
const cosT = new Float32Array(S * (D / 2));
const sinT = new Float32Array(S * (D / 2));
for (let p = 0; p < S; p++) for (let i = 0; i < D / 2; i++) {
  const a = p / 10000 ** ((2 * i) / D);
  cosT[p * (D / 2) + i] = Math.cos(a);
  sinT[p * (D / 2) + i] = Math.sin(a);
}

type Case = { name: string; fused: (g: Graph) => Value; plain: (g: Graph) => Value; feeds: Record<string, ReturnType<typeof hostTensor>> };

const inX = (g: Graph) => g.input('x', 'f32', ['b', 's', H]);
const feedsX = { x: hostTensor('f32', x, [B, S, H]) };

const cases: Case[] = [
  {
    name: 'residual add + RMSNorm (SkipSimplifiedLayerNormalization)',
    feeds: { ...feedsX, r: hostTensor('f32', res, [B, S, H]) },
    fused: (g) => {
      const spec = { dtype: 'f32' as const, shape: ['b', 's', H] };
      const stat = { dtype: 'f32' as const, shape: ['b', 's', 1] };
      const wv = g.param('w', 'f32', [H], { kind: 'memory', data: w }, false);
      const [y, , , sum] = g.op('SkipSimplifiedLayerNormalization', [inX(g), g.input('r', 'f32', ['b', 's', H]), wv], { epsilon: 1e-6 }, 4, { domain: MS, outputs: [spec, stat, stat, spec] });
      return y!.add(sum!);
    },
    plain: (g) => {
      const wv = g.param('w', 'f32', [H], { kind: 'memory', data: w }, false);
      const sum = inX(g).add(g.input('r', 'f32', ['b', 's', H]));
      const y = sum.mul(sum.mul(sum).reduceMean([-1]).add(1e-6).sqrt().reciprocal()).mul(wv);
      return y.add(sum);
    },
  },
  {
    name: 'residual add + RMSNorm, 2-D tokens (vs Add + SimplifiedLayerNormalization)',
    feeds: { ...feedsX, r: hostTensor('f32', res, [B, S, H]) },
    fused: (g) => {
      const spec = { dtype: 'f32' as const, shape: ['t', H] };
      const stat = { dtype: 'f32' as const, shape: ['t', 1] };
      const wv = g.param('w', 'f32', [H], { kind: 'memory', data: w }, false);
      const [y, , , sum] = g.op('SkipSimplifiedLayerNormalization', [inX(g).reshape([-1, H]), g.input('r', 'f32', ['b', 's', H]).reshape([-1, H]), wv], { epsilon: 1e-6 }, 4, { domain: MS, outputs: [spec, stat, stat, spec] });
      return y!.add(sum!).reshape([B, S, H]);
    },
    plain: (g) => {
      const wv = g.param('w', 'f32', [H], { kind: 'memory', data: w }, false);
      const sum = inX(g).reshape([-1, H]).add(g.input('r', 'f32', ['b', 's', H]).reshape([-1, H]));
      const y = g.op1('SimplifiedLayerNormalization', [sum, wv], { axis: -1, epsilon: 1e-6, stash_type: 1 }, { output: { dtype: 'f32', shape: sum.shape } });
      return y.add(sum).reshape([B, S, H]);
    },
  },
  {
    // On [tokens, hidden], the layout the model graphs use between their Gemms.
    name: 'residual add + LayerNorm (SkipLayerNormalization, BERT), 2-D tokens',
    feeds: { ...feedsX, r: hostTensor('f32', res, [B, S, H]) },
    fused: (g) => {
      const wv = g.param('w', 'f32', [H], { kind: 'memory', data: w }, false);
      const bv = g.param('b', 'f32', [H], { kind: 'memory', data: w.map((v) => v / 2) }, false);
      const xv = inX(g).reshape([-1, H]);
      const y = g.op1('SkipLayerNormalization', [xv, g.input('r', 'f32', ['b', 's', H]).reshape([-1, H]), wv, bv], { epsilon: 1e-12 }, { domain: MS, output: { dtype: 'f32', shape: xv.shape } });
      return y.reshape([B, S, H]);
    },
    plain: (g) => {
      const wv = g.param('w', 'f32', [H], { kind: 'memory', data: w }, false);
      const bv = g.param('b', 'f32', [H], { kind: 'memory', data: w.map((v) => v / 2) }, false);
      const sum = inX(g).reshape([-1, H]).add(g.input('r', 'f32', ['b', 's', H]).reshape([-1, H]));
      return g.op1('LayerNormalization', [sum, wv, bv], { axis: -1, epsilon: 1e-12 }).reshape([B, S, H]);
    },
  },
  {
    name: 'RoPE on 14 heads (RotaryEmbedding)',
    feeds: { ...feedsX, pos: hostTensor('i64', pos, [B, S]) },
    fused: (g) => {
      const cos = g.param('cos', 'f32', [S, D / 2], { kind: 'memory', data: cosT }, false);
      const sin = g.param('sin', 'f32', [S, D / 2], { kind: 'memory', data: sinT }, false);
      const xv = inX(g);
      return g.op1('RotaryEmbedding', [xv, g.input('pos', 'i64', ['b', 's']), cos, sin], { num_heads: N }, { domain: MS, output: { dtype: 'f32', shape: xv.shape } });
    },
    plain: (g) => {
      const cos = g.param('cos', 'f32', [S, D / 2], { kind: 'memory', data: cosT }, false);
      const sin = g.param('sin', 'f32', [S, D / 2], { kind: 'memory', data: sinT }, false);
      const p = g.input('pos', 'i64', ['b', 's']);
      const c = cos.gather(p).unsqueeze([2]); // [b, s, 1, D/2]
      const s = sin.gather(p).unsqueeze([2]);
      const x4 = inX(g).reshape([0, 0, N, D]);
      const [x1, x2] = x4.split([D / 2, D / 2], 3);
      const out = g.concat([x1!.mul(c).sub(x2!.mul(s)), x2!.mul(c).add(x1!.mul(s))], 3);
      return out.reshape([0, 0, H]);
    },
  },
  {
    name: 'bidirectional attention with padding mask (MultiHeadAttention)',
    feeds: { ...feedsX, mask: hostTensor('i64', mask, [B, S]) },
    fused: (g) => {
      const xv = inX(g);
      const m = g.input('mask', 'i64', ['b', 's']).cast('i32');
      return g.op1('MultiHeadAttention', [xv, xv.mul(0.5), xv.mul(0.25), null, m], { num_heads: N }, { domain: MS, output: { dtype: 'f32', shape: xv.shape } });
    },
    plain: (g) => {
      const xv = inX(g);
      const m = g.input('mask', 'i64', ['b', 's']);
      const heads = (t: Value) => t.reshape([0, 0, N, D]).transpose([0, 2, 1, 3]);
      const q = heads(xv);
      const k = heads(xv.mul(0.5));
      const v = heads(xv.mul(0.25));
      const bias = g.where(m.equal(g.scalar(0, 'i64')), -3.4e38, 0).unsqueeze([1, 2]); // [b,1,1,s]
      const p = q.matmul(k.transpose([0, 1, 3, 2])).mul(1 / Math.sqrt(D)).add(bias).softmax(-1);
      return p.matmul(v).transpose([0, 2, 1, 3]).reshape([0, 0, H]);
    },
  },
  {
    name: 'exact GELU (Gelu)',
    feeds: feedsX,
    fused: (g) => {
      const xv = inX(g);
      return g.op1('Gelu', [xv], {}, { domain: MS, output: { dtype: 'f32', shape: xv.shape } });
    },
    plain: (g) => {
      const xv = inX(g);
      return xv.mul(xv.mul(Math.SQRT1_2).erf().add(1)).mul(0.5);
    },
  },
];

async function time(g: Graph, feeds: Case['feeds']): Promise<{ ms: number; out: Float32Array }> {
  const s = await rt.session(g, { optimization: 'all' });
  let out = (await s.run(feeds)).y!.data as Float32Array;
  const ts: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    out = (await s.run(feeds)).y!.data as Float32Array;
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return { ms: ts[Math.floor(ts.length / 2)]!, out };
}

console.log(`fused contrib kernels vs plain ONNX ops — ${device}, batch ${B} × seq ${S}, hidden ${H} (${N} heads × ${D}), median of ${REPS}`);
console.log('| op | fused ms | plain ms | speed-up | max |Δ| |');
console.log('|---|---|---|---|---|');
for (const c of cases) {
  // Outputs are pooled over the sequence so that copying results out (≈1–3 ms/MB) does not hide the kernels.
  const gf = new Graph('fused');
  gf.output(c.fused(gf).reduceMean([1], false), 'y');
  const gp = new Graph('plain');
  gp.output(c.plain(gp).reduceMean([1], false), 'y');
  // Interleave the two to share whatever load the machine has.
  const a1 = await time(gf, c.feeds);
  const b1 = await time(gp, c.feeds);
  const a2 = await time(gf, c.feeds);
  const b2 = await time(gp, c.feeds);
  const fused = Math.min(a1.ms, a2.ms);
  const plain = Math.min(b1.ms, b2.ms);
  let diff = 0;
  for (let i = 0; i < a1.out.length; i++) diff = Math.max(diff, Math.abs(a1.out[i]! - b1.out[i]!));
  console.log(`| ${c.name} | ${fused.toFixed(2)} | ${plain.toFixed(2)} | ${(plain / fused).toFixed(2)}× | ${diff.toExponential(1)} |`);
}
await rt.releaseAll();
