// A lexical embedder: feature hashing of words (and of Han/kana/Hangul character uni- and bigrams)
// with sublinear term frequency and signed buckets, L2-normalised. Dot products approximate the
// cosine of TF vectors, so it ranks like a simple bag-of-words retriever. It needs no model, runs
// anywhere, and is deterministic: useful for mining lexical hard negatives, for smoke runs of
// `qzhou mine`, and as a test double for the Embedder interface. Instructions are ignored.
import type { EmbedRequest, Embedder } from '../model/embedder.js';
import { fnv1a32 } from '../util/hash.js';

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const TOKEN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+|[\p{L}\p{N}\p{M}]+/gu;

/** The hashed features of a text (words; CJK runs as character unigrams and bigrams). */
export function lexicalFeatures(text: string): string[] {
  const out: string[] = [];
  for (const m of text.normalize('NFKC').toLowerCase().matchAll(TOKEN)) {
    const tok = m[0];
    if (CJK.test(tok[0]!)) {
      const chars = Array.from(tok);
      chars.forEach((c, i) => {
        out.push(c);
        if (i + 1 < chars.length) out.push(c + chars[i + 1]);
      });
    } else {
      out.push(tok);
    }
  }
  return out;
}

export class HashingEmbedder implements Embedder {
  readonly id: string;
  readonly maxLength = Number.MAX_SAFE_INTEGER;

  constructor(readonly dim = 1024) {
    if (!Number.isInteger(dim) || dim < 8) throw new RangeError(`hashing embedder: dim must be an integer ≥ 8, got ${dim}`);
    this.id = `hashing-bow-${dim}`;
  }

  async embed(texts: readonly string[], request?: EmbedRequest): Promise<Float32Array[]> {
    const out = texts.map((t) => this.vector(t));
    request?.onProgress?.(texts.length, texts.length);
    return out;
  }

  countTokens(texts: readonly string[]): number[] {
    return texts.map((t) => lexicalFeatures(t).length);
  }

  private vector(text: string): Float32Array {
    const tf = new Map<string, number>();
    for (const f of lexicalFeatures(text)) tf.set(f, (tf.get(f) ?? 0) + 1);
    const v = new Float32Array(this.dim);
    for (const [f, n] of tf) {
      const h = fnv1a32(f);
      v[h % this.dim] += (h & 0x80000000 ? -1 : 1) * (1 + Math.log(n));
    }
    let norm = 0;
    for (let i = 0; i < v.length; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm);
    if (norm > 0) for (let i = 0; i < v.length; i++) v[i]! /= norm;
    return v;
  }
}
