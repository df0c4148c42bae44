// From a request's `input`/`inputs` value to batch inputs: shape checks that name the exact element at
// fault, prompt application, token counting and the max-length rule (error, or cut from the right or
// the left when the request allows truncation).
import type { EmbedRequest } from '../model/embedder.js';
import type { BatchInput } from './batcher.js';
import { ServeError, invalidField } from './errors.js';
import { addsPrompt, type ResolvedPrompt } from './prompts.js';
import type { ServedModel } from './served-model.js';

/** `path` names the input as the client wrote it: "input" for a lone input, "input[3]" in an array. */
export type RawInput = { type: 'text'; text: string; path: string } | { type: 'ids'; ids: number[]; path: string };

export interface ParseInputOptions {
  /** The field's name as the client wrote it ("input" or "inputs"). */
  field: string;
  /** Most inputs per request (--max-client-batch-size). */
  maxItems: number;
  /** OpenAI refuses empty strings; TEI embeds them. */
  allowEmptyText: boolean;
  /** Token ids must be below this (config.json vocab_size), when known. */
  vocabSize?: number;
}

const MAX_TOKEN_ID = 2 ** 31 - 1;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? 'a string' : typeof v;
}

function checkIds(arr: readonly unknown[], path: string, o: ParseInputOptions): number[] {
  if (arr.length === 0) throw invalidField(path, 'must not be an empty array of token ids');
  const ids = new Array<number>(arr.length);
  for (let j = 0; j < arr.length; j++) {
    const x = arr[j];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > MAX_TOKEN_ID) {
      throw invalidField(`${path}[${j}]`, `must be a non-negative integer token id, got ${JSON.stringify(x)}`);
    }
    if (o.vocabSize !== undefined && x >= o.vocabSize) {
      throw invalidField(`${path}[${j}]`, `token id ${x} is outside the model's vocabulary (size ${o.vocabSize})`);
    }
    ids[j] = x;
  }
  return ids;
}

function checkText(s: string, path: string, o: ParseInputOptions): RawInput {
  if (!o.allowEmptyText && s.length === 0) throw invalidField(path, 'must not be an empty string');
  return { type: 'text', text: s, path };
}

/**
 * Accepts a string, an array of strings, an array of token ids (one input), or an array whose
 * elements are strings or arrays of token ids.
 */
export function parseInputs(value: unknown, o: ParseInputOptions): RawInput[] {
  const f = o.field;
  if (typeof value === 'string') return [checkText(value, f, o)];
  if (!Array.isArray(value)) throw invalidField(f, `must be a string or an array, got ${describe(value)}`);
  if (value.length === 0) throw new ServeError(400, 'empty', `${f}: must not be empty`, f);
  if (value.every((x) => typeof x === 'number')) return [{ type: 'ids', ids: checkIds(value, f, o), path: f }];
  if (value.length > o.maxItems) {
    throw invalidField(f, `${value.length} inputs, more than the maximum of ${o.maxItems} per request (--max-client-batch-size)`);
  }
  return value.map((x, i): RawInput => {
    const path = `${f}[${i}]`;
    if (typeof x === 'string') return checkText(x, path, o);
    if (Array.isArray(x)) return { type: 'ids', ids: checkIds(x, path, o), path };
    throw invalidField(path, `must be a string or an array of token ids, got ${describe(x)}`);
  });
}

export type TruncationDirection = 'left' | 'right';

export interface PrepareOptions {
  prompt: ResolvedPrompt;
  /** Cut inputs longer than the model's max length instead of refusing them. */
  truncate: boolean;
  direction: TruncationDirection;
  /** Status for an input that is too long and may not be cut (OpenAI: 400, TEI: 413). */
  tooLongStatus: 400 | 413;
}

export interface PreparedInputs {
  inputs: BatchInput[];
  /** Tokens the model will compute, prompts included (OpenAI `usage`). */
  tokens: number;
}

function tooLong(path: string, n: number, max: number, status: 400 | 413, what: string): ServeError {
  return new ServeError(
    status,
    'too_long',
    `${path}: ${n} tokens${what}, more than the model's maximum of ${max}; shorten it or set "truncate": true`,
    path,
    'context_length_exceeded',
  );
}

/** Starts of UTF-16 code points (never the low half of a surrogate pair). */
function isCodePointStart(s: string, i: number): boolean {
  if (i <= 0 || i >= s.length) return true;
  const c = s.charCodeAt(i);
  return !(c >= 0xdc00 && c <= 0xdfff && (s.charCodeAt(i - 1) & 0xfc00) === 0xd800);
}

