// A TF-IDF bag-of-words "model": the baseline a trained embedder must beat. Mirrors scikit-learn's
// TfidfVectorizer defaults — lowercase, tokens = runs of ≥ 2 word characters (token_pattern
// (?u)\b\w\w+\b), raw term counts, smooth idf = ln((1+n)/(1+df)) + 1, L2 norm — with the vocabulary
// capped at the most frequent terms (max_features; ties by term order). Optional word n-grams and
// character n-grams (useful for Chinese, where a whole run of Han characters is one "word").
// Vectors are dense Float32Arrays of the vocabulary size. Instructions are ignored (they would add the
// same words to every text).
import { createHash } from 'node:crypto';
import type { EmbedRequest, Embedder } from '../model/embedder.js';
import { compareCodePoints } from './numeric.js';
import type { EvalModelFactory } from './run.js';

export interface TfidfOptions {
  /** Vocabulary cap (default 8192). */
  maxFeatures?: number;
  /** Word n-gram range (default [1, 1]). */
  ngramRange?: [number, number];
  /** Use character n-grams of these lengths instead of words (e.g. [1, 2] for Chinese). */
  charNgramRange?: [number, number];
  /** Ignore terms in fewer documents (default 1). */
  minDf?: number;
  /** 1 + ln(tf) instead of tf (default false). */
  sublinearTf?: boolean;
}

const WORD = /[\p{L}\p{N}\p{M}_]{2,}/gu;

export class TfidfEmbedder implements Embedder {
  readonly maxLength = Number.MAX_SAFE_INTEGER;
  /** Vectors are cheap to recompute: the evaluation runner does not cache them. */
  readonly cacheable = false;

  private constructor(
    readonly id: string,
    private readonly vocab: Map<string, number>,
    private readonly idf: Float64Array,
    private readonly opts: TfidfOptions,
  ) {}

  get dim(): number {
    return this.idf.length;
  }

  /** The vocabulary in column order. */
  get terms(): string[] {
    return [...this.vocab.keys()];
  }

  static analyze(text: string, opts: TfidfOptions = {}): string[] {
    const lower = text.toLowerCase();
    if (opts.charNgramRange) {
      const [lo, hi] = opts.charNgramRange;
      const chars = [...lower.replace(/\s+/g, ' ')];
      const out: string[] = [];
      for (let n = lo; n <= hi; n++) for (let i = 0; i + n <= chars.length; i++) out.push(chars.slice(i, i + n).join(''));
      return out;
    }
    const words = lower.match(WORD) ?? [];
    const [lo, hi] = opts.ngramRange ?? [1, 1];
    if (lo === 1 && hi === 1) return words;
    const out: string[] = [];
    for (let n = lo; n <= hi; n++) for (let i = 0; i + n <= words.length; i++) out.push(words.slice(i, i + n).join(' '));
    return out;
  }

  /**
   * The identity of "TF-IDF with these options, fitted per task": the options with their defaults filled
   * in. With the task's data it determines the fitted model (whose own id hashes the fitted vocabulary and idf).
   */
  static configId(opts: TfidfOptions = {}): string {
    const o = {
      maxFeatures: opts.maxFeatures ?? 8192,
      ngramRange: opts.charNgramRange ? null : (opts.ngramRange ?? [1, 1]),
      charNgramRange: opts.charNgramRange ?? null,
      minDf: opts.minDf ?? 1,
      sublinearTf: opts.sublinearTf ?? false,
    };
    return `tfidf-per-task:${JSON.stringify(o)}`;
  }

  /** An evaluation model that fits TF-IDF on each task's texts, with `configId(opts)` as its id. */
  static perTask(opts: TfidfOptions = {}): EvalModelFactory {
    return Object.assign(async ({ texts }: { texts: string[] }) => TfidfEmbedder.fit(texts, opts), { id: TfidfEmbedder.configId(opts) });
  }

  /** Learns the vocabulary and idf from `texts`. */
  static fit(texts: readonly string[], opts: TfidfOptions = {}): TfidfEmbedder {
    if (texts.length === 0) throw new Error('TF-IDF: no texts to fit on');
    const df = new Map<string, number>();
    const tf = new Map<string, number>();
    for (const t of texts) {
      const seen = new Set<string>();
      for (const term of TfidfEmbedder.analyze(t, opts)) {
        tf.set(term, (tf.get(term) ?? 0) + 1);
        if (!seen.has(term)) {
          seen.add(term);
          df.set(term, (df.get(term) ?? 0) + 1);
        }
      }
    }
    const minDf = opts.minDf ?? 1;
    let terms = [...df.keys()].filter((t) => df.get(t)! >= minDf).sort(compareCodePoints);
    const cap = opts.maxFeatures ?? 8192;
    if (terms.length > cap) {
      terms = terms
        .map((t, i) => [t, i] as const)
        .sort((a, b) => tf.get(b[0])! - tf.get(a[0])! || a[1] - b[1])
        .slice(0, cap)
        .map(([t]) => t)
        .sort(compareCodePoints);
    }
    if (terms.length === 0) throw new Error('TF-IDF: the texts contain no terms');
    const n = texts.length;
    const idf = Float64Array.from(terms, (t) => Math.log((1 + n) / (1 + df.get(t)!)) + 1);
    const vocab = new Map(terms.map((t, i) => [t, i]));
    const hash = createHash('sha256').update(JSON.stringify(opts)).update('\u0000');
    terms.forEach((t, i) => hash.update(t).update(`\u0000${idf[i]}\u0000`));
    return new TfidfEmbedder(`tfidf:${hash.digest('hex').slice(0, 16)}`, vocab, idf, opts);
  }

  async embed(texts: readonly string[], request: EmbedRequest = {}): Promise<Float32Array[]> {
    const out = texts.map((t) => this.vector(t));
    request.onProgress?.(texts.length, texts.length);
    return out;
  }

  private vector(text: string): Float32Array {
    const counts = new Map<number, number>();
    for (const term of TfidfEmbedder.analyze(text, this.opts)) {
      const j = this.vocab.get(term);
      if (j !== undefined) counts.set(j, (counts.get(j) ?? 0) + 1);
    }
    const v = new Float32Array(this.dim);
    let norm = 0;
    const w = new Map<number, number>();
    for (const [j, c] of counts) {
      const x = (this.opts.sublinearTf ? 1 + Math.log(c) : c) * this.idf[j]!;
      w.set(j, x);
      norm += x * x;
    }
    norm = Math.sqrt(norm);
    if (norm > 0) for (const [j, x] of w) v[j] = x / norm;
    return v;
  }

  countTokens(texts: readonly string[]): number[] {
    return texts.map((t) => TfidfEmbedder.analyze(t, this.opts).length);
  }
}
