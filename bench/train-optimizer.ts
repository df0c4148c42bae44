// AdamW update, gradient clipping and optimizer-state save/load throughput, against a plain SGD loop
// over the same arrays (the memory-bound floor), measured side by side in this run.
// Run: npx tsx bench/train-optimizer.ts [--params N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW } from '../src/train/optimizer.js';
import { GradientBuffers, clipGradNorm, type Parameter } from '../src/train/parameters.js';
import { Rng } from '../src/train/random.js';

const arg = process.argv.indexOf('--params');
const total = arg > 0 ? Number(process.argv[arg + 1]) : 8_000_000;
const rng = new Rng(2);
// A BERT-ish mix of shapes: big matrices plus small biases/norms.
const params: Parameter[] = [];
let left = total;
for (let i = 0; left > 0; i++) {
  const n = Math.min(left, 1 << 20);
  params.push({ name: `layers.${i}.weight`, shape: [n], data: new Float32Array(n) });
  left -= n;
  params.push({ name: `layers.${i}.bias`, shape: [256], data: new Float32Array(256) });
}
for (const p of params) rng.fillNormal(p.data, 0.02);
const grads = new GradientBuffers(params);
for (const p of params) rng.fillNormal(grads.get(p.name), 1e-3);
const opt = new AdamW(params);
const n = params.reduce((s, p) => s + p.data.length, 0);

function time(fn: () => unknown, reps: number): number {
  fn();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) fn();
  return (performance.now() - t0) / reps;
}

const sgd = time(() => {
  for (const p of params) {
    const g = grads.get(p.name);
    const w = p.data;
    for (let i = 0; i < w.length; i++) w[i] -= 1e-5 * g[i]!;
  }
}, 5);
const adam = time(() => opt.step(grads, 1e-5), 5);
const clip = time(() => clipGradNorm(grads, 1e9), 5);

const dir = mkdtempSync(join(tmpdir(), 'qzhou-bench-opt-'));
let save = 0;
let load = 0;
try {
  const t0 = performance.now();
  await opt.save(dir);
  save = performance.now() - t0;
  const t1 = performance.now();
  await new AdamW(params).load(dir);
  load = performance.now() - t1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const stateMB = (n * 8) / 1e6;
console.log(`node ${process.version}, ${(n / 1e6).toFixed(1)}M parameters`);
console.log('| operation | ms | throughput | ratio to SGD loop |');
console.log('|---|---|---|---|');
console.log(`| SGD loop (floor) | ${sgd.toFixed(1)} | ${(n / sgd / 1e3).toFixed(0)}M params/s | 1.00 |`);
console.log(`| AdamW step | ${adam.toFixed(1)} | ${(n / adam / 1e3).toFixed(0)}M params/s | ${(adam / sgd).toFixed(2)} |`);
console.log(`| global-norm clip | ${clip.toFixed(1)} | ${(n / clip / 1e3).toFixed(0)}M params/s | ${(clip / sgd).toFixed(2)} |`);
console.log(`| state save (${stateMB.toFixed(0)} MB, fsync + SHA-256) | ${save.toFixed(0)} | ${(stateMB / (save / 1000)).toFixed(0)} MB/s | |`);
console.log(`| state load (verify SHA-256) | ${load.toFixed(0)} | ${(stateMB / (load / 1000)).toFixed(0)} MB/s | |`);
