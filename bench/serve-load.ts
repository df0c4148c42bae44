// Load bench of `qzhou serve`: requests/s and p50/p99 latency at 1, 8 and 32 concurrent clients, dynamic
// batching on vs batch-size-1 serving (--max-batch-requests 1) on the same model in the same run, where
// the CPU time goes (server thread, model worker thread, load generator) per request, and an overload
// phase with a small queue where every request must be answered exactly once with 200 or 429.
//
//   npx tsx bench/serve-load.ts [--models tiny,small] [--model DIR] [--seconds 3] [--rounds 2] [--threads 1]
//                               [--alt-threads N] [--short] [--core] [--synthetic]
//
// Models (real checkpoints run by src/model on ONNX Runtime, built in a temp folder; random weights):
//   tiny  — the qwen2-tiny golden fixture (2 layers, hidden 64) with a cut-down Qwen BPE tokenizer;
//   small — a BERT with bge-small's shape (6 layers, hidden 384, 12 heads, FFN 1536), WordPiece vocab 8192;
//   --model DIR — your own checkpoint folder; --synthetic — the test-double model (NOT a real model) with a
//   cost model of 1 ms per call + 0.01 ms per padded token, busy on its thread as ORT is.
// QZHOU_BENCH_DEVICE=webgpu (or cuda) runs the models there; QZHOU_BENCH_DTYPE picks the weight dtype.
// --core runs only the batched and batch-size-1 servers (large models: five servers at once may not fit).
// --short uses short, query-like inputs (3–8 words) instead of sentences. --alt-threads N adds, at 32
// clients, both modes with N model threads (each mode's best thread count can then be compared).
//
// Fairness. Each server runs in its own child process with the model in a worker thread (as `qzhou serve`
// runs it). The load generator is this process: raw keep-alive TCP connections with prebuilt requests
// (bench/serve-client.ts), because on a 2-core machine every microsecond the clients spend is taken from
// the server; one extra row measures node:http clients for comparison. The modes being compared alternate
// in short slices (--rounds), so that load from other processes on the machine hits them alike; the
// machine's load average is printed. Both modes run the same server code with the same defaults; only
// --max-batch-requests differs. Rows with "1 call in flight" turn off the worker pipelining (the server
// keeps two model calls in flight with a worker model), to show what it is worth in each mode.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Embedder } from '../src/model/embedder.js';
import type { Device } from '../src/graph/index.js';
import type { WeightDtype } from '../src/model/index.js';
import { createEmbeddingServer, type EmbeddingServerOptions } from '../src/serve/server.js';
import { loadModelForServing } from '../src/serve/load-model.js';
import type { ServedModel } from '../src/serve/served-model.js';
import { SyntheticEmbedder } from '../src/serve/synthetic-embedder.js';
import { WorkerModel } from '../src/serve/worker-model.js';
import { RawHttpConnection } from './serve-client.js';
import { WORDS, sentences, smallBert, tinyQwen, type ModelSpec } from './serve-models.js';

const root = fileURLToPath(new URL('..', import.meta.url));

interface ChildConfig {
  model: ModelSpec;
  threads: number;
  cacheDir: string;
  server: Pick<EmbeddingServerOptions, 'maxBatchRequests' | 'maxConcurrentRequests' | 'maxBatchTokens' | 'maxConcurrentBatches'>;
  /** Count how often each text reaches the model (overload phase). */
  record: boolean;
  inMainThread: boolean;
}

/** Cumulative CPU and thread busy time of a server process. */
interface Usage {
  /** User + system CPU of the whole process (all threads), µs. */
  cpuUs: number;
  /** Busy (event loop not idle) time of the server's thread, ms. */
  mainBusyMs: number;
  /** Busy time of the model's worker thread (ORT's run() counts as busy), ms; 0 without a worker. */
  workerBusyMs: number;
}

// ---------------------------------------------------------------------------------------------- child
// QZHOU_BENCH_DEVICE=webgpu runs the models on the GPU (f16 there, so answers are checked to 2e-2, not 1e-4).
const DEVICE = (process.env.QZHOU_BENCH_DEVICE ?? 'cpu') as Device;
// QZHOU_BENCH_DTYPE=f32 where the GPU has no 16-bit shaders (e.g. SwiftShader); default: the device's.
const DTYPE = process.env.QZHOU_BENCH_DTYPE as WeightDtype | undefined;
const VECTOR_TOLERANCE = DEVICE === 'cpu' || DTYPE === 'f32' ? 1e-4 : 2e-2;
const SYNTHETIC = { dim: 384, maxLength: 512, cost: { perCallMs: 1, perPaddedTokenMs: 0.01 }, blocking: true };

