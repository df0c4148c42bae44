// An RFC 4180 CSV/TSV row parser fed one physical line at a time, so records that span lines
// (quoted fields holding newlines) come out whole, with the line they started on.
// Rules (those of Python's csv module with its defaults):
// - a field that starts with the quote character is quoted; inside it `""` is a literal quote and
//   delimiters and line breaks (LF or CRLF, kept as they are) are data;
// - text after a closing quote up to the next delimiter is appended as is (`"ab"c` → `abc`);
// - a quote inside an unquoted field is data;
// - a CR at the end of a line outside quotes belongs to the CRLF terminator and is dropped;
// - a blank line outside quotes is no record;
// - with quoting off (TSV such as STS-B) a line is split on the delimiter and nothing else.

export interface CsvRow {
  fields: string[];
  /** Line the record started on. */
  line: number;
  /** Lines it spans (more than 1 when a quoted field holds line breaks). */
  lines: number;
}

export class CsvParser {
  private fields: string[] = [];
  private field = '';
  private inQuotes = false;
  private rowLine = 0;
  private rowLines = 0;

  constructor(
    private readonly delimiter = ',',
    private readonly quoting = true,
    private readonly quote = '"',
  ) {
    if (delimiter.length === 0) throw new Error('CSV delimiter must not be empty');
    if (quoting && delimiter.includes(quote)) throw new Error('CSV delimiter must not contain the quote character');
  }

  /** True while a quoted field is open across lines. */
  get open(): boolean {
    return this.inQuotes;
  }

  /** Line where the open record started (for "unterminated quote" errors). */
  get openLine(): number {
    return this.rowLine;
  }

  /** Feeds one physical line (without its LF). Returns the finished row, or null (blank line, or a quoted field continues). */
  push(text: string, lineNo: number): CsvRow | null {
    let i = 0;
    if (this.inQuotes) {
      this.field += '\n';
      this.rowLines++;
    } else {
      const end = text.endsWith('\r') ? text.length - 1 : text.length;
      if (end === 0) return null;
      this.rowLine = lineNo;
      this.rowLines = 1;
      if (!this.quoting || text.indexOf(this.quote) < 0) {
        return { fields: (end === text.length ? text : text.slice(0, end)).split(this.delimiter), line: lineNo, lines: 1 };
      }
      this.fields = [];
      this.field = '';
      if (text.startsWith(this.quote)) {
        this.inQuotes = true;
        i = this.quote.length;
      }
    }
    const q = this.quote;
    const d = this.delimiter;
    const end = text.endsWith('\r') ? text.length - 1 : text.length;
    for (;;) {
      if (this.inQuotes) {
        const j = text.indexOf(q, i);
        if (j < 0) {
          this.field += text.slice(i);
          return null;
        }
        if (text.startsWith(q, j + q.length)) {
          this.field += text.slice(i, j + q.length);
          i = j + 2 * q.length;
          continue;
        }
        this.field += text.slice(i, j);
        this.inQuotes = false;
        i = j + q.length;
        if (i >= end) break; // closing quote at the end of the line (a CR after it is the terminator)
      }
      // Unquoted part of a field: runs to the next delimiter or the end of the line.
      const k = text.indexOf(d, i);
      if (k < 0 || k >= end) {
        this.field += text.slice(i, end);
        break;
      }
      this.field += text.slice(i, k);
      this.fields.push(this.field);
      this.field = '';
      i = k + d.length;
      if (text.startsWith(q, i)) {
        this.inQuotes = true;
        i += q.length;
      }
    }
    this.fields.push(this.field);
    const row = { fields: this.fields, line: this.rowLine, lines: this.rowLines };
    this.fields = [];
    this.field = '';
    return row;
  }
}

/** Quotes one field the RFC 4180 way when it needs it (for writers and tests). */
export function csvField(value: string, delimiter = ','): string {
  if (value.includes('"') || value.includes(delimiter) || value.includes('\n') || value.includes('\r')) {
    return '"' + value.replace(/"/g, '""') + '"';
  }
  return value;
}
