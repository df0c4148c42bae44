// `qzhou serve`: the embedding server (src/serve) as a command. Loads the model, listens, and on
// SIGINT/SIGTERM drains in-flight requests before exiting.
import { statSync } from 'node:fs';
import { createEmbeddingServer } from '../../serve/server.js';
import { loadModelForServing, type ServeModelOptions } from '../../serve/load-model.js';
import type { ModelMetadata } from '../../serve/model-metadata.js';
import type { ServedModel } from '../../serve/served-model.js';
import { SyntheticEmbedder } from '../../serve/synthetic-embedder.js';
import { UsageError, intFlag, numberFlag, parseFlags, type Command } from '../command.js';

const USAGE = `usage: qzhou serve (--model DIR | --synthetic DIM) [options]

Serves an embedding model over HTTP:
  POST /v1/embeddings (OpenAI), POST /embed (TEI), GET /health, /info, /v1/models, /metrics (Prometheus).

model:
  --model DIR                  Hugging Face model folder (config.json, weights, tokenizer)
  --synthetic DIM              serve a deterministic test model of width DIM instead; its vectors carry
                               no meaning (for testing clients and deployments without a model)
  --served-model-name NAME     name reported as "model" (default: the model's id)
  --device cpu|cuda|webgpu     (default: cpu)
  --dtype f32|f16|int8|int4    weight type (default: the model loader's)
  --max-length N               max tokens per input, prompt included (default: the model's)
  --pooling NAME               pooling override: mean, cls, lasttoken, max, mean_sqrt_len, weightedmean
  --attention bidirectional|causal
  --threads N                  CPU threads for the model (default: all cores)
  --model-in-main-thread       run the model on the server's thread instead of a worker thread (ONNX
                               Runtime then blocks the server while it computes; for debugging)
  --default-prompt-name NAME   prompt for requests that name none: a sentence-transformers prompt name
                               or a QZhou task name (default: the model's default_prompt_name; "none"
                               turns it off)

server:
  --host HOST                  interface to listen on (default 127.0.0.1; 0.0.0.0 for all)
  --port N                     (default 8080; 0 picks a free port)
  --api-key KEY                require "Authorization: Bearer KEY" on all routes but /health and
                               /metrics (or set QZHOU_API_KEY)
  --payload-limit SIZE         largest request body, e.g. 2mb, 512kb (default 8mb)
  --log-requests               log each request as a JSON line on stderr

batching and limits:
  --max-batch-tokens N         token budget of one model call, counted padded: inputs x longest
                               (default 16384)
  --max-batch-requests N       inputs per model call (default: no limit; 1 turns batching off)
  --max-client-batch-size N    inputs per request (default 2048)
  --max-concurrent-requests N  requests queued or running at once; more get 429 (default 512)
  --request-timeout S          seconds before an unanswered request gets 503 (default 60; 0: none)
  --auto-truncate              cut over-long inputs unless the request says "truncate": false
  --shutdown-timeout S         on SIGINT/SIGTERM, seconds to drain in-flight requests (default 30)

example:
  qzhou serve --synthetic 64 --port 8080 &
  curl -s localhost:8080/v1/embeddings -H 'content-type: application/json' -d '{"input": ["hello"]}'`;

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** "8mb" → 8388608 (units are powers of 1024). */
export function parseSize(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`--${name}: expected a size such as 2mb, 512kb or 1048576, got "${value}"`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 1) throw new UsageError(`--${name}: must be at least 1 byte`);
  return bytes;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name}: expected one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

