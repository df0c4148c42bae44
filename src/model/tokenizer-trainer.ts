// Trains a tokenizer from text and writes it as a standard Hugging Face `tokenizer.json`, so a model
// trained from scratch is a normal checkpoint folder that loadEmbedder, transformers and tokenizers load.
//   - 'bpe': byte-level BPE as Qwen2 uses it (NFC, Qwen's split regex, ByteLevel bytes → characters,
//     all 256 byte symbols in the vocabulary so nothing is ever unknown; special tokens added last).
//   - 'wordpiece': BERT's WordPiece (BertNormalizer with lowercasing, BertPreTokenizer, "##"
//     continuation pieces, [PAD] [UNK] [CLS] [SEP] [MASK] first), trained like transformers'
//     WordPieceTrainer: BPE merges over words whose inner characters carry the "##" prefix.
// Training splits words with the same normaliser and pre-tokeniser that encoding uses (the
// @huggingface/tokenizers pipeline built from the very tokenizer.json being written; the project's
// Rust-exact BertNormalizer for WordPiece), counts them, and merges the most frequent adjacent pair until
// the vocabulary is full or no pair occurs `minFrequency` times. Ties go to the pair of smaller ids (the
// Rust trainer's rule), so the result is a pure function of the texts and options.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { bertNormalize } from './tokenizer.js';
import { tempPathFor } from '../util/atomic-file.js';

export type TokenizerKind = 'bpe' | 'wordpiece';

export interface TrainTokenizerOptions {
  kind: TokenizerKind;
  /** Vocabulary size including special tokens and the alphabet (default 8000). */
  vocabSize?: number;
  /** A pair must occur at least this often to be merged (default 2). */
  minFrequency?: number;
  /** Lowercase text before tokenising (default: true for wordpiece, false for bpe). */
  lowercase?: boolean;
  /** Special tokens (default: [PAD] [UNK] [CLS] [SEP] [MASK] for wordpiece; <|endoftext|> for bpe). */
  specialTokens?: string[];
  /** wordpiece: keep at most this many distinct characters, the most frequent (default 1000, as transformers). */
  limitAlphabet?: number;
  /** `model_max_length` written to tokenizer_config.json (default 512). */
  modelMaxLength?: number;
  /** Progress: (texts read) while counting, then (merges done, merges wanted). */
  onProgress?: (phase: 'count' | 'merge', done: number, total: number) => void;
}

export interface TrainedTokenizer {
  /** tokenizer.json content. */
  tokenizer: Record<string, unknown>;
  /** tokenizer_config.json content. */
  config: Record<string, unknown>;
  /** special_tokens_map.json content. */
  specialTokensMap: Record<string, unknown>;
  vocabSize: number;
  merges: number;
  /** Distinct pre-tokenised words seen, and texts read. */
  words: number;
  texts: number;
}