/** The served model: in a worker thread (as `qzhou serve` does) unless `inMainThread`. */
async function loadModel(spec: ModelSpec, threads: number, cacheDir: string, inMainThread = false): Promise<ServedModel> {
  if (spec.synthetic) return inMainThread ? new SyntheticEmbedder(SYNTHETIC) : WorkerModel.start({ kind: 'synthetic', options: SYNTHETIC });
  return (await loadModelForServing(spec.dir!, { threads, cacheDir, device: DEVICE, dtype: DTYPE }, { worker: !inMainThread })).embedder;
}

/** The model on this thread, for checking answers and measuring the model alone. */
async function referenceModel(spec: ModelSpec, threads: number, cacheDir: string): Promise<Embedder> {
  if (spec.synthetic) return new SyntheticEmbedder(SYNTHETIC);
  const { loadEmbedder } = await import('../src/model/index.js');
  return loadEmbedder(spec.dir!, { threads, cacheDir, device: DEVICE, dtype: DTYPE });
}

async function child(cfg: ChildConfig): Promise<void> {
  const model = await loadModel(cfg.model, cfg.threads, cfg.cacheDir, cfg.inMainThread);
  const counts = new Map<string, number>();
  const embedder: ServedModel = cfg.record
    ? {
      id: model.id,
      dim: model.dim,
      maxLength: model.maxLength,
      pipelineDepth: model.pipelineDepth,
      countTokens: (t, r) => model.countTokens(t, r),
      embed: async (texts, r) => {
        for (const t of texts) counts.set(t, (counts.get(t) ?? 0) + 1);
        return model.embed(texts, r);
      },
    }
    : model;
  const server = await createEmbeddingServer({ embedder, requestTimeoutMs: 0, ...cfg.server });
  const url = await server.listen();
  const mainElu0 = performance.eventLoopUtilization();
  const workerElu0: EventLoopUtilization | undefined = model instanceof WorkerModel ? model.utilization() : undefined;
  process.stdout.write(`READY ${url}\n`);
  // The parent asks for our usage with a line "usage" and closes our stdin to stop us.
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line !== 'usage') return;
    const cpu = process.cpuUsage();
    const usage: Usage = {
      cpuUs: cpu.user + cpu.system,
      mainBusyMs: performance.eventLoopUtilization(mainElu0).active,
      workerBusyMs: workerElu0 && model instanceof WorkerModel ? model.utilization(workerElu0).active : 0,
    };
    process.stdout.write(`USAGE ${JSON.stringify(usage)}\n`);
  });
  await new Promise<void>((r) => lines.on('close', r));
  await server.close();
  await model.close?.();
  process.stdout.write(`STATS ${JSON.stringify(Object.fromEntries(counts))}\n`);
}

