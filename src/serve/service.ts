// The route-independent part of an embedding request: parse and check the inputs, resolve the prompt,
// apply the length rule, wait for the batcher, and cut/re-normalise to the requested dimensions.
import type { TextKind } from '../model/embedder.js';
import type { BatchInput, DynamicBatcher } from './batcher.js';
import { invalidField, requestTimeout } from './errors.js';
import { parseInputs, prepareInputs, type TruncationDirection } from './inputs.js';
import { resolvePrompt, type PromptCatalog } from './prompts.js';
import type { ServedModel } from './served-model.js';
import { truncateDimensions } from './vectors.js';

export interface EmbedCall {
  /** The raw `input`/`inputs` value. */
  value: unknown;
  /** The field's name as the client wrote it, for error messages ("input", "inputs", "inputs.sentences"). */
  field: string;
  allowEmptyText: boolean;
  promptName?: string | null;
  instruction?: string | null;
  inputType?: TextKind | null;
  /** undefined/null: the server's --auto-truncate. */
  truncate?: boolean | null;
  direction?: TruncationDirection;
  dimensions?: number | null;
  tooLongStatus: 400 | 413;
  signal?: AbortSignal;
}

export interface EmbedOutcome {
  vectors: Float32Array[];
  tokens: number;
  characters: number;
  queueMs: number;
  inferenceMs: number;
}

/** A call whose inputs passed every check and were counted, ready to be queued. */
export interface PreparedCall {
  inputs: BatchInput[];
  tokens: number;
  characters: number;
  dims: number | undefined;
  /** performance.now() by which the request must be answered (Infinity: no limit). */
  deadline: number;
  signal?: AbortSignal;
}

export interface ServiceLimits {
  maxClientBatchSize: number;
  autoTruncate: boolean;
  requestTimeoutMs: number;
  vocabSize?: number;
}

export class EmbeddingService {
  constructor(
    readonly embedder: ServedModel,
    readonly batcher: DynamicBatcher,
    readonly catalog: PromptCatalog,
    readonly limits: ServiceLimits,
  ) {}

  async embed(call: EmbedCall): Promise<EmbedOutcome> {
    return this.submit(await this.prepare(call));
  }

  /**
   * Checks and counts a call's inputs (parse, prompt, length rule) without queueing them, so that a route
   * with several input fields can refuse the request before any of it reaches the model.
   */
  async prepare(call: EmbedCall): Promise<PreparedCall> {
    const dims = call.dimensions ?? undefined;
    if (dims !== undefined && dims > this.embedder.dim) {
      throw invalidField('dimensions', `${dims} is more than the model's ${this.embedder.dim} dimensions`);
    }
    const raw = parseInputs(call.value, {
      field: call.field,
      maxItems: this.limits.maxClientBatchSize,
      allowEmptyText: call.allowEmptyText,
      vocabSize: this.limits.vocabSize,
    });
    const prompt = resolvePrompt({ promptName: call.promptName, instruction: call.instruction, inputType: call.inputType }, this.catalog);
    // The timeout covers the whole request: token counting too (a worker model counts between batches).
    const limit = this.limits.requestTimeoutMs;
    const deadline = limit > 0 ? performance.now() + limit : Infinity;
    const prepared = await this.beforeDeadline(
      prepareInputs(raw, this.embedder, {
        prompt,
        truncate: call.truncate ?? this.limits.autoTruncate,
        direction: call.direction ?? 'right',
        tooLongStatus: call.tooLongStatus,
      }),
      deadline,
    );
    let characters = 0;
    for (const r of raw) if (r.type === 'text') characters += r.text.length;
    return { inputs: prepared.inputs, tokens: prepared.tokens, characters, dims, deadline, signal: call.signal };
  }

  /** Queues prepared inputs and waits for their vectors (cut to the requested dimensions). */
  async submit(p: PreparedCall): Promise<EmbedOutcome> {
    const limit = this.limits.requestTimeoutMs;
    const left = p.deadline === Infinity ? 0 : Math.max(1, Math.round(p.deadline - performance.now()));
    const result = await this.batcher.submit(p.inputs, { signal: p.signal, timeoutMs: left, timeoutLabelMs: limit });
    const dims = p.dims;
    const vectors = dims === undefined ? result.vectors : result.vectors.map((v) => truncateDimensions(v, dims, true));
    return { vectors, tokens: p.tokens, characters: p.characters, queueMs: result.queueMs, inferenceMs: result.inferenceMs };
  }

  private beforeDeadline<T>(p: Promise<T>, deadline: number): Promise<T> {
    if (deadline === Infinity) return p;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(requestTimeout(this.limits.requestTimeoutMs, this.batcher.retryAfterSeconds())), Math.max(0, deadline - performance.now()));
      timer.unref?.();
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }
}
