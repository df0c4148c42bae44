// Buffered JSONL output written at explicit byte offsets, so a checkpoint can name exactly how much of
// the file is good. With gzip, every flushed block is its own gzip member: concatenated members are a
// valid .gz file (RFC 1952), and a resumed run can truncate at a member boundary and append.
import { open, type FileHandle } from 'node:fs/promises';
import { gzip as gzipCb } from 'node:zlib';
import { promisify } from 'node:util';

const gzipAsync = promisify(gzipCb);

export class JsonlBlockWriter {
  private parts: string[] = [];
  private pendingChars = 0;
  /** Bytes of the file that are written and complete. */
  bytes: number;

  private constructor(
    private readonly fh: FileHandle,
    private readonly gzip: boolean,
    start: number,
    private readonly blockChars: number,
  ) {
    this.bytes = start;
  }

  /** Opens `path` for writing from byte `start` (0 = new file; a resume truncates to its checkpoint). */
  static async open(path: string, opts: { gzip: boolean; start?: number; blockChars?: number }): Promise<JsonlBlockWriter> {
    const start = opts.start ?? 0;
    const fh = await open(path, start > 0 ? 'r+' : 'w');
    if (start > 0) await fh.truncate(start);
    return new JsonlBlockWriter(fh, opts.gzip, start, opts.blockChars ?? 1 << 20);
  }

  /** Queues one line (no newline). */
  push(line: string): void {
    this.parts.push(line);
    this.pendingChars += line.length + 1;
  }

  get full(): boolean {
    return this.pendingChars >= this.blockChars;
  }

  /** Writes the queued lines as one block. */
  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    this.parts.push('');
    let buf: Buffer = Buffer.from(this.parts.join('\n'), 'utf8');
    this.parts = [];
    this.pendingChars = 0;
    if (this.gzip) buf = await gzipAsync(buf);
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, off, buf.length - off, this.bytes + off);
      off += bytesWritten;
    }
    this.bytes += buf.length;
  }

  /** Flushes and forces the data to disk (before a checkpoint names these bytes). */
  async sync(): Promise<void> {
    await this.flush();
    await this.fh.sync();
  }

  async close(): Promise<void> {
    await this.flush();
    await this.fh.close();
  }

  /** Closes without flushing (after a failure). */
  async abandon(): Promise<void> {
    this.parts = [];
    await this.fh.close().catch(() => {});
  }
}