/**
 * The longest suffix of `text` that fits `maxLength` tokens behind `prefix` and the request's prompt.
 * The tokenizer is only reachable through countTokens, so the cut is at a character (code point)
 * boundary found by binary search: the kept tokens are the tokenisation of that suffix, within a
 * token of an exact token-level cut. Works with synchronous or asynchronous counts.
 */
export async function searchLeftCut(
  count: (texts: readonly string[], request: EmbedRequest) => number[] | Promise<number[]>,
  maxLength: number,
  prefix: string,
  request: EmbedRequest,
  text: string,
): Promise<string> {
  const fits = async (start: number) => (await count([prefix + text.slice(start)], request))[0]! <= maxLength;
  // Only the last ~maxLength tokens can survive: widen a window from the end (doubling) until its start
  // no longer fits, so that probes tokenize a bounded suffix even for very long texts.
  let lo = 0; // does not fit
  let hi = text.length; // fits (or nothing fits at all)
  for (let w = Math.max(64, maxLength * 4); ; w *= 2) {
    const s = text.length - w;
    if (s <= 0) {
      if (await fits(0)) return text;
      break;
    }
    if (await fits(s)) hi = s;
    else {
      lo = s;
      break;
    }
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (await fits(mid)) hi = mid;
    else lo = mid;
  }
  let start = hi;
  while (start < text.length && !isCodePointStart(text, start)) start++;
  // Token counts of suffixes are monotone up to merges at the cut; step on if this one still overflows.
  while (start < text.length && !(await fits(start))) {
    start++;
    while (start < text.length && !isCodePointStart(text, start)) start++;
  }
  return text.slice(start);
}

/** Left truncation of one text for a model (next to its tokenizer when the model offers it). */
export function truncateLeft(model: ServedModel, prompt: ResolvedPrompt, text: string): Promise<string> {
  if (model.truncateLeft) return model.truncateLeft(prompt.prefix, text, prompt.request);
  return searchLeftCut((t, r) => model.countTokens(t, r), model.maxLength, prompt.prefix, prompt.request, text);
}

export async function prepareInputs(raw: readonly RawInput[], embedder: ServedModel, o: PrepareOptions): Promise<PreparedInputs> {
  const max = embedder.maxLength;
  const { prompt } = o;
  const textIdx: number[] = [];
  const full: string[] = [];
  raw.forEach((r, i) => {
    if (r.type === 'text') {
      textIdx.push(i);
      full.push(prompt.prefix + r.text);
    }
  });
  const counts = full.length > 0 ? await embedder.countTokens(full, prompt.request) : [];
  if (counts.length !== full.length) throw new Error(`countTokens returned ${counts.length} counts for ${full.length} texts`);
  const inputs = new Array<BatchInput>(raw.length);
  let total = 0;
  for (const [k, i] of textIdx.entries()) {
    const r = raw[i] as { type: 'text'; text: string; path: string };
    let n = counts[k]!;
    let text = full[k]!;
    if (n > max) {
      if (!o.truncate) throw tooLong(r.path, n, max, o.tooLongStatus, addsPrompt(prompt) ? ' (prompt included)' : '');
      if (o.direction === 'right') n = max;
      else {
        text = prompt.prefix + (await truncateLeft(embedder, prompt, r.text));
        n = Math.min(max, (await embedder.countTokens([text], prompt.request))[0]!);
      }
    }
    inputs[i] = { key: prompt.key, text, request: prompt.request, tokens: n };
    total += n;
  }
  raw.forEach((r, i) => {
    if (r.type !== 'ids') return;
    const path = r.path;
    if (!embedder.embedTokenIds) throw invalidField(path, 'this model does not accept token-id inputs; send text');
    if (prompt.field && addsPrompt(prompt)) {
      throw invalidField(prompt.field, `a prompt cannot be applied to token-id inputs (${path} is token ids)`);
    }
    let ids = r.ids;
    if (ids.length > max) {
      if (!o.truncate) throw tooLong(path, ids.length, max, o.tooLongStatus, '');
      ids = o.direction === 'right' ? ids.slice(0, max) : ids.slice(ids.length - max);
    }
    inputs[i] = { key: '', ids, tokens: ids.length };
    total += ids.length;
  });
  return { inputs, tokens: total };
}
