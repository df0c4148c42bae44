// Record readers for every source format the data tools take: JSONL, JSON (arrays streamed element by
// element), CSV/TSV (RFC 4180), Parquet, each optionally gzip-compressed, plus the file layout of
// Hugging Face dataset folders. Everything streams in bounded memory and every record carries the
// file and line it came from, so later stages can say `file:line: field: problem`.
import { readdirSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { DataError } from './errors.js';
import { CsvParser } from './csv.js';
import { readParquetBatches } from './parquet.js';
import { readTextLines, type InvalidTextPolicy, type TextEncoding } from './text-lines.js';

export type { InvalidTextPolicy, TextEncoding } from './text-lines.js';

export type RecordFormat = 'jsonl' | 'json' | 'csv' | 'tsv' | 'parquet';

export interface SourceRecord {
  record: Record<string, unknown>;
  file: string;
  /** 1-based line in text formats (the line a multi-line CSV record or JSON element starts on); row index + 1 for parquet. */
  line: number;
}

/** Something odd but recoverable about a line (the record is still produced). */
export interface ReadWarning {
  file: string;
  line: number;
  kind: 'invalid-text' | 'ragged-row';
  message: string;
}

export interface ReadOptions {
  /** Default: from the extension (.jsonl/.ndjson, .json, .csv, .tsv, .parquet; optional .gz). */
  format?: RecordFormat;
  /** CSV/TSV field separator (default "," for csv, tab for tsv). */
  delimiter?: string;
  /**
   * CSV/TSV: true (default) = the first row names the columns; false = no header, columns are named
   * "0", "1", …; a list = no header row in the file, these are the column names.
   */
  header?: boolean | string[];
  /** CSV/TSV quote handling (default true). STS-B style TSV needs false: split on the delimiter only. */
  quote?: boolean;
  /** Text encoding (default 'auto': UTF-8, or UTF-16 LE/BE when the file starts with that BOM). */
  encoding?: TextEncoding;
  /** Lines with invalid UTF-8: 'replace' (U+FFFD, a warning; default), 'latin1' (decode as Windows-1252, a warning), 'error' (a bad record). */
  invalidText?: InvalidTextPolicy;
  /** JSON: the array of records inside a top-level object (dotted path, e.g. "data"). */
  field?: string;
  /** Called for each bad record, which is then skipped; without it the first bad record throws. */
  onBadRecord?: (error: DataError) => void;
  /** Called for recoverable oddities (invalid bytes replaced, rows with a different field count). */
  onWarning?: (warning: ReadWarning) => void;
  /** Bytes per read (default 1 MiB). */
  bufferSize?: number;
  signal?: AbortSignal;
}

const EXTENSIONS: Record<string, RecordFormat> = {
  jsonl: 'jsonl',
  ndjson: 'jsonl',
  json: 'json',
  csv: 'csv',
  tsv: 'tsv',
  parquet: 'parquet',
};

/** The format a path's extension names (a trailing .gz is looked through), or undefined. */
export function formatFromPath(path: string): RecordFormat | undefined {
  const m = /\.([a-z]+)(?:\.gz)?$/i.exec(basename(path));
  return m ? EXTENSIONS[m[1]!.toLowerCase()] : undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Streams the records of one file. */
export function readRecords(path: string, opts: ReadOptions = {}): AsyncIterable<SourceRecord> {
  const format = opts.format ?? formatFromPath(path);
  if (!format) {
    throw new DataError(path, 0, undefined, 'cannot tell the format from the extension; give it (jsonl, json, csv, tsv or parquet)', 'bad-json');
  }
  switch (format) {
    case 'jsonl':
      return readJsonl(path, opts);
    case 'json':
      return readJson(path, opts);
    case 'csv':
    case 'tsv':
      return readDelimited(path, format, opts);
    case 'parquet':
      return readParquet(path, opts);
    default:
      throw new DataError(path, 0, undefined, `unknown format "${String(format)}"`, 'bad-json');
  }
}

/** Reads a whole (small) file into memory. */
export async function readAllRecords(path: string, opts: ReadOptions = {}): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const r of readRecords(path, opts)) out.push(r.record);
  return out;
}

function reporter(opts: ReadOptions): (e: DataError) => void {
  return (e) => {
    if (opts.onBadRecord) opts.onBadRecord(e);
    else throw e;
  };
}

