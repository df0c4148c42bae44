// Finite-difference checks of every VJP rule, in float64 (step 1e-6, relative tolerance 1e-6) where ONNX
// Runtime's CPU provider has float64 kernels. Erf has none: it runs in float32 between casts
// (tolerance 2e-3). Each test covers the rule's broadcasting and shape cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Graph } from '../../src/graph/index.js';
import { type GradCase, assertGradients, floatTensor, i64Tensor } from './gradcheck.js';

const f64 = 'f64' as const;
const p = (g: Graph, name: string, shape: number[]) => g.param(name, f64, shape);
const x = (g: Graph, name: string, shape: (number | string)[]) => g.input(name, f64, shape);

async function check(label: string, c: GradCase): Promise<void> {
  const r = await assertGradients(c, label);
  assert.ok(r.checked > 0, `${label}: nothing checked`);
}

test('VJP Add/Sub/Mul/Div with broadcasting: one operand, both operands, scalars, rank mismatch, fan-out', async () => {
  for (const op of ['add', 'sub', 'mul', 'div'] as const) {
    const pos: Record<string, [number, number]> = op === 'div' ? { b: [0.5, 2], s: [0.5, 2], a: [0.5, 2] } : {};
    await check(`${op}: [2,3,4] ∘ [4]`, { build: (g) => p(g, 'a', [2, 3, 4])[op](p(g, 'b', [4])), ranges: pos });
    await check(`${op}: [2,1,4] ∘ [3,1] (both broadcast)`, { build: (g) => p(g, 'a', [2, 1, 4])[op](p(g, 'b', [3, 1])), ranges: pos });
    await check(`${op}: scalar param ∘ [2,3]`, { build: (g) => p(g, 's', [])[op](p(g, 'b', [2, 3])), ranges: pos });
    await check(`${op}: [2,3] ∘ constant`, { build: (g) => p(g, 'a', [2, 3])[op](1.7) });
    await check(`${op}: x ∘ x (both operands the same value)`, { build: (g) => { const a = p(g, 'a', [3, 2]); return a[op](a).add(a); }, ranges: { a: [0.5, 2] } });
  }
  await check('add: symbolic batch against a static operand', { build: (g) => x(g, 'h', ['batch', 'seq', 4]).add(p(g, 'b', [1, 1, 4])).mul(p(g, 'w', [4])), dims: { batch: 2, seq: 3 } });
});

test('VJP of a symbolic operand dim that broadcasts at run time only (size 1 vs > 1)', async () => {
  // k is 1 or 5 at run time; statically the sum is [2,5]: whether to reduce dim 1 of a is decided at run time.
  for (const k of [1, 5]) {
    await check(`add with k=${k}`, { build: (g) => x(g, 'a', [2, 'k']).add(x(g, 'b', [2, 5])).mul(x(g, 'c', [2, 5])), dims: { k } });
  }
});

test('VJP Pow: constant exponents (2, 3.5, 0.5, 1), tensor exponents (gradient to both), broadcast exponent', async () => {
  for (const e of [2, 3.5, 0.5, 1]) await check(`x^${e}`, { build: (g) => p(g, 'a', [2, 3]).pow(e), ranges: { a: [0.5, 2] } });
  await check('a^b', { build: (g) => p(g, 'a', [2, 3]).pow(p(g, 'b', [2, 3])), ranges: { a: [0.5, 2] } });
  await check('a^b, b broadcast', { build: (g) => p(g, 'a', [2, 3]).pow(p(g, 'b', [3])), ranges: { a: [0.5, 2] } });
});

test('VJP of unary ops: Neg Abs Sqrt Reciprocal Exp Log Tanh Sigmoid Relu Sin Cos Identity', async () => {
  const positive = new Set(['sqrt', 'reciprocal', 'log']);
  for (const op of ['neg', 'abs', 'sqrt', 'reciprocal', 'exp', 'log', 'tanh', 'sigmoid', 'relu', 'sin', 'cos', 'identity'] as const) {
    await check(op, { build: (g) => p(g, 'a', [3, 4])[op]().mul(p(g, 'w', [4])), ranges: positive.has(op) ? { a: [0.3, 2] } : { a: [-2, 2] } });
  }
  // Through a chain, with fan-out: y = tanh(a)·sigmoid(a) + exp(−a²)
  await check('composite', { build: (g) => { const a = p(g, 'a', [5]); return a.tanh().mul(a.sigmoid()).add(a.mul(a).neg().exp()); } });
});

