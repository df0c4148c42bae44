// Pieces the generators share: per-field constraint checks, provenance, ids and dedup keys.
import {
  checkDifferent, checkLanguage, checkLength, checkNotEmpty, describeOriginal, normalizeForCompare,
  type LengthMeasure, type OriginalText, type Rejection, type SynthConstraints,
} from '../constraints.js';
import { languageName, type LanguageCode } from '../language-id.js';
import type { PromptTemplate } from '../prompts.js';
import type { CanonicalRecord, Provenance } from '../records.js';
import type { AcceptedCandidate, GeneratorName, ProvenanceBase } from './generator.js';

export { describeOriginal };

/** Minimum difference from the original for this text (sentence vs paragraph rule). */
export function minDifference(original: OriginalText, c: SynthConstraints): number {
  return original.sentences.length >= 2 ? c.minDifferenceParagraph : c.minDifferenceSentence;
}

/** empty → language → length → (optionally) difference from the original. */
export function checkField(
  field: string,
  value: string,
  original: OriginalText,
  c: SynthConstraints,
  measure: LengthMeasure,
  tolerance: number,
  mustDiffer: boolean,
): Rejection | null {
  return (
    checkNotEmpty(field, value) ??
    (c.checkLanguage ? checkLanguage(field, value, original) : null) ??
    checkLength(field, value, original, tolerance, measure) ??
    (mustDiffer ? checkDifferent(field, value, original, minDifference(original, c), minDifference(original, c)) : null)
  );
}

/**
 * The template variables every generator's prompt takes (n, language, length_unit, length_tolerance,
 * input_json, feedback); each generator adds its own per-field lengths.
 */
export function commonVariables(
  need: number,
  feedback: string,
  language: LanguageCode,
  measure: LengthMeasure,
  tolerance: number,
  input: unknown,
): Record<string, string | number> {
  return {
    n: need,
    language: languageName(language),
    length_unit: measure.unit === 'chars' ? 'characters' : 'tokens',
    length_tolerance: percent(tolerance),
    input_json: JSON.stringify(input, null, 2),
    feedback,
  };
}

/** `unsupported` of the generators that start from a retrieval record's first positive (augment, hard-negative). */
export function unlessRetrievalWithPositive(record: CanonicalRecord): string | null {
  if (record.type !== 'retrieval') return `unsupported_type:${record.type}`;
  if (record.pos.length === 0) return 'no_positive';
  return null;
}

export function percent(x: number): number {
  return Math.round(x * 100);
}

/** Exact-dedup key of one or more texts (normalised; the runner keeps 64-bit hashes of it). */
export function dedupKey(...texts: string[]): string {
  return texts.map(normalizeForCompare).join('\u0000');
}

export function provenance(generator: GeneratorName, tpl: PromptTemplate, base: ProvenanceBase, attempt: number, extra: Record<string, unknown> = {}): Provenance {
  return {
    generator,
    prompt_version: tpl.id,
    prompt_hash: tpl.hash,
    model: base.model,
    source_id: base.sourceId,
    attempt,
    ...extra,
    ...(base.parent !== undefined ? { parent: base.parent } : {}),
  };
}

/** Id of the k-th output of a source item. */
export function outputId(generator: GeneratorName, sourceId: string, k: number): string {
  return `${sourceId}#${generator}-${k + 1}`;
}

export function lastAttempt(accepted: readonly AcceptedCandidate[]): number {
  return accepted.reduce((m, a) => Math.max(m, a.attempt), 0);
}

export function pickOptional<T extends Record<string, unknown>>(record: T, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (record[k] !== undefined) out[k] = record[k];
  return out;
}
