// Streams a text file (optionally gzip-compressed) as batches of decoded lines with 1-based line
// numbers, in bounded memory. Handles the encodings found in real datasets: UTF-8 with or without BOM,
// UTF-16 LE/BE announced by a BOM, and lines with invalid UTF-8 bytes (decoded with U+FFFD or as
// Windows-1252, and flagged so the caller can count or reject them). Line terminators are LF or CRLF;
// a CR before the LF is kept in the line text so CSV quoted fields can keep it (callers strip it).
import { createReadStream } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export type TextEncoding = 'auto' | 'utf-8' | 'utf-16le' | 'utf-16be' | 'latin1';
/** What to do with a line holding bytes that are not valid UTF-8. */
export type InvalidTextPolicy = 'replace' | 'latin1' | 'error';

export interface LineBatch {
  /** Line number of lines[0]. */
  start: number;
  lines: string[];
  /** Indices into `lines` of lines that held invalid bytes (already decoded per the policy). */
  invalid: number[] | null;
}

export interface TextLineOptions {
  encoding?: TextEncoding;
  invalidText?: InvalidTextPolicy;
  /** Decompress with gzip (default: when the path ends in .gz). */
  gzip?: boolean;
  /** Read size in bytes (default 1 MiB); tests use tiny values to exercise chunk boundaries. */
  bufferSize?: number;
  signal?: AbortSignal;
}

/** Opens the raw byte stream of a file, gunzipping when asked. */
export function openByteStream(path: string, opts: { gzip?: boolean; bufferSize?: number; signal?: AbortSignal } = {}): Readable {
  const gzip = opts.gzip ?? /\.gz$/i.test(path);
  const raw = createReadStream(path, { highWaterMark: opts.bufferSize ?? 1 << 20, signal: opts.signal });
  if (!gzip) return raw;
  const gunzip = createGunzip({ chunkSize: Math.max(64, opts.bufferSize ?? 1 << 16) });
  raw.on('error', (e) => gunzip.destroy(e));
  return raw.pipe(gunzip);
}

const windows1252 = new TextDecoder('windows-1252');

function decodeBytes(buf: Uint8Array, policy: InvalidTextPolicy): string {
  if (policy === 'latin1' && !isUtf8(buf)) return windows1252.decode(buf);
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8');
}

/** Yields the file's lines in batches. The last line needs no terminator; a final empty line is dropped. */
export async function* readTextLines(path: string, opts: TextLineOptions = {}): AsyncGenerator<LineBatch> {
  const stream = openByteStream(path, opts);
  const policy = opts.invalidText ?? 'replace';
  let encoding: TextEncoding = opts.encoding ?? 'auto';
  let lineNo = 1;
  let head: Buffer | null = Buffer.alloc(0); // bytes seen before the encoding is known
  let pending: Buffer[] = []; // UTF-8: bytes of the current unterminated line
  const dec: { d: TextDecoder | null } = { d: null }; // UTF-16 / Latin-1 path
  let textCarry = '';

  const emitUtf8 = (seg: Buffer): LineBatch => {
    // seg holds whole lines, without the final LF.
    if (isUtf8(seg)) {
      const lines = seg.toString('utf8').split('\n');
      const batch = { start: lineNo, lines, invalid: null };
      lineNo += lines.length;
      return batch;
    }
    const lines: string[] = [];
    const invalid: number[] = [];
    let from = 0;
    for (;;) {
      const nl = seg.indexOf(10, from);
      const end = nl < 0 ? seg.length : nl;
      const bytes = seg.subarray(from, end);
      if (!isUtf8(bytes)) invalid.push(lines.length);
      lines.push(decodeBytes(bytes, policy));
      if (nl < 0) break;
      from = nl + 1;
    }
    const batch = { start: lineNo, lines, invalid: invalid.length ? invalid : null };
    lineNo += lines.length;
    return batch;
  };

  const emitText = (text: string, final: boolean): LineBatch | null => {
    const all = textCarry + text;
    const lastNl = all.lastIndexOf('\n');
    if (final) {
      textCarry = '';
      if (all.length === 0) return null;
      const lines = all.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      const batch = { start: lineNo, lines, invalid: null };
      lineNo += lines.length;
      return batch;
    }
    if (lastNl < 0) {
      textCarry = all;
      return null;
    }
    textCarry = all.slice(lastNl + 1);
    const lines = all.slice(0, lastNl).split('\n');
    const batch = { start: lineNo, lines, invalid: null };
    lineNo += lines.length;
    return batch;
  };

  const chooseEncoding = (buf: Buffer): Buffer => {
    let skip = 0;
    if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
      skip = 3;
      if (encoding === 'auto') encoding = 'utf-8';
    } else if (buf[0] === 0xff && buf[1] === 0xfe) {
      if (encoding === 'auto' || encoding === 'utf-16le') {
        encoding = 'utf-16le';
        skip = 2;
      }
    } else if (buf[0] === 0xfe && buf[1] === 0xff) {
      if (encoding === 'auto' || encoding === 'utf-16be') {
        encoding = 'utf-16be';
        skip = 2;
      }
    }
    if (encoding === 'auto') encoding = 'utf-8';
    if (encoding !== 'utf-8') dec.d = new TextDecoder(encoding === 'latin1' ? 'windows-1252' : encoding);
    return buf.subarray(skip);
  };

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let buf: Buffer = chunk;
    if (head) {
      head = Buffer.concat([head, chunk]);
      if (head.length < 3) continue;
      buf = chooseEncoding(head);
      head = null;
    }
    if (dec.d) {
      const b = emitText(dec.d.decode(buf, { stream: true }), false);
      if (b) yield b;
      continue;
    }
    const lastNl = buf.lastIndexOf(10);
    if (lastNl < 0) {
      pending.push(buf);
      continue;
    }
    const seg = pending.length ? Buffer.concat([...pending, buf.subarray(0, lastNl)]) : buf.subarray(0, lastNl);
    pending = lastNl + 1 < buf.length ? [buf.subarray(lastNl + 1)] : [];
    yield emitUtf8(seg);
  }
  if (head) {
    // Files shorter than 3 bytes.
    const buf = chooseEncoding(head);
    head = null;
    if (dec.d) {
      const b = emitText(dec.d.decode(buf, { stream: true }), false);
      if (b) yield b;
    } else if (buf.length) pending.push(buf);
  }
  if (dec.d) {
    const b = emitText(dec.d.decode(), true);
    if (b) yield b;
    return;
  }
  if (pending.length) {
    const seg = Buffer.concat(pending);
    if (seg.length) yield emitUtf8(seg);
  }
}