function lineOptions(opts: ReadOptions) {
  return { encoding: opts.encoding, invalidText: opts.invalidText, bufferSize: opts.bufferSize, signal: opts.signal };
}

/** Handles a line with invalid bytes; returns false when the line must be dropped. */
function checkInvalid(path: string, line: number, opts: ReadOptions, bad: (e: DataError) => void): boolean {
  if (opts.invalidText === 'error') {
    bad(new DataError(path, line, undefined, 'invalid UTF-8 bytes', 'invalid-text'));
    return false;
  }
  const how = opts.invalidText === 'latin1' ? 'decoded as Windows-1252' : 'replaced with U+FFFD';
  opts.onWarning?.({ file: path, line, kind: 'invalid-text', message: `invalid UTF-8 bytes ${how}` });
  return true;
}

function parseJsonObject(path: string, line: number, text: string, bad: (e: DataError) => void): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    bad(new DataError(path, line, undefined, `invalid JSON (${(e as Error).message})`, 'bad-json'));
    return undefined;
  }
  if (!isPlainObject(value)) {
    bad(new DataError(path, line, undefined, `expected a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`, 'not-an-object'));
    return undefined;
  }
  return value;
}

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10 && c !== 0xfeff) return false;
  }
  return true;
}

async function* readJsonl(path: string, opts: ReadOptions): AsyncGenerator<SourceRecord> {
  const bad = reporter(opts);
  for await (const batch of readTextLines(path, lineOptions(opts))) {
    const invalid = batch.invalid ? new Set(batch.invalid) : null;
    for (let i = 0; i < batch.lines.length; i++) {
      const text = batch.lines[i]!;
      const line = batch.start + i;
      if (isBlank(text)) continue;
      if (invalid?.has(i) && !checkInvalid(path, line, opts, bad)) continue;
      const record = parseJsonObject(path, line, text, bad);
      if (record) yield { record, file: path, line };
    }
  }
}

/** Splits a streamed JSON array into its elements' source text, tracking the line each starts on. */
class JsonArraySplitter {
  private phase: 'before' | 'in' | 'after' = 'before';
  private depth = 0;
  private inString = false;
  private escape = false;
  private pieces: string[] | null = null;
  private elemLine = 0;

  constructor(private readonly path: string) {}

  push(text: string, lineNo: number, out: { text: string; line: number }[]): void {
    let segStart = this.pieces ? 0 : -1;
    const fail = (problem: string) => {
      throw new DataError(this.path, lineNo, undefined, problem, 'bad-json');
    };
    const start = (i: number) => {
      this.pieces = [];
      segStart = i;
      this.elemLine = lineNo;
    };
    const end = (i: number) => {
      this.pieces!.push(text.slice(segStart, i));
      out.push({ text: this.pieces!.join(''), line: this.elemLine });
      this.pieces = null;
      segStart = -1;
    };
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === 92) this.escape = true;
        else if (c === 34) this.inString = false;
        continue;
      }
      const ws = c === 32 || c === 9 || c === 13 || c === 10 || c === 0xfeff;
      if (this.phase === 'before') {
        if (ws) continue;
        if (c === 91) {
          this.phase = 'in';
          continue;
        }
        fail('expected a JSON array of records ("[")');
      }
      if (this.phase === 'after') {
        if (ws) continue;
        fail('unexpected text after the closing "]"');
      }
      if (c === 123 || c === 91) {
        if (this.depth === 0 && !this.pieces) start(i);
        this.depth++;
      } else if (c === 125 || c === 93) {
        if (this.depth > 0) this.depth--;
        else if (c === 93) {
          if (this.pieces) end(i);
          this.phase = 'after';
        } else fail('unbalanced "}"');
      } else if (c === 44) {
        if (this.depth === 0) {
          if (this.pieces) end(i);
          else fail('empty array element');
        }
      } else if (c === 34) {
        this.inString = true;
        if (this.depth === 0 && !this.pieces) start(i);
      } else if (!ws && this.depth === 0 && !this.pieces) start(i);
    }
    if (this.pieces) this.pieces.push(text.slice(segStart) + '\n');
  }

  finish(lastLine: number): void {
    if (this.phase === 'before') throw new DataError(this.path, lastLine, undefined, 'empty file: expected a JSON array of records', 'bad-json');
    if (this.phase === 'in') throw new DataError(this.path, lastLine, undefined, 'unexpected end of file inside the JSON array', 'bad-json');
  }
}

