import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, globToRegExp, hasOptimizerState } from '../../src/train/optimizer.js';
import { GradientBuffers, clipGradNorm, type Parameter } from '../../src/train/parameters.js';
import { Rng } from '../../src/train/random.js';

function param(name: string, values: number[], shape = [values.length]): Parameter {
  return { name, shape, data: Float32Array.from(values) };
}

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

test('AdamW: hand-worked two-step example (decoupled decay, bias correction, no-decay bias)', () => {
  // w decays, "out.bias" matches the default no-decay pattern.
  const w = param('w', [1, -2]);
  const b = param('out.bias', [0.5]);
  const opt = new AdamW([w, b], { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1 });
  assert.equal(opt.decays('w'), true);
  assert.equal(opt.decays('out.bias'), false);
  const g = new GradientBuffers([w, b]);

  // Step 1, lr 0.1: m = 0.1g, v = 0.001g², m̂ = g, v̂ = g², so the Adam step is lr·sign(g);
  // decay first multiplies w by (1 − 0.1·0.1) = 0.99.
  g.get('w').set([0.5, -1]);
  g.get('out.bias').set([2]);
  opt.step(g, 0.1);
  close(w.data[0]!, 0.99 * 1 - 0.1, 1e-7, 'w0 after step 1');
  close(w.data[1]!, 0.99 * -2 + 0.1, 1e-7, 'w1 after step 1');
  close(b.data[0]!, 0.5 - 0.1, 1e-7, 'b after step 1');

  // Step 2, lr 0.05: bias corrections 1 − 0.9² = 0.19 and 1 − 0.999² = 0.001999; decay factor 0.995.
  // w0: g = 0.5 → m = 0.9·0.05 + 0.05 = 0.095, v = 0.999·0.00025 + 0.00025 = 0.00049975,
  //     √(v/0.001999) = √0.25 = 0.5, update = (0.05/0.19)·0.095/0.5 = 0.05.
  // w1: g = 0.5 → m = −0.09 + 0.05 = −0.04, v = 0.000999 + 0.00025 = 0.001249.
  // b:  g = −2  → m = 0.18 − 0.2 = −0.02, v = 0.003996 + 0.004 = 0.007996, √(v/0.001999) = √4 = 2.
  g.get('w').set([0.5, 0.5]);
  g.get('out.bias').set([-2]);
  opt.step(g, 0.05);
  close(w.data[0]!, 0.995 * 0.89 - 0.05, 1e-6, 'w0 after step 2');
  close(w.data[1]!, 0.995 * -1.88 + ((0.05 / 0.19) * 0.04) / Math.sqrt(0.001249 / 0.001999), 1e-6, 'w1 after step 2');
  close(b.data[0]!, 0.4 + ((0.05 / 0.19) * 0.02) / 2, 1e-6, 'b after step 2');
  assert.equal(opt.stepCount, 2);
  close(opt.moments('w').m[0]!, 0.095, 1e-7, 'm');
  close(opt.moments('out.bias').v[0]!, 0.007996, 1e-7, 'v');
});

/** torch.optim.AdamW written out in float64, as the reference. */
class ReferenceAdamW {
  m: Float64Array[];
  v: Float64Array[];
  t = 0;
  constructor(
    public w: Float64Array[],
    private b1: number,
    private b2: number,
    private eps: number,
    private wd: number[],
  ) {
    this.m = w.map((x) => new Float64Array(x.length));
    this.v = w.map((x) => new Float64Array(x.length));
  }
  step(grads: Float64Array[], lr: number): void {
    this.t++;
    const bc1 = 1 - this.b1 ** this.t;
    const bc2 = 1 - this.b2 ** this.t;
    this.w.forEach((w, p) => {
      for (let i = 0; i < w.length; i++) {
        w[i] = w[i]! * (1 - lr * this.wd[p]!);
        this.m[p]![i] = this.b1 * this.m[p]![i]! + (1 - this.b1) * grads[p]![i]!;
        this.v[p]![i] = this.b2 * this.v[p]![i]! + (1 - this.b2) * grads[p]![i]! ** 2;
        w[i] = w[i]! - (lr / bc1) * (this.m[p]![i]! / (Math.sqrt(this.v[p]![i]!) / Math.sqrt(bc2) + this.eps));
      }
    });
  }
}

