// Dynamic batching between HTTP handlers and the Embedder. Inputs of concurrent requests wait in one
// FIFO queue; whenever the model is free, the oldest waiting input and the inputs after it with the
// same key (same prompt/instruction, or token ids) are taken up to the token budget and embedded with
// one embed() call, and the vectors are routed back to their requests. The queue is bounded by the
// number of admitted requests: past it, submit() fails fast with a 429 and a Retry-After estimate.
import type { EmbedRequest } from '../model/embedder.js';
import { ServeError, requestTimeout } from './errors.js';
import type { ServedModel } from './served-model.js';

export interface BatchInput {
  /** Inputs share an embed() call only when their keys are equal (text and token-id inputs never do). */
  key: string;
  /** Exactly one of `text` and `ids`. */
  text?: string;
  ids?: readonly number[];
  /** For text inputs: the embed() request (instruction/task/kind); must be the same for every input with this key. */
  request?: EmbedRequest;
  /** Tokens the model computes for this input (prompt included, after truncation); the batch budget counts these. */
  tokens: number;
}

export interface BatchStats {
  /** Inputs in the embed() call. */
  size: number;
  /** Sum of the inputs' tokens. */
  tokens: number;
  /** size × longest input: what a padded batch computes. */
  paddedTokens: number;
  /**
   * The call's own time: from when the model could start it (its dispatch, or the end of the call it
   * waited behind when calls are pipelined) to its end.
   */
  durationMs: number;
  ok: boolean;
}

export interface BatcherOptions {
  /** Token budget of one embed() call (padded: inputs × longest input; see `padded`). */
  maxBatchTokens: number;
  /** Most inputs in one embed() call (default: no limit besides the token budget). 1 = no batching. */
  maxBatchRequests?: number;
  /** Most requests admitted at once (waiting or being embedded); more are refused with 429. */
  maxConcurrentRequests: number;
  /** Count the budget as inputs × longest input, as a padded batch costs (default true); false: sum of tokens. */
  padded?: boolean;
  /** embed() calls in flight at once (default 1). More only helps a model that queues calls, such as WorkerModel. */
  maxConcurrentBatches?: number;
  /** Called after every embed() call. */
  onBatch?: (stats: BatchStats) => void;
}

export interface SubmitOptions {
  /** Aborting drops the request's inputs that have not started and rejects it. */
  signal?: AbortSignal;
  /** Fail the request with 503 if it is not answered within this many ms (0/undefined: no limit). */
  timeoutMs?: number;
  /** The limit to name in the timeout message, when `timeoutMs` is what is left of a longer one. */
  timeoutLabelMs?: number;
}

export interface JobResult {
  /** One vector per input, in input order. */
  vectors: Float32Array[];
  tokens: number;
  /** From submit() to the start of the request's first embed() call. */
  queueMs: number;
  /** From the start of its first embed() call to the end of its last. */
  inferenceMs: number;
}

interface Item {
  job: Job;
  index: number;
  input: BatchInput;
  key: string;
}

class Job {
  readonly results: (Float32Array | undefined)[];
  remaining: number;
  queued: number;
  queuedTokens = 0;
  settled = false;
  readonly enqueuedAt = performance.now();
  firstStart?: number;
  lastEnd?: number;
  cleanup?: () => void;
  constructor(
    readonly inputs: readonly BatchInput[],
    readonly tokens: number,
    private readonly onSettle: (job: Job) => void,
    private readonly resolveFn: (r: JobResult) => void,
    private readonly rejectFn: (e: Error) => void,
  ) {
    this.results = new Array(inputs.length);
    this.remaining = inputs.length;
    this.queued = inputs.length;
  }
  succeed(): void {
    if (this.settled) return;
    this.settle();
    const start = this.firstStart ?? this.enqueuedAt;
    this.resolveFn({
      vectors: this.results as Float32Array[],
      tokens: this.tokens,
      queueMs: start - this.enqueuedAt,
      inferenceMs: (this.lastEnd ?? start) - start,
    });
  }
  fail(e: Error): void {
    if (this.settled) return;
    this.settle();
    this.rejectFn(e);
  }
  private settle(): void {
    this.settled = true;
    this.cleanup?.();
    this.onSettle(this);
  }
}