function getPath(obj: unknown, dotted: string): unknown {
  if (isPlainObject(obj) && dotted in obj) return obj[dotted];
  let cur: unknown = obj;
  for (const part of dotted.split('.')) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

async function* readJson(path: string, opts: ReadOptions): AsyncGenerator<SourceRecord> {
  const bad = reporter(opts);
  // The mode is chosen from the first significant line: "[" → a streamed array; "{" → JSON Lines
  // when that line is a complete object (Hugging Face names many JSONL files .json), else one document.
  let mode: 'unknown' | 'array' | 'lines' | 'document' = opts.field ? 'document' : 'unknown';
  const splitter = new JsonArraySplitter(path);
  const doc: string[] = [];
  let lastLine = 0;
  for await (const batch of readTextLines(path, lineOptions(opts))) {
    const invalid = batch.invalid ? new Set(batch.invalid) : null;
    for (let i = 0; i < batch.lines.length; i++) {
      const text = batch.lines[i]!;
      const line = batch.start + i;
      lastLine = line;
      if (mode === 'unknown') {
        if (isBlank(text)) continue;
        if (text.trimStart().startsWith('[')) mode = 'array';
        else {
          try {
            mode = isPlainObject(JSON.parse(text)) ? 'lines' : 'document';
          } catch {
            mode = 'document';
          }
        }
      }
      if (invalid?.has(i) && !checkInvalid(path, line, opts, bad)) {
        if (mode === 'lines') continue;
        throw new DataError(path, line, undefined, 'invalid UTF-8 bytes inside a JSON document', 'invalid-text');
      }
      if (mode === 'lines') {
        if (isBlank(text)) continue;
        const record = parseJsonObject(path, line, text, bad);
        if (record) yield { record, file: path, line };
      } else if (mode === 'array') {
        const out: { text: string; line: number }[] = [];
        splitter.push(text, line, out);
        for (const el of out) {
          const record = parseJsonObject(path, el.line, el.text, bad);
          if (record) yield { record, file: path, line: el.line };
        }
      } else doc.push(text);
    }
  }
  if (mode === 'array') splitter.finish(lastLine);
  if (mode !== 'document') return;
  let value: unknown;
  try {
    value = JSON.parse(doc.join('\n'));
  } catch (e) {
    throw new DataError(path, 0, undefined, `invalid JSON (${(e as Error).message})`, 'bad-json');
  }
  const items = opts.field ? getPath(value, opts.field) : value;
  if (!Array.isArray(items)) {
    const problem = opts.field
      ? `field "${opts.field}" is not an array of records`
      : 'the file is one JSON object, not records; name the array of records inside it (field, e.g. "data")';
    throw new DataError(path, 0, opts.field, problem, 'not-an-object');
  }
  // One document: "line" is the element number (1-based) inside the array.
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (isPlainObject(item)) yield { record: item, file: path, line: i + 1 };
    else bad(new DataError(path, i + 1, undefined, `element ${i + 1} is not a JSON object`, 'not-an-object'));
  }
}

async function* readDelimited(path: string, format: 'csv' | 'tsv', opts: ReadOptions): AsyncGenerator<SourceRecord> {
  const bad = reporter(opts);
  const delimiter = opts.delimiter ?? (format === 'tsv' ? '\t' : ',');
  const parser = new CsvParser(delimiter, opts.quote ?? true);
  let names: string[] | null = Array.isArray(opts.header) ? opts.header.slice() : null;
  const positional = opts.header === false;
  let rowInvalid = false;
  let lastLine = 0;

  const toRecord = (fields: string[], line: number): Record<string, unknown> => {
    const record: Record<string, unknown> = {};
    if (positional || !names) {
      for (let i = 0; i < fields.length; i++) record[String(i)] = fields[i];
      return record;
    }
    const n = Math.min(names.length, fields.length);
    for (let i = 0; i < n; i++) record[names[i]!] = fields[i];
    if (fields.length !== names.length) {
      for (let i = names.length; i < fields.length; i++) record[String(i)] = fields[i];
      opts.onWarning?.({
        file: path,
        line,
        kind: 'ragged-row',
        message: `${fields.length} fields where the header has ${names.length}`,
      });
    }
    return record;
  };

  const setHeader = (fields: string[], line: number) => {
    const seen = new Set<string>();
    names = fields.map((f, i) => {
      const name = f.trim() === '' ? String(i) : f.trim();
      if (seen.has(name)) throw new DataError(path, line, name, 'duplicate column name in the header', 'bad-csv');
      seen.add(name);
      return name;
    });
  };

  for await (const batch of readTextLines(path, lineOptions(opts))) {
    for (let i = 0; i < batch.lines.length; i++) {
      const line = batch.start + i;
      lastLine = line;
      if (batch.invalid && batch.invalid.includes(i)) {
        if (opts.invalidText === 'error') rowInvalid = true;
        else checkInvalid(path, line, opts, bad);
      }
      const row = parser.push(batch.lines[i]!, line);
      if (!row) continue;
      if (rowInvalid) {
        rowInvalid = false;
        checkInvalid(path, row.line, opts, bad);
        continue;
      }
      if (!names && opts.header !== false) {
        setHeader(row.fields, row.line);
        continue;
      }
      yield { record: toRecord(row.fields, row.line), file: path, line: row.line };
    }
  }
  if (parser.open) {
    bad(new DataError(path, parser.openLine, undefined, `unterminated quoted field (opened here, still open at line ${lastLine}, the end of the file)`, 'bad-csv'));
  }
}

