import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, GraphError } from '../../src/graph/index.js';

test('shape inference follows ONNX broadcasting and matmul rules with symbolic dims', () => {
  const g = new Graph();
  const x = g.input('x', 'f32', ['batch', 'seq', 64]);
  const w = g.param('w', 'f32', [64, 32]);
  const b = g.param('b', 'f32', [32]);
  const y = x.matmul(w).add(b);
  assert.deepEqual(y.shape, ['batch', 'seq', 32]);
  const h = y.reshape([0, 0, 4, 8]).transpose([0, 2, 1, 3]);
  assert.deepEqual(h.shape, ['batch', 4, 'seq', 8]);
  const scores = h.matmul(h.transpose([0, 1, 3, 2]));
  assert.deepEqual(scores.shape, ['batch', 4, 'seq', 'seq']);
  assert.deepEqual(scores.reduceSum([-1], false).shape, ['batch', 4, 'seq']);
  assert.deepEqual(scores.reduceMean([1, 2]).shape, ['batch', 1, 1, 'seq']);
  // ReduceSum with empty axes: every axis, unless noop_with_empty_axes makes it the identity.
  assert.deepEqual(g.op1('ReduceSum', [scores, g.constI64([])], { keepdims: 0 }).shape, []);
  assert.deepEqual(g.op1('ReduceSum', [scores, g.constI64([])], { keepdims: 0, noop_with_empty_axes: 1 }).shape, ['batch', 4, 'seq', 'seq']);
  assert.deepEqual(g.op1('ReduceSum', [scores], { keepdims: 1, noop_with_empty_axes: 1 }).shape, ['batch', 4, 'seq', 'seq']);
  const flat = h.reshape([0, 0, -1]).shape; // seq·8 has no name: a wildcard dim
  assert.deepEqual(flat.slice(0, 2), ['batch', 4]);
  assert.match(String(flat[2]), /^\?/);
  assert.deepEqual(h.reshape([0, 0, 0, -1]).shape, ['batch', 4, 'seq', 8]);
  assert.deepEqual(y.reshape([-1, 32]).shape[1], 32);
  assert.deepEqual(x.slice([0], [1], [1]).shape, ['batch', 1, 64]);
  assert.deepEqual(x.slice([0], [Number.MAX_SAFE_INTEGER], [1]).shape, ['batch', 'seq', 64]);
  assert.deepEqual(w.slice([8], [-8], [0]).shape, [48, 32]);
  const [p, q] = w.split([16, 48], 0);
  assert.deepEqual([p!.shape, q!.shape], [[16, 32], [48, 32]]);
  assert.deepEqual(g.concat([w, w], 1).shape, [64, 64]);
  assert.deepEqual(x.unsqueeze([1]).shape, ['batch', 1, 'seq', 64]);
  assert.deepEqual(x.unsqueeze([1]).squeeze([1]).shape, ['batch', 'seq', 64]);
  const ids = g.input('ids', 'i64', ['batch', 'seq']);
  assert.deepEqual(w.gather(ids).shape, ['batch', 'seq', 32]);
  assert.equal(x.less(0).dtype, 'bool');
  // Whole numbers become int attributes, except the attributes ONNX defines as floats.
  const gemm = g.op1('Gemm', [w, w.transpose()], { alpha: 2, transB: 0 });
  assert.deepEqual([gemm.producer!.attrs.alpha, gemm.producer!.attrs.transB], [{ kind: 'float', value: 2 }, { kind: 'int', value: 0 }]);
  const mha = g.op1('MultiHeadAttention', [x, x, x], { num_heads: 4, mask_filter_value: -10000 }, { domain: 'com.microsoft', output: { dtype: 'f32', shape: x.shape } });
  assert.deepEqual([mha.producer!.attrs.num_heads!.kind, mha.producer!.attrs.mask_filter_value!.kind], ['int', 'float']);
});

test('build-time errors name the node and both shapes', () => {
  const g = new Graph();
  const x = g.input('x', 'f32', ['batch', 64]);
  const w = g.param('w', 'f32', [63, 8]);
  g.scope('layer.0', () => {
    assert.throws(() => x.matmul(w), (e: unknown) => {
      const m = (e as Error).message;
      return e instanceof GraphError && m.includes('layer.0/MatMul') && m.includes('[batch,64]') && m.includes('[63,8]');
    });
  });
  const a = g.input('a', 'f32', ['batch', 'seq']);
  const b = g.input('b', 'f32', ['seq', 'batch']);
  assert.throws(() => a.add(b), /dims batch and seq differ/);
  const h = g.input('h', 'f16', [4]);
  assert.throws(() => h.add(g.input('k', 'f32', [4])), /dtypes differ \(f16 vs f32\)/);
  assert.throws(() => g.param('p', 'f32', [2, 2], { kind: 'memory', data: new Float32Array(3) }), /needs 4 elements/);
  assert.throws(() => g.input('x', 'f32', [1]), /already used/);
  assert.throws(() => x.reshape([5, 7]), /cannot hold the 35 elements/);
  assert.throws(() => w.reshape([5, 7]), /cannot hold the 35 elements/);
  assert.throws(() => g.op1('Frobnicate', [x]), /no shape rule for op Frobnicate/);
});
