// Parquet rows, one row group at a time (bounded memory: one row group is decoded at once), through
// hyparquet (pure JS) with hyparquet-compressors for the codecs Hugging Face datasets use (snappy,
// zstd, gzip, brotli, lz4). Values are made JSON-safe: INT64 → number (or a decimal string past
// 2^53), timestamps → ISO strings, binary → UTF-8 text when valid (else base64).
import { open, readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { isUtf8 } from 'node:buffer';
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { DataError } from './errors.js';

interface AsyncBufferLike {
  byteLength: number;
  slice(start: number, end?: number): Promise<ArrayBuffer> | ArrayBuffer;
}

export interface ParquetBatch {
  /** 0-based index of rows[0] in the file. */
  start: number;
  rows: Record<string, unknown>[];
}

/** A file handle wrapped as hyparquet's AsyncBuffer (positioned reads, no stream per slice). */
async function fileBuffer(path: string): Promise<{ buf: AsyncBufferLike; close: () => Promise<void> }> {
  if (/\.gz$/i.test(path)) {
    // Parquet needs random access; a gzipped parquet file is unusual and is inflated in memory.
    const bytes = gunzipSync(await readFile(path));
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    return { buf: ab, close: async () => {} };
  }
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  return {
    buf: {
      byteLength: size,
      async slice(start: number, end?: number): Promise<ArrayBuffer> {
        const stop = Math.min(end ?? size, size);
        const len = Math.max(0, stop - start);
        const out = new Uint8Array(len);
        let done = 0;
        while (done < len) {
          const { bytesRead } = await fh.read(out, done, len - done, start + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return out.buffer;
      },
    },
    close: () => fh.close(),
  };
}

/** Converts hyparquet values into plain JSON values. */
export function jsonSafe(value: unknown): unknown {
  if (value === null || value === undefined) return value ?? null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
    case 'object':
      break;
    default:
      return String(value);
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) {
    return isUtf8(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8') : Buffer.from(value).toString('base64');
  }
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number | bigint>, jsonSafe);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = jsonSafe(v);
  return out;
}

/** Yields the rows of a parquet file, one row group per batch. */
export async function* readParquetBatches(path: string, signal?: AbortSignal): AsyncGenerator<ParquetBatch> {
  const { buf, close } = await fileBuffer(path);
  try {
    let metadata;
    try {
      metadata = await parquetMetadataAsync(buf);
    } catch (e) {
      throw new DataError(path, 0, undefined, `not a readable parquet file (${(e as Error).message})`, 'bad-parquet');
    }
    let start = 0;
    for (const group of metadata.row_groups) {
      signal?.throwIfAborted();
      const n = Number(group.num_rows);
      if (n === 0) continue;
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({ file: buf, metadata, rowStart: start, rowEnd: start + n, compressors });
      } catch (e) {
        throw new DataError(path, start + 1, undefined, `cannot decode row group at rows ${start + 1}–${start + n} (${(e as Error).message})`, 'bad-parquet');
      }
      for (let i = 0; i < rows.length; i++) rows[i] = jsonSafe(rows[i]) as Record<string, unknown>;
      yield { start, rows };
      start += n;
    }
  } finally {
    await close();
  }
}