async function* readParquet(path: string, opts: ReadOptions): AsyncGenerator<SourceRecord> {
  for await (const batch of readParquetBatches(path, opts.signal)) {
    for (let i = 0; i < batch.rows.length; i++) {
      yield { record: batch.rows[i]!, file: path, line: batch.start + i + 1 };
    }
  }
}

// ---- Hugging Face dataset folders ----

/** Split names and the file/folder keywords that mean them (as in Hugging Face `datasets`). */
const SPLIT_KEYWORDS: Record<string, string[]> = {
  train: ['train', 'training'],
  validation: ['validation', 'valid', 'dev', 'val'],
  test: ['test', 'testing', 'eval', 'evaluation'],
};
const FORMAT_PREFERENCE: RecordFormat[] = ['parquet', 'jsonl', 'json', 'csv', 'tsv'];

function keywordsFor(split: string): string[] {
  const s = split.toLowerCase();
  for (const words of Object.values(SPLIT_KEYWORDS)) if (words.includes(s)) return words;
  return [s];
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function walkDataFiles(dir: string, depth: number, out: string[]): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new Error(`${dir}: cannot list the folder (${(e as Error).message})`);
  }
  for (const name of names) {
    if (name.startsWith('.') || name.startsWith('__')) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) {
      if (depth < 8) walkDataFiles(p, depth + 1, out);
    } else if (formatFromPath(name)) out.push(p);
  }
}

/**
 * The data files of one split in a Hugging Face datasets folder: `data/test-00000-of-00002.parquet`,
 * `test.jsonl`, `test.csv.gz`, `<config>/test/0000.parquet`, `dev.tsv` for "validation", and so on.
 * File names that name the split win over folder names; when files of several formats match, the most
 * common format is kept (ties: parquet, jsonl, json, csv, tsv). Sorted; [] when nothing matches.
 * Pass a config's folder to read only that config.
 */
export function findSplitFiles(dir: string, split: string): string[] {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${dir}: not a folder`);
  const files: string[] = [];
  walkDataFiles(dir, 0, files);
  const words = keywordsFor(split).map(escapeRegExp).join('|');
  const re = new RegExp(`(?:^|[-._ 0-9])(?:${words})(?:$|[-._ 0-9])`, 'i');
  const stem = (p: string) => basename(p).replace(/(\.[a-z]+)?(\.gz)?$/i, '');
  let matched = files.filter((f) => re.test(stem(f)));
  if (matched.length === 0) {
    matched = files.filter((f) => relative(dir, f).split(sep).slice(0, -1).some((part) => re.test(part)));
  }
  if (matched.length === 0) return [];
  const counts = new Map<RecordFormat, number>();
  for (const f of matched) counts.set(formatFromPath(f)!, (counts.get(formatFromPath(f)!) ?? 0) + 1);
  let best: RecordFormat = FORMAT_PREFERENCE.find((f) => counts.has(f))!;
  for (const f of FORMAT_PREFERENCE) if ((counts.get(f) ?? 0) > (counts.get(best) ?? 0)) best = f;
  return matched
    .filter((f) => formatFromPath(f) === best)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}
