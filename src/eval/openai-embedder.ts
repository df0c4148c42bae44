// An Embedder backed by any OpenAI-compatible POST /v1/embeddings endpoint (OpenAI, vLLM serving
// QZhou-Embedding, TEI, infinity, qzhou serve). The task instruction is applied client-side with the
// prompt template (the server sees plain strings); requests are batched and run a few at a time;
// 408/409/429/5xx and network errors are retried with exponential backoff, honouring Retry-After
// (seconds or an HTTP date) and retry-after-ms; vectors are L2-normalised on arrival.
import { createHash } from 'node:crypto';
import type { EmbedRequest, Embedder } from '../model/embedder.js';
import { formatPrompt, instructionForSide, QZHOU_PROMPT_TEMPLATE } from '../model/instructions.js';
import { parseRetryAfter } from '../util/backoff.js';

export interface OpenAIEmbedderOptions {
  /** Base URL (…/v1) or the full …/embeddings URL. */
  url: string;
  /** The `model` field sent (vLLM: the served model name). Default "default". */
  model?: string;
  /** Bearer token; default from QZHOU_API_KEY, then OPENAI_API_KEY. */
  apiKey?: string;
  /** Texts per request (default 64; OpenAI accepts up to 2048). */
  batchSize?: number;
  /** Requests in flight (default 4). */
  concurrency?: number;
  /** Retries per request after the first try (default 6). */
  maxRetries?: number;
  /** First backoff in ms (default 500), doubled per retry up to maxBackoffMs (default 30 s), ±25% jitter. */
  retryBaseMs?: number;
  maxBackoffMs?: number;
  /** Per-request timeout (default 120 s). */
  timeoutMs?: number;
  /** Prompt template with {instruction} (default QZhou's "Instruct: {instruction}\nQuery: "). */
  promptTemplate?: string;
  /** Replacement for an empty text (servers reject ""); default "Null", as QZhou's embedder.py does. */
  emptyText?: string;
  /** Embedding width; probed with one request when omitted. */
  dim?: number;
  /** Sent as `dimensions` (MRL-capable models). */
  dimensions?: number;
  /** Reported maxLength (the server truncates; default 8192). */
  maxLength?: number;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** For tests: the fetch to use. */
  fetch?: typeof fetch;
  /** For tests: how to wait. */
  sleep?: (ms: number) => Promise<void>;
}

export class RemoteEmbeddingError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'RemoteEmbeddingError';
  }
}

const RETRYABLE = new Set([408, 409, 429, 500, 502, 503, 504]);

function endpoint(url: string): string {
  const u = url.replace(/\/+$/, '');
  return /\/embeddings$/.test(u) ? u : `${u}/embeddings`;
}

/** Milliseconds to wait from Retry-After / retry-after-ms headers, or undefined (the synthesis client's parser). */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  return parseRetryAfter(headers, now) ?? undefined;
}

function serverMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { error?: { message?: string } | string; message?: string; detail?: unknown };
    if (typeof j.error === 'object' && j.error?.message) return j.error.message;
    if (typeof j.error === 'string') return j.error;
    if (j.message) return j.message;
    if (j.detail) return typeof j.detail === 'string' ? j.detail : JSON.stringify(j.detail);
  } catch {
    /* not JSON */
  }
  return body.slice(0, 300);
}

export class OpenAIEmbedder implements Embedder {
  readonly id: string;
  private _dim: number;
  readonly maxLength: number;
  private readonly url: string;
  private readonly model: string;
  private readonly apiKey?: string;
  private readonly template: string;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Requests sent, including retries (for reporting and tests). */
  requests = 0;
  retries = 0;

  private constructor(private readonly opts: OpenAIEmbedderOptions) {
    this.url = endpoint(opts.url);
    this.model = opts.model ?? 'default';
    this.apiKey = opts.apiKey ?? process.env.QZHOU_API_KEY ?? process.env.OPENAI_API_KEY;
    this.template = opts.promptTemplate ?? QZHOU_PROMPT_TEMPLATE;
    this.maxLength = opts.maxLength ?? 8192;
    this._dim = opts.dim ?? 0;
    this.fetchFn = opts.fetch ?? fetch;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    const variant = [this.template !== QZHOU_PROMPT_TEMPLATE ? `template=${this.template}` : '', opts.dimensions ? `dimensions=${opts.dimensions}` : '', opts.emptyText !== undefined ? `empty=${opts.emptyText}` : ''].filter(Boolean).join(';');
    this.id = `openai:${this.url}#${this.model}${variant ? `#${createHash('sha256').update(variant).digest('hex').slice(0, 8)}` : ''}`;
  }

  /** Creates the embedder; without `dim`, one request learns the width. */
  static async create(opts: OpenAIEmbedderOptions): Promise<OpenAIEmbedder> {
    const e = new OpenAIEmbedder(opts);
    if (!e._dim) {
      const [v] = await e.request(['dimension probe']);
      e._dim = v!.length;
    }
    return e;
  }

  get dim(): number {
    return this._dim;
  }

