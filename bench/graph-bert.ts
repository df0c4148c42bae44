// Engine benchmarks (issue 2), measured side by side in one run:
//  1. a BERT-style encoder (4 layers, hidden 256, 4 heads, FFN 1024, vocab 30522, batch 32 × seq 128,
//     embedding lookup, LayerNorms, GELU(erf), padding mask, mean pooling) built with the engine vs the same
//     graph written by hand as raw onnx-proto objects (no engine code), same ops and weights: speed ratio;
//  2. forward vs forward+VJP (every param trainable and fed as an input, as training runs it);
//  3. GFLOP/s of each against ORT's plain MatMul rate on this machine.
// Usage: npx tsx bench/graph-bert.ts [--reps 7] [--warmup 2] [--threads N] [--batch 32] [--seq 128] [--profile] [--optimized]
//   --profile: ORT's per-op-type time of one VJP step; --optimized: op types whose counts differ between
//   ORT's optimised engine and hand-written graphs (which fusions each got).
import { cpus, loadavg } from 'node:os';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import pkg from 'onnx-proto';
import { type HostTensor, Graph, Runtime, buildVjp, gradName, serializeGraph } from '../src/graph/index.js';
import { BERT_SMALL, encoderFlops, encoderInputs, encoderWeights, engineEncoder, handEncoder } from './graph-encoder.js';
import { mulberry32 } from '../src/util/random.js';

const { onnx } = pkg;

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const REPS = flag('reps', 7);
const WARMUP = flag('warmup', 2);
// One ORT thread by default: on a shared machine a descheduled pool thread stalls the others, and with one
// thread CPU time measures the work itself. Pass --threads N for throughput on a quiet machine.
const THREADS = flag('threads', 1);
const PROFILE = process.argv.includes('--profile');
const OPTIMIZED = process.argv.includes('--optimized');
const C = { ...BERT_SMALL, batch: flag('batch', BERT_SMALL.batch), seq: flag('seq', BERT_SMALL.seq) };

const weights = encoderWeights(C);
const { host: hostFeeds, ort: ortFeeds } = encoderInputs(C);
const tokens = C.batch * C.seq;
const rand = mulberry32(99);

// --- timing helpers ---

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
interface Timing {
  /** Median wall-clock ms per run. */
  wall: number;
  /** Median CPU ms per run (all threads of this process): the work done, insensitive to other processes. */
  cpu: number;
}

/** Times several runners interleaved (ABBA order each repetition): medians of wall and CPU time. */
async function race(runners: (() => Promise<unknown>)[]): Promise<Timing[]> {
  for (let i = 0; i < WARMUP; i++) for (const r of runners) await r();
  const wall = runners.map(() => [] as number[]);
  const cpu = runners.map(() => [] as number[]);
  for (let rep = 0; rep < REPS; rep++) {
    const order = rep % 2 ? [...runners.keys()].reverse() : [...runners.keys()];
    for (const i of order) {
      const c = process.cpuUsage();
      const t = performance.now();
      await runners[i]!();
      wall[i]!.push(performance.now() - t);
      const d = process.cpuUsage(c);
      cpu[i]!.push((d.user + d.system) / 1000);
    }
  }
  return runners.map((_, i) => ({ wall: median(wall[i]!), cpu: median(cpu[i]!) }));
}

const so: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: THREADS, interOpNumThreads: 1 };
const rt = new Runtime({ threads: THREADS });
const rows: [string, Timing, number][] = []; // label, times, GFLOP
const log = (s: string) => process.stderr.write(`${s}\n`);

