// The HTTP server (fastify): OpenAI `/v1/embeddings` and `/v1/models`, TEI `/embed` and `/info`, `/health`
// and Prometheus `/metrics`, over one dynamic batcher and one Embedder. Error bodies follow OpenAI's
// shape on /v1/* and TEI's elsewhere; close() drains in-flight requests before it resolves.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { ApiKeyCheck } from './auth.js';
import { DynamicBatcher } from './batcher.js';
import { ServeError, invalidField, openAIErrorBody, teiErrorBody } from './errors.js';
import type { TruncationDirection } from './inputs.js';
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE, exponentialBuckets } from './metrics.js';
import { checkDefaultPrompt, promptNames, type PromptCatalog } from './prompts.js';
import { OPENAI_EMBEDDINGS_BODY, TEI_EMBED_BODY, TEI_SIMILARITY_BODY, ajvErrorToServeError, type AjvErrorLike, type OpenAIEmbeddingsBody, type TeiEmbedBody, type TeiSimilarityBody } from './schemas.js';
import type { ServedModel } from './served-model.js';
import { EmbeddingService, type EmbedOutcome } from './service.js';
import { float32ToBase64, float32ToJson } from './vectors.js';
import { dotToEach } from '../eval/paired.js';

export interface EmbeddingServerOptions {
  /** Any Embedder, or a WorkerModel (the model in a worker thread; see worker-model.ts). */
  embedder: ServedModel;
  /** Name reported as `model` and by /v1/models (default: embedder.id). */
  modelName?: string;
  /** sentence-transformers prompts of the model (see readModelMetadata). */
  prompts?: Readonly<Record<string, string>>;
  /** Prompt used when a request names none: a key of `prompts` or a QZhou task name. */
  defaultPromptName?: string;
  /** Token ids must be below this, when known. */
  vocabSize?: number;
  /** Token budget of one embed() call, counted padded (inputs × longest). Default 16384. */
  maxBatchTokens?: number;
  /** Most inputs in one embed() call. Default: no limit but the token budget. 1 turns batching off. */
  maxBatchRequests?: number;
  /** Model calls in flight at once. Default: the embedder's pipelineDepth (2 for a worker model), else 1. */
  maxConcurrentBatches?: number;
  /** Most inputs in one request. Default 2048 (OpenAI's limit). */
  maxClientBatchSize?: number;
  /** Most requests queued or running at once; more get 429. Default 512. */
  maxConcurrentRequests?: number;
  /** Largest request body in bytes. Default 8 MiB. */
  payloadLimit?: number;
  /** A request not answered within this many ms gets 503 (0: no limit). Default 60000. */
  requestTimeoutMs?: number;
  /** When set, every route but /health and /metrics needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Truncate over-long inputs when the request does not say. Default false (refuse them). */
  autoTruncate?: boolean;
  /** Budget counting, see BatcherOptions.padded. Default true. */
  paddedBatches?: boolean;
  /** Close the embedder when the server closes. Default false. */
  closeEmbedder?: boolean;
  /** fastify/pino logger settings. Default false. */
  logger?: FastifyServerOptions['logger'];
  /** Reported by /info. */
  version?: string;
}

export interface ListenOptions {
  port?: number;
  host?: string;
}

export interface EmbeddingServer {
  readonly app: FastifyInstance;
  readonly batcher: DynamicBatcher;
  readonly metrics: MetricsRegistry;
  readonly modelName: string;
  /** Starts listening; resolves with the base URL, e.g. http://127.0.0.1:8080. */
  listen(opts?: ListenOptions): Promise<string>;
  /**
   * Stops accepting requests (new ones get 503), waits for admitted ones to be answered, then closes.
   * After `timeoutMs` (default 30000) the remaining ones are failed and connections are cut.
   */
  close(opts?: { timeoutMs?: number }): Promise<void>;
}

const PUBLIC_ROUTES = new Set(['/health', '/metrics']);
/** What fastify sends with the objects it serialises itself. */
const JSON_TYPE = 'application/json; charset=utf-8';

