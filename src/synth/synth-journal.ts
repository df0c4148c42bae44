// The synthesis journal: one line per finished source item (its status, outputs, tries, rejection
// counts and token usage), appended right after the item's output lines. Output + journal are
// committed in that order, one item at a time, so after a kill the only possible inconsistency is
// an output tail whose journal line is missing; `loadResumeState` drops that tail, and the item
// is redone (from the answer cache, so nothing is paid twice).
import { statSync } from 'node:fs';
import { HashSet64 } from '../data/hashset.js';
import { readLines, repairTornTail, truncateFile } from './append-log.js';
import type { CanonicalRecord } from './records.js';

export type ItemStatus =
  /** All requested outputs were produced. */
  | 'ok'
  /** Some, but fewer than requested, within the try budget. */
  | 'partial'
  /** None within the try budget. */
  | 'exhausted'
  /** The endpoint refused the request for good (4xx other than rate limits and auth). */
  | 'rejected'
  /** Not synthesised: the record does not suit the generator, or is invalid and --skip-invalid is set. */
  | 'skipped';

export interface ItemUsage {
  prompt_tokens: number;
  completion_tokens: number;
  cached_prompt_tokens: number;
  cached_completion_tokens: number;
  /** Paid answers / answers from the cache. */
  answers: number;
  cached_answers: number;
}

export interface JournalEntry {
  id: string;
  status: ItemStatus;
  outputs: number;
  tries: number;
  rejections: Record<string, number>;
  usage: ItemUsage;
  /** Why the item was skipped. */
  reason?: string;
}

export function emptyUsage(): ItemUsage {
  return { prompt_tokens: 0, completion_tokens: 0, cached_prompt_tokens: 0, cached_completion_tokens: 0, answers: 0, cached_answers: 0 };
}

/** Running totals over journal entries (all runs), for the summary. */
export class JournalTotals {
  readonly items: Record<ItemStatus, number> & { finished: number } = { ok: 0, partial: 0, exhausted: 0, rejected: 0, skipped: 0, finished: 0 };
  readonly rejections: Record<string, number> = {};
  readonly skipReasons: Record<string, number> = {};
  readonly tokens = { prompt: 0, completion: 0, cached_prompt: 0, cached_completion: 0 };
  tries = 0;
  outputs = 0;

  add(e: JournalEntry): void {
    this.items[e.status]++;
    this.items.finished++;
    this.tries += e.tries;
    this.outputs += e.outputs;
    for (const [k, v] of Object.entries(e.rejections)) this.rejections[k] = (this.rejections[k] ?? 0) + v;
    if (e.reason) this.skipReasons[e.reason] = (this.skipReasons[e.reason] ?? 0) + 1;
    this.tokens.prompt += e.usage.prompt_tokens;
    this.tokens.completion += e.usage.completion_tokens;
    this.tokens.cached_prompt += e.usage.cached_prompt_tokens;
    this.tokens.cached_completion += e.usage.cached_completion_tokens;
  }
}

export interface ResumeState {
  /** Ids of finished items. */
  done: HashSet64;
  totals: JournalTotals;
  /** Cross-item dedup keys of the outputs already written. */
  dedupKeys: HashSet64;
  outputLines: number;
  /** Bytes of uncommitted output dropped (torn line and/or outputs of an item with no journal line). */
  droppedBytes: number;
  droppedLines: number;
}

function sourceIdOfOutput(rec: unknown): string | undefined {
  const p = (rec as { provenance?: { source_id?: unknown } })?.provenance;
  return typeof p?.source_id === 'string' ? p.source_id : undefined;
}

/** Reads the journal and output left by earlier runs and repairs their tails. */
export async function loadResumeState(outputPath: string, journalPath: string, outputKeys: (r: CanonicalRecord) => string[]): Promise<ResumeState> {
  let droppedBytes = (await repairTornTail(journalPath)) + (await repairTornTail(outputPath));
  const done = new HashSet64();
  const totals = new JournalTotals();
  let pendingBad: { line: number; offset: number; error: string } | null = null;
  for await (const { text, line, offset } of readLines(journalPath)) {
    if (pendingBad) throw new Error(`${journalPath}:${pendingBad.line}: invalid journal line (${pendingBad.error}); the file is damaged`);
    try {
      const e = JSON.parse(text) as JournalEntry;
      if (typeof e.id !== 'string') throw new Error('no "id"');
      if (done.addString(e.id)) totals.add(e);
    } catch (err) {
      pendingBad = { line, offset, error: (err as Error).message };
    }
  }
  if (pendingBad) {
    // Only the last line can be half-written garbage (e.g. zeros after a power loss): drop it.
    await truncateFile(journalPath, pendingBad.offset);
  }

  const dedupKeys = new HashSet64();
  let orphanAt: { offset: number; line: number } | null = null;
  let outputLines = 0;
  let droppedLines = 0;
  let lastBad: { line: number; offset: number; error: string } | null = null;
  for await (const { text, line, offset } of readLines(outputPath)) {
    if (lastBad) throw new Error(`${outputPath}:${lastBad.line}: invalid output line (${lastBad.error}); the file is damaged`);
    let rec: unknown;
    try {
      rec = JSON.parse(text);
    } catch (err) {
      lastBad = { line, offset, error: (err as Error).message };
      continue;
    }
    const id = sourceIdOfOutput(rec);
    if (id === undefined) throw new Error(`${outputPath}:${line}: provenance.source_id: missing (this file was not written by qzhou synth)`);
    if (!done.hasString(id)) {
      orphanAt ??= { offset, line };
      droppedLines++;
      continue;
    }
    if (orphanAt) {
      throw new Error(`${outputPath}:${line}: output of a finished item follows uncommitted output (line ${orphanAt.line}); the file is damaged`);
    }
    outputLines++;
    for (const k of outputKeys(rec as CanonicalRecord)) dedupKeys.addString(k);
  }
  const cut = orphanAt?.offset ?? lastBad?.offset;
  if (lastBad) droppedLines++;
  if (cut !== undefined) {
    droppedBytes += statSync(outputPath).size - cut;
    await truncateFile(outputPath, cut);
  }
  if (outputLines !== totals.outputs) {
    throw new Error(`${outputPath} has ${outputLines} committed output lines but ${journalPath} records ${totals.outputs}; the files do not belong together`);
  }
  return { done, totals, dedupKeys, outputLines, droppedBytes, droppedLines };
}
