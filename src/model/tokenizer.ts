// Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) → token ids exactly as transformers produces them.
// Tokenisation itself is @huggingface/tokenizers (byte-level BPE matches the Rust crate on the Qwen probes);
// on top of it this module adds what transformers does around the model: the special tokens of the
// post-processor, truncation that keeps them, the padding side and pad id, and a BertNormalizer that follows
// the Rust crate where the JS one differs (per-character lowercasing, astral CJK characters, unassigned code
// points, accent stripping before lowercasing).
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { CheckpointError } from './errors.js';
import { readJson } from './config.js';

/** The tokenizer contract other areas depend on (shared API 2). */
export interface TextTokenizer {
  /** Token ids with the model's special tokens added the way transformers does (e.g. [CLS]/[SEP] for BERT, none for Qwen). */
  encode(text: string): number[];
  decode(ids: number[]): string;
  readonly padId: number;
  readonly paddingSide: 'left' | 'right';
  readonly vocabSize: number;
}

/** Files of a tokenizer that a saved checkpoint carries along when present. */
export const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt', 'vocab.json', 'merges.txt',
  'added_tokens.json', 'chat_template.jinja',
] as const;

export interface EncodedText {
  ids: number[];
  /** Tokens before truncation, special tokens included. */
  fullLength: number;
  truncated: boolean;
}

type Json = Record<string, unknown>;

const tokenContent = (t: unknown): string | undefined =>
  typeof t === 'string' ? t : t && typeof t === 'object' && typeof (t as Json).content === 'string' ? ((t as Json).content as string) : undefined;

// --- BertNormalizer as in the Rust `tokenizers` crate (normalizers/bert.rs) ---

function isChineseChar(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}
const OTHER = /\p{C}/u; // Cc, Cf, Cs, Co, Cn: Rust's char::is_other
const WHITE = /\p{White_Space}/u;
const MARK_NONSPACING = /\p{Mn}/gu;
const ASCII_PLAIN = /^[\x20-\x7e]*$/;

export interface BertNormalizerConfig {
  clean_text?: boolean;
  handle_chinese_chars?: boolean;
  strip_accents?: boolean | null;
  lowercase?: boolean;
}

/** The Rust crate's BertNormalizer: clean text, space out CJK, strip accents (default: = lowercase), lowercase per character. */
export function bertNormalize(text: string, cfg: BertNormalizerConfig): string {
  const clean = cfg.clean_text ?? true;
  const chinese = cfg.handle_chinese_chars ?? true;
  const lowercase = cfg.lowercase ?? true;
  const strip = cfg.strip_accents ?? lowercase;
  if (ASCII_PLAIN.test(text)) return lowercase ? text.toLowerCase() : text; // fast path: nothing else applies
  if (clean || chinese) {
    const out: string[] = [];
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (clean) {
        if (ch === '\t' || ch === '\n' || ch === '\r') {
          out.push(' ');
          continue;
        }
        if (cp === 0 || cp === 0xfffd || OTHER.test(ch)) continue;
        if (WHITE.test(ch)) {
          out.push(' ');
          continue;
        }
      }
      if (chinese && isChineseChar(cp)) out.push(' ', ch, ' ');
      else out.push(ch);
    }
    text = out.join('');
  }
  if (strip) text = text.normalize('NFD').replace(MARK_NONSPACING, '');
  if (lowercase) {
    // char by char, like Rust's char::to_lowercase: no final-sigma context rule
    let out = '';
    for (const ch of text) out += ch.toLowerCase();
    text = out;
  }
  return text;
}

