// The synthesis constraints of the QZhou recipe (§4), checked in code: length ratio, difference
// ratio by normalised edit distance, no copied adjacent sentences, same language, dedup.
// Every failed check is a Rejection with a reason code; the runner counts them by reason.
import { editDifference, codePointLength } from './edit-distance.js';
import { detectLanguage, languageName, sameLanguage, type LanguageCode } from './language-id.js';
import { splitSentences } from './sentences.js';

/** Why an answer or a candidate inside it was not used. */
export type RejectionReason =
  /** The endpoint refused the request for good (a non-retryable 4xx such as 400/413/422). */
  | 'request_rejected'
  /** finish_reason "content_filter". */
  | 'content_filter'
  /** finish_reason "length": the answer was cut at max_tokens. */
  | 'truncated'
  /** No JSON object could be parsed from the answer. */
  | 'malformed_json'
  /** JSON that does not match the generator's schema (whole answer, or one item of it). */
  | 'schema'
  /** A required text is empty after trimming. */
  | 'empty'
  | 'language'
  | 'length'
  /** Not different enough from the original (paraphrase) or a rewrite where a new topic was asked. */
  | 'too_similar'
  /** Two adjacent sentences of the original appear, in order, in a rewritten paragraph. */
  | 'copied_sentences'
  /** A negative that is (nearly) the positive. */
  | 'negative_too_close'
  /** Same as (or too close to) an already accepted output of this item, or an output of another item. */
  | 'duplicate';

export const REJECTION_REASONS: readonly RejectionReason[] = [
  'request_rejected', 'content_filter', 'truncated', 'malformed_json', 'schema', 'empty', 'language',
  'length', 'too_similar', 'copied_sentences', 'negative_too_close', 'duplicate',
];

export interface Rejection {
  reason: RejectionReason;
  /** The text field the check was about, e.g. "query", "positive", "negative". */
  field?: string;
  /** A human-readable explanation; also fed back to the LLM on the next try. */
  message: string;
}

export type LengthUnit = 'chars' | 'tokens';

/** How text length is measured for the length-ratio constraints. */
export interface LengthMeasure {
  unit: LengthUnit;
  length(text: string): number;
}

/** Code points after whitespace is collapsed (so reflowed whitespace does not count). */
export const charLength: LengthMeasure = {
  unit: 'chars',
  length: (text) => codePointLength(text.trim().replace(/\s+/gu, ' ')),
};

/** Tokens counted by a tokenizer (e.g. the Qwen tokenizer through `tokenizerLength`). */
export function tokenLength(count: (text: string) => number): LengthMeasure {
  return { unit: 'tokens', length: count };
}

export interface SynthConstraints {
  /** Paraphrase: allowed relative length change (recipe: ±15 %). */
  paraphraseLengthTolerance: number;
  /** Augmentation and hard negatives: allowed relative length change (recipe: ±20 %). */
  generationLengthTolerance: number;
  /** Minimum normalised edit difference from the original for one-sentence texts (recipe: 30 %). */
  minDifferenceSentence: number;
  /** Minimum normalised edit difference for paragraphs, i.e. texts of ≥ 2 sentences (recipe: 20 %). */
  minDifferenceParagraph: number;
  /** Minimum difference between a generated negative and the positive. */
  minNegativeDifference: number;
  /** Minimum difference between two outputs of the same item (dedup, "homogenisation elimination"). */
  minOutputDifference: number;
  /** Reject candidates whose language differs from the original's. */
  checkLanguage: boolean;
}

export const DEFAULT_CONSTRAINTS: Readonly<SynthConstraints> = {
  paraphraseLengthTolerance: 0.15,
  generationLengthTolerance: 0.2,
  minDifferenceSentence: 0.3,
  minDifferenceParagraph: 0.2,
  minNegativeDifference: 0.1,
  minOutputDifference: 0.1,
  checkLanguage: true,
};

/** Canonical form for difference and dedup comparisons: NFKC, lower case, collapsed whitespace. */
export function normalizeForCompare(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim();
}