test('VJP Erf (float32 kernel between casts; tolerance 2e-3) and Cast', async () => {
  await check('erf in f32', {
    build: (g) => p(g, 'a', [3, 4]).cast('f32').erf().cast(f64).mul(p(g, 'w', [4])),
    ranges: { a: [-2, 2] }, step: 1e-2, rtol: 2e-3, atol: 1e-6,
  });
  await check('f32 graph: erf', { build: (g) => g.param('a', 'f32', [6]).erf().mul(g.param('w', 'f32', [6])), step: 1e-2, rtol: 2e-3 });
});

test('VJP Softmax and LogSoftmax on the last and a middle axis', async () => {
  await check('softmax -1', { build: (g) => p(g, 'a', [2, 3, 4]).softmax(-1).mul(p(g, 'w', [4])) });
  await check('softmax 1', { build: (g) => p(g, 'a', [2, 3, 4]).softmax(1).mul(p(g, 'w', [4])) });
  await check('logsoftmax -1', { build: (g) => p(g, 'a', [2, 5]).logSoftmax(-1).mul(p(g, 'w', [5])) });
  await check('logsoftmax 0', { build: (g) => p(g, 'a', [3, 2]).logSoftmax(0) });
});

test('VJP MatMul: weight matrix (2-D, 3-D activations, symbolic rows), batched with broadcast batch dims, vectors', async () => {
  await check('[3,4]×[4,5]', { build: (g) => p(g, 'a', [3, 4]).matmul(p(g, 'b', [4, 5])) });
  await check('[2,3,4]×[4,5]', { build: (g) => p(g, 'a', [2, 3, 4]).matmul(p(g, 'b', [4, 5])) });
  await check('[batch,seq,4]×[4,5]', { build: (g) => x(g, 'h', ['batch', 'seq', 4]).matmul(p(g, 'b', [4, 5])), dims: { batch: 2, seq: 3 } });
  await check('[2,1,3,4]×[3,4,2] (batch broadcast both ways)', { build: (g) => p(g, 'a', [2, 1, 3, 4]).matmul(p(g, 'b', [3, 4, 2])) });
  await check('[3,4]×[2,4,5] (2-D times batched)', { build: (g) => p(g, 'a', [3, 4]).matmul(p(g, 'b', [2, 4, 5])) });
  await check('[4]×[4,5]', { build: (g) => p(g, 'a', [4]).matmul(p(g, 'b', [4, 5])) });
  await check('[2,3,4]×[4]', { build: (g) => p(g, 'a', [2, 3, 4]).matmul(p(g, 'b', [4])) });
  await check('[4]×[2,4,3]', { build: (g) => p(g, 'a', [4]).matmul(p(g, 'b', [2, 4, 3])) });
  await check('[4]×[4]', { build: (g) => p(g, 'a', [4]).matmul(p(g, 'b', [4])) });
});

test('VJP Gemm: every transA/transB combination, alpha, beta, C broadcast as [N], [M,1] and scalar', async () => {
  for (const [tA, tB] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
    await check(`Gemm transA=${tA} transB=${tB}`, {
      build: (g) => {
        const a = p(g, 'a', tA ? [4, 3] : [3, 4]);
        const b = p(g, 'b', tB ? [5, 4] : [4, 5]);
        return g.op1('Gemm', [a, b, p(g, 'c', [5])], { transA: tA, transB: tB, alpha: 0.7, beta: 1.3 });
      },
    });
  }
  await check('Gemm C [M,1]', { build: (g) => g.op1('Gemm', [p(g, 'a', [3, 4]), p(g, 'b', [4, 5]), p(g, 'c', [3, 1])], { beta: 0.5 }) });
  await check('Gemm C scalar, no bias scaling', { build: (g) => g.op1('Gemm', [p(g, 'a', [3, 4]), p(g, 'b', [5, 4]), p(g, 'c', [])], { transB: 1 }) });
  await check('Gemm without C', { build: (g) => g.op1('Gemm', [p(g, 'a', [3, 4]), p(g, 'b', [4, 2])], {}) });
});