// 3. The machine's ORT MatMul rate (GFLOP per CPU second), on the FFN's shapes.
async function measureMatmulRate(): Promise<number> {
  const g = new Graph('matmul_rate');
  let x = g.input('x', 'f32', [tokens, C.hidden]);
  const w1 = g.param('w1', 'f32', [C.hidden, C.ffn], { kind: 'memory', data: weights.get('l0.ffn1.w')!.data });
  const w2 = g.param('w2', 'f32', [C.ffn, C.hidden], { kind: 'memory', data: weights.get('l0.ffn2.w')!.data });
  for (let i = 0; i < 4; i++) x = x.matmul(w1).matmul(w2);
  g.output(x.reduceSum(), 'y'); // a scalar: no output copy in the timing
  const s = await rt.session(g);
  const xs: HostTensor = { dtype: 'f32', dims: [tokens, C.hidden], data: Float32Array.from({ length: tokens * C.hidden }, () => rand() - 0.5) };
  const [t] = await race([() => s.run({ x: xs })]);
  const gflop = (4 * 2 * 2 * tokens * C.hidden * C.ffn) / 1e9;
  rows.push([`ORT MatMul [${tokens}×${C.hidden}]·[${C.hidden}×${C.ffn}]·[${C.ffn}×${C.hidden}] ×4`, t!, gflop]);
  return gflop / (t!.cpu / 1000);
}

async function main(): Promise<void> {
  log(`graph-bert: ${C.layers} layers, hidden ${C.hidden}, ${C.heads} heads, FFN ${C.ffn}, vocab ${C.vocab}, batch ${C.batch} × seq ${C.seq}; ${REPS} reps after ${WARMUP} warm-up; ${THREADS} threads`);
  const matmulRate = await measureMatmulRate();

  // 1. engine vs hand-written ONNX, weights embedded.
  const eg = engineEncoder(C, weights, false);
  const es = await rt.session(eg);
  const hand = await ort.InferenceSession.create(handEncoder(C, weights), so);
  const control = await ort.InferenceSession.create(handEncoder(C, weights), so); // A/A control: the noise floor of the comparison
  const a = (await es.run(hostFeeds)).embedding!.data as Float32Array;
  const b = (await hand.run(ortFeeds)).embedding!.data as Float32Array;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  if (diff > 1e-4) throw new Error(`the engine and hand-written graphs disagree: max |Δ| = ${diff}`);
  const engineOps = eg.nodes.map((x) => x.op).sort().join(',');
  const handOps = (onnx.ModelProto.decode(handEncoder(C, weights)).graph!.node!).map((x) => x.opType!).sort().join(',');
  if (engineOps !== handOps) throw new Error(`the engine and hand-written graphs use different ops:\n  engine ${engineOps}\n  hand   ${handOps}`);
  if (OPTIMIZED) await compareOptimized(serializeGraph(eg).bytes, handEncoder(C, weights));
  const [engineT, handT, controlT] = await race([() => es.run(hostFeeds), () => hand.run(ortFeeds), () => control.run(ortFeeds)]);
  const fwdFlops = encoderFlops(C) / 1e9;
  rows.push(['engine encoder (weights embedded)', engineT!, fwdFlops], ['hand-written ONNX encoder', handT!, fwdFlops], ['hand-written ONNX encoder, second session (A/A control)', controlT!, fwdFlops]);

  // 2. training: params fed as inputs, forward vs forward + VJP of the pooled embedding.
  const tg = engineEncoder(C, weights, true);
  const vjp = buildVjp(tg, { output: 'embedding', keepOutputs: ['embedding'] });
  const ts = await rt.session(tg);
  const vs = await rt.session(vjp);
  const params: Record<string, HostTensor> = {};
  for (const [name, w] of weights) params[name] = { dtype: 'f32', dims: w.shape, data: w.data };
  const cot: HostTensor = { dtype: 'f32', dims: [C.batch, C.hidden], data: Float32Array.from({ length: C.batch * C.hidden }, () => rand() - 0.5) };
  const trainFeeds = { ...hostFeeds, ...params };
  const stepFeeds = { ...trainFeeds, [gradName('embedding')]: cot };
  const gradBytes = [...weights.values()].reduce((s, w) => s + w.data.byteLength, 0);
  const [fwdT, stepT] = await race([() => ts.run(trainFeeds), () => vs.run(stepFeeds)]);
  rows.push(['forward, params fed as inputs', fwdT!, fwdFlops], [`forward + VJP (${vjp.outputs.length - 1} param grads, ${(gradBytes / 2 ** 20).toFixed(0)} MB)`, stepT!, 3 * fwdFlops]);

  const fmt = (x: number, d = 1) => x.toFixed(d).padStart(8);
  console.log(`\nonnxruntime-node ${ort.env.versions.common}, ${cpus()[0]?.model ?? 'cpu'}, ${THREADS} thread(s), load average ${loadavg()[0]!.toFixed(1)}; medians of ${REPS}`);
  console.log(`${'run'.padEnd(62)} ${'CPU ms'.padStart(8)} ${'wall ms'.padStart(8)} ${'GFLOP'.padStart(8)} ${'GFLOP/s'.padStart(8)} ${'of MatMul'.padStart(9)}`);
  for (const [label, t, gf] of rows) {
    const rate = gf / (t.cpu / 1000);
    console.log(`${label.padEnd(62)} ${fmt(t.cpu)} ${fmt(t.wall)} ${fmt(gf, 2)} ${fmt(rate)} ${`${((100 * rate) / matmulRate).toFixed(0)}%`.padStart(9)}`);
  }
  const both = (a: Timing, b: Timing, f: (x: number, y: number) => number, d: number) => `${f(a.cpu, b.cpu).toFixed(d)}× by CPU time, ${f(a.wall, b.wall).toFixed(d)}× by wall time`;
  console.log(`\nengine / hand-written speed: ${both(handT!, engineT!, (h, e) => h / e, 3)} (target ≥ 0.95×; outputs agree to ${diff.toExponential(1)}); A/A control: ${both(handT!, controlT!, (h, c) => h / c, 3)}`);
  console.log(`forward + VJP / forward:     ${both(stepT!, fwdT!, (st, f) => st / f, 2)} (target ≤ 3.5×)`);

  if (PROFILE) await profile(vjp, stepFeeds);
  await hand.release();
  await control.release();
  await rt.releaseAll();
}

