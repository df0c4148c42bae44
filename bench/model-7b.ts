// On demand only (needs ~16 GB of disk, ~10 GB of free RAM and several minutes of both cores): a random
// model of QZhou-Embedding's shape (Qwen2.5-7B: hidden 3584, 28 layers, 28/4 heads, FFN 18944, vocab 152064)
// stored in BF16 like the real checkpoint, loaded with int8 or int4 weight-only quantisation (the way to run
// the 7B model on a CPU with 24 GB: in f32 it needs 28 GB), measuring conversion time, load time, peak RSS and
// tokens/s. Each dtype runs in its own process.
//
//   npx tsx bench/model-7b.ts [--dtypes int4,int8] [--texts 16]
//
// Memory plan (per parameter of the linear layers; embeddings are kept in f16 = 2 bytes):
//   int4: 0.5 (packed) + 4/32 (f32 scale per block of 32) + 0.5/32 (zero point) ≈ 0.64 B → 6.5 B params ≈ 4.2 GB
//   int8: 1 + 4/32 + 1/32 ≈ 1.16 B → ≈ 7.5 GB;  embeddings 152064 × 3584 × 2 B = 1.09 GB;  activations: a
//   batch of 16384 padded tokens × 18944 × 4 B ≈ 1.2 GB per FFN intermediate, so --batch-tokens 4096 is used.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import { freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SHAPES, writeRandomQwen2 } from './model-random-checkpoint.js';

const { values: args } = parseArgs({ options: { dtypes: { type: 'string', default: 'int4,int8' }, texts: { type: 'string', default: '16' } } });
const root = process.env.QZHOU_BENCH_DIR ?? join(tmpdir(), 'qzhou-bench');
const dir = join(root, 'qwen2-7b-bf16');
const here = new URL('.', import.meta.url).pathname;
if (freemem() < 10e9) {
  console.error(`only ${(freemem() / 1e9).toFixed(1)} GB of RAM free; the 7B bench needs about 10 GB. Run it when the machine is idle.`);
  process.exit(1);
}
if (!existsSync(join(dir, 'config.json'))) console.error(`writing a random 7B-shaped BF16 checkpoint to ${dir} (~15 GB, once) ...`);
const f32Bytes = await writeRandomQwen2(dir, SHAPES['7b']!, 'BF16');
const lines = readFileSync(join(here, '..', 'data', 'stsbenchmark', 'sts-train.csv'), 'utf8').split('\n').filter(Boolean);
const texts = lines.slice(0, Number(args.texts)).map((l) => l.split('\t')[5]!);
const file = join(root, '7b-texts.json');
writeFileSync(file, JSON.stringify(texts));
console.log(`\n## QZhou-Embedding shape (7.07B params; f32 weights would be ${(f32Bytes / 1e9).toFixed(1)} GB), ${texts.length} short texts\n`);
console.log('| dtype | first load (convert) s | tokens/s | tokens/CPU-s | peak RSS GB | RSS / f32 weights |');
console.log('|---|---|---|---|---|---|');
for (const dtype of args.dtypes!.split(',')) {
  const cacheDir = join(root, 'cache-7b');
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'model-run.ts'), 'qzhou', dir, file, JSON.stringify({ dtype, cacheDir, batchTokens: 4096 })], {
    encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    console.log(`| ${dtype} | failed (exit ${r.status}) | | | | |`);
    continue;
  }
  const x = JSON.parse(line);
  console.log(`| ${dtype} | ${x.loadSeconds.toFixed(0)} | ${x.tokensPerSecond.toFixed(2)} | ${x.tokensPerCpuSecond.toFixed(2)} | ${(x.peakRssBytes / 1e9).toFixed(2)} | ${(x.peakRssBytes / f32Bytes).toFixed(2)} |`);
}
