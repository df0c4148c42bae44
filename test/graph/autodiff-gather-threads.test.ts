// Regression: the Gather gradient must accumulate repeated indices exactly with a multi-threaded ORT
// session (ONNX Runtime 1.30's ScatterND(add) loses updates there; the rule uses ScatterElements).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Runtime, buildVjp, hostTensor } from '../../src/graph/index.js';

for (const axis of [0, 1]) {
  test(`Gather gradient (axis ${axis}) sums 4,096 repeated indices exactly on 2 threads`, async () => {
    const [V, H, N] = [50, 32, 4096];
    const shape = axis === 0 ? [V, H] : [H, V];
    const g = new Graph(`gather-grad-${axis}`);
    const table = g.param('table', 'f32', shape);
    const ids = g.input('ids', 'i64', [N]);
    g.output(table.gather(ids, axis), 'rows');
    const vjp = buildVjp(g, { output: 'rows' });
    const idx = BigInt64Array.from({ length: N }, (_, i) => BigInt((i * 7919) % V));
    const dy = Float32Array.from({ length: N * H }, (_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
    // Reference in float64.
    const ref = new Float64Array(V * H);
    for (let i = 0; i < N; i++) for (let h = 0; h < H; h++) {
      const v = Number(idx[i]);
      const d = axis === 0 ? dy[i * H + h]! : dy[h * N + i]!;
      ref[axis === 0 ? v * H + h : h * V + v] += d;
    }
    const rt = new Runtime({ threads: 2 });
    const session = await rt.session(vjp);
    const feeds = {
      table: hostTensor('f32', new Float32Array(V * H), shape),
      ids: hostTensor('i64', idx, [N]),
      'grad:rows': hostTensor('f32', dy, axis === 0 ? [N, H] : [H, N]),
    };
    for (let run = 0; run < 3; run++) {
      const got = (await session.run(feeds))['grad:table']!.data as Float32Array;
      let worst = 0;
      for (let k = 0; k < ref.length; k++) worst = Math.max(worst, Math.abs(got[k]! - ref[k]!));
      assert.ok(worst < 1e-3, `run ${run}: max |error| ${worst} (sums of ~80 terms in float32 should agree to 1e-4)`);
    }
    await rt.releaseAll();
  });
}
