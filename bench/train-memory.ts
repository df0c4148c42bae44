// GradCache's memory claim: the peak memory of a training step does not depend on the batch size, only
// on the chunk size. Each configuration runs in its own child process (a fresh heap and ORT arena) that
// takes two training steps of the 4-layer/256-hidden BERT-style encoder on retrieval batches of B queries
// + B positives, 128 tokens each, and reports its peak RSS (process.resourceUsage().maxRSS). GradCache
// with a fixed chunk (16 texts) at B = 64 and 256, against one chunk holding the whole batch (no
// GradCache) at B = 32 and 64 to show what chunking saves.
//   npx tsx bench/train-memory.ts [--chunk 16] [--sizes 64,256] [--unchunked 32,64]
// (child mode: --child B CHUNK)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, GradCacheTrainer, GraphEncoder } from '../src/train/index.js';
import { BENCH_SHAPE, benchModel, textMaker } from './train-model.js';

const SEQ = 128;
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};

async function child(batch: number, chunk: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-bench-mem-'));
  try {
    const m = await benchModel(dir);
    const encoder = new GraphEncoder({
      config: m.config, tokenizer: m.tokenizer, tokenizerDir: m.tokenizerDir, mode: { kind: 'full', weights: m.weights }, threads: 2,
      cacheDir: join(dir, 'cache'), maxLength: { query: SEQ, passage: SEQ },
    });
    const trainer = new GradCacheTrainer({ encoder, params: encoder.parameters, optimizer: new AdamW(encoder.parameters), schedule: () => 1e-4, chunkSize: chunk, maxGradNorm: 1 });
    const make = textMaker(3);
    const before = process.resourceUsage().maxRSS;
    const t = performance.now();
    for (let s = 0; s < 2; s++) {
      await trainer.step({ family: 'retrieval', queries: Array.from({ length: batch }, () => make(SEQ - 2)), positives: Array.from({ length: batch }, () => make(SEQ - 2)) });
    }
    const seconds = (performance.now() - t) / 2000;
    await encoder.close();
    process.stdout.write(`${JSON.stringify({ batch, chunk, setupKiB: before, peakKiB: process.resourceUsage().maxRSS, secondsPerStep: seconds })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Result {
  batch: number;
  chunk: number;
  setupKiB: number;
  peakKiB: number;
  secondsPerStep: number;
}

function run(batch: number, chunk: number): Result {
  const r = spawnSync(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, '--child', String(batch), String(chunk)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child B=${batch} chunk=${chunk} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Result;
}

const ci = process.argv.indexOf('--child');
if (ci >= 0) {
  await child(Number(process.argv[ci + 1]), Number(process.argv[ci + 2]));
} else {
  const chunk = Number(arg('chunk', '16'));
  const sizes = arg('sizes', '64,256').split(',').map(Number);
  const unchunked = arg('unchunked', '32,64').split(',').filter(Boolean).map(Number);
  console.log(`train-memory: BERT ${BENCH_SHAPE.layers}×${BENCH_SHAPE.hidden}, vocab ${BENCH_SHAPE.vocab}, retrieval batches of B queries + B positives × ${SEQ} tokens, two steps per child process`);
  const rows: [string, Result][] = [];
  for (const b of sizes) rows.push([`GradCache, chunk ${chunk}`, run(b, chunk)]);
  for (const b of unchunked) rows.push(['one chunk = whole batch', run(b, 2 * b)]);
  const mb = (kib: number) => (kib / 1024).toFixed(0);
  console.log(`\n${'mode'.padEnd(26)} ${'B'.padStart(4)} ${'texts'.padStart(6)} ${'tokens'.padStart(7)} ${'setup MB'.padStart(9)} ${'peak MB'.padStart(8)} ${'s/step'.padStart(7)}`);
  for (const [name, r] of rows) {
    console.log(`${name.padEnd(26)} ${String(r.batch).padStart(4)} ${String(2 * r.batch).padStart(6)} ${String(2 * r.batch * SEQ).padStart(7)} ${mb(r.setupKiB).padStart(9)} ${mb(r.peakKiB).padStart(8)} ${r.secondsPerStep.toFixed(2).padStart(7)}`);
  }
  const g = rows.filter(([n]) => n.startsWith('GradCache')).map(([, r]) => r);
  if (g.length >= 2) {
    const a = g[0]!;
    const b = g[g.length - 1]!;
    console.log(`\nGradCache peak RSS: B=${b.batch} / B=${a.batch} = ${(b.peakKiB / a.peakKiB).toFixed(3)} for ${(b.batch / a.batch).toFixed(0)}× the batch (independent of the batch size when ≈ 1)`);
  }
  const u = rows.filter(([n]) => !n.startsWith('GradCache')).map(([, r]) => r);
  if (u.length >= 2) console.log(`without chunking: B=${u[u.length - 1]!.batch} / B=${u[0]!.batch} = ${(u[u.length - 1]!.peakKiB / u[0]!.peakKiB).toFixed(3)}`);
}
