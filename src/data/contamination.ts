// A contamination filter: drops training records whose texts appear in evaluation sets, either as
// the same normalised text or by sharing one n-gram (default 13, as in the GPT-3 decontamination).
// N-grams run over a token sequence where each CJK character (Han, Hiragana, Katakana) is a token
// and any other run of non-space characters is a word, so Chinese and mixed texts work without a
// segmenter. Texts shorter than n tokens are only checked for the exact match.
import type { Reason } from './errors.js';
import { HashSet64, hash64 } from './hashset.js';
import { normalizeText } from './dedup.js';
import { readRecords, type ReadOptions } from './readers.js';

const TOKEN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|[^\s\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]+/gu;

/** The n-gram tokens of a text (after normalizeText). */
export function ngramTokens(text: string): string[] {
  return normalizeText(text).match(TOKEN) ?? [];
}

/** 64-bit hashes of every n-token window, as a flat [hi, lo, hi, lo, …] list. */
export function ngramHashes(tokens: readonly string[], n: number): number[] {
  if (tokens.length < n) return [];
  const th = new Uint32Array(tokens.length * 2);
  tokens.forEach((t, i) => {
    const [a, b] = hash64(t);
    th[2 * i] = a;
    th[2 * i + 1] = b;
  });
  const out: number[] = [];
  for (let s = 0; s + n <= tokens.length; s++) {
    let h1 = 0x2545f491 ^ n;
    let h2 = 0x6c8e9cf5;
    for (let k = 0; k < n; k++) {
      h1 = Math.imul(h1 ^ th[2 * (s + k)]!, 0x01000193) + k;
      h1 = (h1 << 7) | (h1 >>> 25);
      h2 = Math.imul(h2 ^ th[2 * (s + k) + 1]!, 0x5bd1e995) + k;
      h2 = (h2 << 13) | (h2 >>> 19);
    }
    out.push(h1 >>> 0, (h2 ^ Math.imul(h1, 0x9e3779b1)) >>> 0);
  }
  return out;
}

export interface ContaminationOptions {
  /** N-gram length in tokens (default 13); 0 turns n-gram matching off. */
  ngram?: number;
}

export interface ContaminationSourceOptions extends ContaminationOptions {
  /** Only these fields of each evaluation record (default: every string, also inside lists and objects). */
  fields?: string[];
  /** How to read the evaluation files. */
  read?: ReadOptions;
}

function collectStrings(v: unknown, out: string[]): void {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) collectStrings(x, out);
  else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) collectStrings(x, out);
}

export class ContaminationIndex {
  private exact = new HashSet64();
  private grams = new HashSet64();
  readonly ngram: number;
  /** Evaluation texts indexed. */
  texts = 0;

  constructor(options: ContaminationOptions = {}) {
    this.ngram = options.ngram ?? 13;
    if (!Number.isInteger(this.ngram) || this.ngram < 0) throw new Error(`n-gram length must be a whole number ≥ 0, got ${options.ngram}`);
  }

  /** Builds an index from evaluation files (any readable format). */
  static async fromFiles(paths: readonly string[], options: ContaminationSourceOptions = {}): Promise<ContaminationIndex> {
    const index = new ContaminationIndex(options);
    for (const p of paths) {
      for await (const { record } of readRecords(p, options.read)) {
        const texts: string[] = [];
        if (options.fields) for (const f of options.fields) collectStrings(record[f], texts);
        else collectStrings(record, texts);
        for (const t of texts) index.add(t);
      }
    }
    return index;
  }

  /** Distinct n-grams indexed. */
  get ngrams(): number {
    return this.grams.size;
  }

  add(text: string): void {
    const norm = normalizeText(text);
    if (norm === '') return;
    this.texts++;
    this.exact.addString(norm);
    if (this.ngram > 0) {
      const h = ngramHashes(norm.match(TOKEN) ?? [], this.ngram);
      for (let i = 0; i < h.length; i += 2) this.grams.add(h[i]!, h[i + 1]!);
    }
  }

  /** Null when the text is clean, else the kind of match. */
  check(text: string): Reason | null {
    const norm = normalizeText(text);
    if (norm === '') return null;
    if (this.exact.hasString(norm)) return 'contaminated-exact';
    if (this.ngram > 0 && this.grams.size > 0) {
      const h = ngramHashes(norm.match(TOKEN) ?? [], this.ngram);
      for (let i = 0; i < h.length; i += 2) if (this.grams.has(h[i]!, h[i + 1]!)) return 'contaminated-ngram';
    }
    return null;
  }
}
