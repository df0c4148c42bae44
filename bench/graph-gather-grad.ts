// Embedding-gradient kernels, side by side: the scatter-add the Gather VJP rule emits (ScatterElements with
// reduction 'add' over the table's rows, built here by buildVjp itself) vs a one-hot MatMul (onehot(ids)ᵀ·d),
// for 4096 tokens × 256 dims and vocabularies of token types (2), positions (512) and words (30522). Both
// reduce their [V, 256] result to a scalar so the timing holds no output copy.
// Usage: npx tsx bench/graph-gather-grad.ts [--reps 7] [--threads 1]
import { type HostTensor, Graph, Runtime, buildVjp, gradName } from '../src/graph/index.js';
import { mulberry32 } from '../src/util/random.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const REPS = flag('reps', 7);
const rt = new Runtime({ threads: flag('threads', 1) });
const T = 4096;
const H = 256;

/** The Gather rule's own backward: VJP of table.gather(ids) with cotangent d, its gradient summed to a scalar. */
function scatterGraph(v: number): Graph {
  const g = new Graph(`gather_${v}`);
  const table = g.param('table', 'f32', [v, H]);
  const ids = g.input('ids', 'i64', [T]);
  g.output(table.gather(ids, 0), 'd');
  const vjp = buildVjp(g, { output: 'd' });
  const grad = vjp.outputs.find((o) => o.name === gradName('table'))!;
  vjp.outputs.splice(0, vjp.outputs.length);
  vjp.output(grad.reduceSum(), 'y');
  vjp.prune();
  return vjp;
}

function oneHotGraph(v: number): Graph {
  const g = new Graph(`onehot_${v}`);
  const ids = g.input('ids', 'i64', [T]);
  const d = g.input('d', 'f32', [T, H]);
  const range = g.op1('Range', [g.scalar(0, 'i64'), g.scalar(v, 'i64'), g.scalar(1, 'i64')], {}, { output: { dtype: 'i64', shape: [v] } });
  const onehot = ids.unsqueeze([1]).equal(range).cast('f32'); // [T, V]
  g.output(g.op1('Gemm', [onehot, d], { transA: 1 }).reduceSum(), 'y');
  return g;
}

const rand = mulberry32(5);
const d: HostTensor = { dtype: 'f32', dims: [T, H], data: Float32Array.from({ length: T * H }, () => rand() - 0.5) };
console.log(`embedding gradient for ${T} tokens × ${H} dims; CPU ms per run, median of ${REPS}`);
console.log(`${'vocab'.padStart(7)} ${'scatter-add'.padStart(12)} ${'one-hot MatMul'.padStart(15)} ${'agree'.padStart(8)}`);
for (const v of [2, 512, 30522]) {
  const ids: HostTensor = { dtype: 'i64', dims: [T], data: BigInt64Array.from({ length: T }, () => BigInt(Math.floor(rand() * v))) };
  const sessions = [await rt.session(scatterGraph(v)), await rt.session(oneHotGraph(v))];
  const feeds: Record<string, HostTensor>[] = [{ ids, [gradName('d')]: d, table: { dtype: 'f32', dims: [v, H], data: new Float32Array(v * H) } }, { ids, d }];
  const sums = await Promise.all(sessions.map(async (s, i) => ((await s.run(feeds[i]!)).y!.data as Float32Array)[0]!));
  const cpu: number[][] = [[], []];
  for (let rep = 0; rep < REPS + 1; rep++) {
    for (const i of rep % 2 ? [1, 0] : [0, 1]) {
      const c = process.cpuUsage();
      await sessions[i]!.run(feeds[i]!);
      const u = process.cpuUsage(c);
      if (rep > 0) cpu[i]!.push((u.user + u.system) / 1000);
    }
  }
  const med = (x: number[]) => x.sort((a, b) => a - b)[x.length >> 1]!;
  const agree = Math.abs(sums[0]! - sums[1]!) <= 1e-3 * (1 + Math.abs(sums[0]!));
  console.log(`${String(v).padStart(7)} ${med(cpu[0]!).toFixed(2).padStart(12)} ${med(cpu[1]!).toFixed(2).padStart(15)} ${String(agree).padStart(8)}`);
}
await rt.releaseAll();
