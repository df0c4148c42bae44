// A deterministic stand-in model: whitespace "tokens", and each vector a seeded pseudo-random unit
// vector of the (prompted, truncated) token sequence. It follows the Embedder contract exactly
// (instructions, sides, truncation, token ids) but its vectors carry no meaning. Used by the tests and
// the load bench, and by `qzhou serve --synthetic DIM` for testing clients without a model.
import type { Embedder, EmbedRequest } from '../model/embedder.js';
import { formatPrompt, instructionForSide } from '../model/instructions.js';
import { fnv1a32 } from '../util/hash.js';
import { mulberry32 } from '../util/random.js';

export interface SyntheticEmbedderOptions {
  dim?: number;
  maxLength?: number;
  id?: string;
  /** Simulated compute time of one embed() call in ms, given its inputs' token counts (after truncation). */
  costMs?: (tokenCounts: readonly number[]) => number;
  /** The same as data (it can cross to a worker thread): perCallMs + perPaddedTokenMs × inputs × longest. */
  cost?: { perCallMs: number; perPaddedTokenMs: number };
  /** Spend the simulated time busy on the calling thread, as ONNX Runtime's run() does (default: sleep). */
  blocking?: boolean;
  /** Support embedTokenIds (default true). */
  tokenIds?: boolean;
  /** Keep a log of embed() calls in `calls` (default false). */
  record?: boolean;
}

export interface SyntheticCall {
  texts?: string[];
  ids?: number[][];
  request?: EmbedRequest;
}

/** A unit vector of uniform(−1, 1) components from a seeded mulberry32 stream. */
function unitVector(seed: number, dim: number): Float32Array {
  const next = mulberry32(seed);
  const raw = new Float64Array(dim);
  let sq = 0;
  for (let i = 0; i < dim; i++) {
    raw[i] = next() * 2 - 1;
    sq += raw[i]! * raw[i]!;
  }
  const norm = Math.sqrt(sq) || 1;
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) out[i] = raw[i]! / norm;
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class SyntheticEmbedder implements Embedder {
  readonly id: string;
  readonly dim: number;
  readonly maxLength: number;
  readonly calls: SyntheticCall[] = [];
  readonly embedTokenIds?: (ids: readonly (readonly number[])[]) => Promise<Float32Array[]>;
  private readonly costMs?: (tokenCounts: readonly number[]) => number;
  private readonly blocking: boolean;
  private readonly record: boolean;
  closed = false;

  constructor(o: SyntheticEmbedderOptions = {}) {
    this.dim = o.dim ?? 32;
    this.maxLength = o.maxLength ?? 512;
    this.id = o.id ?? `synthetic-${this.dim}`;
    const c = o.cost;
    this.costMs = o.costMs ?? (c ? (t) => c.perCallMs + c.perPaddedTokenMs * t.length * Math.max(0, ...t) : undefined);
    this.blocking = o.blocking ?? false;
    this.record = o.record ?? false;
    if (o.tokenIds ?? true) this.embedTokenIds = (ids) => this.embedIds(ids);
  }

  /** The text the model sees for one input: the instruction prompt (when it applies) + the text. */
  prompted(text: string, request: EmbedRequest = {}): string {
    const instruction = request.instruction ?? (request.task ? instructionForSide(request.task, request.kind ?? 'query') : undefined);
    return formatPrompt(instruction) + text;
  }

  tokenize(text: string, request: EmbedRequest = {}): string[] {
    return this.prompted(text, request).match(/\S+/g) ?? [];
  }

  countTokens(texts: readonly string[], request: EmbedRequest = {}): number[] {
    return texts.map((t) => this.tokenize(t, request).length);
  }

  async embed(texts: readonly string[], request: EmbedRequest = {}): Promise<Float32Array[]> {
    const tokens = texts.map((t, i) => {
      const tok = this.tokenize(t, request);
      if (tok.length > this.maxLength && request.truncate === false) {
        throw new Error(`text ${i} has ${tok.length} tokens, more than the maximum of ${this.maxLength}`);
      }
      return tok.slice(0, this.maxLength);
    });
    if (this.record) this.calls.push({ texts: [...texts], request: { ...request } });
    if (this.costMs) await this.spend(this.costMs(tokens.map((t) => t.length)));
    const out = tokens.map((t) => unitVector(fnv1a32(`t\u0000${t.join(' ')}`), this.dim));
    request.onProgress?.(texts.length, texts.length);
    return out;
  }

  private async embedIds(ids: readonly (readonly number[])[]): Promise<Float32Array[]> {
    if (this.record) this.calls.push({ ids: ids.map((x) => [...x]) });
    if (this.costMs) await this.spend(this.costMs(ids.map((x) => Math.min(x.length, this.maxLength))));
    return ids.map((x) => unitVector(fnv1a32(`i\u0000${x.slice(0, this.maxLength).join(',')}`), this.dim));
  }

  private async spend(ms: number): Promise<void> {
    if (!this.blocking) return sleep(ms);
    await new Promise((r) => setImmediate(r)); // like onnxruntime-node: deferred, then synchronous
    const end = performance.now() + ms;
    while (performance.now() < end) {
      // busy, as a synchronous native run would be
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
