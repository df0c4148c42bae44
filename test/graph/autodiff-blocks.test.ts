// Whole transformer blocks checked by finite differences, and mutation tests: a deliberately wrong rule
// must make the checker report a mismatch (or the build fail), so a passing check means something.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, type VjpRule, GraphError, VJP_RULES, buildVjp } from '../../src/graph/index.js';
import { bertBlock, qwenBlock, ropeTables } from './blocks.js';
import { type GradCase, assertGradients, floatTensor, gradCheck, i64Tensor } from './gradcheck.js';

const MASK = i64Tensor([1, 1, 1, 1, 1, 1, 0, 0], [2, 4]); // second row: two padding tokens

function bertCase(dt: 'f64' | 'f32', rules?: Record<string, VjpRule>): GradCase {
  return {
    build: (g) => bertBlock(g, dt, { hidden: 8, heads: 2, ffn: 12 }),
    dims: { batch: 2, seq: 4 },
    feeds: { mask: MASK },
    inputGrads: ['x'],
    rules,
    maxElements: 24,
    // f64 graph with a float32 erf inside: erf's rounding (one ulp ≈ 6e-8 on an output) divided by the 2h of
    // a central difference is the noise floor, so h = 1e-3 and atol 1e-5 (k.bias has an exact zero gradient:
    // softmax ignores a per-row shift, and its finite difference is that noise). f32 throughout: h = 1e-2.
    ...(dt === 'f64' ? { step: 1e-3, rtol: 2e-3, atol: 1e-5 } : { step: 1e-2, rtol: 5e-3, atol: 3e-5 }),
  };
}

function qwenCase(rules?: Record<string, VjpRule>): GradCase {
  const seq = 4;
  const t = ropeTables(seq, 4);
  return {
    build: (g) => qwenBlock(g, 'f64', { hidden: 8, heads: 2, kvHeads: 1, ffn: 12 }),
    dims: { batch: 2, seq },
    feeds: { mask: MASK, cos: floatTensor('f64', t.cos, [seq, 4]), sin: floatTensor('f64', t.sin, [seq, 4]) },
    inputGrads: ['x'],
    rules,
    maxElements: 24,
  };
}

test('BERT-style block (attention + padding mask + softmax, GELU(erf) FFN, LayerNorms): every param and the input, float64', async () => {
  const r = await assertGradients(bertCase('f64'), 'bert block f64');
  const params = ['q', 'k', 'v', 'o', 'ffn1', 'ffn2'].flatMap((n) => [`${n}.weight`, `${n}.bias`]).concat(['ln1.weight', 'ln1.bias', 'ln2.weight', 'ln2.bias', 'x']);
  assert.deepEqual([...r.targets].sort(), params.sort());
});

test('BERT-style block in float32, as models run it (tolerance 5e-3)', async () => {
  await assertGradients(bertCase('f32'), 'bert block f32');
});

test('Qwen-style block (RMSNorm, RoPE via Slice/Neg/Concat, GQA via Expand/Reshape, causal mask, SwiGLU): float64', async () => {
  const r = await assertGradients(qwenCase(), 'qwen block');
  const params = ['ln1', 'q', 'k', 'v', 'o', 'ln2', 'gate', 'up', 'down'].map((n) => `${n}.weight`).concat(['q.bias', 'k.bias', 'v.bias', 'x']);
  assert.deepEqual([...r.targets].sort(), params.sort());
});

test('mutation: a wrong rule makes the checker report a mismatch', async () => {
  const wrong: Record<string, [string, VjpRule, (g: Graph) => ReturnType<Graph['input']>]> = {
    // tanh′ = 1 − y², not 1 + y²
    Tanh: ['tanh', (c) => [c.times(c.scalar(1).add(c.y().mul(c.y())))], (g) => g.param('a', 'f64', [4]).tanh()],
    // dA = d·Bᵀ: forgetting the transpose keeps shapes for square B but gives wrong values
    MatMul: ['matmul', (c) => [c.needs(0) ? c.dy()!.matmul(c.x(1)) : null, c.needs(1) ? c.x(0).transpose([1, 0]).matmul(c.dy()!) : null], (g) => g.param('a', 'f64', [3, 4]).matmul(g.param('b', 'f64', [4, 4]))],
    // Gather's gradient must accumulate repeated indices (reduction add)
    Gather: ['gather', (c) => [c.g.op1('ScatterND', [c.zeros(c.fx(0)), c.x(1).unsqueeze([1]), c.dy()!]), null], (g) => g.param('e', 'f64', [4, 2]).gather(g.constI64([1, 3, 1]))],
    // Sigmoid′ = y(1 − y), not y
    Sigmoid: ['sigmoid', (c) => [c.times(c.y())], (g) => g.param('a', 'f64', [5]).sigmoid()],
  };
  for (const [op, [label, rule, build]] of Object.entries(wrong)) {
    const good = await gradCheck({ build });
    assert.ok(good.ok, `${label}: the correct rule passes`);
    const bad = await gradCheck({ build, rules: { [op]: rule } });
    assert.equal(bad.ok, false, `${label}: the wrong rule is caught`);
    assert.ok(bad.mismatches.length > 0);
  }
});

test('mutation: wrong Softmax or LayerNormalization rules are caught by the whole-block checks', async () => {
  // Softmax without the −Σ(d·y) term
  const softmax: VjpRule = (c) => [c.dyBroadcastable()!.mul(c.y())];
  const r1 = await gradCheck(bertCase('f64', { Softmax: softmax }));
  assert.equal(r1.ok, false, 'wrong Softmax rule is detected in the BERT block');
  const r2 = await gradCheck(qwenCase({ Softmax: softmax }));
  assert.equal(r2.ok, false, 'wrong Softmax rule is detected in the Qwen block');
  // LayerNormalization treated as an affine map (ignoring the normalisation's own derivative)
  const ln: VjpRule = (c) => {
    const [, dS, dB] = VJP_RULES.LayerNormalization!(c);
    return [c.dy()!.mul(c.x(1)), dS, dB];
  };
  const r3 = await gradCheck(bertCase('f64', { LayerNormalization: ln }));
  assert.equal(r3.ok, false, 'wrong LayerNormalization rule is detected');
  assert.ok(r3.mismatches.some((m) => m.startsWith('x[') || m.startsWith('q.') || m.startsWith('directional')), r3.mismatches.join('\n'));
});

test('mutation: a rule that forgets the broadcast reduction fails at build time, naming the rule, node and shapes', () => {
  const g = new Graph('add');
  g.output(g.param('a', 'f64', [2, 3, 4]).add(g.param('b', 'f64', [4])), 'y');
  const noReduce: VjpRule = (c) => [c.dyBroadcastable(), c.dyBroadcastable()];
  assert.throws(
    () => buildVjp(g, { output: 'y', rules: { Add: noReduce } }),
    (e: unknown) => e instanceof GraphError && /VJP rule for Add \(node "Add_\d+"\) gives input 1 \(b:f64\[4\]\) a gradient f64\[2,3,4\]/.test((e as Error).message),
  );
});
