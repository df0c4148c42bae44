// Turns texts into embeddings for one task: applies the task's instruction rule, embeds each distinct
// text once, reads and fills the embedding cache, checks what the model returns, and reports progress.
import type { EmbedRequest, Embedder } from '../model/embedder.js';
import type { EmbeddingCache } from './cache.js';
import type { Progress } from './progress.js';
import { silentProgress } from './progress.js';
import { findTask, instructionFor, type TaskMetadata, type TextSide } from './tasks.js';

export interface TextEncoder {
  /** One vector per text, in order. `what` names the texts in progress lines ("queries", "test"). */
  encode(texts: readonly string[], side: TextSide, what?: string): Promise<Float32Array[]>;
}

export interface TaskEncoderOptions {
  cache?: EmbeddingCache;
  /** Apply the task's instruction (default true). false embeds raw texts. */
  instructions?: boolean;
  progress?: Progress;
  /** Texts handed to the model per call (default 512); each call's results are cached before the next. */
  chunkSize?: number;
}

/** The Embedder-backed encoder used by every evaluator. */
export class TaskEncoder implements TextEncoder {
  /** Texts actually sent to the model (cache misses), for reporting. */
  embedded = 0;
  /** Texts served from the cache. */
  cached = 0;

  constructor(
    readonly embedder: Embedder,
    readonly task: TaskMetadata,
    private readonly opts: TaskEncoderOptions = {},
  ) {}

  /**
   * What to ask the embedder for one side, and the cache key of that prefix. Registry tasks pass
   * `{ task, kind }` so the model applies its own rule (QZhou's instruction table for instruction-tuned
   * decoders, a checkpoint's sentence-transformers prompts, nothing for plain encoders); the key then
   * names task, side and instruction, which fixes the prefix for a given embedder id. Tasks with their own
   * instruction (task folders) pass it explicitly; with instructions off, an empty instruction is passed.
   */
  request(side: TextSide): { request: EmbedRequest; key: string } {
    if (this.opts.instructions === false) return { request: { kind: side, instruction: '' }, key: '' };
    const instruction = instructionFor(this.task, side);
    const registry = findTask(this.task.name);
    if (registry && registry.instruction === this.task.instruction && registry.instructionSides === this.task.instructionSides) {
      return { request: { task: this.task.name, kind: side }, key: `task=${this.task.name};side=${side};instruction=${instruction}` };
    }
    return { request: { task: this.task.name, kind: side, instruction }, key: `instruction=${instruction}` };
  }

  async encode(texts: readonly string[], side: TextSide, what = side === 'query' ? 'queries' : 'documents'): Promise<Float32Array[]> {
    const { request, key: instruction } = this.request(side);
    const progress = this.opts.progress ?? silentProgress;
    const unique: string[] = [];
    const slot = new Map<string, number>();
    const where = new Int32Array(texts.length);
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw new Error(`${this.task.name}: ${what} text ${i} is ${t === null ? 'null' : typeof t}, not a string`);
      let s = slot.get(t);
      if (s === undefined) {
        s = unique.length;
        slot.set(t, s);
        unique.push(t);
      }
      where[i] = s;
    });
    const vectors: (Float32Array | undefined)[] = this.opts.cache ? this.opts.cache.lookup(instruction, unique) : new Array(unique.length).fill(undefined);
    const missing: number[] = [];
    for (let i = 0; i < unique.length; i++) if (!vectors[i]) missing.push(i);
    this.cached += unique.length - missing.length;
    const label = `[${this.task.name}] embedding ${what}`;
    const chunk = Math.max(1, this.opts.chunkSize ?? 512);
    let done = unique.length - missing.length;
    if (missing.length) progress.update(label, done, unique.length);
    for (let c = 0; c < missing.length; c += chunk) {
      const ids = missing.slice(c, c + chunk);
      const batch = ids.map((i) => unique[i]!);
      const out = await this.embedder.embed(batch, { ...request, onProgress: (d) => progress.update(label, done + d, unique.length) });
      if (out.length !== batch.length) throw new Error(`embedder ${this.embedder.id} returned ${out.length} vectors for ${batch.length} texts`);
      out.forEach((v, j) => {
        if (!(v instanceof Float32Array)) throw new Error(`embedder ${this.embedder.id} returned a ${Object.prototype.toString.call(v)} instead of a Float32Array`);
        if (v.length !== this.embedder.dim) throw new Error(`embedder ${this.embedder.id} returned a vector of dimension ${v.length}, expected ${this.embedder.dim}`);
        for (let k = 0; k < v.length; k++) {
          if (!Number.isFinite(v[k]!)) throw new Error(`embedder ${this.embedder.id} returned a non-finite value for ${what} text ${JSON.stringify(batch[j]!.slice(0, 80))}`);
        }
        vectors[ids[j]!] = v;
      });
      this.opts.cache?.append(instruction, batch, out);
      this.embedded += batch.length;
      done += batch.length;
      progress.update(label, done, unique.length);
    }
    return Array.from(where, (s) => vectors[s]!);
  }
}
