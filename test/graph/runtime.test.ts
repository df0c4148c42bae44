import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readdirSync, readFileSync, renameSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph, Runtime, DeviceUnavailableError, checkDevice, hostTensor, serializeGraph } from '../../src/graph/index.js';

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1);
}

function mlpReference(x: Float32Array, w: Float32Array, b: Float32Array, n: number, k: number, m: number): Float32Array {
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = b[j]!;
      for (let t = 0; t < k; t++) s += x[i * k + t]! * w[t * m + j]!;
      out[i * m + j] = Math.tanh(s);
    }
  return out;
}

test('a graph runs on ONNX Runtime and matches a JS reference; weights embedded, external, or fed', async () => {
  const [n, k, m] = [5, 16, 8];
  const x = rand(n * k, 1), w = rand(k * m, 2), b = rand(m, 3);
  const ref = mlpReference(x, w, b, n, k, m);
  const dir = mkdtempSync(join(tmpdir(), 'qz-rt-'));
  try {
    const rt = new Runtime({ cacheDir: dir, threads: 1 });
    for (const mode of ['embed', 'external', 'input', 'file'] as const) {
      const g = new Graph(`mlp_${mode}`);
      const xi = g.input('x', 'f32', ['n', k]);
      let wp, bp;
      if (mode === 'input') {
        wp = g.param('w', 'f32', [k, m]);
        bp = g.param('b', 'f32', [m]);
      } else if (mode === 'file') {
        // Weights as byte ranges of an existing file, like tensors inside a .safetensors file.
        const f = join(dir, 'ckpt.bin');
        const header = Buffer.alloc(24, 7);
        writeFileSync(f, Buffer.concat([header, Buffer.from(w.buffer), Buffer.from(b.buffer)]));
        wp = g.param('w', 'f32', [k, m], { kind: 'file', path: f, offset: 24, length: w.byteLength });
        bp = g.param('b', 'f32', [m], { kind: 'file', path: f, offset: 24 + w.byteLength, length: b.byteLength });
      } else {
        wp = g.param('w', 'f32', [k, m], { kind: 'memory', data: w });
        bp = g.param('b', 'f32', [m], { kind: 'memory', data: b });
      }
      g.output(xi.matmul(wp).add(bp).tanh(), 'y');
      const s = await rt.session(g, { write: { memoryParams: mode === 'external' ? 'external' : 'auto' } });
      const feeds = { x: hostTensor('f32', x, [n, k]), ...(mode === 'input' ? { w: hostTensor('f32', w, [k, m]), b: hostTensor('f32', b, [m]) } : {}) };
      const { y } = await s.run(feeds);
      assert.deepEqual(y!.dims, [n, m]);
      const got = y!.data as Float32Array;
      for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(got[i]! - ref[i]!) < 1e-5, `${mode}: y[${i}] ${got[i]} vs ${ref[i]}`);
      if (mode === 'external' || mode === 'file') assert.ok(s.modelPath, `${mode}: the model was written to disk`);
      else assert.equal(s.modelPath, null);
      assert.equal(await rt.session(g, { write: { memoryParams: mode === 'external' ? 'external' : 'auto' } }), s, 'the same graph reuses its session');
    }
    assert.ok(readdirSync(join(dir, 'links')).some((f) => f.endsWith('.weights')));
    await rt.releaseAll();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serialisation is deterministic and hashes differ when weights differ', () => {
  const build = (v: number) => {
    const g = new Graph('h');
    const x = g.input('x', 'f32', [2]);
    g.output(x.mul(g.param('w', 'f32', [2], { kind: 'memory', data: new Float32Array([v, 1]) })), 'y');
    return serializeGraph(g);
  };
  assert.equal(build(1).hash, build(1).hash);
  assert.notEqual(build(1).hash, build(2).hash);
});

test('unavailable devices fail with a reason; unfed inputs are named', async () => {
  assert.throws(() => checkDevice('cuda'), (e: unknown) => e instanceof DeviceUnavailableError && /ONNXRUNTIME_NODE_INSTALL_CUDA/.test((e as Error).message));
  assert.throws(() => checkDevice('tpu' as never), /unknown device "tpu"/);
  const g = new Graph('u');
  const a = g.input('a', 'f32', [1]);
  g.input('b', 'f32', [1]);
  g.output(a.neg(), 'y');
  const s = await Runtime.get('cpu').session(g);
  await assert.rejects(s.run({ a: hostTensor('f32', new Float32Array([1]), [1]) }), /graph input "b" was not fed/);
});

test('a replaced weights file (new inode, same size and mtime) is read anew, never through the old link', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qz-rt-relink-'));
  try {
    const f = join(dir, 'w.bin');
    // Replace the file the way `cp -p` / `rsync -a` do: new contents, new inode, the same size and mtime.
    const put = (v: number) => {
      const t = join(dir, 'w.tmp');
      writeFileSync(t, Buffer.from(new Float32Array([v, v]).buffer));
      utimesSync(t, 1_700_000_000, 1_700_000_000);
      renameSync(t, f);
    };
    const build = () => {
      const g = new Graph('relink');
      const x = g.input('x', 'f32', [2]);
      g.output(x.mul(g.param('w', 'f32', [2], { kind: 'file', path: f, offset: 0, length: 8 })), 'y');
      return g;
    };
    const x = { x: hostTensor('f32', new Float32Array([1, 1]), [2]) };
    const values: number[][] = [];
    for (const v of [1, 2]) {
      put(v);
      const rt = new Runtime({ cacheDir: join(dir, 'cache'), threads: 1 });
      values.push([...((await (await rt.session(build())).run(x)).y!.data as Float32Array)]);
      await rt.releaseAll();
    }
    assert.deepEqual(values, [[1, 1], [2, 2]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a released session leaves the cache: the same graph gets a new session; release is idempotent; profiles are written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qz-rt-release-'));
  try {
    const rt = new Runtime({ cacheDir: dir, threads: 1 });
    const g = new Graph('rel');
    const x = g.input('x', 'f32', [2]);
    g.output(x.neg(), 'y');
    const feeds = { x: hostTensor('f32', new Float32Array([1, -2]), [2]) };
    const s = await rt.session(g);
    await s.release();
    await s.release();
    assert.equal(s.isReleased, true);
    await assert.rejects(s.run(feeds), /was released/);
    const again = await rt.session(g);
    assert.notEqual(again, s, 'a released session is not handed out again');
    assert.deepEqual([...((await again.run(feeds)).y!.data as Float32Array)], [-1, 2]);

    const p = await rt.session(g, { profile: true });
    assert.notEqual(p, again, 'profiling is part of the cache key');
    await p.run(feeds);
    await p.release();
    assert.ok(p.profileFile && p.profileFile.startsWith(join(dir, 'profiles')), `profile file: ${p.profileFile}`);
    const trace = JSON.parse(readFileSync(p.profileFile!, 'utf8')) as unknown[];
    assert.ok(Array.isArray(trace) && trace.length > 0, 'the trace has events');
    await rt.releaseAll();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host tensors check the array type against the dtype (a Node Buffer is a Uint8Array)', () => {
  assert.deepEqual(hostTensor('u8', Buffer.from([1, 2, 3]), [3]).dims, [3]);
  assert.throws(() => hostTensor('f32', new Float64Array(2) as never, [2]), /dtype f32 needs a Float32Array, got a Float64Array/);
  assert.throws(() => hostTensor('i64', new Int32Array(2) as never, [2]), /dtype i64 needs a BigInt64Array, got a Int32Array/);
});