/** Special-token ids the post-processor puts around a single sequence. */
function specialTemplate(post: unknown, file: string, idOf: (token: string) => number | undefined): { prefix: number[]; suffix: number[] } {
  if (post === null || post === undefined) return { prefix: [], suffix: [] };
  const p = post as Json;
  const resolve = (token: unknown, field: string): number => {
    if (Array.isArray(token) && typeof token[1] === 'number') return token[1];
    throw new CheckpointError(file, field, `expected [token, id], got ${JSON.stringify(token)}`);
  };
  switch (p.type) {
    case 'ByteLevel':
      return { prefix: [], suffix: [] };
    case 'BertProcessing':
    case 'RobertaProcessing':
      return { prefix: [resolve(p.cls, 'post_processor.cls')], suffix: [resolve(p.sep, 'post_processor.sep')] };
    case 'TemplateProcessing': {
      const single = p.single;
      if (!Array.isArray(single)) throw new CheckpointError(file, 'post_processor.single', 'must be an array');
      const specials = (p.special_tokens ?? {}) as Record<string, { ids?: unknown }>;
      const prefix: number[] = [];
      const suffix: number[] = [];
      let seen = false;
      for (const item of single as Json[]) {
        if (item && 'Sequence' in item) {
          seen = true;
          continue;
        }
        const st = item?.SpecialToken as Json | undefined;
        const name = st?.id;
        if (typeof name !== 'string') throw new CheckpointError(file, 'post_processor.single', `unexpected item ${JSON.stringify(item)}`);
        let ids = specials[name]?.ids;
        if (!Array.isArray(ids)) {
          const id = idOf(name);
          if (id === undefined) throw new CheckpointError(file, `post_processor.special_tokens[${JSON.stringify(name)}]`, 'missing');
          ids = [id];
        }
        (seen ? suffix : prefix).push(...(ids as number[]));
      }
      return { prefix, suffix };
    }
    case 'Sequence': {
      const procs = p.processors;
      if (!Array.isArray(procs)) throw new CheckpointError(file, 'post_processor.processors', 'must be an array');
      const prefix: number[] = [];
      const suffix: number[] = [];
      for (const sub of procs) {
        const t = specialTemplate(sub, file, idOf);
        prefix.push(...t.prefix);
        suffix.unshift(...t.suffix);
      }
      return { prefix, suffix };
    }
    default:
      throw new CheckpointError(file, 'post_processor.type', `${JSON.stringify(p.type)} is not supported`);
  }
}

export interface TokenizerLoadOptions {
  /** The model type (config.json `model_type`), used for the default padding side. Read from config.json when absent. */
  modelType?: string;
}

/** A Hugging Face fast tokenizer loaded from a checkpoint folder. */
export class HfTokenizer implements TextTokenizer {
  readonly padId: number;
  readonly paddingSide: 'left' | 'right';
  readonly vocabSize: number;
  /** tokenizer_config `model_max_length` when it is a real limit (transformers uses 1e30 for "none"). */
  readonly modelMaxLength: number | undefined;
  /** Ids the post-processor puts before / after one sequence. */
  readonly prefixIds: readonly number[];
  readonly suffixIds: readonly number[];
  /** Tokenizer files present in the folder (copied when the model is saved). */
  readonly files: readonly string[];

  private constructor(
    private readonly tok: Tokenizer,
    opts: {
      padId: number; paddingSide: 'left' | 'right'; vocabSize: number; modelMaxLength: number | undefined;
      prefix: number[]; suffix: number[]; files: string[];
    },
  ) {
    this.padId = opts.padId;
    this.paddingSide = opts.paddingSide;
    this.vocabSize = opts.vocabSize;
    this.modelMaxLength = opts.modelMaxLength;
    this.prefixIds = opts.prefix;
    this.suffixIds = opts.suffix;
    this.files = opts.files;
  }

