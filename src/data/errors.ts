// The one error type of the data area: it knows where in which file a problem is, so every message
// reads `file:line: field: problem`, and it carries a short reason code that reports count by.

/** Why a record was rejected or changed; reports group skipped lines by these codes. */
export type Reason =
  | 'bad-json'
  | 'bad-csv'
  | 'bad-parquet'
  | 'not-an-object'
  | 'invalid-text'
  | 'missing-field'
  | 'wrong-type'
  | 'empty-text'
  | 'bad-score'
  | 'bad-label'
  | 'no-gold-label'
  | 'no-pairs'
  | 'duplicate'
  | 'near-duplicate'
  | 'too-long'
  | 'too-short'
  | 'contaminated-exact'
  | 'contaminated-ngram';

export class DataError extends Error {
  constructor(
    readonly file: string,
    /** 1-based line (text formats) or row number (parquet); 0 when the problem is about the whole file. */
    readonly line: number,
    /** The field (or column) at fault, if any. */
    readonly field: string | undefined,
    readonly problem: string,
    readonly reason: Reason,
  ) {
    super(formatLocation(file, line, field, problem));
    this.name = 'DataError';
  }
}

export function formatLocation(file: string, line: number, field: string | undefined, problem: string): string {
  const where = line > 0 ? `${file}:${line}` : file;
  return field ? `${where}: ${field}: ${problem}` : `${where}: ${problem}`;
}

/** Shortens a value for an error message. */
export function preview(value: unknown, max = 40): string {
  let s: string;
  if (typeof value === 'string') s = JSON.stringify(value.length > max ? value.slice(0, max) + '…' : value);
  else if (value === undefined) s = 'undefined';
  else {
    try {
      s = JSON.stringify(value) ?? String(value);
    } catch {
      s = String(value);
    }
    if (s.length > max + 2) s = s.slice(0, max) + '…';
  }
  return s;
}