// -------------------------------------------------------------------------------------------- parent
interface Server {
  url: string;
  proc: ChildProcess;
  usage(): Promise<Usage>;
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
  const usageWaiters: ((u: Usage) => void)[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`server child exited with ${code} before it was ready`)));
    lines.on('line', (line) => {
      if (line.startsWith('READY ')) resolve(line.slice(6));
      else if (line.startsWith('USAGE ')) usageWaiters.shift()?.(JSON.parse(line.slice(6)));
      else if (line.startsWith('STATS ')) stats?.(JSON.parse(line.slice(6)));
    });
  });
  return {
    url,
    proc,
    usage: () =>
      new Promise((resolve) => {
        usageWaiters.push(resolve);
        proc.stdin!.write('usage\n');
      }),
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
  /** Per request, µs: CPU of the server process, busy time of its two threads, CPU of the load generator. */
  serverCpuUs: number;
  mainBusyUs: number;
  workerBusyUs: number;
  clientCpuUs: number;
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

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

interface Answer {
  status: number;
  retryAfter: string | null;
  body: string;
}

/** One request through node:http (the overload check needs headers and bodies; one comparison row). */
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

type ClientKind = 'raw' | 'node:http';

/**
 * `clients` closed-loop clients for `seconds`: each sends one single-input request (OpenAI route, base64
 * as the SDKs ask) after the previous answer.
 */
async function phase(server: Server, texts: string[], clients: number, seconds: number, kind: ClientKind = 'raw', latencies: number[] = []): Promise<PhaseResult> {
  const url = server.url;
  const bodies = texts.map((t) => JSON.stringify({ input: t, encoding_format: 'base64' }));
  const conns = kind === 'raw' ? await Promise.all(Array.from({ length: clients }, () => RawHttpConnection.open(url))) : [];
  const requests = conns.length > 0 ? bodies.map((b) => conns[0]!.post('/v1/embeddings', b)) : [];
  const batches0 = await metric(url, 'qzhou_batch_size_count');
  const inputs0 = await metric(url, 'qzhou_batch_size_sum');
  const u0 = await server.usage();
  const c0 = process.cpuUsage();
  let next = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      while (performance.now() < end) {
        const i = next++ % texts.length;
        const s = performance.now();
        const status = kind === 'raw' ? (await conns[c]!.send(requests[i]!)).status : (await embedOnce(url, texts[i]!)).status;
        if (status !== 200) throw new Error(`unexpected status ${status}`);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const u1 = await server.usage();
  for (const c of conns) c.close();
  const n = latencies.length;
  const sorted = [...latencies].sort((a, b) => a - b);
  const batches = (await metric(url, 'qzhou_batch_size_count')) - batches0;
  const inputs = (await metric(url, 'qzhou_batch_size_sum')) - inputs0;
  return {
    requests: n,
    seconds: elapsed,
    rps: n / elapsed,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    meanBatch: inputs / Math.max(1, batches),
    serverCpuUs: (u1.cpuUs - u0.cpuUs) / n,
    mainBusyUs: ((u1.mainBusyMs - u0.mainBusyMs) * 1000) / n,
    workerBusyUs: ((u1.workerBusyMs - u0.workerBusyMs) * 1000) / n,
    clientCpuUs: (cpu.user + cpu.system) / n,
  };
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
    if (!(d < VECTOR_TOLERANCE)) wrongVectors++;
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

/**
 * The model alone on this thread (no server): µs per input of embed() at batch size 1 and at `batch`,
 * tokenisation included. Their ratio bounds what batching can gain where the model is the bottleneck.
 */
async function modelAlone(model: Embedder, texts: string[], batch: number, seconds = 1): Promise<{ one: number; batched: number }> {
  const per = async (size: number) => {
    for (let w = 0; w < 5; w++) await model.embed(texts.slice(w * size, (w + 1) * size));
    let done = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      const start = (done * 7) % (texts.length - size);
      await model.embed(texts.slice(start, start + size));
      done += size;
    }
    return ((performance.now() - t0) * 1000) / done;
  };
  return { one: await per(1), batched: await per(batch) };
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
  const mean = (k: 'serverCpuUs' | 'mainBusyUs' | 'workerBusyUs' | 'clientCpuUs') => parts.reduce((a, p) => a + p[k] * p.requests, 0) / requests;
  return {
    requests,
    seconds,
    rps: requests / seconds,
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    meanBatch: requests / Math.max(1, calls),
    serverCpuUs: mean('serverCpuUs'),
    mainBusyUs: mean('mainBusyUs'),
    workerBusyUs: mean('workerBusyUs'),
    clientCpuUs: mean('clientCpuUs'),
  };
}

const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

interface ModeSpec {
  server: ChildConfig['server'];
  threads?: number;
  inMainThread?: boolean;
  client?: ClientKind;
}

async function main(): Promise<void> {
  const seconds = Number(flag('seconds') ?? 3);
  const rounds = Number(flag('rounds') ?? 2);
  const threads = Number(flag('threads') ?? 1);
  const altThreads = flag('alt-threads') === undefined ? undefined : Number(flag('alt-threads'));
  const short = process.argv.includes('--short');
  const core = process.argv.includes('--core');
  const work = mkdtempSync(join(tmpdir(), 'qzhou-bench-serve-'));
  const cacheDir = join(work, 'cache');
  const runtime = existsSync(join(root, 'src/model/index.ts'));
  const specs: ModelSpec[] = [];
  const shortTexts = (vocab: (r: () => number) => string) => sentences(4096, 3, 8, vocab, 5);
  const word = (r: () => number) => WORDS[Math.floor(r() * WORDS.length)]!;
  try {
    if (process.argv.includes('--synthetic') || !runtime) {
      specs.push({ name: 'synthetic', describe: 'test-double model (NOT a real model): 1 ms per call + 0.01 ms per padded token, busy on its thread', synthetic: true, texts: sentences(4096, 12, 40, word, 3) });
    } else if (flag('model')) {
      specs.push({ name: 'model', describe: `checkpoint ${flag('model')}`, dir: flag('model'), texts: short ? shortTexts(word) : sentences(4096, 8, 24, word, 4) });
    } else {
      const want = (flag('models') ?? 'tiny,small').split(',');
      if (want.includes('tiny')) specs.push(tinyQwen(mkdtempSync(join(work, 'tiny-'))));
      if (want.includes('small')) specs.push(await smallBert(mkdtempSync(join(work, 'small-'))));
    }
    if (short && !flag('model')) {
      for (const s of specs) {
        const vocab = s.name === 'small' ? (r: () => number) => `w${5 + Math.floor(r() * 8187)}` : word;
        s.texts = shortTexts(vocab);
        s.describe += '; short inputs (3–8 words)';
      }
    }
    const summary: Record<string, unknown> = {};
    console.log(`qzhou serve load bench — ${rounds} × ${seconds} s per setting, device ${DEVICE}, model threads ${threads}; each server in a child process, model in a worker thread; clients = raw keep-alive TCP loops in this process, one input per request`);
    console.log(`load average at start: ${load()} (machine has other work: compare rows of one run, not absolute numbers across runs)`);
    for (const spec of specs) {
      console.log(`\nmodel ${spec.name}: ${spec.describe}`);
      const allModes: Record<string, ModeSpec> = {
        batched: { server: {} },
        'batch-size-1': { server: { maxBatchRequests: 1 } },
        'batched, 1 call in flight': { server: { maxConcurrentBatches: 1 } },
        'batch-size-1, 1 call in flight': { server: { maxBatchRequests: 1, maxConcurrentBatches: 1 } },
        'batched, main thread': { server: {}, inMainThread: true },
        ...(altThreads
          ? { [`batched, ${altThreads} threads`]: { server: {}, threads: altThreads }, [`batch-size-1, ${altThreads} threads`]: { server: { maxBatchRequests: 1 }, threads: altThreads } }
          : {}),
      };
      // --core: only the modes the gain compares (batched and batch-size-1, and their --alt-threads variants),
      // for large models, where five servers holding the weights at once would not fit in memory.
      const extra = ['batched, 1 call in flight', 'batch-size-1, 1 call in flight', 'batched, main thread'];
      const modes = core ? Object.fromEntries(Object.entries(allModes).filter(([name]) => !extra.includes(name))) : allModes;
      const servers = new Map<string, Server>();
      for (const [name, m] of Object.entries(modes)) {
        servers.set(name, await startServer({ model: spec, threads: m.threads ?? threads, cacheDir, server: m.server, record: false, inMainThread: m.inMainThread ?? false }));
      }
      const at32 = Object.keys(modes);
      const plan: { clients: number; modes: string[]; client?: ClientKind }[] = [
        { clients: 1, modes: ['batched', 'batch-size-1'] },
        { clients: 8, modes: ['batched', 'batch-size-1'] },
        { clients: 32, modes: at32 },
        ...(core ? [] : [{ clients: 32, modes: ['batched'], client: 'node:http' as ClientKind }]),
      ];
      const label = (mode: string, client?: ClientKind) => (client === 'node:http' ? `${mode}, node:http clients` : mode);
      const parts = new Map<string, { r: PhaseResult[]; lat: number[][] }>();
      try {
        for (const s of servers.values()) await phase(s, spec.texts, 4, Math.min(1, seconds)); // warm-up
        for (let round = 0; round < rounds; round++) {
          for (const { clients, modes: ms, client } of plan) {
            for (const mode of ms) {
              const lat: number[] = [];
              const r = await phase(servers.get(mode)!, spec.texts, clients, seconds, client, lat);
              const key = `${clients}|${label(mode, client)}`;
              const e = parts.get(key) ?? { r: [], lat: [] };
              e.r.push(r);
              e.lat.push(lat);
              parts.set(key, e);
            }
          }
        }
      } finally {
        for (const s of servers.values()) await s.stop();
      }
      const rows = plan.flatMap(({ clients, modes: ms, client }) =>
        ms.map((m) => {
          const mode = label(m, client);
          const e = parts.get(`${clients}|${mode}`)!;
          return { clients, mode, r: merge(e.r, e.lat) };
        }),
      );
      const get = (c: number, m: string) => rows.find((x) => x.clients === c && x.mode === m)!.r;
      console.log('                                                               per request, µs:');
      console.log('clients  mode                                   req/s  p50 ms  p99 ms  inputs/call  server CPU  server thread  model thread  client CPU');
      for (const { clients, mode, r } of rows) {
        console.log(
          `${String(clients).padStart(7)}  ${mode.padEnd(36)} ${r.rps.toFixed(0).padStart(6)} ${r.p50.toFixed(2).padStart(7)} ${r.p99.toFixed(1).padStart(7)} ${r.meanBatch.toFixed(1).padStart(12)}` +
            ` ${r.serverCpuUs.toFixed(0).padStart(11)} ${r.mainBusyUs.toFixed(0).padStart(14)} ${r.workerBusyUs.toFixed(0).padStart(13)} ${r.clientCpuUs.toFixed(0).padStart(11)}`,
        );
      }
      const gains = [1, 8, 32].map((c) => ({ clients: c, gain: get(c, 'batched').rps / get(c, 'batch-size-1').rps }));
      const g32 = gains.find((g) => g.clients === 32)!.gain;
      const unpipelined = core ? undefined : get(32, 'batched, 1 call in flight').rps / get(32, 'batch-size-1, 1 call in flight').rps;
      const workerGain = core ? undefined : get(32, 'batched').rps / get(32, 'batched, main thread').rps;
      console.log(`batching gain (req/s batched ÷ batch-size-1): ${gains.map((g) => `${g.clients} clients ${g.gain.toFixed(2)}×`).join(', ')}`);
      console.log(`  at 32 clients: ${g32.toFixed(2)}× — target ≥ 3×: ${g32 >= 3 ? 'met' : 'NOT met'}`);
      if (unpipelined !== undefined) console.log(`  at 32 clients with one model call in flight (no worker pipelining): ${unpipelined.toFixed(2)}×`);
      let bestThreads: number | undefined;
      if (altThreads) {
        const best = (m: string) => Math.max(get(32, m).rps, get(32, `${m}, ${altThreads} threads`).rps);
        bestThreads = best('batched') / best('batch-size-1');
        console.log(`  at 32 clients, each mode with its best of ${threads} and ${altThreads} model threads: ${bestThreads.toFixed(2)}×`);
      }
      if (workerGain !== undefined) console.log(`model in a worker thread vs on the server's thread, 32 clients: ${workerGain.toFixed(2)}× req/s`);

      const reference = await referenceModel(spec, threads, cacheDir);
      const batch = Math.max(2, Math.round(get(32, 'batched').meanBatch));
      const alone = await modelAlone(reference, spec.texts, batch);
      console.log(
        `model alone (embed() on one thread, no server, tokenisation included): ${alone.one.toFixed(0)} µs per input at batch size 1, ` +
          `${alone.batched.toFixed(0)} µs at batch size ${batch} — ${(alone.one / alone.batched).toFixed(2)}× from batching in the model itself`,
      );
      const o = await overload(spec, { model: spec, threads, cacheDir, inMainThread: false }, reference);
      await reference.close?.();
      const intact = o.other === 0 && o.duplicatedOrLost === 0 && o.wrongVectors === 0 && o.retryAfterMissing === 0 && o.metricsAgree && o.ok + o.refused === o.sent;
      console.log(
        `overload (64 clients × 12 back-to-back requests, --max-concurrent-requests 8): sent ${o.sent}, 200 ${o.ok}, 429 ${o.refused}, other ${o.other}; ` +
          `duplicated/lost ${o.duplicatedOrLost}, wrong vectors ${o.wrongVectors}, 429 without Retry-After ${o.retryAfterMissing}, /metrics agree ${o.metricsAgree} — ${intact ? 'every request answered exactly once' : 'INTEGRITY FAILURE'}`,
      );
      summary[spec.name] = { model: spec.describe, rows: rows.map(({ clients, mode, r }) => ({ clients, mode, ...r })), gains, unpipelined, bestThreads, workerGain, modelAlone: { batch, ...alone }, overload: o };
    }
    console.log(`\nload average at end: ${load()}`);
    console.log(JSON.stringify({ bench: 'serve-load', seconds, rounds, threads, altThreads, short, results: summary }));
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