test('VJP reductions: ReduceSum/Mean (axes, keepdims, all axes, symbolic dims), ReduceMax/Min (with ties), SumSquare, L2, LogSumExp', async () => {
  await check('sum axes [1] keepdims 0', { build: (g) => p(g, 'a', [2, 3, 4]).reduceSum([1], false).mul(p(g, 'w', [4])) });
  await check('sum all', { build: (g) => p(g, 'a', [2, 3]).reduceSum() });
  await check('sum axes [-1, 0] keepdims 1', { build: (g) => p(g, 'a', [2, 3, 4]).reduceSum([-1, 0], true).mul(p(g, 'w', [3, 1])) });
  await check('mean axes [1]', { build: (g) => p(g, 'a', [2, 3, 4]).reduceMean([1], false).mul(p(g, 'w', [4])) });
  await check('mean all', { build: (g) => p(g, 'a', [2, 3]).reduceMean() });
  await check('mean over a symbolic axis', { build: (g) => x(g, 'h', ['batch', 'seq', 3]).reduceMean([1], false).mul(p(g, 'w', [3])), dims: { batch: 2, seq: 5 } });
  await check('max axes [1]', { build: (g) => p(g, 'a', [2, 3, 4]).reduceMax([1], false).mul(p(g, 'w', [4])) });
  await check('min all keepdims', { build: (g) => g.op1('ReduceMin', [p(g, 'a', [2, 3])], { keepdims: 1 }) });
  // Two-way ties: the gradient is split evenly, which is exactly what central differences measure at a tie
  // (only t is checked: the loss is piecewise linear in t, while a product with a perturbed w would add an
  // O(h) term at the kink).
  await check('max with 2-way ties', {
    build: (g) => x(g, 't', [2, 3]).reduceMax([1], false).mul(p(g, 'w', [2])),
    feeds: { t: floatTensor(f64, [0.5, 0.5, -1, 2, 0.25, 2], [2, 3]) }, inputGrads: ['t'], wrt: [],
  });
  await check('sum of squares', { build: (g) => g.op1('ReduceSumSquare', [p(g, 'a', [2, 3])], { axes: [1], keepdims: 0 }).mul(p(g, 'w', [2])) });
  await check('L2', { build: (g) => g.op1('ReduceL2', [p(g, 'a', [2, 3])], { axes: [1], keepdims: 1 }).mul(p(g, 'w', [2, 1])) });
  await check('log-sum-exp', { build: (g) => g.op1('ReduceLogSumExp', [p(g, 'a', [2, 3])], { axes: [0], keepdims: 0 }).mul(p(g, 'w', [3])) });
});

test('VJP ReduceL2 gives 0 (not NaN) at a zero vector, like torch', async () => {
  const { gradCheck } = await import('./gradcheck.js');
  const r = await gradCheck({
    build: (g) => g.op1('ReduceL2', [x(g, 'a', [2, 3])], { axes: [1], keepdims: 0 }).mul(x(g, 'w', [2])),
    feeds: { a: floatTensor(f64, [0, 0, 0, 1, 2, 2], [2, 3]) }, inputGrads: ['w'],
  });
  assert.ok(r.ok, r.mismatches.join('\n'));
});

test('VJP Gather: embedding lookup with repeated and negative indices (scatter-add), other axes, 2-D and scalar indices', async () => {
  await check('axis 0, repeated + negative ids', {
    build: (g) => p(g, 'emb', [5, 3]).gather(g.input('ids', 'i64', ['n'])).mul(p(g, 'w', [3])),
    feeds: { ids: i64Tensor([1, 4, 1, -1, 0, 1], [6]) },
  });
  await check('axis 0, ids [batch, seq] (the model layout)', {
    build: (g) => p(g, 'emb', [6, 4]).gather(g.input('ids', 'i64', ['batch', 'seq'])).reduceMean([1], false),
    feeds: { ids: i64Tensor([2, 2, 5, 0, 3, 2], [2, 3]) },
  });
  await check('axis 1, 2-D constant indices', { build: (g) => p(g, 'a', [2, 4, 3]).gather(g.constI64([3, 0, 3, 1]).reshape([2, 2]), 1) });
  await check('axis 2, negative constant indices', { build: (g) => p(g, 'a', [2, 3, 4]).gather(g.constI64([-1, 0, -1]), 2) });
  await check('axis 1, run-time negative indices', {
    build: (g) => p(g, 'a', [2, 4]).gather(g.input('i', 'i64', [3]), 1),
    feeds: { i: i64Tensor([-1, 2, -4], [3]) },
  });
  await check('scalar index', { build: (g) => p(g, 'a', [3, 2]).gather(g.constI64([2]).reshape([]), 0) });
  await check('i32 indices', {
    build: (g) => p(g, 'a', [4, 2]).gather(g.input('i', 'i32', [3]), 0),
    feeds: { i: { dtype: 'i32', dims: [3], data: Int32Array.from([3, -1, 0]) } },
  });
});

