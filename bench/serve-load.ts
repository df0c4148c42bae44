// Load bench of `qzhou serve`: requests/s and p50/p99 latency at 1, 8 and 32 concurrent clients, dynamic
// batching on vs batch-size-1 serving (--max-batch-requests 1) on the same model in the same run, the
// model in a worker thread (the default) vs on the server's thread, and an overload phase with a small
// queue where every request must be answered exactly once with 200 or 429.
//
//   npx tsx bench/serve-load.ts [--models tiny,small] [--model DIR] [--seconds 3] [--rounds 2] [--threads 1] [--synthetic]
//
// Models (real checkpoints run by src/model on ONNX Runtime, built in a temp folder; random weights):
//   tiny  — the qwen2-tiny golden fixture (2 layers, hidden 64) with a cut-down Qwen BPE tokenizer;
//   small — a BERT with bge-small's shape (6 layers, hidden 384, 12 heads, FFN 1536), WordPiece vocab 8192;
//   --model DIR — your own checkpoint folder; --synthetic — the test-double model (NOT a real model) with a
//   cost model of 1 ms per call + 0.01 ms per padded token, busy on its thread as ORT is.
// Each server runs in its own child process; clients are node:http keep-alive loops in this process. Phases of the
// modes being compared alternate in short slices (--rounds), so that load from other processes on the
// machine hits them alike; the machine's load average is printed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import type { Embedder } from '../src/model/embedder.js';
import { createEmbeddingServer, type EmbeddingServerOptions } from '../src/serve/server.js';
import { loadModelForServing } from '../src/serve/load-model.js';
import type { ServedModel } from '../src/serve/served-model.js';
import { SyntheticEmbedder } from '../src/serve/synthetic-embedder.js';
import { WorkerModel } from '../src/serve/worker-model.js';
import { WORDS, sentences, smallBert, tinyQwen, type ModelSpec } from './serve-models.js';

const root = fileURLToPath(new URL('..', import.meta.url));

interface ChildConfig {
  model: ModelSpec;
  threads: number;
  cacheDir: string;
  server: Pick<EmbeddingServerOptions, 'maxBatchRequests' | 'maxConcurrentRequests' | 'maxBatchTokens'>;
  /** Count how often each text reaches the model (overload phase). */
  record: boolean;
  inMainThread: boolean;
}

// ---------------------------------------------------------------------------------------------- child
const SYNTHETIC = { dim: 384, maxLength: 512, cost: { perCallMs: 1, perPaddedTokenMs: 0.01 }, blocking: true };

/** The served model: in a worker thread (as `qzhou serve` does) unless `inMainThread`. */
async function loadModel(spec: ModelSpec, threads: number, cacheDir: string, inMainThread = false): Promise<ServedModel> {
  if (spec.synthetic) return inMainThread ? new SyntheticEmbedder(SYNTHETIC) : WorkerModel.start({ kind: 'synthetic', options: SYNTHETIC });
  return (await loadModelForServing(spec.dir!, { threads, cacheDir }, { worker: !inMainThread })).embedder;
}

/** The model on this thread, for checking answers. */
async function referenceModel(spec: ModelSpec, threads: number, cacheDir: string): Promise<Embedder> {
  if (spec.synthetic) return new SyntheticEmbedder(SYNTHETIC);
  const { loadEmbedder } = await import('../src/model/index.js');
  return loadEmbedder(spec.dir!, { threads, cacheDir });
}

async function child(cfg: ChildConfig): Promise<void> {
  const model = await loadModel(cfg.model, cfg.threads, cfg.cacheDir, cfg.inMainThread);
  const counts = new Map<string, number>();
  const embedder: ServedModel = cfg.record
    ? {
      id: model.id,
      dim: model.dim,
      maxLength: model.maxLength,
      countTokens: (t, r) => model.countTokens(t, r),
      embed: async (texts, r) => {
        for (const t of texts) counts.set(t, (counts.get(t) ?? 0) + 1);
        return model.embed(texts, r);
      },
    }
    : model;
  const server = await createEmbeddingServer({ embedder, requestTimeoutMs: 0, ...cfg.server });
  const url = await server.listen();
  process.stdout.write(`READY ${url}\n`);
  // The parent closes our stdin to stop us.
  process.stdin.resume();
  await new Promise<void>((r) => process.stdin.on('end', r));
  await server.close();
  await model.close?.();
  process.stdout.write(`STATS ${JSON.stringify(Object.fromEntries(counts))}\n`);
}

