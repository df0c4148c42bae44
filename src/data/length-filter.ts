// Token-length filters. The query side (query, pair texts, cls text) and the document side (positives,
// negatives) have their own limits, as in training (q 256 / p 1536). A record whose query side is out
// of range is dropped; positives and negatives out of range are removed one by one, and the record is
// dropped only when no positive is left.
import type { Reason } from './errors.js';
import type { CanonicalRecord } from './records.js';

export interface LengthFilterOptions {
  /** Tokens in a text (e.g. from the model's tokenizer). */
  countTokens: (text: string) => number;
  /** Every text needs at least this many tokens. */
  min?: number;
  /** Default limit for both sides. */
  max?: number;
  /** Limit for query-side texts (overrides max). */
  maxQuery?: number;
  /** Limit for positives and negatives (overrides max). */
  maxDoc?: number;
}

export interface LengthVerdict {
  /** Null when the whole record is dropped. */
  record: CanonicalRecord | null;
  reason?: Reason;
  field?: string;
  tokens?: number;
  /** Positives and negatives removed from a kept record. */
  removed: number;
}

export function applyLengthFilter(r: CanonicalRecord, o: LengthFilterOptions): LengthVerdict {
  const min = o.min ?? 0;
  const maxQ = o.maxQuery ?? o.max ?? Infinity;
  const maxD = o.maxDoc ?? o.max ?? Infinity;
  const check = (text: string, max: number): { reason: Reason; tokens: number } | null => {
    const n = o.countTokens(text);
    if (n < min) return { reason: 'too-short', tokens: n };
    if (n > max) return { reason: 'too-long', tokens: n };
    return null;
  };
  const querySide: [string, string][] =
    r.type === 'retrieval' ? [['query', r.query]] : r.type === 'pair' ? [['text1', r.text1], ['text2', r.text2]] : [['text', r.text]];
  for (const [field, text] of querySide) {
    const bad = check(text, maxQ);
    if (bad) return { record: null, reason: bad.reason, field, tokens: bad.tokens, removed: 0 };
  }
  if (r.type !== 'retrieval') return { record: r, removed: 0 };
  let firstBad: { reason: Reason; tokens: number } | null = null;
  const pos = r.pos.filter((t) => {
    const bad = check(t, maxD);
    firstBad ??= bad;
    return !bad;
  });
  if (pos.length === 0) return { record: null, reason: firstBad!.reason, field: 'pos', tokens: firstBad!.tokens, removed: 0 };
  const neg = r.neg.filter((t) => !check(t, maxD));
  const removed = r.pos.length - pos.length + r.neg.length - neg.length;
  return { record: removed ? { ...r, pos, neg } : r, removed };
}