test('VJP GatherElements and TopK scatter back to the gathered positions', async () => {
  await check('GatherElements axis 1 (repeats, negative)', {
    build: (g) => g.op1('GatherElements', [p(g, 'a', [2, 3]), g.constI64([0, 0, -1, 1, 2, 2]).reshape([2, 3])], { axis: 1 }),
  });
  await check('TopK', { build: (g) => g.op('TopK', [p(g, 'a', [2, 5]), g.constI64([2])], { axis: 1 }, 2)[0]!.mul(p(g, 'w', [2])) });
});

test('VJP Transpose, Reshape (static, symbolic, -1, 0), Flatten, Unsqueeze/Squeeze', async () => {
  await check('transpose', { build: (g) => p(g, 'a', [2, 3, 4]).transpose([2, 0, 1]).mul(p(g, 'w', [3])) });
  await check('reshape', { build: (g) => p(g, 'a', [2, 6]).reshape([3, -1]).mul(p(g, 'w', [4])) });
  await check('reshape symbolic', { build: (g) => x(g, 'h', ['batch', 'seq', 6]).reshape([0, 0, 2, 3]).transpose([0, 2, 1, 3]).mul(p(g, 'w', [3])), dims: { batch: 2, seq: 3 } });
  await check('reshape to a run-time shape', {
    build: (g) => { const h = x(g, 'h', ['n', 6]); return p(g, 'a', [12]).mul(h.reshape([-1])).reshape(g.shapeOf(h)).mul(p(g, 'w', [6])); },
    dims: { n: 2 },
  });
  await check('flatten', { build: (g) => g.op1('Flatten', [p(g, 'a', [2, 3, 2])], { axis: 2 }).mul(p(g, 'w', [2])) });
  await check('unsqueeze/squeeze', { build: (g) => p(g, 'a', [2, 3]).unsqueeze([0, -1]).mul(p(g, 'w', [3, 1])).squeeze([0]) });
  await check('squeeze without axes', { build: (g) => g.op1('Squeeze', [p(g, 'a', [2, 1, 3])]).mul(p(g, 'w', [3])) });
});

test('VJP Concat (static and symbolic sizes, a constant part) and Split (an unused part gets zeros)', async () => {
  await check('concat axis 1', { build: (g) => g.concat([p(g, 'a', [2, 1]), g.constant({ dtype: f64, dims: [2, 2], data: new Float64Array([1, 2, 3, 4]) }), p(g, 'b', [2, 3])], 1).mul(p(g, 'w', [6])) });
  await check('concat along a symbolic axis', { build: (g) => g.concat([x(g, 'h', ['batch', 'seq', 2]), x(g, 'k', ['batch', 'kv', 2])], 1).mul(p(g, 'w', [2])), dims: { batch: 2, seq: 3, kv: 2 } });
  await check('split, one part unused', { build: (g) => { const [a, , c] = p(g, 'a', [2, 6]).split([1, 2, 3], 1); return g.concat([a!.mul(3), c!], 1); } });
  await check('split, parts used twice', { build: (g) => { const [a, b] = p(g, 'a', [4, 3]).split([2, 2], 0); return a!.mul(b!).add(a!); } });
});

test('VJP Slice: unit steps (negative starts, clamped ends, symbolic dims), steps 2 and -1', async () => {
  await check('static', { build: (g) => p(g, 'a', [4, 5]).slice([1, -3], [3, 1e9], [0, 1]) });
  await check('first and last token of a symbolic seq', {
    build: (g) => { const h = x(g, 'h', ['batch', 'seq', 3]); return h.slice([0], [1], [1]).add(h.slice([-1], [Number.MAX_SAFE_INTEGER], [1])); },
    dims: { batch: 2, seq: 4 },
  });
  await check('middle of a symbolic seq', { build: (g) => x(g, 'h', ['batch', 'seq', 3]).slice([1], [-1], [1]).mul(p(g, 'w', [3])), dims: { batch: 2, seq: 5 } });
  await check('step 2', { build: (g) => p(g, 'a', [3, 7]).slice([1], [7], [1], [2]) });
  await check('step -1 (reverse)', { build: (g) => p(g, 'a', [4, 3]).slice([-1], [-1e9], [0], [-1]).mul(p(g, 'w', [3])) });
  await check('step -2 and a unit-step axis together', { build: (g) => p(g, 'a', [5, 4]).slice([4, 1], [-1e9, 3], [0, 1], [-2, 1]) });
});

