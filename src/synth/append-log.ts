// Crash-safe append-only JSONL files (synthesis output, journal, response cache).
// Each call appends complete lines with one write, so a kill (even SIGKILL) can only leave a torn
// last line, never a torn line in the middle; opening repairs a torn tail by truncating it. Data is
// fsync'd every `fsyncEvery` appends or `fsyncIntervalMs`, and on close.
import { open } from 'node:fs/promises';
import { createReadStream, existsSync, openSync, writeSync, fstatSync, fdatasync, closeSync } from 'node:fs';

export interface AppendLogOptions {
  /** fsync after this many appends (default 64). */
  fsyncEvery?: number;
  /** …or when this long has passed since the last fsync with unsynced data (default 1000 ms). */
  fsyncIntervalMs?: number;
}

/**
 * Truncates a torn last line (bytes after the last "\n") and returns how many bytes were removed.
 * A missing file is fine (0).
 */
export async function repairTornTail(path: string): Promise<number> {
  if (!existsSync(path)) return 0;
  const fh = await open(path, 'r+');
  try {
    const { size } = await fh.stat();
    if (size === 0) return 0;
    const chunk = 64 * 1024;
    let end = size;
    const last = Buffer.alloc(1);
    await fh.read(last, 0, 1, size - 1);
    if (last[0] === 0x0a) return 0;
    let cut = 0;
    while (end > 0) {
      const start = Math.max(0, end - chunk);
      const buf = Buffer.alloc(end - start);
      await fh.read(buf, 0, buf.length, start);
      const nl = buf.lastIndexOf(0x0a);
      if (nl >= 0) {
        cut = start + nl + 1;
        break;
      }
      end = start;
    }
    await fh.truncate(cut);
    await fh.datasync();
    return size - cut;
  } finally {
    await fh.close();
  }
}

/** Truncates a file to `size` bytes (used to drop an uncommitted tail found by a resume scan). */
export async function truncateFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.truncate(size);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

export interface JsonlLine {
  /** 1-based line number. */
  line: number;
  /** Byte offset of the line's first byte. */
  offset: number;
  /** The line without its "\n". */
  text: string;
}

/** Streams the complete lines of a file with their byte offsets (a torn last line is not returned). */
export async function* readLines(path: string): AsyncGenerator<JsonlLine> {
  if (!existsSync(path)) return;
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let offset = 0;
  let line = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      const buf = pendingLen ? Buffer.concat([...pending, piece], pendingLen + piece.length) : piece;
      line++;
      yield { line, offset, text: buf.toString('utf8') };
      offset += buf.length + 1;
      pending = [];
      pendingLen = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      pendingLen += chunk.length - start;
    }
  }
}

/**
 * An open append-only file. Each append is one synchronous write(2) of complete lines (cheap for
 * page-cache writes, and trivially ordered); fsync runs in the background at batch/interval
 * boundaries and on close.
 */
export class AppendLog {
  private unsynced = 0;
  private lastSync = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    private bytes: number,
    private readonly fsyncEvery: number,
    private readonly fsyncIntervalMs: number,
  ) {}

  /** Opens (creating if needed) after repairing a torn tail. */
  static async open(path: string, options: AppendLogOptions = {}): Promise<AppendLog> {
    await repairTornTail(path);
    const fd = openSync(path, 'a');
    return new AppendLog(path, fd, fstatSync(fd).size, options.fsyncEvery ?? 64, options.fsyncIntervalMs ?? 1000);
  }

  /** Current size in bytes. */
  get size(): number {
    return this.bytes;
  }

  /**
   * Appends `text`, which must be one or more complete lines ("…\n"). Resolves with the byte offset
   * where it starts (written to the page cache; fsync'd at the next sync point).
   */
  async append(text: string): Promise<number> {
    return this.appendSync(text);
  }

  appendSync(text: string): number {
    if (this.closed) throw new Error(`${this.path}: append after close`);
    if (!text.endsWith('\n')) throw new Error(`${this.path}: append needs complete lines`);
    const buf = Buffer.from(text, 'utf8');
    const offset = this.bytes;
    let done = 0;
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done);
    this.bytes += buf.length;
    this.unsynced++;
    if (this.unsynced >= this.fsyncEvery || Date.now() - this.lastSync >= this.fsyncIntervalMs) void this.sync().catch(() => undefined);
    else this.scheduleSync();
    return offset;
  }

  /** Forces appended data to disk. */
  sync(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.unsynced === 0 || this.closed) return this.syncing;
    this.unsynced = 0;
    this.lastSync = Date.now();
    const fd = this.fd;
    this.syncing = this.syncing.then(() => new Promise<void>((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve()))));
    return this.syncing;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.sync();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    closeSync(this.fd);
  }

  private scheduleSync(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.closed) void this.sync().catch(() => undefined);
    }, this.fsyncIntervalMs);
    this.timer.unref();
  }
}
