// A client for any OpenAI-compatible chat-completions endpoint (OpenAI, Azure-style proxies, vLLM,
// SGLang, Ollama, llama.cpp server, …), built on fetch. It adds what bulk synthesis needs:
// an answer cache, a concurrency limit, requests/min and tokens/min budgets, retries with
// exponential backoff and full jitter on 429/5xx/timeouts/dropped connections (honouring
// Retry-After), a per-request timeout, and token/cost accounting.
import { backoffDelay, parseRetryAfter } from '../util/backoff.js';
import { Semaphore, TokenBucket, systemClock, type Clock } from './rate-limiter.js';
import { requestKey, type ResponseCache } from './response-cache.js';
import { estimateChatTokens, estimateTokens } from './token-estimate.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Sampling parameters sent with the request (any extra field is passed through). */
export interface ChatParams {
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  response_format?: { type: 'json_object' | 'text' };
  seed?: number;
  stop?: string[];
  [key: string]: unknown;
}

export interface ChatRequest {
  messages: ChatMessage[];
  params?: ChatParams;
  /**
   * Extra cache-key material that is not sent, e.g. the prompt version and the try number (so that
   * try 2 of an item is a different cache entry from try 1 even when the prompt is the same).
   */
  tag?: Record<string, unknown>;
  /** Expected completion tokens, for the tokens/min budget (default: params.max_tokens, else 512). */
  expectedCompletionTokens?: number;
}

export interface ChatAnswer {
  content: string;
  /** "stop", "length", "content_filter", … as the endpoint reported it. */
  finishReason: string | null;
  model: string;
  /** True when the answer came from the cache (or from an identical request in flight): not paid again. */
  cached: boolean;
  key: string;
  usage: { promptTokens: number; completionTokens: number; estimated: boolean };
}

export type RetryCause = 'rate_limited' | 'server_error' | 'timeout' | 'network' | 'invalid_response';

export class LlmError extends Error {
  constructor(
    message: string,
    readonly kind: 'http' | 'timeout' | 'network' | 'invalid_response',
    readonly retryable: boolean,
    /** Errors that no other request will escape either (bad key, wrong URL or model, quota gone). */
    readonly fatal: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number | null,
  ) {
    super(message);
    this.name = 'LlmError';
  }
}

export interface Pricing {
  /** USD per million prompt tokens. */
  inputPerMillion: number;
  /** USD per million completion tokens. */
  outputPerMillion: number;
}

export interface LlmClientOptions {
  /** e.g. https://api.openai.com/v1 (a URL already ending in /chat/completions is used as is). */
  baseUrl: string;
  apiKey?: string;
  model: string;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** Requests per minute (default: unlimited). */
  requestsPerMinute?: number;
  /** Prompt + completion tokens per minute (default: unlimited). */
  tokensPerMinute?: number;
  /** Retries after the first try (default 8). */
  maxRetries?: number;
  /** Per-request timeout in ms, covering the whole body (default 120 000). */
  timeoutMs?: number;
  /** Backoff base and cap in ms (defaults 1000 and 60 000). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Longest Retry-After honoured, in ms; longer ones are cut to this (default 600 000). */
  maxRetryAfterMs?: number;
  cache?: ResponseCache;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  clock?: Clock;
  random?: () => number;
  /** Called before each retry wait. */
  onRetry?: (info: { cause: RetryCause; status?: number; delayMs: number; retry: number; message: string }) => void;
}

export interface ClientStats {
  /** HTTP requests sent (retries included). */
  requests: number;
  /** Answers received and paid for. */
  answers: number;
  /** Answers served from the cache or from an identical request in flight. */
  cachedAnswers: number;
  promptTokens: number;
  completionTokens: number;
  /** Tokens that would have been paid without the cache. */
  cachedPromptTokens: number;
  cachedCompletionTokens: number;
  /** Answers without a usage field (their tokens are estimates). */
  estimatedUsage: number;
  retries: Record<RetryCause, number>;
  /** Requests that failed for good (after retries, or not retryable). */
  failures: number;
}

export function emptyStats(): ClientStats {
  return {
    requests: 0, answers: 0, cachedAnswers: 0, promptTokens: 0, completionTokens: 0,
    cachedPromptTokens: 0, cachedCompletionTokens: 0, estimatedUsage: 0,
    retries: { rate_limited: 0, server_error: 0, timeout: 0, network: 0, invalid_response: 0 }, failures: 0,
  };
}

/** USD cost of the given token counts. */
export function costOf(promptTokens: number, completionTokens: number, pricing?: Pricing): number {
  if (!pricing) return 0;
  return (promptTokens * pricing.inputPerMillion + completionTokens * pricing.outputPerMillion) / 1e6;
}

class TimeoutSignal extends Error {}