test('AdamW follows a float64 reference over 30 random steps with varying lr', () => {
  const rng = new Rng(11);
  const shapes: [string, number[]][] = [
    ['layers.0.weight', [6, 5]],
    ['layers.0.bias', [6]],
    ['layers.0.input_layernorm.weight', [5]],
    ['embed.weight', [10, 3]],
  ];
  const params = shapes.map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    rng.fillNormal(data, 0.5);
    return { name, shape, data };
  });
  const opt = new AdamW(params, { betas: [0.85, 0.99], eps: 1e-6, weightDecay: 0.05 });
  const ref = new ReferenceAdamW(
    params.map((p) => Float64Array.from(p.data)),
    0.85,
    0.99,
    1e-6,
    params.map((p) => (/bias|norm/i.test(p.name) ? 0 : 0.05)),
  );
  const grads = new GradientBuffers(params);
  for (let s = 0; s < 30; s++) {
    const g64 = params.map((p) => {
      const g = new Float64Array(p.data.length);
      rng.fillNormal(g, s % 7 === 0 ? 5 : 0.3); // occasional large gradients
      return g;
    });
    params.forEach((p, i) => grads.get(p.name).set(g64[i]!));
    // The optimizer sees the f32 gradients; give the reference the same values.
    const g32 = params.map((p) => Float64Array.from(grads.get(p.name)));
    const lr = 1e-2 * (1 + Math.sin(s));
    opt.step(grads, lr);
    ref.step(g32, lr);
  }
  params.forEach((p, pi) => {
    for (let i = 0; i < p.data.length; i++) close(p.data[i]!, ref.w[pi]![i]!, 2e-6, `${p.name}[${i}]`);
  });
});