function positiveInt(name: string, v: number, allowInfinity = false): number {
  if (allowInfinity && v === Infinity) return v;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  return v;
}

export class DynamicBatcher {
  private queue: Item[] = [];
  private readonly active = new Set<Job>();
  private running = 0;
  private scheduled = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private queuedInputCount = 0;
  private queuedTokenCount = 0;
  /** Smoothed model throughput in tokens/s, for Retry-After. */
  private tokensPerSecond = 0;
  private lastCallEnd = 0;
  /** Dispatch times of the embed() calls in flight, oldest (the one computing) first. */
  private readonly inflight: number[] = [];
  /** Recent embed() call durations (EWMA, ms): when the computing call will likely end. */
  private callMs = 0;
  private dispatchTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly maxBatchTokens: number;
  private readonly maxBatchRequests: number;
  private readonly maxConcurrentRequests: number;
  private readonly maxConcurrentBatches: number;
  private readonly padded: boolean;

  constructor(
    readonly embedder: Pick<ServedModel, 'dim' | 'embed' | 'embedTokenIds'>,
    private readonly options: BatcherOptions,
  ) {
    this.maxBatchTokens = positiveInt('maxBatchTokens', options.maxBatchTokens);
    this.maxBatchRequests = positiveInt('maxBatchRequests', options.maxBatchRequests ?? Infinity, true);
    this.maxConcurrentRequests = positiveInt('maxConcurrentRequests', options.maxConcurrentRequests);
    this.maxConcurrentBatches = positiveInt('maxConcurrentBatches', options.maxConcurrentBatches ?? 1);
    this.padded = options.padded ?? true;
  }

  /** Requests admitted and not answered yet. */
  get activeRequests(): number {
    return this.active.size;
  }
  /** Requests with at least one input still waiting for the model. */
  get queuedRequests(): number {
    let n = 0;
    for (const j of this.active) if (j.queued > 0) n++;
    return n;
  }
  /** Inputs waiting for the model. */
  get queuedInputs(): number {
    return this.queuedInputCount;
  }
  get queuedTokens(): number {
    return this.queuedTokenCount;
  }
  get runningBatches(): number {
    return this.running;
  }

  /** Seconds a refused client should wait: the queue's tokens at the measured throughput, 1–60. */
  retryAfterSeconds(): number {
    if (this.tokensPerSecond <= 0) return 1;
    return Math.min(60, Math.max(1, Math.ceil(this.queuedTokenCount / this.tokensPerSecond)));
  }

