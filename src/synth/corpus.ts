// The document pool hard negatives are mined from: a corpus file (JSONL/JSON/CSV/TSV/Parquet records
// with "text" and optional "title" and "id"/"_id", or a .txt file with one document per line), or,
// without one, every positive and negative text of the input records. Documents are de-duplicated
// by text, and looked up by text and by id to keep positives out of the negatives.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { readRecords } from '../data/readers.js';
import { DataError } from '../data/errors.js';

export interface CorpusDoc {
  id?: string;
  text: string;
}

/** The key texts are matched by: NFC, whitespace collapsed, trimmed (case is kept). */
export function matchKey(text: string): string {
  return text.normalize('NFC').replace(/\s+/gu, ' ').trim();
}

export class CorpusIndex {
  readonly texts: string[] = [];
  readonly ids: (string | undefined)[] = [];
  /** Documents dropped because an earlier one had the same text. */
  duplicates = 0;
  private readonly byKey = new Map<string, number>();
  private readonly byId = new Map<string, number>();

  static build(docs: Iterable<CorpusDoc>): CorpusIndex {
    const index = new CorpusIndex();
    for (const d of docs) index.add(d);
    return index;
  }

  get size(): number {
    return this.texts.length;
  }

  add(doc: CorpusDoc): number {
    const key = matchKey(doc.text);
    let i = this.byKey.get(key);
    if (i === undefined) {
      i = this.texts.length;
      this.texts.push(doc.text);
      this.ids.push(doc.id);
      this.byKey.set(key, i);
    } else {
      this.duplicates++;
    }
    if (doc.id !== undefined && !this.byId.has(doc.id)) this.byId.set(doc.id, i);
    return i;
  }

  indexOfText(text: string): number | undefined {
    return this.byKey.get(matchKey(text));
  }

  indexOfId(id: string): number | undefined {
    return this.byId.get(id);
  }
}

function docFromRecord(r: Record<string, unknown>, file: string, line: number): CorpusDoc {
  const text = r.text ?? r.contents ?? r.passage;
  if (typeof text !== 'string') throw new DataError(file, line, 'text', text === undefined ? 'missing' : `expected a string, got ${typeof text}`, text === undefined ? 'missing-field' : 'wrong-type');
  const title = r.title;
  if (title !== undefined && title !== null && typeof title !== 'string') throw new DataError(file, line, 'title', `expected a string, got ${typeof title}`, 'wrong-type');
  const rawId = r.id ?? r._id ?? r.doc_id;
  const id = rawId === undefined || rawId === null ? undefined : String(rawId);
  // BEIR / mteb convention: "title text".
  const full = title ? `${title} ${text}`.trim() : text;
  return { ...(id !== undefined ? { id } : {}), text: full };
}

/** Reads a corpus file. */
export async function readCorpus(path: string): Promise<CorpusDoc[]> {
  const docs: CorpusDoc[] = [];
  if (/\.txt(\.gz)?$/i.test(path)) {
    let stream: NodeJS.ReadableStream = createReadStream(path);
    if (/\.gz$/i.test(path)) stream = stream.pipe(createGunzip());
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) if (line.trim() !== '') docs.push({ text: line });
    return docs;
  }
  for await (const { record, file, line } of readRecords(path)) docs.push(docFromRecord(record, file, line));
  return docs;
}
