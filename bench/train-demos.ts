// The "it learns" runs of docs/train.md, end to end through the CLI, on the demo data in data/:
//   banking77 — a from-scratch Qwen2-architecture encoder (bidirectional attention, mean pooling: QZhou's
//               architecture, 2 layers × 128) with a byte-level BPE tokenizer trained on Banking77 train,
//               trained with the masked classification InfoNCE on the train split's cls records, then
//               scored with the MTEB classification protocol on Banking77 test against TF-IDF and the
//               untrained model;
//   stsb      — the same architecture trained with CoSENT on STS-B train pairs (both orders), scored on
//               STS-B dev (validation) against the untrained model and TF-IDF.
// Banking77's test split (MTEB's evaluation split) and STS-B dev are never trained on.
//   npx tsx bench/train-demos.ts [banking77|stsb|all] [--out runs/demos] [--threads N]
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
/** tsx's loader by absolute URL (the commands run inside the demo folders). */
const TSX = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const which = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 'all';
const flag = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const OUT = resolve(flag('out', join(ROOT, 'runs', 'demos')));
const THREADS = flag('threads', '');

/** The model both demos train from scratch (config.json fields; vocab_size comes from the tokenizer). */
const MODEL = `    config:
      model_type: qwen2
      architectures: [Qwen2Model]
      is_causal: false              # bidirectional attention, as QZhou-Embedding
      hidden_size: 128
      intermediate_size: 512
      num_hidden_layers: 2
      num_attention_heads: 4
      num_key_value_heads: 2
      max_position_embeddings: 512
      rms_norm_eps: 1.0e-6
      rope_theta: 10000
    tokenizer: tokenizer
    seed: 0`;

export const BANKING77_YAML = `# Banking77 from scratch: masked classification InfoNCE on the train split (10,003 texts, 77 intents).
model:
  init:
${MODEL}
output: run
preset: small
stages:
  - name: banking77
    families: [cls]
    steps: 300
    batchSize: { cls: 64 }
    negatives: { cls: 1 }
    data:
      - { path: banking77-train.jsonl, task: Banking77Classification }
    checkpointEvery: 100
`;

export const STSB_YAML = `# STS-B from scratch: CoSENT on the train pairs (5,749 pairs, both orders).
model:
  init:
${MODEL}
output: run
preset: small
stages:
  - name: stsb
    families: [pair]
    steps: 300
    batchSize: { pair: 128 }
    data:
      - { path: stsb-train.jsonl, task: STSBenchmark }
    checkpointEvery: 100
`;

function qzhou(args: string[], cwd: string): string {
  const t0 = performance.now();
  console.error(`$ qzhou ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`qzhou ${args.join(' ')} exited with ${r.status}`);
  console.error(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return r.stdout;
}

/** main_score × 100 of a task from `qzhou eval --json`. */
function score(json: string): number {
  const rows = (JSON.parse(json) as { tasks: { score: number }[] }).tasks;
  return rows[0]!.score * 100;
}

function evaluate(dir: string, model: string, task: string, splits?: string): number {
  const args = ['eval', '--model', model, '--tasks', task, '--data-dir', join(ROOT, 'data'), '--output', join(dir, 'results'), '--json', '--no-cache', '--overwrite'];
  if (splits) args.push('--splits', splits);
  return score(qzhou(args, dir));
}

interface DemoResult {
  demo: string;
  trainSeconds: number;
  trained: number;
  untrained: number;
  tfidf: number;
}

function demo(name: 'banking77' | 'stsb'): DemoResult {
  const dir = join(OUT, name);
  mkdirSync(dir, { recursive: true });
  const data = join(ROOT, 'data');
  if (name === 'banking77') {
    qzhou(['data', 'transform', '--type', 'cls', '--input', join(data, 'banking77/train.csv'), '--map', 'label=category', '--dataset', 'banking77', '--output', 'banking77-train.jsonl'], dir);
    qzhou(['train', 'tokenizer', '--input', 'banking77-train.jsonl', '--kind', 'bpe', '--vocab-size', '8000', '--output', 'tokenizer'], dir);
    writeFileSync(join(dir, 'train.yaml'), BANKING77_YAML);
  } else {
    qzhou(['data', 'transform', '--type', 'sts', '--input', join(data, 'stsbenchmark/sts-train.csv'), '--format', 'tsv', '--no-quote', '--columns', 'genre,file,year,id,score,sentence1,sentence2', '--dataset', 'stsb', '--output', 'stsb-train.jsonl'], dir);
    qzhou(['train', 'tokenizer', '--input', 'stsb-train.jsonl', '--kind', 'bpe', '--vocab-size', '8000', '--output', 'tokenizer'], dir);
    writeFileSync(join(dir, 'train.yaml'), STSB_YAML);
  }
  qzhou(['train', 'init', '--config', 'train.yaml', '--output', 'untrained', '--overwrite'], dir);
  const t0 = performance.now();
  qzhou(['train', '--config', 'train.yaml', ...(THREADS ? ['--threads', THREADS] : [])], dir);
  const trainSeconds = (performance.now() - t0) / 1000;
  const task = name === 'banking77' ? 'Banking77Classification' : 'STSBenchmark';
  const splits = name === 'banking77' ? undefined : 'validation';
  return {
    demo: name, trainSeconds,
    trained: evaluate(dir, join(dir, 'run', 'model'), task, splits),
    untrained: evaluate(dir, join(dir, 'untrained'), task, splits),
    tfidf: evaluate(dir, 'tfidf', task, splits),
  };
}

const results: DemoResult[] = [];
if (which === 'banking77' || which === 'all') results.push(demo('banking77'));
if (which === 'stsb' || which === 'all') results.push(demo('stsb'));
console.log(`\n${'demo'.padEnd(10)} ${'metric'.padEnd(34)} ${'trained'.padStart(8)} ${'untrained'.padStart(10)} ${'TF-IDF'.padStart(7)} ${'train s'.padStart(8)}`);
for (const r of results) {
  const metric = r.demo === 'banking77' ? 'Banking77 test accuracy (MTEB)' : 'STS-B dev cosine Spearman';
  console.log(`${r.demo.padEnd(10)} ${metric.padEnd(34)} ${r.trained.toFixed(2).padStart(8)} ${r.untrained.toFixed(2).padStart(10)} ${r.tfidf.toFixed(2).padStart(7)} ${r.trainSeconds.toFixed(0).padStart(8)}`);
}
writeFileSync(join(OUT, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