const WORDPIECE_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const BPE_SPECIALS = ['<|endoftext|>'];
/** Qwen2's pre-tokeniser split (as in its tokenizer.json). */
const QWEN_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** GPT-2's reversible byte → printable character table (ByteLevel). */
export function byteLevelAlphabet(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const chars = new Array<string>(256);
  for (const b of bs) chars[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (chars[b] === undefined) chars[b] = String.fromCodePoint(256 + n++);
  return chars;
}

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** The tokenizer.json pipeline (everything but the model) for a kind. */
function pipeline(kind: TokenizerKind, lowercase: boolean, specials: readonly string[], specialId: (t: string) => number): Record<string, unknown> {
  if (kind === 'bpe') {
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
    return {
      normalizer: lowercase ? { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Lowercase' }] } : { type: 'NFC' },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: QWEN_SPLIT }, behavior: 'Isolated', invert: false }, byteLevel] },
      post_processor: byteLevel,
      decoder: byteLevel,
    };
  }
  const has = (t: string) => specials.includes(t);
  return {
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: has('[CLS]') && has('[SEP]')
      ? {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
        special_tokens: {
          '[CLS]': { id: '[CLS]', ids: [specialId('[CLS]')], tokens: ['[CLS]'] },
          '[SEP]': { id: '[SEP]', ids: [specialId('[SEP]')], tokens: ['[SEP]'] },
        },
      }
      : null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  };
}

/** Splits text into words exactly as the trained tokenizer will before its model runs. */
function wordSplitter(kind: TokenizerKind, lowercase: boolean): (text: string) => string[] {
  const pipe = pipeline(kind, lowercase, [], () => 0);
  const model = kind === 'bpe'
    ? { type: 'BPE', vocab: {}, merges: [], dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false }
    : { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: { '[UNK]': 0 } };
  const tok = new Tokenizer({ version: '1.0', truncation: null, padding: null, added_tokens: [], ...pipe, model }, {});
  const pre = tok.pre_tokenizer;
  const norm = kind === 'wordpiece' ? (t: string) => bertNormalize(t, { lowercase }) : (t: string) => (tok.normalizer ? tok.normalizer(t) : t);
  return (text) => {
    const n = norm(text);
    return pre ? pre(n) : [n];
  };
}

/** A max-heap of candidate merges: larger count first, then smaller (a, b) ids. */
class MergeHeap {
  private count: number[] = [];
  private a: number[] = [];
  private b: number[] = [];

  get size(): number {
    return this.count.length;
  }

  private before(i: number, j: number): boolean {
    const c = this.count;
    if (c[i] !== c[j]) return c[i]! > c[j]!;
    if (this.a[i] !== this.a[j]) return this.a[i]! < this.a[j]!;
    return this.b[i]! < this.b[j]!;
  }

  private swap(i: number, j: number): void {
    for (const arr of [this.count, this.a, this.b]) [arr[i], arr[j]] = [arr[j]!, arr[i]!];
  }

  push(count: number, a: number, b: number): void {
    this.count.push(count);
    this.a.push(a);
    this.b.push(b);
    let i = this.count.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): [number, number, number] | undefined {
    const n = this.count.length;
    if (n === 0) return undefined;
    const top: [number, number, number] = [this.count[0]!, this.a[0]!, this.b[0]!];
    this.swap(0, n - 1);
    this.count.pop();
    this.a.pop();
    this.b.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n - 1 && this.before(l, m)) m = l;
      if (r < n - 1 && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

/** Trains a tokenizer on `texts` (any iterable or async iterable of strings). */
export async function trainTokenizer(texts: Iterable<string> | AsyncIterable<string>, opts: TrainTokenizerOptions): Promise<TrainedTokenizer> {
  const kind = opts.kind;
  if (kind !== 'bpe' && kind !== 'wordpiece') throw new Error(`tokenizer kind must be "bpe" or "wordpiece", got ${JSON.stringify(kind)}`);
  const vocabSize = opts.vocabSize ?? 8000;
  const minFrequency = opts.minFrequency ?? 2;
  const lowercase = opts.lowercase ?? kind === 'wordpiece';
  const specials = [...(opts.specialTokens ?? (kind === 'bpe' ? BPE_SPECIALS : WORDPIECE_SPECIALS))];
  const limitAlphabet = opts.limitAlphabet ?? 1000;
  if (!Number.isSafeInteger(vocabSize) || vocabSize < 1) throw new Error(`vocab size must be a positive integer, got ${vocabSize}`);
  if (!Number.isSafeInteger(minFrequency) || minFrequency < 1) throw new Error(`min frequency must be a positive integer, got ${minFrequency}`);
  if (new Set(specials).size !== specials.length || specials.some((s) => typeof s !== 'string' || s === '')) throw new Error('special tokens must be distinct non-empty strings');
  if (kind === 'wordpiece' && !specials.includes('[UNK]')) throw new Error('a WordPiece tokenizer needs "[UNK]" among its special tokens');

  // 1. Count words.
  const split = wordSplitter(kind, lowercase);
  const wordCounts = new Map<string, number>();
  let nTexts = 0;
  for await (const text of texts as AsyncIterable<string>) {
    if (typeof text !== 'string') throw new TypeError(`texts must be strings, got ${typeof text} (text ${nTexts})`);
    for (const w of split(text)) if (w) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
    if (++nTexts % 10000 === 0) opts.onProgress?.('count', nTexts, 0);
  }
  if (wordCounts.size === 0) throw new Error('no text to train a tokenizer on');
  // Words in a fixed order (by string), so ids never depend on the input's order of first appearance.
  const words = [...wordCounts.keys()].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const counts = words.map((w) => wordCounts.get(w)!);

  // 2. Alphabet: byte symbols (bpe) or the most frequent characters, with "##" forms (wordpiece).
  const tokens: string[] = [];
  const idOf = new Map<string, number>();
  const add = (t: string) => {
    let id = idOf.get(t);
    if (id === undefined) {
      idOf.set(t, (id = tokens.length));
      tokens.push(t);
    }
    return id;
  };
  if (kind === 'wordpiece') for (const s of specials) add(s);
  let alphabet: Set<string>;
  if (kind === 'bpe') {
    alphabet = new Set(byteLevelAlphabet());
    for (const c of byteLevelAlphabet()) add(c);
  } else {
    const charCounts = new Map<string, number>();
    words.forEach((w, i) => {
      for (const ch of w) charCounts.set(ch, (charCounts.get(ch) ?? 0) + counts[i]!);
    });
    const kept = [...charCounts.entries()].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).slice(0, limitAlphabet).map(([c]) => c);
    alphabet = new Set(kept);
    for (const c of [...kept].sort()) add(c);
    for (const c of [...kept].sort()) add(`##${c}`);
  }
  const prefixed = (ch: string, first: boolean) => (kind === 'wordpiece' && !first ? `##${ch}` : ch);

  // Words as symbol-id sequences (characters outside a limited alphabet split the word, as unknowns).
  const seqs: Int32Array[] = words.map((w) => {
    const ids: number[] = [];
    let first = true;
    for (const ch of w) {
      if (alphabet.has(ch)) ids.push(idOf.get(prefixed(ch, first))!);
      else ids.push(-1);
      first = false;
    }
    return Int32Array.from(ids);
  });

  // 3. Pair statistics and where each pair occurs.
  const key = (a: number, b: number) => a * 0x100000 + b; // ids < 2^20
  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const addPair = (a: number, b: number, wi: number, c: number) => {
    if (a < 0 || b < 0) return;
    const k = key(a, b);
    pairCount.set(k, (pairCount.get(k) ?? 0) + c);
    let s = where.get(k);
    if (!s) where.set(k, (s = new Set()));
    s.add(wi);
  };
  seqs.forEach((s, wi) => {
    for (let i = 0; i + 1 < s.length; i++) addPair(s[i]!, s[i + 1]!, wi, counts[wi]!);
  });
  const heap = new MergeHeap();
  for (const [k, c] of pairCount) heap.push(c, Math.floor(k / 0x100000), k % 0x100000);

  // 4. Merge.
  const specialsAtEnd = kind === 'bpe' ? specials.length : 0;
  const wantMerges = Math.max(0, vocabSize - tokens.length - specialsAtEnd);
  const merges: [string, string][] = [];
  while (tokens.length + specialsAtEnd < vocabSize && heap.size > 0) {
    const [c, a, b] = heap.pop()!;
    const k = key(a, b);
    const now = pairCount.get(k) ?? 0;
    if (now !== c) {
      if (now > 0) heap.push(now, a, b); // stale entry: requeue with the current count
      continue;
    }
    if (c < minFrequency) break;
    const ta = tokens[a]!;
    const tb = tokens[b]!;
    const merged = kind === 'wordpiece' ? ta + tb.slice(2) : ta + tb;
    const id = add(merged);
    merges.push([ta, tb]);
    if (merges.length % 500 === 0) opts.onProgress?.('merge', merges.length, wantMerges);
    const changed = new Set<number>();
    for (const wi of where.get(k) ?? []) {
      const s = seqs[wi]!;
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(s[i]!);
      }
      if (out.length === s.length) continue; // the pair no longer occurs in this word
      // Replace the word's pairs: remove the old ones, add the new ones (those with the new symbol are new).
      const wc = counts[wi]!;
      for (let i = 0; i + 1 < s.length; i++) if (s[i]! >= 0 && s[i + 1]! >= 0) bump(pairCount, key(s[i]!, s[i + 1]!), -wc);
      for (let i = 0; i + 1 < out.length; i++) {
        addPair(out[i]!, out[i + 1]!, wi, wc);
        if ((out[i] === id || out[i + 1] === id) && out[i]! >= 0 && out[i + 1]! >= 0) changed.add(key(out[i]!, out[i + 1]!));
      }
      seqs[wi] = Int32Array.from(out);
    }
    where.delete(k);
    pairCount.delete(k);
    for (const ck of changed) heap.push(pairCount.get(ck)!, Math.floor(ck / 0x100000), ck % 0x100000);
  }

  // 5. tokenizer.json.
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));
  const specialIds = new Map<string, number>();
  if (kind === 'bpe') specials.forEach((s, i) => specialIds.set(s, tokens.length + i));
  else for (const s of specials) specialIds.set(s, idOf.get(s)!);
  const addedTokens = specials.map((s) => special(specialIds.get(s)!, s));
  const model = kind === 'bpe'
    ? { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges }
    : { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab };
  const tokenizer = {
    version: '1.0', truncation: null, padding: null, added_tokens: addedTokens,
    ...pipeline(kind, lowercase, specials, (t) => specialIds.get(t)!),
    model,
  };
  const modelMaxLength = opts.modelMaxLength ?? 512;
  const addedDecoder: Record<string, unknown> = {};
  for (const t of addedTokens) addedDecoder[String(t.id)] = { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  const specialTokensMap: Record<string, unknown> = {};
  const config: Record<string, unknown> = { added_tokens_decoder: addedDecoder, clean_up_tokenization_spaces: kind === 'wordpiece', model_max_length: modelMaxLength };
  if (kind === 'bpe') {
    const eos = specials[0]!;
    Object.assign(config, { tokenizer_class: 'Qwen2Tokenizer', eos_token: eos, pad_token: eos, bos_token: null, unk_token: null, errors: 'replace', split_special_tokens: false, padding_side: 'left' });
    Object.assign(specialTokensMap, { eos_token: eos, pad_token: eos });
  } else {
    const pick = (t: string) => (specials.includes(t) ? t : undefined);
    const roles = { cls_token: pick('[CLS]'), sep_token: pick('[SEP]'), pad_token: pick('[PAD]'), unk_token: '[UNK]', mask_token: pick('[MASK]') };
    Object.assign(config, { tokenizer_class: 'BertTokenizer', do_lower_case: lowercase, tokenize_chinese_chars: true, strip_accents: null, padding_side: 'right' }, roles);
    for (const [k, v] of Object.entries(roles)) if (v !== undefined) specialTokensMap[k] = v;
  }
  return { tokenizer, config, specialTokensMap, vocabSize: tokens.length + specialsAtEnd, merges: merges.length, words: words.length, texts: nTexts };
}

function bump(m: Map<number, number>, k: number, d: number): void {
  const v = (m.get(k) ?? 0) + d;
  if (v > 0) m.set(k, v);
  else m.delete(k);
}

/**
 * Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into `dir` (created; an
 * existing tokenizer there is replaced). The files are written to a temporary sibling folder first, so
 * the folder is either complete or untouched.
 */
export async function saveTrainedTokenizer(dir: string, t: TrainedTokenizer): Promise<void> {
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  await mkdir(dirname(dir), { recursive: true });
  const tmp = tempPathFor(dir);
  await mkdir(tmp);
  try {
    await writeFile(join(tmp, 'tokenizer.json'), json(t.tokenizer));
    await writeFile(join(tmp, 'tokenizer_config.json'), json(t.config));
    await writeFile(join(tmp, 'special_tokens_map.json'), json(t.specialTokensMap));
    await mkdir(dir, { recursive: true });
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) await rename(join(tmp, f), join(dir, f));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
