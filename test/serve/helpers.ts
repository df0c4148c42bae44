// Shared pieces of the serve tests: a synthetic embedder whose embed() calls wait for the test to
// release them (so batching is observable and deterministic), HTTP helpers, a Prometheus text parser,
// and `qzhou serve` started as a process.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Embedder, EmbedRequest } from '../../src/model/embedder.js';
import { SyntheticEmbedder, type SyntheticEmbedderOptions } from '../../src/serve/synthetic-embedder.js';

export interface GateCall {
  texts?: string[];
  ids?: number[][];
  request?: EmbedRequest;
  release: () => void;
  fail: (e: Error) => void;
}

/** embed()/embedTokenIds() calls block until released; a SyntheticEmbedder computes the vectors. */
export class GatedEmbedder implements Embedder {
  readonly pending: GateCall[] = [];
  readonly log: { texts?: string[]; ids?: number[][]; request?: EmbedRequest }[] = [];
  readonly inner: SyntheticEmbedder;
  readonly id: string;
  readonly dim: number;
  readonly maxLength: number;
  readonly embedTokenIds?: (ids: readonly (readonly number[])[]) => Promise<Float32Array[]>;
  private waiters: (() => void)[] = [];
  constructor(opts: SyntheticEmbedderOptions = {}) {
    this.inner = new SyntheticEmbedder(opts);
    this.id = this.inner.id;
    this.dim = this.inner.dim;
    this.maxLength = this.inner.maxLength;
    const innerIds = this.inner.embedTokenIds;
    if (innerIds) {
      this.embedTokenIds = async (ids) => {
        await this.gate({ ids: ids.map((x) => [...x]) });
        return innerIds(ids);
      };
    }
  }
  closed = false;
  countTokens(texts: readonly string[], request?: EmbedRequest): number[] {
    return this.inner.countTokens(texts, request);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  private gate(call: Omit<GateCall, 'release' | 'fail'>): Promise<void> {
    this.log.push(call);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ ...call, release: resolve, fail: reject });
      const w = this.waiters;
      this.waiters = [];
      w.forEach((f) => f());
    });
  }
  async embed(texts: readonly string[], request: EmbedRequest = {}): Promise<Float32Array[]> {
    await this.gate({ texts: [...texts], request: { ...request } });
    return this.inner.embed(texts, request);
  }
  /** Waits until at least `n` calls are pending. */
  async waitPending(n: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.length < n) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} pending embed() calls (have ${this.pending.length})`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), new Promise((r) => setTimeout(r, 50))]);
    }
  }
  /** Releases the oldest pending call. */
  releaseNext(): GateCall {
    const c = this.pending.shift();
    if (!c) throw new Error('no pending embed() call');
    c.release();
    return c;
  }
  /** Releases every call as it arrives from now on. */
  openAll(): void {
    this.pending.splice(0).forEach((c) => c.release());
    const loop = () => {
      this.pending.splice(0).forEach((c) => c.release());
      this.waiters.push(loop);
    };
    this.waiters.push(loop);
  }
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** fetch + JSON body, typed loosely for assertions. */
export async function getJson(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, json: await res.json() };
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (the subset the server writes), checking HELP/TYPE lines. */
export function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/g;
      let lm: RegExpExecArray | null;
      let consumed = 0;
      while ((lm = re.exec(m[2])) !== null) {
        labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        consumed = re.lastIndex;
      }
      if (consumed !== m[2].length) throw new Error(`bad labels: ${m[2]}`);
    }
    const v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(v) && m[3] !== 'NaN') throw new Error(`bad value in: ${line}`);
    samples.push({ name: m[1]!, labels, value: v });
  }
  return { samples, types };
}

export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const s = samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

export function decodeBase64(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export interface ServeProcess {
  child: ChildProcess;
  /** The address of the server's "listening on" line; rejects after the timeout or when it exits first. */
  url: Promise<string>;
  /** The exit code. */
  exited: Promise<number | null>;
  /** Everything written to stderr so far. */
  stderr(): string;
}

/** Starts `qzhou serve …args` (through tsx, from the repository root) and watches stderr for its address. */
export function spawnServe(args: readonly string[], opts: { env: NodeJS.ProcessEnv; timeoutMs: number; stdout: 'pipe' | 'ignore' }): ServeProcess {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args], {
    cwd: root,
    env: opts.env,
    stdio: ['ignore', opts.stdout, 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening on" line within ${opts.timeoutMs / 1000} s; stderr:\n${stderr}`)), opts.timeoutMs);
    child.stderr!.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', () => reject(new Error(`exited early; stderr:\n${stderr}`)));
  });
  return { child, url, exited, stderr: () => stderr };
}
