// Test doubles for the Embedder interface used by the mining tests.
import type { EmbedRequest, Embedder } from '../../../src/model/embedder.js';

/**
 * Maps given texts to given vectors (unit length), so that tests fix every score exactly.
 * `scoreVector(s)` makes a 2-D unit vector whose dot product with (1, 0) is s.
 */
export class TableEmbedder implements Embedder {
  readonly id = 'table';
  readonly dim = 2;
  readonly maxLength = 1 << 20;
  readonly calls: { texts: string[]; request?: EmbedRequest }[] = [];

  constructor(private readonly table: ReadonlyMap<string, Float32Array>) {}

  async embed(texts: readonly string[], request?: EmbedRequest): Promise<Float32Array[]> {
    this.calls.push({ texts: [...texts], request });
    return texts.map((t) => {
      const v = this.table.get(t);
      if (!v) throw new Error(`TableEmbedder: no vector for ${JSON.stringify(t)}`);
      return v;
    });
  }

  countTokens(texts: readonly string[]): number[] {
    return texts.map((t) => t.length);
  }
}

export function scoreVector(s: number): Float32Array {
  return new Float32Array([s, Math.sqrt(Math.max(0, 1 - s * s))]);
}

/** Wraps an embedder and records each call's texts and request. */
export class RecordingEmbedder implements Embedder {
  readonly calls: { texts: string[]; request?: EmbedRequest }[] = [];
  constructor(private readonly inner: Embedder) {}
  get id() {
    return this.inner.id;
  }
  get dim() {
    return this.inner.dim;
  }
  get maxLength() {
    return this.inner.maxLength;
  }
  async embed(texts: readonly string[], request?: EmbedRequest): Promise<Float32Array[]> {
    this.calls.push({ texts: [...texts], request });
    return this.inner.embed(texts, request);
  }
  countTokens(texts: readonly string[], request?: EmbedRequest): number[] {
    return this.inner.countTokens(texts, request);
  }
}
