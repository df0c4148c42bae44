// End-to-end throughput of `synthesize` (prompt rendering, HTTP, JSON parsing, constraint checks,
// cache and output appends, journal) against a local OpenAI-compatible server that answers every
// request after a fixed latency. With latency-bound endpoints, records/s should grow ~linearly with
// --concurrency until client overhead shows; the cached rerun shows the resume cost per record.
// Run: npx tsx bench/synth-throughput.ts [latencyMs]   (default 50)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize } from '../src/synth/synthesize.js';
import { startScriptedServer, listAnswer, reverseWords, rotateWords } from '../test/synth/helpers/scripted-llm-server.js';

const latency = Number(process.argv[2] ?? 50);
const server = await startScriptedServer((r) => {
  const x = r.input as { query: string; positive: string };
  const a = listAnswer('paraphrases', [
    { query: reverseWords(x.query), positive: reverseWords(x.positive) },
    { query: reverseWords(rotateWords(x.query)), positive: reverseWords(rotateWords(x.positive)) },
  ]);
  return { ...a, delayMs: latency } as typeof a;
});
const para = 'Savings plan {i} pays interest every month. The rate follows the central bank and changes each quarter. Withdrawals are free twice a year; after that a small fee applies.';
console.log(`synthesize throughput, endpoint latency ${latency} ms, paraphrase n=2, one request per record`);
console.log('concurrency  records  seconds  records/s  vs c=1   cached rerun records/s');
let base = 0;
try {
  for (const c of [1, 8, 32]) {
    const dir = mkdtempSync(join(tmpdir(), 'qzhou-synth-bench-'));
    try {
      const n = Math.round((3000 / latency) * c);
      writeFileSync(join(dir, 'in.jsonl'), Array.from({ length: n }, (_, i) => JSON.stringify({ type: 'retrieval', query: `What is the interest rate of savings plan ${i} this year?`, pos: [para.replace('{i}', String(i))] })).join('\n') + '\n');
      const opts = { generator: 'paraphrase' as const, input: join(dir, 'in.jsonl'), output: join(dir, 'out.jsonl'), llm: { baseUrl: server.url, model: 'bench', concurrency: c } };
      let t0 = performance.now();
      const s = await synthesize(opts);
      const secs = (performance.now() - t0) / 1000;
      if (s.items.ok !== n) throw new Error(`only ${s.items.ok}/${n} ok`);
      const rate = n / secs;
      if (c === 1) base = rate;
      // Rerun from the cache into a fresh output: every answer is a cache hit.
      t0 = performance.now();
      await synthesize({ ...opts, output: join(dir, 'again.jsonl'), cachePath: join(dir, 'out.jsonl.cache.jsonl') });
      const cached = n / ((performance.now() - t0) / 1000);
      console.log(`${String(c).padEnd(12)} ${String(n).padEnd(8)} ${secs.toFixed(2).padEnd(8)} ${rate.toFixed(1).padEnd(10)} ${(rate / base).toFixed(1).padStart(5)}×   ${cached.toFixed(0)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  await server.close();
}
