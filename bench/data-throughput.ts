// Throughput and memory of the streaming transform (`qzhou data transform`): generates synthetic
// STS-style JSONL files of two sizes in os.tmpdir(), runs read → validate → transform (both orders)
// → write on each in a fresh child process, and prints records/minute and peak RSS. Bounded memory
// means the peak RSS of the larger file is about that of the smaller one (ratio ≈ 1).
// Run: npx tsx bench/data-throughput.ts [smallLines] [largeLines]   (defaults 250000 1000000)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { transformFiles } from '../src/data/index.js';

interface ChildResult {
  lines: number;
  written: number;
  seconds: number;
  maxRssMiB: number;
}

async function child(input: string, output: string, dedup: boolean): Promise<void> {
  const r = await transformFiles({
    inputs: [input],
    output,
    transform: { type: 'sts', dataset: 'bench' },
    onError: 'skip',
    dedup: dedup ? { mode: 'exact' } : undefined,
  });
  const res: ChildResult = { lines: r.read, written: r.written, seconds: r.seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(res));
}

async function generate(path: string, lines: number): Promise<void> {
  const out = createWriteStream(path);
  const words = ['a', 'man', 'is', 'playing', 'the', 'guitar', 'woman', 'slicing', 'onion', 'dog', 'runs', 'through', 'field', '一个', '男人', '正在', '弹', '吉他', 'quickly', 'red'];
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const sentence = () => {
    const n = 6 + Math.floor(rnd() * 12);
    let s = '';
    for (let i = 0; i < n; i++) s += (i ? ' ' : '') + words[Math.floor(rnd() * words.length)];
    return s + '.';
  };
  let buf: string[] = [];
  for (let i = 0; i < lines; i++) {
    buf.push(JSON.stringify({ sentence1: sentence(), sentence2: sentence(), score: Math.round(rnd() * 50) / 10, genre: 'main-news', id: i }));
    if (buf.length === 10000) {
      if (!out.write(buf.join('\n') + '\n')) await once(out, 'drain');
      buf = [];
    }
  }
  if (buf.length) out.write(buf.join('\n') + '\n');
  out.end();
  await once(out, 'finish');
}

function runChild(input: string, output: string, dedup: boolean): ChildResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--child', input, output, dedup ? 'dedup' : 'plain'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ChildResult;
}

async function main(): Promise<void> {
  const small = Number(process.argv[2] ?? 250_000);
  const large = Number(process.argv[3] ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-bench-data-'));
  try {
    const rows: string[] = [];
    const results: Record<string, ChildResult> = {};
    for (const [label, n] of [['small', small], ['large', large]] as const) {
      const input = join(dir, `${label}.jsonl`);
      await generate(input, n);
      const mib = statSync(input).size / (1 << 20);
      for (const dedup of [false, true]) {
        if (dedup && label === 'small') continue;
        const res = runChild(input, join(dir, `${label}-out.jsonl`), dedup);
        results[`${label}${dedup ? '+dedup' : ''}`] = res;
        const perMin = (res.lines / res.seconds) * 60;
        rows.push(
          `${(label + (dedup ? ' + exact dedup' : '')).padEnd(20)} ${n.toLocaleString('en-US').padStart(10)} lines ${mib.toFixed(0).padStart(5)} MiB  ${(res.written / 1e6).toFixed(2)}M records out  ${res.seconds.toFixed(1).padStart(6)} s  ${(perMin / 1e6).toFixed(2)}M source records/min  peak RSS ${res.maxRssMiB.toFixed(0)} MiB`,
        );
      }
    }
    console.log('qzhou data transform --type sts (read JSONL → validate → pair records, both orders → write JSONL)');
    for (const r of rows) console.log('  ' + r);
    console.log(`  peak RSS ratio large/small (no dedup): ${(results.large!.maxRssMiB / results.small!.maxRssMiB).toFixed(2)} for ${(large / small).toFixed(1)}× the input`);
    console.log(`  target: ≥ 1M records/min on 2 cores → ${((results.large!.lines / results.large!.seconds) * 60 >= 1e6 ? 'met' : 'NOT met')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!, process.argv[4]!, process.argv[5] === 'dedup');
} else {
  await main();
}
