// What the server needs from a model: the Embedder interface, except that token counting may be
// asynchronous, so that the model can live in a worker thread (ONNX Runtime's run() blocks the thread
// it is called on; see worker-model.ts). Every Embedder is a ServedModel.
import type { EmbedRequest } from '../model/embedder.js';

export interface ServedModel {
  readonly id: string;
  readonly dim: number;
  readonly maxLength: number;
  embed(texts: readonly string[], request?: EmbedRequest): Promise<Float32Array[]>;
  embedTokenIds?(ids: readonly (readonly number[])[]): Promise<Float32Array[]>;
  /** Tokens per text with the request's prompt, before truncation. */
  countTokens(texts: readonly string[], request?: EmbedRequest): number[] | Promise<number[]>;
  /**
   * The longest suffix of `text` that fits maxLength tokens behind `prefix` and the request's prompt
   * (left truncation). Optional: without it the server searches with countTokens.
   */
  truncateLeft?(prefix: string, text: string, request: EmbedRequest): Promise<string>;
  /**
   * Model calls worth keeping in flight at once (default 1). A model in a worker thread queues its calls,
   * so with a second call waiting there it starts the next batch the moment one ends, instead of idling
   * while the server's thread receives the vectors and forms the next batch.
   */
  readonly pipelineDepth?: number;
  /** False once the model can no longer serve (e.g. its worker died); /health then answers 503. */
  readonly healthy?: boolean;
  close?(): Promise<void>;
}

/** The request fields a model call needs (callbacks such as onProgress cannot cross threads). */
export function plainRequest(r: EmbedRequest | undefined): EmbedRequest {
  const out: EmbedRequest = {};
  if (r?.task !== undefined) out.task = r.task;
  if (r?.instruction !== undefined) out.instruction = r.instruction;
  if (r?.kind !== undefined) out.kind = r.kind;
  if (r?.truncate !== undefined) out.truncate = r.truncate;
  return out;
}
