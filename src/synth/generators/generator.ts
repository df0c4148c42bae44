// What a synthesis generator is: for each source record it makes an ItemPlan that renders the
// prompt, names the answer's schema, checks candidates against the recipe's constraints and turns
// the accepted ones into canonical records with provenance.
import type { JsonSchema } from '../json-schema.js';
import type { PromptTemplate } from '../prompts.js';
import type { CanonicalRecord, RecordType } from '../records.js';
import type { LengthMeasure, Rejection, SynthConstraints } from '../constraints.js';

export type GeneratorName = 'paraphrase' | 'augment' | 'hard-negative';
export const GENERATOR_NAMES: readonly GeneratorName[] = ['paraphrase', 'augment', 'hard-negative'];

export interface GeneratorEnv {
  constraints: SynthConstraints;
  measure: LengthMeasure;
  /** Folder with the prompt templates (default: the shipped ones). */
  promptsDir?: string;
}

/** One schema-valid item of an answer, with string fields. */
export type Candidate = Record<string, string>;

export interface AcceptedCandidate {
  candidate: Candidate;
  /** The try (1-based) whose answer it came from. */
  attempt: number;
}

export interface ProvenanceBase {
  model: string;
  sourceId: string;
  /** The source record's own provenance, kept as `provenance.parent`. */
  parent?: unknown;
}

export interface ItemPlan {
  template: PromptTemplate;
  /** Template variables for a request that asks for `need` more outputs. */
  variables(need: number, feedback: string): Record<string, string | number>;
  /** The answer is `{ [listKey]: item[] }`. */
  listKey: string;
  itemSchema: JsonSchema;
  /** Cleans an item before schema validation (e.g. lower-cases enum values). */
  coerce?(item: unknown): unknown;
  /** Checks a schema-valid candidate against the constraints and against those already accepted. */
  check(candidate: Candidate, accepted: readonly AcceptedCandidate[]): Rejection | null;
  /** Keys for exact dedup across items ([] for none). */
  globalKeys(candidate: Candidate): string[];
  /** The output records for the accepted candidates (may be [] when none were accepted). */
  emit(accepted: readonly AcceptedCandidate[], base: ProvenanceBase): CanonicalRecord[];
  /** Expected completion tokens when `need` outputs are asked for (budgets, max_tokens, --dry-run). */
  expectedOutputTokens(need: number): number;
}

export interface Generator {
  name: GeneratorName;
  /** Templates by the record type they serve (loaded up front, so a broken template fails fast). */
  templates: Partial<Record<RecordType, PromptTemplate>>;
  /** Why this generator cannot use the record, or null when it can. */
  unsupported(record: CanonicalRecord): string | null;
  plan(record: CanonicalRecord): ItemPlan;
  /** The cross-item dedup keys of an output record already on disk (rebuilds the set on resume). */
  outputKeys(record: CanonicalRecord): string[];
}