  static async load(dir: string, opts: TokenizerLoadOptions = {}): Promise<HfTokenizer> {
    const file = join(dir, 'tokenizer.json');
    const tj = await readJson(file, true);
    if (tj === undefined) {
      throw new CheckpointError(file, undefined, 'missing (only fast tokenizers are supported: save one with transformers `AutoTokenizer.from_pretrained(...).save_pretrained(dir)`)');
    }
    if (!tj || typeof tj !== 'object' || Array.isArray(tj)) throw new CheckpointError(file, undefined, 'is not a JSON object');
    const cfgFile = join(dir, 'tokenizer_config.json');
    const tc = ((await readJson(cfgFile, true)) ?? {}) as Json;
    if (typeof tc !== 'object' || Array.isArray(tc)) throw new CheckpointError(cfgFile, undefined, 'is not a JSON object');
    const tjo = tj as Json;
    if (!tjo.model || typeof tjo.model !== 'object') throw new CheckpointError(file, 'model', 'missing');
    let tok: Tokenizer;
    try {
      tok = new Tokenizer({ added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...tjo }, tc);
    } catch (e) {
      throw new CheckpointError(file, 'model', `cannot be loaded: ${(e as Error).message}`);
    }
    const norm = tjo.normalizer as Json | null | undefined;
    if (norm && norm.type === 'BertNormalizer') {
      const cfg = norm as BertNormalizerConfig;
      (tok as unknown as { normalizer: (t: string) => string }).normalizer = (t: string) => bertNormalize(t, cfg);
    }
    const idOf = (t: string) => tok.token_to_id(t);

    let modelType = opts.modelType;
    const modelConfig = (await readJson(join(dir, 'config.json'), true)) as Json | undefined;
    if (modelType === undefined && modelConfig && typeof modelConfig.model_type === 'string') modelType = modelConfig.model_type;

    const side = tc.padding_side;
    if (side !== undefined && side !== 'left' && side !== 'right') throw new CheckpointError(cfgFile, 'padding_side', `must be "left" or "right", got ${JSON.stringify(side)}`);
    // Absent: decoder embedders (QZhou, gte-Qwen2, Qwen3-Embedding) all pad left in their reference code.
    const paddingSide = (side as 'left' | 'right' | undefined) ?? (modelType === 'qwen2' || modelType === 'qwen3' ? 'left' : 'right');

    let padId: number | undefined;
    const padTok = tokenContent(tc.pad_token);
    if (padTok !== undefined) {
      padId = idOf(padTok);
      if (padId === undefined) throw new CheckpointError(cfgFile, 'pad_token', `${JSON.stringify(padTok)} is not in the vocabulary`);
    }
    if (padId === undefined && typeof modelConfig?.pad_token_id === 'number') padId = modelConfig.pad_token_id;
    if (padId === undefined) {
      const eos = tokenContent(tc.eos_token);
      if (eos !== undefined) padId = idOf(eos);
    }
    padId ??= 0; // pad positions are masked out, so the id only has to exist

    let vocabSize = 0;
    const vocab = (tok as unknown as { model: { vocab: unknown[] } }).model.vocab;
    vocabSize = vocab.length;
    const mml = tc.model_max_length;
    const modelMaxLength = typeof mml === 'number' && mml > 0 && mml < 1e12 ? mml : undefined;
    const { prefix, suffix } = specialTemplate(tjo.post_processor, file, idOf);

    const { readdir } = await import('node:fs/promises');
    const present = new Set(await readdir(dir));
    const files = TOKENIZER_FILES.filter((f) => present.has(f));
    return new HfTokenizer(tok, { padId, paddingSide, vocabSize, modelMaxLength, prefix, suffix, files });
  }

  /** Ids without any special tokens (the pieces of the text alone). */
  encodeText(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  encode(text: string): number[] {
    const ids = this.encodeText(text);
    if (this.prefixIds.length === 0 && this.suffixIds.length === 0) return ids;
    return [...this.prefixIds, ...ids, ...this.suffixIds];
  }

  /** Number of special tokens added around one sequence. */
  get numSpecialTokens(): number {
    return this.prefixIds.length + this.suffixIds.length;
  }

  /**
   * Encodes with special tokens, truncating the text's own tokens from the right so that the whole fits in
   * `maxLength` (what transformers does with `truncation=True, max_length=maxLength`). `textIds`: the text's
   * own ids (`encodeText(text)`) when the caller already has them.
   */
  encodeTruncated(text: string, maxLength: number, textIds?: readonly number[]): EncodedText {
    const special = this.numSpecialTokens;
    if (maxLength < special + 1) throw new RangeError(`max length ${maxLength} leaves no room next to ${special} special tokens`);
    let ids = textIds ? [...textIds] : this.encodeText(text);
    const fullLength = ids.length + special;
    const truncated = fullLength > maxLength;
    if (truncated) ids = ids.slice(0, maxLength - special);
    if (special) ids = [...this.prefixIds, ...ids, ...this.suffixIds];
    return { ids, fullLength, truncated };
  }

  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.tok.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }
}

/** Shared API 2: loads `tokenizer.json` (+ `tokenizer_config.json`) from a checkpoint folder. */
export async function loadTokenizer(dir: string, opts: TokenizerLoadOptions = {}): Promise<HfTokenizer> {
  return HfTokenizer.load(dir, opts);
}