  /** Queues the inputs of one request; resolves with their vectors in input order. */
  submit(inputs: readonly BatchInput[], opts: SubmitOptions = {}): Promise<JobResult> {
    if (this.closed) return Promise.reject(new ServeError(503, 'unavailable', 'the server is shutting down', null, 'shutting_down', 1));
    if (opts.signal?.aborted) return Promise.reject(clientGone());
    if (inputs.length === 0) return Promise.resolve({ vectors: [], tokens: 0, queueMs: 0, inferenceMs: 0 });
    if (this.active.size >= this.maxConcurrentRequests) {
      const s = this.retryAfterSeconds();
      return Promise.reject(
        new ServeError(
          429,
          'overloaded',
          `the server is busy: ${this.active.size} requests are queued or running (--max-concurrent-requests ${this.maxConcurrentRequests}); retry in ${s} s`,
          null,
          'server_overloaded',
          s,
        ),
      );
    }
    const items: Item[] = [];
    let tokens = 0;
    for (const input of inputs) {
      if ((input.text === undefined) === (input.ids === undefined)) return Promise.reject(new Error('a batch input needs exactly one of text and ids'));
      if (!Number.isFinite(input.tokens) || input.tokens < 0) return Promise.reject(new Error(`a batch input has an invalid token count ${input.tokens}`));
      tokens += input.tokens;
    }
    return new Promise<JobResult>((resolve, reject) => {
      const job = new Job(inputs, tokens, (j) => this.onSettle(j), resolve, reject);
      inputs.forEach((input, index) => {
        items.push({ job, index, input, key: (input.ids ? 'ids\u0000' : 'text\u0000') + input.key });
        job.queuedTokens += input.tokens;
      });
      this.active.add(job);
      this.queue.push(...items);
      this.queuedInputCount += items.length;
      this.queuedTokenCount += job.queuedTokens;
      const cleanups: (() => void)[] = [];
      if (opts.timeoutMs && opts.timeoutMs > 0) {
        const ms = opts.timeoutMs;
        const t = setTimeout(() => {
          job.fail(requestTimeout(opts.timeoutLabelMs ?? ms, this.retryAfterSeconds()));
        }, ms);
        t.unref?.();
        cleanups.push(() => clearTimeout(t));
      }
      if (opts.signal) {
        const signal = opts.signal;
        const onAbort = () => job.fail(clientGone());
        signal.addEventListener('abort', onAbort, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }
      job.cleanup = () => cleanups.forEach((c) => c());
      this.schedule();
    });
  }

  /** Resolves once no request is admitted or running. */
  drain(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Refuses new requests (503) and waits for the admitted ones to finish. */
  close(): Promise<void> {
    this.closed = true;
    return this.drain();
  }

  /** Fails every admitted request (used when a shutdown's drain time is over); running embed() calls still finish. */
  abortAll(error: Error): void {
    for (const job of [...this.active]) job.fail(error);
  }

  private isIdle(): boolean {
    return this.active.size === 0 && this.running === 0;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private onSettle(job: Job): void {
    this.active.delete(job);
    // Its inputs that are still queued are skipped when batches are formed.
    this.queuedInputCount -= job.queued;
    this.queuedTokenCount -= job.queuedTokens;
    job.queued = 0;
    job.queuedTokens = 0;
    this.checkIdle();
  }

  // Deferred to the next turn of the event loop so that requests arriving together share a batch.
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.maxConcurrentBatches) {
      if (this.running > 0) {
        const wait = this.pipelineWaitMs();
        if (wait > 0) {
          if (this.queue.length > 0) this.armDispatchTimer(wait);
          break;
        }
      }
      const batch = this.takeBatch();
      if (!batch) break;
      this.running++;
      const dispatched = performance.now();
      this.inflight.push(dispatched);
      void this.runBatch(batch).finally(() => {
        this.running--;
        this.inflight.splice(this.inflight.indexOf(dispatched), 1);
        this.checkIdle();
        if (this.queue.length > 0) this.schedule();
      });
    }
  }

  /**
   * How long to hold back a call behind the one computing. The next call should wait in the worker
   * before the computing one ends (no idle gap), but be formed as late as possible, so that it takes
   * every request that arrived meanwhile: dispatched at about 3/4 of the computing call's expected
   * duration (at least 2 ms before its end). The waiting costs no latency, since the model could not start
   * the call earlier; an estimate that runs long only delays it until the computing call ends.
   */
  private pipelineWaitMs(): number {
    if (this.callMs <= 0 || this.inflight.length === 0) return 0;
    const start = Math.max(this.inflight[0]!, this.lastCallEnd);
    const lead = Math.max(2, 0.25 * this.callMs);
    return start + this.callMs - lead - performance.now();
  }

  private armDispatchTimer(ms: number): void {
    if (this.dispatchTimer) return;
    this.dispatchTimer = setTimeout(() => {
      this.dispatchTimer = undefined;
      this.pump();
    }, Math.ceil(ms));
  }

  /** The oldest waiting input plus the following inputs with its key, within the budget; FIFO otherwise. */
  private takeBatch(): Item[] | undefined {
    const batch: Item[] = [];
    const rest: Item[] = [];
    let key: string | undefined;
    let full = false;
    let longest = 0;
    let sum = 0;
    for (const it of this.queue) {
      if (it.job.settled) continue;
      if (full || (key !== undefined && it.key !== key)) {
        rest.push(it);
        continue;
      }
      key = it.key;
      const n = batch.length + 1;
      const newLongest = Math.max(longest, it.input.tokens);
      const cost = this.padded ? newLongest * n : sum + it.input.tokens;
      if (batch.length > 0 && (cost > this.maxBatchTokens || n > this.maxBatchRequests)) {
        full = true;
        rest.push(it);
        continue;
      }
      batch.push(it);
      longest = newLongest;
      sum += it.input.tokens;
      it.job.queued--;
      it.job.queuedTokens -= it.input.tokens;
      this.queuedInputCount--;
      this.queuedTokenCount -= it.input.tokens;
    }
    this.queue = rest;
    return batch.length > 0 ? batch : undefined;
  }

  private async runBatch(items: Item[]): Promise<void> {
    try {
      this.deliver(items, await this.call(items));
    } catch (err) {
      const jobs = [...new Set(items.map((it) => it.job))];
      if (jobs.length === 1) {
        jobs[0]!.fail(modelError(err));
        return;
      }
      // One request's bad input must not fail the others: run each request's share on its own.
      for (const job of jobs) {
        if (job.settled) continue;
        const own = items.filter((it) => it.job === job);
        try {
          this.deliver(own, await this.call(own));
        } catch (e) {
          job.fail(modelError(e));
        }
      }
    }
  }

  private async call(items: Item[]): Promise<Float32Array[]> {
    const t0 = performance.now();
    let tokens = 0;
    let longest = 0;
    for (const it of items) {
      tokens += it.input.tokens;
      longest = Math.max(longest, it.input.tokens);
    }
    let ok = false;
    try {
      const first = items[0]!.input;
      let vectors: Float32Array[];
      if (first.ids) {
        if (!this.embedder.embedTokenIds) throw new Error('the model does not accept token ids');
        vectors = await this.embedder.embedTokenIds(items.map((it) => it.input.ids!));
      } else {
        // Inputs were checked against the max length (or cut) before they were queued.
        vectors = await this.embedder.embed(
          items.map((it) => it.input.text!),
          { ...first.request, truncate: true },
        );
      }
      if (!Array.isArray(vectors) || vectors.length !== items.length) {
        throw new Error(`the model returned ${Array.isArray(vectors) ? vectors.length : 'no'} vectors for ${items.length} inputs`);
      }
      for (const v of vectors) {
        if (!(v instanceof Float32Array) || v.length !== this.embedder.dim) {
          throw new Error(`the model returned a vector of length ${(v as { length?: number })?.length}, expected ${this.embedder.dim}`);
        }
      }
      ok = true;
      return vectors;
    } finally {
      // With calls in flight together (a worker model queues them), a call's compute starts when the call
      // ahead of it ends: the time before that counts as queueing, and throughput is measured without it.
      const end = performance.now();
      const start = Math.max(t0, this.lastCallEnd);
      this.lastCallEnd = end;
      for (const it of items) it.job.firstStart ??= start;
      const durationMs = end - start;
      if (ok && durationMs > 0) {
        const tps = (tokens * 1000) / durationMs;
        this.tokensPerSecond = this.tokensPerSecond === 0 ? tps : 0.8 * this.tokensPerSecond + 0.2 * tps;
        this.callMs = this.callMs === 0 ? durationMs : 0.8 * this.callMs + 0.2 * durationMs;
      }
      this.options.onBatch?.({ size: items.length, tokens, paddedTokens: longest * items.length, durationMs, ok });
    }
  }

  private deliver(items: Item[], vectors: Float32Array[]): void {
    const end = performance.now();
    items.forEach((it, k) => {
      const job = it.job;
      if (job.settled) return;
      job.results[it.index] = vectors[k];
      job.lastEnd = end;
      if (--job.remaining === 0) job.succeed();
    });
  }
}

function clientGone(): ServeError {
  return new ServeError(499, 'internal', 'the client closed the request', null, 'client_closed_request');
}

function modelError(err: unknown): ServeError {
  if (err instanceof ServeError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new ServeError(500, 'model', `the model failed on this request: ${msg}`, null, 'model_error');
}
