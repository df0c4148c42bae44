// The record files that flow between steps (transform → synth → mine → training), as recorded in the
// steps' markers: where each file is, which family and dataset it holds, and its training instruction.
import type { InstructionSides, RecordFamily } from './config.js';

export interface RecordSet {
  /** The set's name: a source name, a derived retrieval set, or `<generator>-<source>` for synthesis. */
  name: string;
  /** File path relative to the run folder, e.g. "transform/banking77.jsonl". */
  file: string;
  family: RecordFamily | 'mixed';
  dataset: string;
  records: number;
  origin: 'source' | 'derived' | 'synthetic';
  /** Records per family (a 'mixed' canonical source may hold several). */
  byType?: Partial<Record<RecordFamily, number>>;
  instruction?: string;
  task?: string;
  sides?: InstructionSides;
  /** Synthetic sets: the set they were made from, and by which generator. */
  from?: string;
  generator?: string;
  /** Training sets: how many of `records` are synthetic (merged in by the mine step). */
  synthetic?: number;
}

/** The record sets listed in a step marker's summary. */
export function recordSetsOf(summary: Record<string, unknown>): RecordSet[] {
  const sets = summary.sets;
  return Array.isArray(sets) ? (sets as RecordSet[]) : [];
}

/** Whether a set holds records of the family (mixed sets may). */
export function holds(set: RecordSet, family: RecordFamily): boolean {
  if (set.family === family) return true;
  return set.family === 'mixed' && (set.byType?.[family] ?? 0) > 0;
}