test('AdamW state saves and restores exactly: N steps straight = k steps + save/load + N − k steps', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-adamw-'));
  try {
    const make = () => {
      const rng = new Rng(3);
      const a = { name: 'a.weight', shape: [4, 3], data: new Float32Array(12) };
      const b = { name: 'a.bias', shape: [4], data: new Float32Array(4) };
      rng.fillNormal(a.data);
      rng.fillNormal(b.data);
      return [a, b];
    };
    const gradsAt = (step: number, params: Parameter[]) => {
      const rng = new Rng(100 + step);
      const g = new GradientBuffers(params);
      for (const p of params) rng.fillNormal(g.get(p.name));
      return g;
    };
    const N = 9;
    const k = 4;
    const straight = make();
    const o1 = new AdamW(straight, { weightDecay: 0.1 });
    for (let s = 0; s < N; s++) o1.step(gradsAt(s, straight), 1e-2);

    const first = make();
    const o2 = new AdamW(first, { weightDecay: 0.1 });
    for (let s = 0; s < k; s++) o2.step(gradsAt(s, first), 1e-2);
    await o2.save(dir);
    assert.equal(await hasOptimizerState(dir), true);
    assert.deepEqual(readdirSync(dir).sort(), ['optimizer.bin', 'optimizer.json'], 'no temporary files left behind');

    // A new process would rebuild the parameters from the checkpoint's weights.
    const resumed = make().map((p, i) => ({ ...p, data: Float32Array.from(first[i]!.data) }));
    const o3 = new AdamW(resumed, { weightDecay: 0.1 });
    await o3.load(dir);
    assert.equal(o3.stepCount, k);
    for (let s = k; s < N; s++) o3.step(gradsAt(s, resumed), 1e-2);
    straight.forEach((p, i) => assert.deepEqual(resumed[i]!.data, p.data, `${p.name} differs after resume`));
    assert.deepEqual(o3.moments('a.weight').v, o1.moments('a.weight').v);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('AdamW state load rejects mismatched parameters, options and corrupt files with clear errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-adamw-'));
  try {
    const p = [param('x.weight', [1, 2, 3, 4], [2, 2])];
    const opt = new AdamW(p);
    const g = new GradientBuffers(p);
    g.get('x.weight').set([1, 1, 1, 1]);
    opt.step(g, 0.1);
    await opt.save(dir);

    await assert.rejects(new AdamW([param('x.weight', [1, 2, 3, 4], [4])]).load(dir), /"exp_avg\/x\.weight" has shape \[2, 2\], the parameter has \[4\]/);
    await assert.rejects(new AdamW([param('y.weight', [1, 2, 3, 4], [2, 2])]).load(dir), /no state for "exp_avg\/y\.weight"/);
    await assert.rejects(new AdamW([param('x.weight', [1, 2, 3, 4], [2, 2])], { eps: 1e-6 }).load(dir), /meta\.eps: saved 1e-8 but this run uses 0\.000001/);
    const lenient = new AdamW([param('x.weight', [1, 2, 3, 4], [2, 2])], { eps: 1e-6 });
    await lenient.load(dir, { allowOptionChange: true });
    assert.equal(lenient.stepCount, 1);

    // Flip one byte of the binary file: the checksum catches it and the live state stays untouched.
    const bin = join(dir, 'optimizer.bin');
    const bytes = readFileSync(bin);
    bytes[5] = bytes[5]! ^ 0xff;
    writeFileSync(bin, bytes);
    const fresh = new AdamW([param('x.weight', [1, 2, 3, 4], [2, 2])]);
    await assert.rejects(fresh.load(dir), /optimizer\.bin: SHA-256 .* does not match/);
    assert.equal(fresh.stepCount, 0);
    assert.deepEqual(fresh.moments('x.weight').m, new Float32Array(4));

    writeFileSync(bin, bytes.subarray(0, 10));
    await assert.rejects(fresh.load(dir), /10 bytes on disk, manifest .* says 32/);
    writeFileSync(join(dir, 'optimizer.json'), '{"format":"qzhou-tensors","version":9}');
    await assert.rejects(fresh.load(dir), /optimizer\.json: version: unsupported version 9/);
    await assert.rejects(fresh.load(join(dir, 'missing')), /cannot read tensor manifest \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('AdamW: no-decay patterns are case-insensitive globs; frozen parameters are not allowed in', () => {
  const names = ['embed_tokens.weight', 'layers.0.self_attn.q_proj.weight', 'layers.0.self_attn.q_proj.bias', 'layers.0.input_layernorm.weight', 'norm.weight', 'encoder.layer.0.output.LayerNorm.weight', 'lora_A.weight'];
  const params = names.map((n) => param(n, [1]));
  const opt = new AdamW(params);
  assert.deepEqual(
    names.filter((n) => opt.decays(n)),
    ['embed_tokens.weight', 'layers.0.self_attn.q_proj.weight', 'lora_A.weight'],
  );
  const custom = new AdamW(params, { noDecay: ['embed_tokens.*'] });
  assert.deepEqual(names.filter((n) => !custom.decays(n)), ['embed_tokens.weight']);
  assert.equal(globToRegExp('a.b*').test('a.bcd'), true);
  assert.equal(globToRegExp('a.b*').test('axbcd'), false, 'the dot is literal');
  // Gradient buffers built for a subset do not cover the other parameters.
  const g = new GradientBuffers(params.slice(0, 1));
  assert.throws(() => opt.step(g, 0.1), /no parameter named "layers\.0\.self_attn\.q_proj\.weight"/);
  assert.throws(() => new AdamW(params, { betas: [0.9, 1] }), /betas\[1\] must be in \[0, 1\)/);
  assert.throws(() => new AdamW([param('a', [1]), param('a', [2])]), /duplicate name "a"/);
});

test('global-norm clipping follows torch.nn.utils.clip_grad_norm_', () => {
  const params = [param('a', [0, 0]), param('b', [0])];
  const g = new GradientBuffers(params);
  g.get('a').set([3, 0]);
  g.get('b').set([4]);
  const r = clipGradNorm(g, 1);
  assert.equal(r.norm, 5);
  close(r.factor, 1 / (5 + 1e-6), 1e-12, 'factor');
  close(g.get('a')[0]!, 3 / (5 + 1e-6), 1e-7, 'a0');
  close(g.get('b')[0]!, 4 / (5 + 1e-6), 1e-7, 'b0');
  // Below the threshold nothing changes.
  const r2 = clipGradNorm(g, 10);
  assert.equal(r2.factor, 1);
  close(g.get('b')[0]!, 4 / (5 + 1e-6), 1e-7, 'b0 unchanged');
  // Disabled clipping still reports the norm.
  assert.ok(Math.abs(clipGradNorm(g, null).norm - 1) < 1e-6);
  g.get('b')[0] = NaN;
  assert.throws(() => clipGradNorm(g, 1), /non-finite global norm .* "b"/);
});
