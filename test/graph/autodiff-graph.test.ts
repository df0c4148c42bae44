// The VJP graph's structure and interface: feeds and outputs, frozen params (no gradient nodes), dead-code
// elimination, unreached params, errors, custom rules, and one session serving several batch sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Graph as GraphT, Graph, GraphError, Runtime, buildVjp, hostTensor } from '../../src/graph/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { assertGradients } from './gradcheck.js';

const forwardNodes = (g: GraphT) => g.nodes.filter((n) => !n.name.startsWith('grad/'));
const rand = (n: number, seed: number) => { const r = mulberry32(seed); return Float32Array.from({ length: n }, () => r() * 2 - 1); };

test('feed interface and output order: inputs, params fed as inputs (frozen too), cotangent; kept outputs, param grads, input grads', () => {
  const g = new Graph('iface');
  const x = g.input('x', 'f32', ['batch', 4]);
  const ids = g.input('ids', 'i64', ['batch']);
  const frozen = g.param('frozen', 'f32', [4, 4], { kind: 'input' }, false);
  const w = g.param('w', 'f32', [4, 3]);
  const b = g.param('b', 'f32', [3]);
  const emb = g.param('emb', 'f32', [10, 3]);
  const y = x.matmul(frozen).matmul(w).add(b).add(emb.gather(ids));
  g.output(y.reduceSum([1], false), 'loss');
  g.output(y, 'y');
  const v = buildVjp(g, { output: 'y', inputGrads: ['x'], keepOutputs: ['loss'] });
  assert.deepEqual(v.inputs.map((i) => i.name), ['x', 'ids', 'grad:y']);
  assert.deepEqual(v.params.filter((p) => p.origin.kind === 'param' && p.origin.source.kind === 'input').map((p) => p.name), ['frozen', 'w', 'b', 'emb']);
  assert.deepEqual(v.outputs.map((o) => o.name), ['loss', 'grad:w', 'grad:b', 'grad:emb', 'grad:x']);
  assert.deepEqual(v.outputs.map((o) => o.shape), [['batch'], [4, 3], [3], [10, 3], ['batch', 4]]);
  const cot = v.inputs.find((i) => i.name === 'grad:y')!;
  assert.deepEqual([cot.dtype, cot.shape], ['f32', ['batch', 3]]);
});

test('frozen params get no gradient nodes; LoRA-style base weights stay initializers', () => {
  const g = new Graph('lora');
  const x = g.input('x', 'f32', ['n', 8]);
  const base = g.param('base', 'f32', [8, 8], { kind: 'memory', data: rand(64, 1) }, false);
  const a = g.param('lora_a', 'f32', [8, 2]);
  const bq = g.param('lora_b', 'f32', [2, 8]);
  const frozen2 = g.param('head', 'f32', [8, 4], { kind: 'memory', data: rand(32, 2) }, false);
  const h = x.matmul(base).add(x.matmul(a).matmul(bq)).tanh();
  g.output(h.matmul(frozen2), 'y');
  const v = buildVjp(g, { output: 'y' });
  assert.deepEqual(v.outputs.map((o) => o.name), ['grad:lora_a', 'grad:lora_b']);
  // Base is needed by no backward rule (x needs no gradient): x·base is recomputed for tanh′ only.
  const baseCopy = v.params.find((p) => p.name === 'base')!;
  assert.equal(baseCopy.origin.kind === 'param' && baseCopy.origin.source.kind, 'memory');
  const usesBase = v.nodes.filter((n) => n.inputs.includes(baseCopy));
  assert.equal(usesBase.length, 1, 'only the forward product uses the frozen base weight');
  assert.ok(!usesBase[0]!.name.startsWith('grad/'));
  // The head is frozen but lies between the params and the output: its transpose is used, never its gradient.
  const headCopy = v.params.find((p) => p.name === 'head')!;
  assert.ok(v.nodes.filter((n) => n.inputs.includes(headCopy)).every((n) => n.op === 'Transpose'));
  // Backward products: d·headᵀ, dB = (x·A)ᵀ·d, d(x·A) = d·Bᵀ, dA = xᵀ·d(x·A): four, none for base.
  const products = v.nodes.filter((n) => n.name.startsWith('grad/') && (n.op === 'MatMul' || n.op === 'Gemm'));
  assert.equal(products.length, 4);
  assert.throws(() => buildVjp(g, { output: 'y', wrt: ['base'] }), /param "base" is frozen/);
});

