// The three canonical record families (one JSONL line each) and their validation.
// Extra fields are allowed and kept as provenance; the fields below are checked strictly.
import { DataError, preview } from './errors.js';

export type Family = 'retrieval' | 'pair' | 'cls';
export const FAMILIES: readonly Family[] = ['retrieval', 'pair', 'cls'];

interface Common {
  /** Which dataset the record belongs to; batches never mix datasets. */
  dataset?: string;
  /** Task instruction put in front of the query side when training. */
  instruction?: string;
  [provenance: string]: unknown;
}

/** A query with positive passages and (possibly no) hard negatives → InfoNCE with q–q negatives. */
export interface RetrievalRecord extends Common {
  type: 'retrieval';
  query: string;
  pos: string[];
  neg: string[];
}

/** A scored text pair → CoSENT. NLI: entailment 2, neutral 1, contradiction 0; binary: 1/0. */
export interface PairRecord extends Common {
  type: 'pair';
  text1: string;
  text2: string;
  score: number;
}

/** A labelled text → expanded at batch time into (text, same-label positive, other-label negatives). */
export interface ClsRecord extends Common {
  type: 'cls';
  text: string;
  label: string;
}

export type CanonicalRecord = RetrievalRecord | PairRecord | ClsRecord;

/** Field names with a meaning in canonical records (provenance never overwrites these). */
export const CANONICAL_FIELDS = new Set(['type', 'query', 'pos', 'neg', 'text1', 'text2', 'score', 'text', 'label', 'dataset', 'instruction']);

/** True for text that is not empty or whitespace only. */
export function hasText(s: string): boolean {
  return /\S/u.test(s);
}

function text(v: unknown, field: string, file: string, line: number): string {
  if (v === undefined || v === null) throw new DataError(file, line, field, 'missing', 'missing-field');
  if (typeof v !== 'string') throw new DataError(file, line, field, `expected a string, got ${preview(v)}`, 'wrong-type');
  if (!hasText(v)) throw new DataError(file, line, field, 'empty text', 'empty-text');
  return v;
}

function textList(v: unknown, field: string, file: string, line: number, required: boolean): string[] {
  if (v === undefined || v === null) {
    if (required) throw new DataError(file, line, field, 'missing', 'missing-field');
    return [];
  }
  if (!Array.isArray(v)) throw new DataError(file, line, field, `expected a list of strings, got ${preview(v)}`, 'wrong-type');
  v.forEach((s, i) => {
    if (typeof s !== 'string') throw new DataError(file, line, `${field}[${i}]`, `expected a string, got ${preview(s)}`, 'wrong-type');
    if (!hasText(s)) throw new DataError(file, line, `${field}[${i}]`, 'empty text', 'empty-text');
  });
  if (required && v.length === 0) throw new DataError(file, line, field, 'empty list (at least one is needed)', 'empty-text');
  return v as string[];
}

function optionalString(rec: Record<string, unknown>, field: string, file: string, line: number): void {
  const v = rec[field];
  if (v === undefined) return;
  if (typeof v !== 'string') throw new DataError(file, line, field, `expected a string, got ${preview(v)}`, 'wrong-type');
}

/** Checks a parsed JSON object against the canonical format; returns it typed, or throws a DataError. */
export function validateRecord(rec: Record<string, unknown>, file: string, line: number): CanonicalRecord {
  optionalString(rec, 'dataset', file, line);
  optionalString(rec, 'instruction', file, line);
  switch (rec.type) {
    case 'retrieval':
      text(rec.query, 'query', file, line);
      textList(rec.pos, 'pos', file, line, true);
      if (rec.neg === undefined) rec.neg = [];
      else textList(rec.neg, 'neg', file, line, false);
      return rec as RetrievalRecord;
    case 'pair': {
      text(rec.text1, 'text1', file, line);
      text(rec.text2, 'text2', file, line);
      const s = rec.score;
      if (s === undefined || s === null) throw new DataError(file, line, 'score', 'missing', 'missing-field');
      if (typeof s !== 'number' || !Number.isFinite(s)) throw new DataError(file, line, 'score', `expected a finite number, got ${preview(s)}`, 'bad-score');
      return rec as PairRecord;
    }
    case 'cls':
      text(rec.text, 'text', file, line);
      if (rec.label === undefined || rec.label === null) throw new DataError(file, line, 'label', 'missing', 'missing-field');
      if (typeof rec.label !== 'string' || rec.label === '') throw new DataError(file, line, 'label', `expected a non-empty string, got ${preview(rec.label)}`, 'bad-label');
      return rec as ClsRecord;
    case undefined:
      throw new DataError(file, line, 'type', 'missing (retrieval, pair or cls)', 'missing-field');
    default:
      throw new DataError(file, line, 'type', `unknown type ${preview(rec.type)} (retrieval, pair or cls)`, 'wrong-type');
  }
}

/** Every text of a record, in field order (query, pos…, neg… / text1, text2 / text). */
export function recordTexts(r: CanonicalRecord): string[] {
  switch (r.type) {
    case 'retrieval':
      return [r.query, ...r.pos, ...r.neg];
    case 'pair':
      return [r.text1, r.text2];
    case 'cls':
      return [r.text];
  }
}

/** Serialises a record as one JSONL line (canonical fields first, then provenance). */
export function recordToJson(r: CanonicalRecord): string {
  return JSON.stringify(r);
}
