// Record-file operations the pipeline needs beyond src/data's transformations: a seeded sample of a
// canonical JSONL file (small demo and test runs), and scored pairs above a threshold turned into
// retrieval records (text1 → text2), so that stage 1, which trains on retrieval data only, has data
// when the raw sources are STS-style pairs. Both stream their input and write their output atomically.
import { readRecords } from '../data/readers.js';
import { HashSet64 } from '../data/hashset.js';
import { Rng } from '../data/rng.js';
import { validateRecord, type CanonicalRecord } from '../data/records.js';
import { writeAtomicWith } from '../util/atomic-file.js';

/** Writes lines to `path` atomically (src/util: temporary sibling, fsync, rename only on success). */
export async function writeLinesAtomic(path: string, lines: AsyncIterable<string> | Iterable<string>): Promise<number> {
  let n = 0;
  await writeAtomicWith(path, async (fh) => {
    let buf: string[] = [];
    let size = 0;
    for await (const line of lines) {
      buf.push(line, '\n');
      size += line.length + 1;
      n++;
      if (size >= 1 << 20) {
        await fh.write(buf.join(''));
        buf = [];
        size = 0;
      }
    }
    if (buf.length) await fh.write(buf.join(''));
  });
  return n;
}

async function* canonicalRecords(path: string): AsyncGenerator<{ record: CanonicalRecord; raw: Record<string, unknown>; line: number }> {
  for await (const { record, file, line } of readRecords(path, { format: 'jsonl' })) {
    yield { record: validateRecord(record, file, line), raw: record, line };
  }
}

export interface SampleReport {
  input: number;
  kept: number;
}

/**
 * Keeps a uniform random sample of `n` records (reservoir sampling, seeded), in their input order.
 * Memory holds the sample only.
 */
export async function sampleRecordFile(input: string, output: string, n: number, seed: number | string): Promise<SampleReport> {
  const rng = new Rng(`sample:${seed}`);
  const reservoir: { index: number; text: string }[] = [];
  let seen = 0;
  for await (const { raw } of canonicalRecords(input)) {
    const text = JSON.stringify(raw);
    if (reservoir.length < n) reservoir.push({ index: seen, text });
    else {
      const j = Math.floor(rng.next() * (seen + 1));
      if (j < n) reservoir[j] = { index: seen, text };
    }
    seen++;
  }
  reservoir.sort((a, b) => a.index - b.index);
  await writeLinesAtomic(output, reservoir.map((r) => r.text));
  return { input: seen, kept: reservoir.length };
}

export interface PairsToRetrievalOptions {
  /** Pairs scoring at least this become retrieval records. */
  minScore: number;
  /** `dataset` of the records written. */
  dataset: string;
}

export interface PairsToRetrievalReport {
  pairs: number;
  /** Pairs at or above the threshold (both orders counted once). */
  selected: number;
  written: number;
  /** Non-pair records in the input, ignored. */
  otherRecords: number;
}

/**
 * Pair records with score ≥ minScore → `{type: retrieval, query: text1, pos: [text2], neg: []}`. A pair
 * present in both orders (as the recipe's transformation emits them) gives one record, in the order seen
 * first (text1 → text2 of the source row).
 */
export async function pairsToRetrieval(input: string, output: string, opts: PairsToRetrievalOptions): Promise<PairsToRetrievalReport> {
  const seen = new HashSet64();
  const report: PairsToRetrievalReport = { pairs: 0, selected: 0, written: 0, otherRecords: 0 };
  async function* lines(): AsyncGenerator<string> {
    for await (const { record } of canonicalRecords(input)) {
      if (record.type !== 'pair') {
        report.otherRecords++;
        continue;
      }
      report.pairs++;
      if (!(record.score >= opts.minScore)) continue;
      const [a, b] = record.text1 <= record.text2 ? [record.text1, record.text2] : [record.text2, record.text1];
      const key = `${a}\u0000${b}`;
      if (seen.hasString(key)) continue;
      seen.addString(key);
      report.selected++;
      yield JSON.stringify({ type: 'retrieval', query: record.text1, pos: [record.text2], neg: [], dataset: opts.dataset, score: record.score });
    }
  }
  report.written = await writeLinesAtomic(output, lines());
  return report;
}