function isOpenAIRoute(url: string): boolean {
  return url === '/v1' || url.startsWith('/v1/') || url.startsWith('/v1?');
}

function direction(v: string | null | undefined): TruncationDirection | undefined {
  return v == null ? undefined : (v.toLowerCase() as TruncationDirection);
}

function positive(name: string, v: number | undefined, fallback: number, o: { zero?: boolean; infinity?: boolean } = {}): number {
  const x = v ?? fallback;
  if (x === Infinity && o.infinity) return x;
  if (!Number.isInteger(x) || x < 0 || (x === 0 && !o.zero)) {
    throw new Error(`${name} must be a ${o.zero ? 'non-negative' : 'positive'} integer, got ${x}`);
  }
  return x;
}

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: AjvErrorLike[];
}

function toServeError(err: unknown, payloadLimit: number): ServeError {
  if (err instanceof ServeError) return err;
  const e = (err ?? {}) as FastifyLikeError;
  if (Array.isArray(e.validation) && e.validation.length > 0) return ajvErrorToServeError(e.validation[0]!);
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ServeError(413, 'payload_too_large', `the request body is larger than ${payloadLimit} bytes (--payload-limit)`, null, 'payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ServeError(415, 'unsupported_media', 'Content-Type must be application/json', null, 'unsupported_media_type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ServeError(400, 'validation', 'the request body is empty; expected a JSON object');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ServeError(400, 'validation', 'the request body is not valid JSON');
  }
  if (err instanceof SyntaxError && e.statusCode === 400) {
    return new ServeError(400, 'validation', `the request body is not valid JSON: ${err.message}`);
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new ServeError(e.statusCode, 'validation', e.message ?? 'bad request');
  }
  return new ServeError(500, 'internal', `internal error: ${e.message ?? String(err)}`);
}

function ms(x: number): string {
  return String(Math.round(x));
}

function setTimingHeaders(reply: FastifyReply, out: EmbedOutcome): void {
  reply.header('x-compute-tokens', String(out.tokens));
  reply.header('x-compute-characters', String(out.characters));
  reply.header('x-queue-time', ms(out.queueMs));
  reply.header('x-inference-time', ms(out.inferenceMs));
  reply.header('x-total-time', ms(reply.elapsedTime));
}

/** Aborted when the client goes away before its answer is written, so its queued inputs are dropped. */
function disconnectSignal(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) ac.abort();
  });
  return ac.signal;
}