test('dead code: the VJP holds only forward nodes the backward pass or kept outputs need', () => {
  const g = new Graph('dce');
  const x = g.input('x', 'f32', ['n', 4]);
  const w = g.param('w', 'f32', [4, 4]);
  const big = g.param('big', 'f32', [4, 64]);
  const e = x.matmul(w).exp();
  g.output(e.reduceSum(), 'y');
  g.output(x.matmul(big).tanh().reduceMean(), 'side');
  const v = buildVjp(g, { output: 'y' });
  // ReduceSum's gradient does not need its output, Exp's needs its output, MatMul's needs x: MatMul and Exp are recomputed.
  assert.deepEqual(forwardNodes(v).map((n) => n.op), ['MatMul', 'Exp']);
  assert.ok(!v.nodes.some((n) => n.inputs.some((i) => i?.name === 'big')), 'the unrelated branch is gone');
  const kept = buildVjp(g, { output: 'y', keepOutputs: ['side', 'y'] });
  assert.deepEqual(forwardNodes(kept).map((n) => n.op).sort(), ['Exp', 'MatMul', 'MatMul', 'ReduceMean', 'ReduceSum', 'Tanh']);
  assert.deepEqual(kept.outputs.map((o) => o.name), ['side', 'y', 'grad:w']);
});

test('params the output does not reach: omitted by default, zeros or an error on request', async () => {
  const g = new Graph('unreached');
  const x = g.input('x', 'f32', [3]);
  const w = g.param('w', 'f32', [3]);
  const unused = g.param('unused', 'f32', [2, 2]);
  g.output(x.mul(w), 'y');
  g.output(unused.reduceSum(), 'other');
  assert.deepEqual(buildVjp(g, { output: 'y' }).outputs.map((o) => o.name), ['grad:w']);
  assert.throws(() => buildVjp(g, { output: 'y', unreached: 'error' }), /output "y" does not depend on "unused"/);
  const z = buildVjp(g, { output: 'y', unreached: 'zeros' });
  assert.deepEqual(z.outputs.map((o) => o.name), ['grad:w', 'grad:unused']);
  const s = await Runtime.get('cpu').session(z);
  const out = await s.run({ x: hostTensor('f32', Float32Array.of(1, 2, 3), [3]), w: hostTensor('f32', Float32Array.of(4, 5, 6), [3]), unused: hostTensor('f32', new Float32Array(4).fill(9), [2, 2]), 'grad:y': hostTensor('f32', Float32Array.of(1, -1, 2), [3]) });
  assert.deepEqual(Array.from(out['grad:w']!.data as Float32Array), [1, -2, 6]);
  assert.deepEqual(out['grad:unused']!.dims, [2, 2]);
  assert.deepEqual(Array.from(out['grad:unused']!.data as Float32Array), [0, 0, 0, 0]);
});

test('clear errors: unknown output, non-float output or input, unsupported op (named, with its node)', () => {
  const g = new Graph('errs');
  const x = g.input('x', 'f32', [4]);
  const ids = g.input('ids', 'i64', [4]);
  const w = g.param('w', 'f32', [4]);
  const soft = g.op1('Softplus', [x.mul(w)], {}, { output: { dtype: 'f32', shape: [4] } });
  g.output(soft, 'y');
  g.output(ids.add(g.scalar(1, 'i64')), 'ids1');
  assert.throws(() => buildVjp(g, { output: 'nope' }), /graph "errs" has no output "nope" \(outputs: y, ids1\)/);
  assert.throws(() => buildVjp(g, { output: 'ids1' }), /output "ids1" is i64/);
  assert.throws(() => buildVjp(g, { output: 'y', inputGrads: ['ids'] }), /input "ids" is i64/);
  assert.throws(() => buildVjp(g, { output: 'y', wrt: ['v'] }), /"v" in wrt is not a param/);
  assert.throws(() => buildVjp(g, { output: 'y' }), (e: unknown) => e instanceof GraphError && /no VJP rule for op Softplus \(node "Softplus_\d+"\)/.test((e as Error).message));
});

test('custom rules extend the engine (Softplus: d·sigmoid(x); float32, ORT has no float64 kernel), checked by finite differences', async () => {
  await assertGradients({
    build: (g) => g.op1('Softplus', [g.param('a', 'f32', [5]).mul(g.param('w', 'f32', [5]))], {}, { output: { dtype: 'f32', shape: [5] } }),
    rules: { Softplus: (c) => [c.times(c.x(0).sigmoid())] },
  }, 'custom Softplus rule');
});

