// Input rows for synthesis and mining, through the data area's streaming readers (JSONL, JSON,
// CSV/TSV, Parquet, optionally gzip'd), plus a quick row count for progress totals.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { createInterface } from 'node:readline';
import { readRecords, formatFromPath, type SourceRecord } from '../data/readers.js';
import type { DataError } from '../data/errors.js';

export type SourceRow = SourceRecord;

/** Streams the rows of an input file; bad rows throw unless `onBadRecord` takes them. */
export function readRows(path: string, onBadRecord?: (e: DataError) => void): AsyncIterable<SourceRow> {
  return readRecords(path, onBadRecord ? { onBadRecord } : {});
}

/** Number of non-blank lines of a JSONL file (null for other formats): the progress total. */
export async function countRows(path: string): Promise<number | null> {
  if (formatFromPath(path) !== 'jsonl') return null;
  let stream: NodeJS.ReadableStream = createReadStream(path);
  if (/\.gz$/i.test(path)) stream = stream.pipe(createGunzip());
  let n = 0;
  for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) if (text.trim() !== '') n++;
  return n;
}
