// Embedding throughput on CPU: qzhou vs transformers.js (the same weights as a standard HF ONNX export) vs
// node-llama-cpp (the same weights as F32 GGUF, non-causal, mean pooling), on a random Qwen2-0.5B-shaped
// model (hidden 896, 24 layers, 14/2 heads, FFN 4864), all f32, same thread count, bidirectional + mean
// pooling + L2. Each runtime runs in its own process (peak RSS is its own); rounds alternate runtimes so
// that load from other work on the machine hits all of them alike. Prints tokens/s, tokens per CPU-second
// (robust to a busy machine), ratios to qzhou, peak RSS / f32 weight size, and the cosine between each
// runtime's vector for the first text and qzhou's (the models must agree).
//
//   npx tsx bench/model-throughput.ts [--rounds N] [--no-peers] [--workloads short,long] [--dtypes f32,int8]
//
// Peers are never project dependencies: they are installed on demand into bench/peers/node_modules.
// Model files go to $QZHOU_BENCH_DIR (default <tmp>/qzhou-bench): ~2 GB each for the checkpoint, ONNX and GGUF.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SHAPES, writeRandomQwen2 } from './model-random-checkpoint.js';
import { writePeerOnnx } from './model-peer-onnx.js';
import { writeGguf } from './model-gguf.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    'no-peers': { type: 'boolean', default: false },
    workloads: { type: 'string', default: 'short,long' },
    dtypes: { type: 'string', default: 'f32,int8' },
  },
});
const root = process.env.QZHOU_BENCH_DIR ?? join(tmpdir(), 'qzhou-bench');
const ckpt = join(root, 'qwen2-0.5b');
const onnxDir = join(root, 'peers', 'qwen2-0.5b-onnx');
const gguf = join(root, 'peers', 'qwen2-0.5b.gguf');
const here = new URL('.', import.meta.url).pathname;
const repo = join(here, '..');
mkdirSync(join(root, 'peers'), { recursive: true });

function log(msg: string) {
  process.stderr.write(`${msg}\n`);
}

/** STS-B sentences (short) and passages of 20 consecutive sentences (long, ~200 tokens). */
function workloads(): Record<string, string[]> {
  const lines = readFileSync(join(repo, 'data', 'stsbenchmark', 'sts-train.csv'), 'utf8').split('\n').filter(Boolean);
  const sentences = [...new Set(lines.flatMap((l) => l.split('\t').slice(5, 7)))].filter(Boolean);
  const long: string[] = [];
  for (let i = 0; i < 24; i++) long.push(sentences.slice(1000 + i * 20, 1000 + (i + 1) * 20).join(' '));
  return { short: sentences.slice(0, 256), long };
}

function installPeers(): boolean {
  const peers = join(here, 'peers');
  if (existsSync(join(peers, 'node_modules', '@huggingface', 'transformers')) && existsSync(join(peers, 'node_modules', '@node-llama-cpp', 'linux-x64'))) return true;
  log('installing peers into bench/peers (transformers.js, node-llama-cpp) ...');
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL_CUDA: 'skip', NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' };
  const a = spawnSync('npm', ['install', '--prefix', peers, '--no-audit', '--no-fund', '--no-package-lock', '--omit=optional'], { stdio: 'inherit', env });
  const platform = `@node-llama-cpp/${process.platform === 'darwin' ? 'mac' : process.platform}-${process.arch}@3.22.1`;
  const b = spawnSync('npm', ['install', '--prefix', peers, '--no-audit', '--no-fund', '--no-package-lock', '--no-save', platform], { stdio: 'inherit', env });
  if (a.status !== 0 || b.status !== 0) {
    log('peer install failed: running qzhou alone');
    return false;
  }
  return true;
}

interface Run {
  runtime: string;
  tokens: number;
  seconds: number;
  cpuSeconds: number;
  tokensPerSecond: number;
  tokensPerCpuSecond: number;
  loadSeconds: number;
  peakRssBytes: number;
  first: number[];
}

function runOne(runtime: string, model: string, textsFile: string, opts: Record<string, unknown>): Run | undefined {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'model-run.ts'), runtime, model, textsFile, JSON.stringify(opts)], {
    cwd: repo, encoding: 'utf8', maxBuffer: 64 << 20,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    log(`${runtime} failed (exit ${r.status}):\n${r.stderr.split('\n').slice(-8).join('\n')}`);
    return undefined;
  }
  return JSON.parse(line) as Run;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

const f32Bytes = await writeRandomQwen2(ckpt, SHAPES['0.5b']!);
const peers = !args['no-peers'] && installPeers();
if (peers) {
  log('writing the peers\' model files (once) ...');
  await writePeerOnnx(ckpt, onnxDir);
  await writeGguf(ckpt, gguf);
}
const all = workloads();
const rounds = Number(args.rounds);
const cacheDir = join(root, 'cache');
for (const name of args.workloads!.split(',')) {
  const texts = all[name];
  if (!texts) throw new Error(`unknown workload ${name}`);
  const file = join(root, `${name}.json`);
  writeFileSync(file, JSON.stringify(texts));
  const runtimes: [string, string, string, Record<string, unknown>][] = [];
  for (const dtype of args.dtypes!.split(',')) runtimes.push([`qzhou ${dtype}`, 'qzhou', ckpt, { dtype, cacheDir }]);
  if (peers) {
    runtimes.push(['transformers.js f32', 'transformers', onnxDir, {}]);
    runtimes.push(['node-llama-cpp f32', 'llamacpp', gguf, {}]);
  }
  const results = new Map<string, Run[]>();
  for (let round = 0; round < rounds; round++) {
    for (const [label, rt, model, opts] of runtimes) {
      log(`${name} round ${round + 1}/${rounds}: ${label} ...`);
      const r = runOne(rt, model, file, opts);
      if (r) results.set(label, [...(results.get(label) ?? []), r]);
    }
  }
  const base = results.get('qzhou f32');
  const baseTps = base ? median(base.map((r) => r.tokensPerSecond)) : NaN;
  const baseCpu = base ? median(base.map((r) => r.tokensPerCpuSecond)) : NaN;
  console.log(`\n## ${name}: ${texts.length} texts, ${base?.[0]?.tokens ?? '?'} tokens (Qwen2-0.5B shape, random f32 weights ${(f32Bytes / 1e9).toFixed(2)} GB), median of ${rounds} rounds\n`);
  console.log('| runtime | tokens/s | ×qzhou | tokens/CPU-s | ×qzhou | load s | peak RSS GB | RSS / f32 weights | cos(first text) vs qzhou f32 |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const [label] of runtimes) {
    const rs = results.get(label);
    if (!rs) {
      console.log(`| ${label} | failed | | | | | | | |`);
      continue;
    }
    const tps = median(rs.map((r) => r.tokensPerSecond));
    const cps = median(rs.map((r) => r.tokensPerCpuSecond));
    const rss = Math.max(...rs.map((r) => r.peakRssBytes));
    const c = base ? cos(rs[0]!.first, base[0]!.first) : NaN;
    console.log(`| ${label} | ${tps.toFixed(1)} | ${(tps / baseTps).toFixed(2)} | ${cps.toFixed(1)} | ${(cps / baseCpu).toFixed(2)} | ${median(rs.map((r) => r.loadSeconds)).toFixed(1)} | ${(rss / 1e9).toFixed(2)} | ${(rss / f32Bytes).toFixed(2)} | ${c.toFixed(6)} |`);
  }
}