test('one VJP session serves several batch sizes (symbolic dims), matching gradients computed in JS', async () => {
  const g = new Graph('batches');
  const x = g.input('x', 'f32', ['batch', 3]);
  const w = g.param('w', 'f32', [3, 2]);
  const b = g.param('b', 'f32', [2]);
  g.output(x.matmul(w).add(b), 'y');
  const s = await new Runtime({ threads: 1 }).session(buildVjp(g, { output: 'y', inputGrads: ['x'] }));
  const W = rand(6, 3);
  try {
    for (const n of [2, 5]) {
      const X = rand(n * 3, n);
      const C = rand(n * 2, 10 + n);
      const out = await s.run({ x: hostTensor('f32', X, [n, 3]), w: hostTensor('f32', W, [3, 2]), b: hostTensor('f32', rand(2, 4), [2]), 'grad:y': hostTensor('f32', C, [n, 2]) });
      const dW = new Float64Array(6);
      const db = new Float64Array(2);
      const dx = new Float64Array(n * 3);
      for (let i = 0; i < n; i++) for (let j = 0; j < 2; j++) {
        db[j]! += C[i * 2 + j]!;
        for (let k = 0; k < 3; k++) {
          dW[k * 2 + j]! += X[i * 3 + k]! * C[i * 2 + j]!;
          dx[i * 3 + k]! += C[i * 2 + j]! * W[k * 2 + j]!;
        }
      }
      const close = (got: Float32Array, want: Float64Array, what: string) => want.forEach((v, i) => assert.ok(Math.abs(got[i]! - v) < 1e-5, `batch ${n} ${what}[${i}]: ${got[i]} vs ${v}`));
      close(out['grad:w']!.data as Float32Array, dW, 'dW');
      close(out['grad:b']!.data as Float32Array, db, 'db');
      close(out['grad:x']!.data as Float32Array, dx, 'dx');
      assert.deepEqual(out['grad:x']!.dims, [n, 3]);
    }
  } finally {
    await s.release();
  }
});

test('fan-out: three uses of a value are summed by one Sum node; broadcastable gradients are expanded only once', async () => {
  const g = new Graph('fanout');
  const a = g.param('a', 'f64', [2, 3]);
  g.output(a.exp().add(a.sin()).add(a.mul(a.reduceMean([1], true))), 'y');
  const v = buildVjp(g, { output: 'y' });
  assert.equal(v.nodes.filter((n) => n.op === 'Sum').length, 1);
  assert.ok(v.nodes.filter((n) => n.op === 'Expand').length <= 1);
  await assertGradients({ build: (h) => { const p = h.param('a', 'f64', [2, 3]); return p.exp().add(p.sin()).add(p.mul(p.reduceMean([1], true))); } }, 'fan-out');
});

test('the output itself as a param, and gradients of f32 inputs through casts to f16 and back', async () => {
  const g = new Graph('direct');
  const p = g.param('p', 'f32', [3]);
  g.output(p, 'y');
  const v = buildVjp(g, { output: 'y' });
  const s = await Runtime.get('cpu').session(v);
  const out = await s.run({ p: hostTensor('f32', Float32Array.of(1, 2, 3), [3]), 'grad:y': hostTensor('f32', Float32Array.of(7, 8, 9), [3]) });
  assert.deepEqual(Array.from(out['grad:p']!.data as Float32Array), [7, 8, 9]);
  // f16 compute inside an f32 graph (mixed precision): exact for these small integers.
  const h = new Graph('half');
  const x = h.input('x', 'f32', [4]);
  h.output(x.cast('f16').mul(h.scalar(3, 'f16')).cast('f32'), 'y');
  const hv = await Runtime.get('cpu').session(buildVjp(h, { output: 'y', inputGrads: ['x'] }));
  const r = await hv.run({ x: hostTensor('f32', Float32Array.of(1, 2, 3, 4), [4]), 'grad:y': hostTensor('f32', Float32Array.of(1, 2, -1, 0.5), [4]) });
  assert.deepEqual(Array.from(r['grad:x']!.data as Float32Array), [3, 6, -3, 1.5]);
});

test('Graph.prune drops dead nodes, constants and valued params but keeps the feed interface', () => {
  const g = new Graph('prune');
  const x = g.input('x', 'f32', [2]);
  const fed = g.param('fed', 'f32', [2]);
  g.param('dead_w', 'f32', [2], { kind: 'memory', data: Float32Array.of(1, 2) });
  x.mul(3).exp(); // dead
  g.output(x.add(fed), 'y');
  const before = g.nodes.length;
  assert.equal(before, 3);
  assert.equal(g.prune(), 2); // Mul and Exp
  assert.deepEqual(g.nodes.map((n) => n.op), ['Add']);
  assert.deepEqual(g.params.map((p) => p.name), ['fed']);
  assert.equal(g.consts.length, 0);
  const extra = g.op1('Neg', [x]); // names stay unique after pruning
  assert.ok(!g.nodes.slice(0, -1).some((n) => n.name === extra.producer!.name));
});