export class LlmClient {
  readonly stats: ClientStats = emptyStats();
  private readonly url: string;
  private readonly slots: Semaphore;
  private readonly rpm: TokenBucket | null;
  private readonly tpm: TokenBucket | null;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly inFlight = new Map<string, Promise<ChatAnswer>>();
  private pausedUntil = 0;

  constructor(readonly options: LlmClientOptions) {
    if (!options.model) throw new Error('an LLM model name is required');
    const base = options.baseUrl.replace(/\/+$/, '');
    this.url = /\/chat\/completions$/.test(base) ? base : `${base}/chat/completions`;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.slots = new Semaphore(options.concurrency ?? 8);
    // Buckets hold ten seconds of budget: smooth enough for per-second server windows.
    const rpm = options.requestsPerMinute;
    this.rpm = rpm && rpm > 0 ? new TokenBucket(rpm, Math.max(1, rpm / 6), this.clock) : null;
    const tpm = options.tokensPerMinute;
    this.tpm = tpm && tpm > 0 ? new TokenBucket(tpm, Math.max(1, tpm / 6), this.clock) : null;
  }

  get model(): string {
    return this.options.model;
  }

  /** The cache key `complete` would use for this request. */
  keyOf(request: ChatRequest): string {
    return requestKey({ model: this.options.model, messages: request.messages, params: request.params ?? {}, tag: request.tag ?? {} });
  }

  /** Whether the answer to this request is already cached (nothing would be paid). */
  isCached(request: ChatRequest): boolean {
    return this.options.cache?.has(this.keyOf(request)) ?? false;
  }

  async complete(request: ChatRequest): Promise<ChatAnswer> {
    const key = this.keyOf(request);
    const pending = this.inFlight.get(key);
    if (pending) {
      const answer = await pending;
      this.countCached(answer);
      return { ...answer, cached: true };
    }
    // Registered before the first await, so an identical request arriving meanwhile joins this one.
    const run = this.lookupOrSend(key, request);
    this.inFlight.set(key, run);
    try {
      return await run;
    } finally {
      this.inFlight.delete(key);
    }
  }

  private async lookupOrSend(key: string, request: ChatRequest): Promise<ChatAnswer> {
    const cached = await this.options.cache?.get(key);
    if (!cached) return this.send(key, request);
    const usage = cached.usage
      ? { ...cached.usage, estimated: false }
      : { promptTokens: estimateChatTokens(request.messages), completionTokens: estimateTokens(cached.content), estimated: true };
    const answer: ChatAnswer = { content: cached.content, finishReason: cached.finishReason, model: cached.model, cached: true, key, usage };
    this.countCached(answer);
    return answer;
  }

  private countCached(answer: ChatAnswer): void {
    this.stats.cachedAnswers++;
    this.stats.cachedPromptTokens += answer.usage.promptTokens;
    this.stats.cachedCompletionTokens += answer.usage.completionTokens;
  }

  private async send(key: string, request: ChatRequest): Promise<ChatAnswer> {
    const o = this.options;
    const maxRetries = o.maxRetries ?? 8;
    const body = JSON.stringify({ model: o.model, messages: request.messages, ...dropUndefined(request.params ?? {}) });
    const estimatedPrompt = estimateChatTokens(request.messages);
    const estimate = estimatedPrompt + (request.expectedCompletionTokens ?? request.params?.max_tokens ?? 512);
    for (let retry = 0; ; retry++) {
      for (let wait = this.pausedUntil - this.clock.now(); wait > 0; wait = this.pausedUntil - this.clock.now()) await this.clock.sleep(wait);
      const release = await this.slots.acquire();
      let result: { content: string; finishReason: string | null; model: string; usage: { prompt_tokens: number; completion_tokens: number } | null };
      try {
        if (this.rpm) await this.rpm.take(1);
        if (this.tpm) await this.tpm.take(estimate);
        this.stats.requests++;
        result = await this.post(body);
      } catch (e) {
        release();
        const err = e instanceof LlmError ? e : new LlmError(String(e), 'network', true, false);
        if (!err.retryable || retry >= maxRetries) {
          this.stats.failures++;
          if (err.retryable) throw new LlmError(`${err.message} (gave up after ${retry + 1} tries)`, err.kind, true, false, err.status, err.retryAfterMs);
          throw err;
        }
        const cause: RetryCause = err.kind === 'http' ? (err.status === 429 ? 'rate_limited' : 'server_error') : err.kind;
        let delayMs = backoffDelay(retry, o.backoffBaseMs ?? 1000, o.backoffMaxMs ?? 60_000, this.random);
        if (err.retryAfterMs !== undefined && err.retryAfterMs !== null) {
          delayMs = Math.min(err.retryAfterMs, o.maxRetryAfterMs ?? 600_000);
          // A rate limit applies to every request of this key: hold them all, not just this one.
          if (err.status === 429) this.pausedUntil = Math.max(this.pausedUntil, this.clock.now() + delayMs);
        }
        this.stats.retries[cause]++;
        o.onRetry?.({ cause, status: err.status, delayMs, retry: retry + 1, message: err.message });
        await this.clock.sleep(delayMs);
        continue;
      }
      release();
      const usage = result.usage
        ? { promptTokens: result.usage.prompt_tokens, completionTokens: result.usage.completion_tokens, estimated: false }
        : { promptTokens: estimatedPrompt, completionTokens: estimateTokens(result.content), estimated: true };
      this.tpm?.adjust(estimate - usage.promptTokens - usage.completionTokens);
      this.stats.answers++;
      this.stats.promptTokens += usage.promptTokens;
      this.stats.completionTokens += usage.completionTokens;
      if (usage.estimated) this.stats.estimatedUsage++;
      const answer: ChatAnswer = { content: result.content, finishReason: result.finishReason, model: result.model, cached: false, key, usage };
      await o.cache?.put(key, {
        content: answer.content,
        finishReason: answer.finishReason,
        model: answer.model,
        usage: usage.estimated ? undefined : { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens },
      });
      return answer;
    }
  }