  private inputsFor(texts: readonly string[], request: EmbedRequest): string[] {
    const kind = request.kind ?? 'query';
    const instruction = request.instruction ?? (request.task ? instructionForSide(request.task, kind) : undefined);
    const prefix = formatPrompt(instruction, this.template);
    const empty = this.opts.emptyText ?? 'Null';
    return texts.map((t) => prefix + (t === '' ? empty : t));
  }

  async embed(texts: readonly string[], request: EmbedRequest = {}): Promise<Float32Array[]> {
    const inputs = this.inputsFor(texts, request);
    const size = Math.max(1, this.opts.batchSize ?? 64);
    const batches: number[] = [];
    for (let i = 0; i < inputs.length; i += size) batches.push(i);
    const out: Float32Array[] = new Array(inputs.length);
    let next = 0;
    let done = 0;
    let failed = false; // after a batch fails for good, the other workers send nothing more
    const worker = async () => {
      while (next < batches.length && !failed) {
        const start = batches[next++]!;
        const chunk = inputs.slice(start, start + size);
        let vecs: Float32Array[];
        try {
          vecs = await this.request(chunk);
        } catch (e) {
          failed = true;
          throw e;
        }
        vecs.forEach((v, j) => (out[start + j] = v));
        done += chunk.length;
        request.onProgress?.(done, inputs.length);
      }
    };
    const workers = Array.from({ length: Math.min(Math.max(1, this.opts.concurrency ?? 4), batches.length) }, worker);
    await Promise.all(workers);
    return out;
  }

  /** Characters/4: a rough count (the tokenizer is on the server). */
  countTokens(texts: readonly string[], request: EmbedRequest = {}): number[] {
    return this.inputsFor(texts, request).map((t) => Math.ceil(Buffer.byteLength(t, 'utf8') / 4));
  }

  private async request(input: string[]): Promise<Float32Array[]> {
    const body = JSON.stringify({ model: this.model, input, encoding_format: 'float', ...(this.opts.dimensions ? { dimensions: this.opts.dimensions } : {}) });
    const headers: Record<string, string> = { 'content-type': 'application/json', ...this.opts.headers };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    const maxRetries = this.opts.maxRetries ?? 6;
    for (let attempt = 0; ; attempt++) {
      let wait: number | undefined;
      let failure: RemoteEmbeddingError;
      this.requests++;
      try {
        const res = await this.fetchFn(this.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 120_000) });
        const text = await res.text();
        if (res.ok) return this.parse(text, input.length);
        failure = new RemoteEmbeddingError(`${this.url}: HTTP ${res.status}: ${serverMessage(text)}`, res.status);
        if (!RETRYABLE.has(res.status)) throw failure;
        wait = retryAfterMs(res.headers);
      } catch (e) {
        if (e instanceof RemoteEmbeddingError && (e.status === undefined || !RETRYABLE.has(e.status))) throw e;
        failure = e instanceof RemoteEmbeddingError ? e : new RemoteEmbeddingError(`${this.url}: ${(e as Error).name === 'TimeoutError' ? 'timed out' : (e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}`);
      }
      if (attempt >= maxRetries) throw new RemoteEmbeddingError(`${failure.message} (gave up after ${attempt + 1} tries)`, failure.status);
      const base = Math.min(this.opts.maxBackoffMs ?? 30_000, (this.opts.retryBaseMs ?? 500) * 2 ** attempt);
      this.retries++;
      await this.sleep(wait ?? base * (0.75 + 0.5 * Math.random()));
    }
  }

  private parse(text: string, expected: number): Float32Array[] {
    let j: { data?: { index?: number; embedding?: unknown }[] };
    try {
      j = JSON.parse(text);
    } catch {
      throw new RemoteEmbeddingError(`${this.url}: response is not JSON: ${text.slice(0, 200)}`);
    }
    if (!Array.isArray(j.data)) throw new RemoteEmbeddingError(`${this.url}: response has no "data" list`);
    if (j.data.length !== expected) throw new RemoteEmbeddingError(`${this.url}: ${j.data.length} embeddings for ${expected} inputs`);
    const out: Float32Array[] = new Array(expected);
    j.data.forEach((d, pos) => {
      const i = typeof d.index === 'number' ? d.index : pos;
      if (!Array.isArray(d.embedding)) throw new RemoteEmbeddingError(`${this.url}: data[${pos}].embedding is not a list of numbers`);
      if (i < 0 || i >= expected || out[i]) throw new RemoteEmbeddingError(`${this.url}: data[${pos}].index ${i} is out of range or repeated`);
      const v = Float32Array.from(d.embedding as number[]);
      let norm = 0;
      for (let k = 0; k < v.length; k++) norm += v[k]! * v[k]!;
      norm = Math.sqrt(norm);
      if (!Number.isFinite(norm)) throw new RemoteEmbeddingError(`${this.url}: data[${pos}].embedding has non-numeric values`);
      if (norm > 0) for (let k = 0; k < v.length; k++) v[k] = v[k]! / norm;
      if (this._dim && v.length !== this._dim) throw new RemoteEmbeddingError(`${this.url}: embedding of dimension ${v.length}, expected ${this._dim}`);
      out[i] = v;
    });
    return out;
  }
}
