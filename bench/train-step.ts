// One training step of a 4-layer/256-hidden BERT-style encoder (vocab 30522) on 32 texts × 128 tokens
// (a retrieval batch of 16 queries + 16 positives in one GradCache chunk): embed (forward) +
// InfoNCE loss + recompute/VJP + clipping + AdamW over f32 master weights. Reports the step time, the
// forward time of the same 32 texts, the step/forward ratio and training tokens/s — measured side by side
// (interleaved, medians), by wall and CPU time — plus where a step's time goes, and sparse (gathered
// embedding rows) against dense (whole table) embedding gradients. Target: a step under 1 s on 2 cores.
//   npx tsx bench/train-step.ts [--reps 7] [--threads 2] [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, GradCacheTrainer, GraphEncoder, countParameters, type RetrievalBatch } from '../src/train/index.js';
import { BENCH_SHAPE, benchModel, textMaker } from './train-model.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const QUICK = process.argv.includes('--quick');
const REPS = arg('reps', QUICK ? 3 : 7);
const THREADS = arg('threads', 2);
const BATCH = 32;
const SEQ = 128;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Timed {
  wall: number;
  cpu: number;
}
async function timed(fn: () => Promise<unknown>): Promise<Timed> {
  const c = process.cpuUsage();
  const t = performance.now();
  await fn();
  const u = process.cpuUsage(c);
  return { wall: performance.now() - t, cpu: (u.user + u.system) / 1000 };
}

const dir = mkdtempSync(join(tmpdir(), 'qzhou-bench-step-'));
try {
  const m = await benchModel(dir);
  const make = textMaker(7);
  const words = SEQ - 2;
  const setup = (sparse: boolean) => {
    const weights = new Map([...m.weights].map(([k, v]) => [k, Float32Array.from(v)]));
    const encoder = new GraphEncoder({
      config: m.config, tokenizer: m.tokenizer, tokenizerDir: m.tokenizerDir, mode: { kind: 'full', weights }, threads: THREADS,
      cacheDir: join(dir, 'cache'), maxLength: { query: SEQ, passage: SEQ }, sparseEmbeddings: sparse,
    });
    const optimizer = new AdamW(encoder.parameters);
    const trainer = new GradCacheTrainer({ encoder, params: encoder.parameters, optimizer, schedule: () => 1e-4, chunkSize: BATCH, maxGradNorm: 1, loss: { temperature: 0.02 }, packGroups: true });
    // Phase timers around the encoder's calls.
    const phase = { embed: 0, backward: 0 };
    const e = encoder.embed.bind(encoder);
    const b = encoder.backward.bind(encoder);
    encoder.embed = async (...a) => {
      const t = performance.now();
      const r = await e(...a);
      phase.embed += performance.now() - t;
      return r;
    };
    encoder.backward = async (...a) => {
      const t = performance.now();
      await b(...a);
      phase.backward += performance.now() - t;
    };
    return { encoder, trainer, phase };
  };
  const batch = (): RetrievalBatch<string> => ({ family: 'retrieval', queries: Array.from({ length: BATCH / 2 }, () => make(words)), positives: Array.from({ length: BATCH / 2 }, () => make(words)) });
  const texts = Array.from({ length: BATCH }, () => make(words));
  const sparse = setup(true);
  const dense = setup(false);
  const params = countParameters(sparse.encoder.parameters);
  console.log(`train-step: BERT ${BENCH_SHAPE.layers}×${BENCH_SHAPE.hidden} (${BENCH_SHAPE.heads} heads, FFN ${BENCH_SHAPE.ffn}, vocab ${BENCH_SHAPE.vocab}, ${(params / 1e6).toFixed(2)}M parameters), ` +
    `batch ${BATCH} × seq ${SEQ} (retrieval 16 + 16 in one GradCache chunk), ${THREADS} ORT thread(s), ${REPS} reps`);
  console.log(`${cpus()[0]?.model ?? 'cpu'}; ${cpus().length} cores; load average ${loadavg()[0]!.toFixed(2)} at start`);
  if (m.tokenizer.encode(texts[0]!).length !== SEQ) throw new Error('bench texts are not 128 tokens');

  // Warm up (session creation, first-shape planning).
  for (const s of [sparse, dense]) {
    await s.trainer.step(batch());
    await s.encoder.embedTexts(texts);
  }
  const fwd: Timed[] = [];
  const stepS: Timed[] = [];
  const stepD: Timed[] = [];
  const phases: { embed: number; backward: number; rest: number }[] = [];
  for (let r = 0; r < REPS; r++) {
    const order = r % 2 ? ['D', 'S', 'F'] : ['F', 'S', 'D'];
    for (const o of order) {
      if (o === 'F') fwd.push(await timed(() => sparse.encoder.embedTexts(texts)));
      else if (o === 'S') {
        sparse.phase.embed = sparse.phase.backward = 0;
        const t = await timed(() => sparse.trainer.step(batch()));
        stepS.push(t);
        phases.push({ embed: sparse.phase.embed, backward: sparse.phase.backward, rest: t.wall - sparse.phase.embed - sparse.phase.backward });
      } else stepD.push(await timed(() => dense.trainer.step(batch())));
    }
  }
  const med = (xs: Timed[]) => ({ wall: median(xs.map((x) => x.wall)), cpu: median(xs.map((x) => x.cpu)) });
  const f = med(fwd);
  const s = med(stepS);
  const d = med(stepD);
  const tokens = BATCH * SEQ;
  const row = (name: string, t: { wall: number; cpu: number }) => `${name.padEnd(48)} ${t.wall.toFixed(0).padStart(7)} ${t.cpu.toFixed(0).padStart(7)} ${(tokens / (t.wall / 1000)).toFixed(0).padStart(9)}`;
  console.log(`\n${'run (medians)'.padEnd(48)} ${'wall ms'.padStart(7)} ${'CPU ms'.padStart(7)} ${'tokens/s'.padStart(9)}`);
  console.log(row('forward (embed 32 texts)', f));
  console.log(row('training step, sparse embedding gradients', s));
  console.log(row('training step, dense embedding gradient', d));
  console.log(`\nstep / forward: ${(s.wall / f.wall).toFixed(2)}× by wall time, ${(s.cpu / f.cpu).toFixed(2)}× by CPU time`);
  console.log(`training throughput: ${(tokens / (s.wall / 1000)).toFixed(0)} tokens/s (${(s.wall / 1000).toFixed(3)} s per step; target < 1 s: ${s.wall < 1000 ? 'met' : 'missed'})`);
  console.log(`sparse / dense embedding gradients: ${(s.wall / d.wall).toFixed(3)}× step time (${(d.wall - s.wall).toFixed(0)} ms saved per step)`);
  const p = { embed: median(phases.map((x) => x.embed)), backward: median(phases.map((x) => x.backward)), rest: median(phases.map((x) => x.rest)) };
  console.log(`step breakdown (median ms): embed ${p.embed.toFixed(0)}, recompute + VJP ${p.backward.toFixed(0)}, loss + clipping + AdamW + bookkeeping ${p.rest.toFixed(0)}`);
  await sparse.encoder.close();
  await dense.encoder.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