test('VJP Where (condition from the data, broadcast branches, scalar branch) and Expand', async () => {
  await check('where', { build: (g) => { const a = p(g, 'a', [2, 3]); return g.where(a.less(0), a.mul(p(g, 'b', [3])), p(g, 's', [])); } });
  await check('where scalar branch', { build: (g) => { const a = p(g, 'a', [2, 3]); return g.where(a.greater(0.2), a, -4); } });
  await check('expand', { build: (g) => p(g, 'a', [3, 1]).expand([2, 3, 4]).mul(x(g, 'h', [2, 3, 4])) });
  await check('expand to a run-time shape', { build: (g) => { const h = x(g, 'h', ['n', 3]); return p(g, 'a', [3]).expand(g.shapeOf(h)).mul(h); }, dims: { n: 4 } });
});

test('VJP Max/Min: broadcast operands, scalar clamp, 2-way ties split evenly; Clip', async () => {
  await check('max', { build: (g) => p(g, 'a', [2, 3]).max(p(g, 'b', [3])) });
  await check('min', { build: (g) => p(g, 'a', [2, 3]).min(p(g, 'b', [2, 1])) });
  await check('max with a constant (clamp below)', { build: (g) => p(g, 'a', [6]).max(0.1) });
  await check('max with ties', {
    build: (g) => x(g, 'a', [4]).max(x(g, 'b', [4])).mul(p(g, 'w', [4])),
    feeds: { a: floatTensor(f64, [1, 2, -3, 0.5], [4]), b: floatTensor(f64, [1, 0, -3, 0.7], [4]) }, inputGrads: ['a', 'b'], wrt: [],
  });
  await check('variadic max', { build: (g) => g.op1('Max', [p(g, 'a', [3]), p(g, 'b', [3]), p(g, 'c', [1])]) });
  await check('clip', { build: (g) => g.op1('Clip', [p(g, 'a', [8]), p(g, 'lo', []), p(g, 'hi', [])]), ranges: { a: [-2, 2], lo: [-1, -0.5], hi: [0.5, 1] } });
});

test('VJP LayerNormalization: float64 (statistics recomputed) and float32 (saved statistics; tolerance 2e-3)', async () => {
  await check('f64 axis -1', { build: (g) => g.op1('LayerNormalization', [p(g, 'a', [2, 3, 5]), p(g, 's', [5]), p(g, 'b', [5])], { axis: -1, epsilon: 1e-5 }).mul(p(g, 'w', [5])) });
  await check('f64 axis 1 (two normalised axes)', { build: (g) => g.op1('LayerNormalization', [p(g, 'a', [2, 3, 4]), p(g, 's', [3, 4])], { axis: 1, epsilon: 1e-3 }).mul(p(g, 'w', [4])) });
  await check('f32', {
    build: (g) => g.op1('LayerNormalization', [g.param('a', 'f32', [3, 8]), g.param('s', 'f32', [8]), g.param('b', 'f32', [8])], { axis: -1, epsilon: 1e-5 }).mul(g.param('w', 'f32', [8])),
    step: 1e-2,
  });
});

test('VJP SimplifiedLayerNormalization (RMSNorm), CumSum, Trilu', async () => {
  await check('rmsnorm f32', {
    build: (g) => { const a = g.param('a', 'f32', [3, 8]); return g.op1('SimplifiedLayerNormalization', [a, g.param('s', 'f32', [8])], { axis: -1, epsilon: 1e-6 }, { output: { dtype: 'f32', shape: a.shape } }).mul(g.param('w', 'f32', [8])); },
    step: 1e-2,
  });
  await check('cumsum', { build: (g) => g.op1('CumSum', [p(g, 'a', [2, 4]), g.scalar(1, 'i64')], { exclusive: 1 }).mul(p(g, 'w', [4])) });
  await check('cumsum reverse', { build: (g) => g.op1('CumSum', [p(g, 'a', [5]), g.scalar(0, 'i64')], { reverse: 1 }).mul(p(g, 'w', [5])) });
  await check('trilu', { build: (g) => g.op1('Trilu', [p(g, 'a', [3, 4]), g.scalar(1, 'i64')], { upper: 0 }) });
});
