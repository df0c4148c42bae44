// One embedding runtime on one workload, in its own process so that its peak RSS is its own. Prints one
// JSON line: {runtime, texts, tokens, loadSeconds, seconds, cpuSeconds, tokensPerSecond, tokensPerCpuSecond,
// peakRssBytes, threads, first}.
// Used by bench/model-throughput.ts and bench/model-7b.ts; peers are loaded from bench/peers/node_modules.
//   node --import tsx bench/model-run.ts RUNTIME MODEL TEXTS.json [options as JSON]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';

const [runtime, model, textsFile, optsJson] = process.argv.slice(2);
if (!runtime || !model || !textsFile) {
  console.error('usage: node --import tsx bench/model-run.ts qzhou|transformers|llamacpp MODEL TEXTS.json [OPTIONS_JSON]');
  process.exit(2);
}
const texts = JSON.parse(readFileSync(textsFile, 'utf8')) as string[];
const opts = JSON.parse(optsJson ?? '{}') as Record<string, unknown>;
// explicit thread counts for every runtime: in containers, "all hardware threads" can mean the host's
const threads = (opts.threads as number | undefined) ?? availableParallelism();
const peers = createRequire(new URL('./peers/package.json', import.meta.url).pathname);
const now = () => performance.now() / 1000;
let cpu0 = process.cpuUsage();
const cpuStart = () => (cpu0 = process.cpuUsage());
const cpuSince = () => {
  const c = process.cpuUsage(cpu0);
  return (c.user + c.system) / 1e6;
};

interface Result {
  tokens: number;
  loadSeconds: number;
  seconds: number;
  /** CPU time (user + system, all threads) of the timed part: robust when other work shares the machine. */
  cpuSeconds: number;
  /** L2-normalised embedding of texts[0], to check that the runtimes compute the same model. */
  first: number[];
}

function normalized(v: ArrayLike<number>): number[] {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i]! * v[i]!;
  n = Math.sqrt(n) || 1;
  return Array.from(v, (x) => x / n);
}

async function runQzhou(): Promise<Result> {
  const { loadEmbedder } = await import('../src/model/index.js');
  const t0 = now();
  const e = await loadEmbedder(model!, {
    dtype: (opts.dtype as 'f32') ?? 'f32', threads, maxLength: (opts.maxLength as number) ?? 512,
    batchTokens: (opts.batchTokens as number) ?? undefined, cacheDir: opts.cacheDir as string | undefined,
  });
  await e.embed(texts.slice(0, 4)); // warm-up: first-run allocations
  const loadSeconds = now() - t0;
  const tokens = e.countTokens(texts).reduce((a, b) => a + Math.min(b, e.maxLength), 0);
  const t1 = now();
  cpuStart();
  const vecs = await e.embed(texts);
  const seconds = now() - t1;
  const cpuSeconds = cpuSince();
  await e.close();
  return { tokens, loadSeconds, seconds, cpuSeconds, first: [...vecs[0]!] };
}

async function runTransformers(): Promise<Result> {
  const tf = await import(peers.resolve('@huggingface/transformers'));
  tf.env.allowRemoteModels = false;
  tf.env.allowLocalModels = true;
  tf.env.localModelPath = join(model!, '..');
  tf.env.backends.onnx.numThreads = threads;
  const t0 = now();
  const extractor = await tf.pipeline('feature-extraction', model!.split('/').pop(), {
    dtype: 'fp32', use_external_data_format: true, local_files_only: true,
  });
  const batch = (opts.batchSize as number) ?? 32;
  await extractor(texts.slice(0, 4), { pooling: 'mean', normalize: true });
  const loadSeconds = now() - t0;
  let tokens = 0;
  for (const t of texts) tokens += Math.min(extractor.tokenizer(t).input_ids.size, 512);
  // same order of work as the reference scripts: length-sorted batches
  const sorted = [...texts].sort((a, b) => b.length - a.length);
  const t1 = now();
  cpuStart();
  for (let i = 0; i < sorted.length; i += batch) {
    await extractor(sorted.slice(i, i + batch), { pooling: 'mean', normalize: true, truncation: true, max_length: 512 });
  }
  const seconds = now() - t1;
  const cpuSeconds = cpuSince();
  const first = Array.from((await extractor([texts[0]!], { pooling: 'mean', normalize: true })).data as Float32Array);
  return { tokens, loadSeconds, seconds, cpuSeconds, first };
}

async function runLlamaCpp(): Promise<Result> {
  const { getLlama } = await import(peers.resolve('node-llama-cpp'));
  const t0 = now();
  const llama = await getLlama({ gpu: false });
  const m = await llama.loadModel({ modelPath: model });
  const ctx = await m.createEmbeddingContext({ contextSize: 1024, batchSize: 1024, threads });
  await ctx.getEmbeddingFor(texts[0]!);
  const loadSeconds = now() - t0;
  let tokens = 0;
  for (const t of texts) tokens += Math.min(m.tokenize(t).length, 512);
  const t1 = now();
  cpuStart();
  for (const t of texts) await ctx.getEmbeddingFor(t);
  const seconds = now() - t1;
  const cpuSeconds = cpuSince();
  const first = normalized((await ctx.getEmbeddingFor(texts[0]!)).vector); // node-llama-cpp does not normalise
  await ctx.dispose();
  await m.dispose();
  return { tokens, loadSeconds, seconds, cpuSeconds, first };
}

const run = { qzhou: runQzhou, transformers: runTransformers, llamacpp: runLlamaCpp }[runtime];
if (!run) throw new Error(`unknown runtime ${runtime}`);
const r = await run();
console.log(JSON.stringify({
  runtime, texts: texts.length, tokens: r.tokens, loadSeconds: r.loadSeconds, seconds: r.seconds, cpuSeconds: r.cpuSeconds, tokensPerCpuSecond: r.tokens / r.cpuSeconds,
  tokensPerSecond: r.tokens / r.seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024, threads, first: r.first,
}));