  /** One HTTP request; throws LlmError classified as retryable / fatal. */
  private async post(body: string) {
    const o = this.options;
    const doFetch = o.fetch ?? fetch;
    const controller = new AbortController();
    const timeoutMs = o.timeoutMs ?? 120_000;
    const timer = setTimeout(() => controller.abort(new TimeoutSignal()), timeoutMs);
    try {
      const res = await doFetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}),
          ...o.headers,
        },
        body,
        signal: controller.signal,
      });
      const text = await res.text();
      if (!res.ok) throw httpError(res.status, text, parseRetryAfter(res.headers, this.clock.now()));
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new LlmError(`the endpoint answered HTTP ${res.status} with a body that is not JSON: ${preview(text)}`, 'invalid_response', true, false, res.status);
      }
      return parseCompletion(json, o.model);
    } catch (e) {
      if (e instanceof LlmError) throw e;
      if (controller.signal.aborted && controller.signal.reason instanceof TimeoutSignal) {
        throw new LlmError(`no complete answer within ${timeoutMs} ms`, 'timeout', true, false);
      }
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const detail = cause?.code ?? cause?.message ?? (e as Error).message;
      throw new LlmError(`connection to ${this.url} failed: ${detail}`, 'network', true, false);
    } finally {
      clearTimeout(timer);
    }
  }
}

function httpError(status: number, text: string, retryAfterMs: number | null): LlmError {
  let message = preview(text);
  let code: string | undefined;
  try {
    const err = (JSON.parse(text) as { error?: { message?: string; code?: string; type?: string } | string }).error;
    if (typeof err === 'string') message = err;
    else if (err) {
      message = err.message ?? message;
      code = err.code ?? err.type;
    }
  } catch {
    // not JSON: keep the text preview
  }
  const msg = `HTTP ${status}: ${message}`;
  if (status === 429 && code === 'insufficient_quota') return new LlmError(msg, 'http', false, true, status);
  if (status === 401 || status === 403 || status === 404) return new LlmError(msg, 'http', false, true, status);
  const retryable = status === 408 || status === 409 || status === 425 || status === 429 || status >= 500;
  return new LlmError(msg, 'http', retryable, false, status, retryAfterMs);
}

function parseCompletion(json: unknown, fallbackModel: string) {
  const j = json as {
    model?: string;
    choices?: { message?: { content?: string | null; refusal?: string | null }; finish_reason?: string | null }[];
    usage?: { prompt_tokens?: number; completion_tokens?: number };
  };
  const choice = j?.choices?.[0];
  if (!choice || typeof choice !== 'object' || !choice.message) {
    throw new LlmError(`the answer has no choices[0].message: ${preview(JSON.stringify(json))}`, 'invalid_response', true, false, 200);
  }
  let content = choice.message.content;
  let finishReason = choice.finish_reason ?? null;
  if ((content === null || content === undefined) && typeof choice.message.refusal === 'string') {
    content = '';
    finishReason = 'content_filter';
  }
  if (typeof content !== 'string') {
    throw new LlmError(`choices[0].message.content is ${content === null ? 'null' : typeof content}`, 'invalid_response', true, false, 200);
  }
  const u = j.usage;
  const usage = u && Number.isFinite(u.prompt_tokens) && Number.isFinite(u.completion_tokens)
    ? { prompt_tokens: u.prompt_tokens as number, completion_tokens: u.completion_tokens as number }
    : null;
  return { content, finishReason, model: typeof j.model === 'string' ? j.model : fallbackModel, usage };
}

function preview(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 300 ? `${t.slice(0, 300)}…` : t || '(empty body)';
}

function dropUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
