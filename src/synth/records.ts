// Canonical records as synthesis and mining use them. The format and its validation belong to the
// data area (src/data/records.ts); this module adds the stable source id that resume and
// provenance are keyed on, and the provenance shape of synthesised records.
import { validateRecord, type CanonicalRecord } from '../data/records.js';
import { DataError } from '../data/errors.js';
import { canonicalJson, sha256Hex } from './canonical-json.js';

export type { CanonicalRecord, RetrievalRecord, PairRecord, ClsRecord } from '../data/records.js';
export { DataError } from '../data/errors.js';
export type RecordType = CanonicalRecord['type'];

/** Provenance attached to every synthesised record. */
export interface Provenance {
  generator: string;
  prompt_version: string;
  /** First 12 hex digits of sha256 of the template file, so edited templates are traceable. */
  prompt_hash: string;
  model: string;
  source_id: string;
  /** The try (1-based) whose answer produced this record. */
  attempt: number;
  /** Provenance of the source record when it was itself synthetic. */
  parent?: unknown;
  [extra: string]: unknown;
}

export interface Where {
  file: string;
  line: number;
}

/** Validates one canonical record (src/data's rules); errors read "file:line: field: problem". */
export function parseRecord(raw: unknown, where: Where): CanonicalRecord {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new DataError(where.file, where.line, undefined, `expected a JSON object, got ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : typeof raw}`, 'not-an-object');
  }
  return validateRecord(raw as Record<string, unknown>, where.file, where.line);
}

/**
 * A stable id for a source record: its `id` field when it has one (prefixed with its `dataset`, so
 * ids of different datasets do not collide), else "sha256:" and the first 16 bytes (hex) of sha256
 * over its type, content fields and dataset (field order does not matter), so identical records
 * share an id and are synthesised once.
 */
export function sourceIdOf(record: CanonicalRecord): string {
  const id = record.id;
  const dataset = typeof record.dataset === 'string' && record.dataset !== '' ? record.dataset : null;
  if ((typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isFinite(id))) return dataset ? `${dataset}:${id}` : String(id);
  let content: unknown;
  switch (record.type) {
    case 'retrieval':
      content = { type: record.type, query: record.query, pos: record.pos, neg: record.neg ?? [], instruction: record.instruction ?? null, dataset };
      break;
    case 'pair':
      content = { type: record.type, text1: record.text1, text2: record.text2, score: record.score, dataset };
      break;
    case 'cls':
      content = { type: record.type, text: record.text, label: record.label, dataset };
      break;
  }
  return `sha256:${sha256Hex(canonicalJson(content)).slice(0, 32)}`;
}