export const command: Command = {
  name: 'serve',
  summary: 'serve an embedding model over HTTP (OpenAI /v1/embeddings and TEI /embed)',
  usage: USAGE,
  async run(argv) {
    const { values } = parseFlags(argv, {
      model: { type: 'string' },
      synthetic: { type: 'string' },
      'served-model-name': { type: 'string' },
      device: { type: 'string' },
      dtype: { type: 'string' },
      'max-length': { type: 'string' },
      pooling: { type: 'string' },
      attention: { type: 'string' },
      threads: { type: 'string' },
      'model-in-main-thread': { type: 'boolean' },
      'default-prompt-name': { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'api-key': { type: 'string' },
      'payload-limit': { type: 'string' },
      'log-requests': { type: 'boolean' },
      'max-batch-tokens': { type: 'string' },
      'max-batch-requests': { type: 'string' },
      'max-client-batch-size': { type: 'string' },
      'max-concurrent-requests': { type: 'string' },
      'request-timeout': { type: 'string' },
      'auto-truncate': { type: 'boolean' },
      'shutdown-timeout': { type: 'string' },
    });
    if ((values.model === undefined) === (values.synthetic === undefined)) {
      throw new UsageError('give either --model DIR or --synthetic DIM');
    }
    const port = intFlag('port', values.port, 8080, 0);
    if (port > 65535) throw new UsageError(`--port: expected 0–65535, got ${port}`);
    const maxBatchTokens = intFlag('max-batch-tokens', values['max-batch-tokens'], 16384);
    const maxBatchRequests = values['max-batch-requests'] === undefined ? undefined : intFlag('max-batch-requests', values['max-batch-requests'], 1);
    const maxLength = values['max-length'] === undefined ? undefined : intFlag('max-length', values['max-length'], 1);
    const requestTimeoutS = numberFlag('request-timeout', values['request-timeout'], 60);
    const shutdownTimeoutS = numberFlag('shutdown-timeout', values['shutdown-timeout'], 30);
    if (requestTimeoutS < 0) throw new UsageError('--request-timeout: must be ≥ 0');
    if (shutdownTimeoutS < 0) throw new UsageError('--shutdown-timeout: must be ≥ 0');
    const apiKey = values['api-key'] ?? (process.env.QZHOU_API_KEY || undefined);
    if (apiKey === '') throw new UsageError('--api-key: must not be empty');

    let embedder: ServedModel;
    let workerDied: ((e: Error) => void) | undefined;
    let metadata: ModelMetadata = { prompts: {} };
    if (values.synthetic !== undefined) {
      embedder = new SyntheticEmbedder({ dim: intFlag('synthetic', values.synthetic, 64), maxLength: maxLength ?? 512 });
    } else {
      const dir = values.model!;
      let isDir = false;
      try {
        isDir = statSync(dir).isDirectory();
      } catch {
        isDir = false;
      }
      if (!isDir) throw new UsageError(`--model: "${dir}" is not a folder`);
      const options: ServeModelOptions = {
        device: oneOf('device', values.device, ['cpu', 'cuda', 'webgpu'] as const),
        dtype: oneOf('dtype', values.dtype, ['f32', 'f16', 'int8', 'int4'] as const),
        attention: oneOf('attention', values.attention, ['bidirectional', 'causal'] as const),
        pooling: oneOf('pooling', values.pooling, ['mean', 'cls', 'lasttoken', 'max', 'mean_sqrt_len', 'weightedmean'] as const),
        threads: values.threads === undefined ? undefined : intFlag('threads', values.threads, 1),
        maxLength,
        batchTokens: maxBatchTokens,
      };
      for (const k of Object.keys(options) as (keyof ServeModelOptions)[]) if (options[k] === undefined) delete options[k];
      process.stderr.write(`qzhou serve: loading ${dir}\n`);
      ({ embedder, metadata } = await loadModelForServing(dir, options, {
        worker: !values['model-in-main-thread'],
        onWorkerExit: (e) => workerDied?.(e),
      }));
    }
    const promptFlag = values['default-prompt-name'];
    const defaultPromptName = promptFlag === 'none' ? undefined : (promptFlag ?? metadata.defaultPromptName);

    let server;
    try {
      server = await createEmbeddingServer({
        embedder,
        modelName: values['served-model-name'],
        prompts: metadata.prompts,
        defaultPromptName,
        vocabSize: metadata.vocabSize,
        maxBatchTokens,
        maxBatchRequests,
        maxClientBatchSize: intFlag('max-client-batch-size', values['max-client-batch-size'], 2048),
        maxConcurrentRequests: intFlag('max-concurrent-requests', values['max-concurrent-requests'], 512),
        payloadLimit: parseSize('payload-limit', values['payload-limit'], 8 * 1024 * 1024),
        requestTimeoutMs: Math.round(requestTimeoutS * 1000),
        apiKey,
        autoTruncate: values['auto-truncate'] ?? false,
        closeEmbedder: true,
        logger: values['log-requests'] ? { level: 'info', stream: process.stderr } : false,
        version: process.env.npm_package_version,
      });
    } catch (e) {
      await embedder.close?.();
      if (e instanceof Error && /default prompt/.test(e.message)) throw new UsageError(`--default-prompt-name: ${e.message}`);
      throw e;
    }
    const url = await server.listen({ port, host: values.host ?? '127.0.0.1' }).catch(async (e: Error) => {
      await server.close();
      throw new Error(`cannot listen on ${values.host ?? '127.0.0.1'}:${port}: ${e.message}`);
    });
    process.stderr.write(
      `qzhou serve: ${server.modelName} (dim ${embedder.dim}, max length ${embedder.maxLength}${values.synthetic !== undefined ? ', synthetic' : ''}) listening on ${url}\n`,
    );

    return new Promise<number>((resolve) => {
      let stopping = false;
      const onSignal = (signal: NodeJS.Signals) => {
        if (stopping) {
          process.stderr.write(`qzhou serve: ${signal} again, exiting without draining\n`);
          process.exit(130);
        }
        stopping = true;
        process.stderr.write(`qzhou serve: ${signal}: draining ${server.batcher.activeRequests} in-flight requests (up to ${shutdownTimeoutS} s)\n`);
        server.close({ timeoutMs: Math.round(shutdownTimeoutS * 1000) }).then(
          () => {
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
            process.stderr.write('qzhou serve: stopped\n');
            resolve(0);
          },
          (e: Error) => {
            process.stderr.write(`qzhou serve: shutdown failed: ${e.message}\n`);
            resolve(1);
          },
        );
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      // A dead model cannot come back: stop (without waiting for a drain) so a supervisor restarts us.
      workerDied = (e) => {
        process.stderr.write(`qzhou serve: ${e.message}; stopping\n`);
        stopping = true;
        void server.close({ timeoutMs: 0 }).finally(() => resolve(1));
      };
    });
  },
};
