// Texts of records, for training a tokenizer: named fields, or every text of canonical training records
// (query, positives and negatives; both sides of pairs; classification texts), or a plain `text` field.
import { readRecords } from '../data/readers.js';

/** Streams the texts of the records in `paths` (any format src/data reads). */
export async function* recordTexts(paths: readonly string[], fields?: readonly string[]): AsyncGenerator<string> {
  for (const path of paths) {
    for await (const { record, file, line } of readRecords(path)) {
      const where = `${file}:${line}`;
      if (fields?.length) {
        for (const f of fields) yield* textsOf(record[f], where, f, true);
        continue;
      }
      switch (record.type) {
        case 'retrieval':
          yield* textsOf(record.query, where, 'query', true);
          yield* textsOf(record.pos, where, 'pos', true);
          yield* textsOf(record.neg, where, 'neg', false);
          break;
        case 'pair':
          yield* textsOf(record.text1, where, 'text1', true);
          yield* textsOf(record.text2, where, 'text2', true);
          break;
        default:
          if (record.text === undefined) throw new Error(`${where}: no "text" field (name the text fields with --field)`);
          yield* textsOf(record.text, where, 'text', true);
      }
    }
  }
}

function* textsOf(v: unknown, where: string, field: string, required: boolean): Generator<string> {
  if (v === undefined || v === null) {
    if (required) throw new Error(`${where}: field "${field}" is missing`);
    return;
  }
  if (typeof v === 'string') yield v;
  else if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) {
      if (typeof x !== 'string') throw new Error(`${where}: ${field}[${i}]: expected a string, got ${typeof x}`);
      yield x;
    }
  } else if (typeof v === 'number') yield String(v);
  else throw new Error(`${where}: field "${field}": expected a string or a list of strings, got ${typeof v}`);
}