export async function createEmbeddingServer(o: EmbeddingServerOptions): Promise<EmbeddingServer> {
  const embedder = o.embedder;
  const modelName = o.modelName ?? embedder.id;
  const maxBatchTokens = positive('maxBatchTokens', o.maxBatchTokens, 16384);
  const maxBatchRequests = positive('maxBatchRequests', o.maxBatchRequests, Infinity, { infinity: true });
  const maxClientBatchSize = positive('maxClientBatchSize', o.maxClientBatchSize, 2048);
  const maxConcurrentRequests = positive('maxConcurrentRequests', o.maxConcurrentRequests, 512);
  const payloadLimit = positive('payloadLimit', o.payloadLimit, 8 * 1024 * 1024);
  const requestTimeoutMs = positive('requestTimeoutMs', o.requestTimeoutMs, 60_000, { zero: true });
  const catalog: PromptCatalog = { prompts: { ...(o.prompts ?? {}) }, defaultPromptName: o.defaultPromptName };
  checkDefaultPrompt(catalog);
  const auth = o.apiKey !== undefined ? new ApiKeyCheck(o.apiKey) : undefined;
  const createdAt = Math.floor(Date.now() / 1000);

  const metrics = new MetricsRegistry();
  const durationBuckets = exponentialBuckets(0.0005, 2, 18);
  const mRequests = metrics.counter('qzhou_requests_total', 'HTTP requests answered, by route and status code.', ['route', 'status']);
  const mRequestDuration = metrics.histogram('qzhou_request_duration_seconds', 'Time from receiving a request to answering it.', durationBuckets, ['route']);
  const mQueueDuration = metrics.histogram('qzhou_request_queue_duration_seconds', 'Time an embedding request waited for its first batch.', durationBuckets);
  const mInferenceDuration = metrics.histogram('qzhou_request_inference_duration_seconds', "Time from an embedding request's first batch start to its last batch end.", durationBuckets);
  const mRequestInputs = metrics.histogram('qzhou_request_inputs', 'Inputs per embedding request.', exponentialBuckets(1, 2, 12));
  const mInputs = metrics.counter('qzhou_inputs_total', 'Inputs embedded.');
  const mTokens = metrics.counter('qzhou_input_tokens_total', 'Tokens embedded (prompts included, after truncation).');
  const mBatchSize = metrics.histogram('qzhou_batch_size', 'Inputs per embed() call.', exponentialBuckets(1, 2, 13));
  const mBatchTokens = metrics.histogram('qzhou_batch_tokens', 'Tokens per embed() call (sum over its inputs).', exponentialBuckets(1, 2, 21));
  const mBatchPadded = metrics.histogram('qzhou_batch_padded_tokens', 'Inputs × longest input per embed() call.', exponentialBuckets(1, 2, 21));
  const mBatchDuration = metrics.histogram('qzhou_batch_duration_seconds', 'Duration of embed() calls.', durationBuckets);
  const mBatchFailures = metrics.counter('qzhou_batch_failures_total', 'embed() calls that threw.');

  const batcher = new DynamicBatcher(embedder, {
    maxBatchTokens,
    maxBatchRequests,
    maxConcurrentRequests,
    maxConcurrentBatches: o.maxConcurrentBatches ?? embedder.pipelineDepth ?? 1,
    padded: o.paddedBatches ?? true,
    onBatch: (s) => {
      mBatchSize.observe(s.size);
      mBatchTokens.observe(s.tokens);
      mBatchPadded.observe(s.paddedTokens);
      mBatchDuration.observe(s.durationMs / 1000);
      if (!s.ok) mBatchFailures.inc();
    },
  });
  metrics.gauge('qzhou_queue_inputs', 'Inputs waiting for the model.', [], () => batcher.queuedInputs);
  metrics.gauge('qzhou_queue_tokens', 'Tokens of the inputs waiting for the model.', [], () => batcher.queuedTokens);
  metrics.gauge('qzhou_queue_requests', 'Requests with inputs waiting for the model.', [], () => batcher.queuedRequests);
  metrics.gauge('qzhou_active_requests', 'Embedding requests admitted and not answered yet.', [], () => batcher.activeRequests);
  metrics.gauge('qzhou_max_concurrent_requests', 'Admission limit (--max-concurrent-requests).', [], () => maxConcurrentRequests);
  metrics.gauge('qzhou_running_batches', 'embed() calls running.', [], () => batcher.runningBatches);
  metrics.gauge('qzhou_model_info', 'The served model.', ['model', 'dim', 'max_length']).set(1, {
    model: modelName,
    dim: embedder.dim,
    max_length: embedder.maxLength,
  });

  const service = new EmbeddingService(embedder, batcher, catalog, {
    maxClientBatchSize,
    autoTruncate: o.autoTruncate ?? false,
    requestTimeoutMs,
    vocabSize: o.vocabSize,
  });

  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: payloadLimit,
    // Our own 503 (in our error shapes) replaces fastify's while draining.
    return503OnClosing: false,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, allowUnionTypes: true } },
  });

  // JSON only: fastify also parses text/plain by default, which would turn a form post into a confusing 400.
  app.removeContentTypeParser('text/plain');

  let draining = false;

  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url ?? request.url.split('?')[0]!;
    if (draining && route !== '/health') {
      throw new ServeError(503, 'unavailable', 'the server is shutting down', null, 'shutting_down', 1);
    }
    if (auth && !PUBLIC_ROUTES.has(route) && !auth.accepts(request.headers.authorization)) {
      throw new ServeError(401, 'auth', 'missing or invalid API key: send the header "Authorization: Bearer <key>"', null, 'invalid_api_key');
    }
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    // Tell keep-alive clients to reconnect elsewhere, so the drain is not held up by idle connections.
    if (draining) reply.header('connection', 'close');
    return payload;
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    mRequests.inc({ route, status: reply.statusCode });
    mRequestDuration.observe(reply.elapsedTime / 1000, { route });
  });

  app.setErrorHandler((err, request, reply) => {
    const e = toServeError(err, payloadLimit);
    if (e.kind === 'internal' && e.status >= 500) request.log.error({ err }, 'internal error');
    else if (e.kind === 'model') request.log.warn({ err: e.message }, 'model call failed');
    if (e.retryAfterS !== undefined) reply.header('retry-after', String(e.retryAfterS));
    if (e.kind === 'auth') reply.header('www-authenticate', 'Bearer');
    if (e.kind === 'unavailable') reply.header('connection', 'close');
    reply.code(e.status).send(isOpenAIRoute(request.url) ? openAIErrorBody(e) : teiErrorBody(e));
  });

  app.setNotFoundHandler((request, reply) => {
    const e = new ServeError(404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`, null, 'not_found');
    reply.code(404).send(isOpenAIRoute(request.url) ? openAIErrorBody(e) : teiErrorBody(e));
  });

  const modelJson = JSON.stringify(modelName);
  const observe = (out: EmbedOutcome) => {
    mQueueDuration.observe(out.queueMs / 1000);
    mInferenceDuration.observe(out.inferenceMs / 1000);
    mRequestInputs.observe(out.vectors.length);
    mInputs.inc(undefined, out.vectors.length);
    mTokens.inc(undefined, out.tokens);
  };

  app.post('/v1/embeddings', { schema: { body: OPENAI_EMBEDDINGS_BODY } }, async (request, reply) => {
    const b = request.body as OpenAIEmbeddingsBody;
    const out = await service.embed({
      value: b.input,
      field: 'input',
      allowEmptyText: false,
      promptName: b.prompt_name,
      instruction: b.instruction,
      inputType: b.input_type,
      truncate: b.truncate,
      direction: direction(b.truncation_direction),
      dimensions: b.dimensions,
      tooLongStatus: 400,
      signal: disconnectSignal(reply),
    });
    observe(out);
    setTimingHeaders(reply, out);
    const encode = b.encoding_format === 'base64' ? (v: Float32Array) => `"${float32ToBase64(v)}"` : float32ToJson;
    // The JSON text is written here (the same bytes JSON.stringify gives): most of a response is numbers.
    const data = out.vectors.map((v, index) => `{"object":"embedding","index":${index},"embedding":${encode(v)}}`).join(',');
    reply.type(JSON_TYPE);
    return `{"object":"list","data":[${data}],"model":${modelJson},"usage":{"prompt_tokens":${out.tokens},"total_tokens":${out.tokens}}}`;
  });

  app.post('/embed', { schema: { body: TEI_EMBED_BODY } }, async (request, reply) => {
    const b = request.body as TeiEmbedBody;
    if (b.normalize === false) {
      throw invalidField('normalize', 'false is not supported: this model runtime returns L2-normalised embeddings only');
    }
    const out = await service.embed({
      value: b.inputs,
      field: 'inputs',
      allowEmptyText: true,
      promptName: b.prompt_name,
      instruction: b.instruction,
      inputType: b.input_type,
      truncate: b.truncate,
      direction: direction(b.truncation_direction),
      dimensions: b.dimensions,
      tooLongStatus: 413,
      signal: disconnectSignal(reply),
    });
    observe(out);
    setTimingHeaders(reply, out);
    reply.type(JSON_TYPE);
    return `[${out.vectors.map(float32ToJson).join(',')}]`;
  });

  // TEI's sentence-similarity route: the source and the sentences are embedded with the same prompt (one
  // batch when they share it) and compared by cosine, i.e. the dot product of the normalised vectors.
  app.post('/similarity', { schema: { body: TEI_SIMILARITY_BODY } }, async (request, reply) => {
    const b = request.body as TeiSimilarityBody;
    const params = b.parameters ?? {};
    const common = {
      allowEmptyText: true,
      promptName: params.prompt_name,
      instruction: params.instruction,
      inputType: params.input_type,
      truncate: params.truncate,
      direction: direction(params.truncation_direction),
      tooLongStatus: 413 as const,
      signal: disconnectSignal(reply),
    };
    // Both fields are checked before anything is queued, then queued as one request (admitted or refused
    // as a whole), so a refused request never reaches the model.
    const [source, others] = await Promise.all([
      service.prepare({ ...common, value: b.inputs.source_sentence, field: 'inputs.source_sentence' }),
      service.prepare({ ...common, value: b.inputs.sentences, field: 'inputs.sentences' }),
    ]);
    const out = await service.submit({
      inputs: [...source.inputs, ...others.inputs],
      tokens: source.tokens + others.tokens,
      characters: source.characters + others.characters,
      dims: undefined,
      deadline: Math.min(source.deadline, others.deadline),
      signal: source.signal,
    });
    observe(out);
    setTimingHeaders(reply, out);
    const [s, ...rest] = out.vectors as [Float32Array, ...Float32Array[]];
    reply.type(JSON_TYPE);
    return JSON.stringify([...dotToEach(s, rest)]);
  });

  const modelCard = () => ({ id: modelName, object: 'model', created: createdAt, owned_by: 'qzhou' });
  app.get('/v1/models', async () => ({ object: 'list', data: [modelCard()] }));
  app.get('/v1/models/:model', async (request) => {
    const { model } = request.params as { model: string };
    if (model !== modelName) throw new ServeError(404, 'not_found', `the model "${model}" does not exist; this server serves "${modelName}"`, 'model', 'model_not_found');
    return modelCard();
  });

  app.get('/health', async (_request, reply) => {
    if (draining) return reply.code(503).send({ status: 'shutting_down' });
    if (embedder.healthy === false) return reply.code(503).send({ status: 'unhealthy', error: 'the model can no longer serve (its worker thread stopped)' });
    return { status: 'ok' };
  });

  app.get('/info', async () => ({
    model_id: modelName,
    model_type: { embedding: { pooling: 'model' } },
    dim: embedder.dim,
    max_input_length: embedder.maxLength,
    max_batch_tokens: maxBatchTokens,
    max_batch_requests: Number.isFinite(maxBatchRequests) ? maxBatchRequests : null,
    max_client_batch_size: maxClientBatchSize,
    max_concurrent_requests: maxConcurrentRequests,
    auto_truncate: o.autoTruncate ?? false,
    accepts_token_ids: embedder.embedTokenIds !== undefined,
    prompts: promptNames(catalog),
    default_prompt_name: catalog.defaultPromptName ?? null,
    version: o.version ?? null,
  }));

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', PROMETHEUS_CONTENT_TYPE);
    return metrics.render();
  });

  await app.ready();

  let closing: Promise<void> | undefined;
  return {
    app,
    batcher,
    metrics,
    modelName,
    async listen(opts: ListenOptions = {}) {
      await app.listen({ port: opts.port ?? 0, host: opts.host ?? '127.0.0.1' });
      const addr = app.server.address();
      if (addr === null || typeof addr === 'string') throw new Error('the server has no TCP address');
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      return `http://${host}:${addr.port}`;
    },
    close(opts: { timeoutMs?: number } = {}) {
      if (closing) return closing;
      draining = true;
      const timeoutMs = opts.timeoutMs ?? 30_000;
      closing = (async () => {
        const timer = setTimeout(() => {
          batcher.abortAll(new ServeError(503, 'unavailable', 'the server shut down before this request was answered', null, 'shutting_down'));
          // Give those 503s a moment to be written before cutting what is left (e.g. stalled uploads).
          setTimeout(() => app.server.closeAllConnections(), 200).unref();
        }, timeoutMs);
        try {
          await app.close();
          await batcher.close();
        } finally {
          clearTimeout(timer);
        }
        if (o.closeEmbedder) await embedder.close?.();
      })();
      return closing;
    },
  };
}