/** Saves ORT's optimised form of both graphs and prints the op types whose counts differ. */
async function compareOptimized(engine: Uint8Array, hand: Uint8Array): Promise<void> {
  const counts = async (bytes: Uint8Array, tag: string) => {
    const path = join(tmpdir(), `qzhou_optimized_${tag}_${process.pid}.onnx`);
    const s = await ort.InferenceSession.create(bytes, { ...so, optimizedModelFilePath: path });
    await s.release();
    const m = onnx.ModelProto.decode(readFileSync(path));
    rmSync(path, { force: true });
    const c = new Map<string, number>();
    for (const x of m.graph!.node!) c.set(x.opType!, (c.get(x.opType!) ?? 0) + 1);
    return c;
  };
  const e = await counts(engine, 'engine');
  const h = await counts(hand, 'hand');
  const diffs = [...new Set([...e.keys(), ...h.keys()])].filter((op) => e.get(op) !== h.get(op));
  console.log(diffs.length ? `optimised graphs differ: ${diffs.map((op) => `${op} engine ${e.get(op) ?? 0} / hand ${h.get(op) ?? 0}`).join(', ')}` : `optimised graphs have the same ops (${[...e.values()].reduce((a, b) => a + b, 0)} nodes)`);
}

/** ORT's profile of one VJP step: time per op type, to see where a step goes. */
async function profile(vjp: Graph, feeds: Record<string, HostTensor>): Promise<void> {
  const prefix = `qzhou_vjp_profile_${process.pid}`;
  const s = await ort.InferenceSession.create(serializeGraph(vjp).bytes, { ...so, enableProfiling: true, profileFilePrefix: join(tmpdir(), prefix) });
  const f = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.dtype === 'i64' ? 'int64' : 'float32', t.data as Float32Array, t.dims)]));
  for (let i = 0; i < 3; i++) await s.run(f);
  s.endProfiling(); // the Node binding returns no path: find the file by its prefix
  await s.release();
  const file = readdirSync(tmpdir()).filter((x) => x.startsWith(prefix)).map((x) => join(tmpdir(), x))[0];
  if (!file) throw new Error('ORT wrote no profile');
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  rmSync(file, { force: true });
  const byOp = new Map<string, number>();
  let total = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? '?';
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur / 3000);
    total += e.dur / 3000;
  }
  console.log(`\nVJP step profile (ms per step by op type; kernels total ${total.toFixed(1)} ms):`);
  for (const [op, ms] of [...byOp].sort((x, y) => y[1] - x[1]).slice(0, 16)) console.log(`  ${op.padEnd(24)} ${ms.toFixed(1).padStart(8)}`);
}

await main();