/** Facts about an original text that the checks reuse across candidates. */
export interface OriginalText {
  text: string;
  normalized: string;
  length: number;
  language: LanguageCode;
  sentences: string[];
  /** normalised "s_i\u0000s_{i+1}" for each adjacent sentence pair. */
  adjacentPairs: Set<string>;
}

export function describeOriginal(text: string, measure: LengthMeasure): OriginalText {
  const sentences = splitSentences(text).map(normalizeForCompare);
  const adjacentPairs = new Set<string>();
  for (let i = 0; i + 1 < sentences.length; i++) adjacentPairs.add(`${sentences[i]}\u0000${sentences[i + 1]}`);
  return {
    text,
    normalized: normalizeForCompare(text),
    length: measure.length(text),
    language: detectLanguage(text),
    sentences,
    adjacentPairs,
  };
}

/** The allowed [min, max] length for a text derived from `original` (inclusive, in the measure's unit). */
export function lengthBounds(original: OriginalText, tolerance: number): [number, number] {
  return [Math.ceil(original.length * (1 - tolerance) - 1e-9), Math.floor(original.length * (1 + tolerance) + 1e-9)];
}

export function checkNotEmpty(field: string, candidate: string): Rejection | null {
  return candidate.trim() === '' ? { reason: 'empty', field, message: `the ${field} is empty` } : null;
}

export function checkLanguage(field: string, candidate: string, original: OriginalText): Rejection | null {
  const lang = detectLanguage(candidate);
  if (sameLanguage(original.language, lang)) return null;
  return { reason: 'language', field, message: `the ${field} must be written in ${languageName(original.language)} (detected ${lang}, expected ${original.language})` };
}

export function checkLength(field: string, candidate: string, original: OriginalText, tolerance: number, measure: LengthMeasure): Rejection | null {
  const len = measure.length(candidate);
  const [lo, hi] = lengthBounds(original, tolerance);
  if (len >= lo && len <= hi) return null;
  const pct = Math.round(tolerance * 100);
  return {
    reason: 'length',
    field,
    message: `the ${field} has ${len} ${measure.unit === 'chars' ? 'characters' : 'tokens'}; it must have ${lo}–${hi} (within ±${pct}% of the original's ${original.length})`,
  };
}

/**
 * Paraphrase difference rule: at least `minSentence` normalised edit difference for a one-sentence
 * original, `minParagraph` for a paragraph, and (for paragraphs) no two adjacent sentences of the
 * original kept as an adjacent pair.
 */
export function checkDifferent(field: string, candidate: string, original: OriginalText, minSentence: number, minParagraph: number): Rejection | null {
  const paragraph = original.sentences.length >= 2;
  const min = paragraph ? minParagraph : minSentence;
  const diff = editDifference(normalizeForCompare(candidate), original.normalized);
  if (diff < min) {
    return {
      reason: 'too_similar',
      field,
      message: `the ${field} is only ${Math.round(diff * 100)}% different from the original; it must differ by at least ${Math.round(min * 100)}% (change the wording and the structure)`,
    };
  }
  if (paragraph) {
    const sents = splitSentences(candidate).map(normalizeForCompare);
    for (let i = 0; i + 1 < sents.length; i++) {
      if (original.adjacentPairs.has(`${sents[i]}\u0000${sents[i + 1]}`)) {
        return { reason: 'copied_sentences', field, message: `the ${field} keeps two adjacent sentences of the original unchanged ("${truncate(sents[i]!, 60)}")` };
      }
    }
  }
  return null;
}

/** A near-duplicate test between two outputs (difference below `min`). */
export function tooClose(a: string, b: string, min: number): boolean {
  const na = normalizeForCompare(a);
  const nb = normalizeForCompare(b);
  if (na === nb) return true;
  return min > 0 && editDifference(na, nb) < min;
}

function truncate(s: string, n: number): string {
  const cps = Array.from(s);
  return cps.length <= n ? s : `${cps.slice(0, n).join('')}…`;
}