// -------------------------------------------------------------------------------------------- parent
interface Server {
  url: string;
  proc: ChildProcess;
  stop(): Promise<Record<string, number>>;
}

async function startServer(cfg: ChildConfig): Promise<Server> {
  const lean: ChildConfig = { ...cfg, model: { ...cfg.model, texts: [] } }; // the child needs no texts
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify(lean)], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: proc.stdout! });
  let stats: ((s: Record<string, number>) => void) | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`server child exited with ${code} before it was ready`)));
    lines.on('line', (line) => {
      if (line.startsWith('READY ')) resolve(line.slice(6));
      else if (line.startsWith('STATS ')) stats?.(JSON.parse(line.slice(6)));
    });
  });
  return {
    url,
    proc,
    stop: () =>
      new Promise((resolve) => {
        stats = resolve;
        proc.stdin!.end();
      }),
  };
}

interface PhaseResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  meanBatch: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

function decodeBase64(s: string): Float32Array {
  const b = Buffer.from(s, 'base64'); // may be a view into Node's shared pool: copy its own bytes
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

// node:http with keep-alive costs the client far less CPU per request than fetch(), so that the server,
// not the load generator, is what gets measured.
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

interface Answer {
  status: number;
  retryAfter: string | null;
  body: string;
}

function embedOnce(url: string, text: string): Promise<Answer> {
  const payload = JSON.stringify({ input: text, encoding_format: 'base64' });
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/v1/embeddings`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: (res.headers['retry-after'] as string | undefined) ?? null, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** `clients` closed-loop clients for `seconds`: each sends one single-input request after the previous answer. */
async function phase(url: string, texts: string[], clients: number, seconds: number, latencies: number[] = []): Promise<PhaseResult> {
  const batches0 = await metric(url, 'qzhou_batch_size_count');
  const inputs0 = await metric(url, 'qzhou_batch_size_sum');
  let next = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const text = texts[next++ % texts.length]!;
        const s = performance.now();
        const res = await embedOnce(url, text);
        if (res.status !== 200) throw new Error(`unexpected status ${res.status}: ${res.body.slice(0, 200)}`);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const sorted = [...latencies].sort((a, b) => a - b);
  const batches = (await metric(url, 'qzhou_batch_size_count')) - batches0;
  const inputs = (await metric(url, 'qzhou_batch_size_sum')) - inputs0;
  return { requests: sorted.length, seconds: elapsed, rps: sorted.length / elapsed, p50: percentile(sorted, 50), p99: percentile(sorted, 99), meanBatch: inputs / Math.max(1, batches) };
}

interface OverloadResult {
  sent: number;
  ok: number;
  refused: number;
  other: number;
  duplicatedOrLost: number;
  wrongVectors: number;
  retryAfterMissing: number;
  metricsAgree: boolean;
}

/** 64 clients fire requests back to back at a server admitting 8; checks every answer and every input. */
async function overload(spec: ModelSpec, base: Omit<ChildConfig, 'server' | 'record'>, reference: Embedder): Promise<OverloadResult> {
  const server = await startServer({ ...base, model: spec, server: { maxConcurrentRequests: 8 }, record: true });
  const clients = 64;
  const perClient = 12;
  const outcomes: { text: string; status: number; vector?: Float32Array; retryAfter: string | null }[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let k = 0; k < perClient; k++) {
        const text = `overload client ${c} request ${k} ${spec.texts[(c * perClient + k) % spec.texts.length]}`;
        const res = await embedOnce(server.url, text);
        const body = JSON.parse(res.body) as { data?: { embedding: string }[] };
        const vector = res.status === 200 ? decodeBase64(body.data![0]!.embedding) : undefined;
        outcomes.push({ text, status: res.status, vector, retryAfter: res.retryAfter });
      }
    }),
  );
  const metricsText = await (await fetch(`${server.url}/metrics`)).text();
  const served = await server.stop();
  const count = (re: RegExp) => Number(re.exec(metricsText)?.[1] ?? 0);
  const ok = outcomes.filter((o) => o.status === 200);
  const refused = outcomes.filter((o) => o.status === 429);
  // Every 200 was embedded exactly once; no refused request reached the model.
  let duplicatedOrLost = 0;
  for (const o of ok) if (served[o.text] !== 1) duplicatedOrLost++;
  for (const o of refused) if (served[o.text] !== undefined) duplicatedOrLost++;
  if (Object.keys(served).length !== ok.length) duplicatedOrLost += Math.abs(Object.keys(served).length - ok.length);
  // And each 200 carries its own input's vector (compared with the model run here, up to rounding).
  const expected = await reference.embed(ok.map((o) => o.text));
  let wrongVectors = 0;
  ok.forEach((o, i) => {
    let d = 0;
    for (let j = 0; j < o.vector!.length; j++) d = Math.max(d, Math.abs(o.vector![j]! - expected[i]![j]!));
    if (!(d < 1e-4)) wrongVectors++;
  });
  return {
    sent: outcomes.length,
    ok: ok.length,
    refused: refused.length,
    other: outcomes.length - ok.length - refused.length,
    duplicatedOrLost,
    wrongVectors,
    retryAfterMissing: refused.filter((o) => !/^\d+$/.test(o.retryAfter ?? '')).length,
    metricsAgree:
      count(/qzhou_requests_total\{route="\/v1\/embeddings",status="200"\} (\d+)/) === ok.length &&
      count(/qzhou_requests_total\{route="\/v1\/embeddings",status="429"\} (\d+)/) === refused.length,
  };
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Sums slices of the same setting measured in different rounds. */
function merge(parts: PhaseResult[], latencies: number[][]): PhaseResult {
  const all = latencies.flat().sort((a, b) => a - b);
  const requests = parts.reduce((a, p) => a + p.requests, 0);
  const seconds = parts.reduce((a, p) => a + p.seconds, 0);
  const calls = parts.reduce((a, p) => a + p.requests / p.meanBatch, 0);
  return { requests, seconds, rps: requests / seconds, p50: percentile(all, 50), p99: percentile(all, 99), meanBatch: requests / Math.max(1, calls) };
}

const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

async function main(): Promise<void> {
  const seconds = Number(flag('seconds') ?? 3);
  const rounds = Number(flag('rounds') ?? 2);
  const threads = Number(flag('threads') ?? 1);
  const work = mkdtempSync(join(tmpdir(), 'qzhou-bench-serve-'));
  const cacheDir = join(work, 'cache');
  const runtime = existsSync(join(root, 'src/model/index.ts'));
  const specs: ModelSpec[] = [];
  try {
    if (process.argv.includes('--synthetic') || !runtime) {
      specs.push({ name: 'synthetic', describe: 'test-double model (NOT a real model): 1 ms per call + 0.01 ms per padded token, busy on its thread', synthetic: true, texts: sentences(4096, 12, 40, (r) => WORDS[Math.floor(r() * WORDS.length)]!, 3) });
    } else if (flag('model')) {
      specs.push({ name: 'model', describe: `checkpoint ${flag('model')}`, dir: flag('model'), texts: sentences(4096, 8, 24, (r) => WORDS[Math.floor(r() * WORDS.length)]!, 4) });
    } else {
      const want = (flag('models') ?? 'tiny,small').split(',');
      if (want.includes('tiny')) specs.push(tinyQwen(mkdtempSync(join(work, 'tiny-'))));
      if (want.includes('small')) specs.push(await smallBert(mkdtempSync(join(work, 'small-'))));
    }
    const summary: Record<string, unknown> = {};
    console.log(`qzhou serve load bench — ${rounds} × ${seconds} s per setting, model threads ${threads}; each server in a child process, clients = node:http keep-alive loops, one input per request`);
    console.log(`load average at start: ${load()} (machine has other work: compare rows of one run, not absolute numbers across runs)`);
    for (const spec of specs) {
      console.log(`\nmodel ${spec.name}: ${spec.describe}`);
      const base = { model: spec, threads, cacheDir, record: false };
      const servers = {
        batched: await startServer({ ...base, server: {}, inMainThread: false }),
        'batch-size-1': await startServer({ ...base, server: { maxBatchRequests: 1 }, inMainThread: false }),
        'batched, main thread': await startServer({ ...base, server: {}, inMainThread: true }),
      };
      type Mode = keyof typeof servers;
      const plan: { clients: number; modes: Mode[] }[] = [
        { clients: 1, modes: ['batched', 'batch-size-1'] },
        { clients: 8, modes: ['batched', 'batch-size-1'] },
        { clients: 32, modes: ['batched', 'batch-size-1', 'batched, main thread'] },
      ];
      const parts = new Map<string, { r: PhaseResult[]; lat: number[][] }>();
      try {
        for (const s of Object.values(servers)) await phase(s.url, spec.texts, 4, Math.min(1, seconds)); // warm-up
        for (let round = 0; round < rounds; round++) {
          for (const { clients, modes } of plan) {
            for (const mode of modes) {
              const lat: number[] = [];
              const r = await phase(servers[mode].url, spec.texts, clients, seconds, lat);
              const key = `${clients}|${mode}`;
              const e = parts.get(key) ?? { r: [], lat: [] };
              e.r.push(r);
              e.lat.push(lat);
              parts.set(key, e);
            }
          }
        }
      } finally {
        for (const s of Object.values(servers)) await s.stop();
      }
      const rows = plan.flatMap(({ clients, modes }) => modes.map((mode) => {
        const e = parts.get(`${clients}|${mode}`)!;
        return { clients, mode, r: merge(e.r, e.lat) };
      }));
      const get = (c: number, m: Mode) => rows.find((x) => x.clients === c && x.mode === m)!.r;
      console.log('clients  mode                    req/s    p50 ms   p99 ms   inputs/model call');
      for (const { clients, mode, r } of rows) {
        console.log(`${String(clients).padStart(7)}  ${mode.padEnd(22)} ${r.rps.toFixed(0).padStart(6)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${r.meanBatch.toFixed(1).padStart(8)}`);
      }
      const gains = [1, 8, 32].map((c) => ({ clients: c, gain: get(c, 'batched').rps / get(c, 'batch-size-1').rps }));
      const workerGain = get(32, 'batched').rps / get(32, 'batched, main thread').rps;
      console.log(`batching gain (req/s batched ÷ batch-size-1): ${gains.map((g) => `${g.clients} clients ${g.gain.toFixed(2)}×`).join(', ')}`);
      const g32 = gains.find((g) => g.clients === 32)!.gain;
      console.log(`  at 32 clients: ${g32.toFixed(2)}× — target ≥ 3×: ${g32 >= 3 ? 'met' : 'NOT met'}`);
      console.log(`model in a worker thread vs on the server's thread, 32 clients: ${workerGain.toFixed(2)}× req/s`);

      const reference = await referenceModel(spec, threads, cacheDir);
      const o = await overload(spec, { model: spec, threads, cacheDir, inMainThread: false }, reference);
      await reference.close?.();
      const intact = o.other === 0 && o.duplicatedOrLost === 0 && o.wrongVectors === 0 && o.retryAfterMissing === 0 && o.metricsAgree && o.ok + o.refused === o.sent;
      console.log(
        `overload (64 clients × 12 back-to-back requests, --max-concurrent-requests 8): sent ${o.sent}, 200 ${o.ok}, 429 ${o.refused}, other ${o.other}; ` +
          `duplicated/lost ${o.duplicatedOrLost}, wrong vectors ${o.wrongVectors}, 429 without Retry-After ${o.retryAfterMissing}, /metrics agree ${o.metricsAgree} — ${intact ? 'every request answered exactly once' : 'INTEGRITY FAILURE'}`,
      );
      summary[spec.name] = { model: spec.describe, rows: rows.map(({ clients, mode, r }) => ({ clients, mode, ...r })), gains, workerGain, overload: o };
    }
    console.log(`\nload average at end: ${load()}`);
    console.log(JSON.stringify({ bench: 'serve-load', seconds, rounds, threads, results: summary }));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const childIdx = process.argv.indexOf('--child');
if (childIdx >= 0) {
  await child(JSON.parse(process.argv[childIdx + 1]!) as ChildConfig);
} else {
  await main();
}
