// On-disk embedding cache, so a rerun of an evaluation (or of an interrupted one) re-embeds nothing.
// One folder per embedder id; an entry is keyed by sha256(instruction ␀ text) (the instruction actually
// applied, "" when none). Layout of <root>/<slug>-<hash>/:
//   meta.json    { format, id, dim } (written atomically)
//   vectors.bin  records of [16-byte key | dim float32 little-endian], appended in whole batches
//   keys.bin     the same keys in the same order (an index, so opening does not read the vectors)
// Appends take an exclusive lock file; a crash can leave a torn tail, which opening trims (the two files
// are cut to their common whole-record count, and the tail keys are checked against the vectors).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../util/atomic-file.js';
import { processAlive } from '../util/process.js';

const FORMAT = 1;
const LITTLE_ENDIAN = endianness() === 'LE';
const KEY_BYTES = 16;

export interface CacheStats {
  entries: number;
  hits: number;
  misses: number;
}

function slugOf(id: string): string {
  const slug = id.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '').slice(-60) || 'model';
  return `${slug}-${createHash('sha256').update(id).digest('hex').slice(0, 12)}`;
}

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
}

function readAll(fd: number, buf: Uint8Array, position: number): void {
  let off = 0;
  while (off < buf.byteLength) {
    const n = readSync(fd, buf, off, buf.byteLength - off, position + off);
    if (n === 0) throw new Error('embedding cache: unexpected end of file');
    off += n;
  }
}

export class EmbeddingCache {
  private readonly index = new Map<string, number>();
  private readonly stats = { hits: 0, misses: 0 };
  private count = 0;

  private constructor(
    readonly dir: string,
    readonly id: string,
    readonly dim: number,
    private fd: number,
  ) {}

  /** The folder a given embedder's cache lives in under `root`. */
  static folderFor(root: string, embedderId: string): string {
    return join(root, slugOf(embedderId));
  }

  /** Opens (or creates) the cache of one embedder under `root`. */
  static open(root: string, embedderId: string, dim: number): EmbeddingCache {
    if (!Number.isInteger(dim) || dim <= 0) throw new Error(`embedding cache: invalid dimension ${dim} for ${embedderId}`);
    const dir = EmbeddingCache.folderFor(root, embedderId);
    mkdirSync(dir, { recursive: true });
    const metaPath = join(dir, 'meta.json');
    if (existsSync(metaPath)) {
      let meta: { format?: number; id?: string; dim?: number };
      try {
        meta = JSON.parse(readFileSync(metaPath, 'utf8'));
      } catch (e) {
        throw new Error(`${metaPath}: unreadable cache metadata (${(e as Error).message}); delete the folder to start the cache afresh`);
      }
      if (meta.format !== FORMAT || meta.id !== embedderId || meta.dim !== dim) {
        throw new Error(
          `${metaPath}: cache was written for ${JSON.stringify({ format: meta.format, id: meta.id, dim: meta.dim })}, ` +
            `not ${JSON.stringify({ format: FORMAT, id: embedderId, dim })}; delete ${dir} or use another --cache-dir`,
        );
      }
    } else {
      writeFileAtomicSync(metaPath, `${JSON.stringify({ format: FORMAT, id: embedderId, dim }, null, 2)}\n`);
    }
    const fd = openSync(join(dir, 'vectors.bin'), 'a+');
    const cache = new EmbeddingCache(dir, embedderId, dim, fd);
    cache.load();
    return cache;
  }

  private get recordBytes(): number {
    return KEY_BYTES + 4 * this.dim;
  }

  /** Reads keys.bin, repairing a torn tail against vectors.bin. */
  private load(): void {
    const keysPath = join(this.dir, 'keys.bin');
    const kfd = openSync(keysPath, 'a+');
    try {
      const vecRecords = Math.floor(fstatSync(this.fd).size / this.recordBytes);
      let keyRecords = Math.floor(fstatSync(kfd).size / KEY_BYTES);
      let n = Math.min(vecRecords, keyRecords);
      const keys = Buffer.alloc(n * KEY_BYTES);
      if (n > 0) readAll(kfd, keys, 0);
      // Check the last records' keys against the vectors file; walk back over any mismatch.
      const probe = Buffer.alloc(KEY_BYTES);
      let checked = 0;
      while (n > 0 && checked < 4) {
        readAll(this.fd, probe, (n - 1) * this.recordBytes);
        if (probe.equals(keys.subarray((n - 1) * KEY_BYTES, n * KEY_BYTES))) checked++;
        else {
          n--;
          checked = 0;
        }
      }
      if (n !== vecRecords || n !== keyRecords || fstatSync(this.fd).size !== n * this.recordBytes) {
        ftruncateSync(this.fd, n * this.recordBytes);
        ftruncateSync(kfd, n * KEY_BYTES);
        keyRecords = n;
      }
      for (let i = 0; i < n; i++) this.index.set(keys.toString('latin1', i * KEY_BYTES, (i + 1) * KEY_BYTES), i);
      this.count = n;
    } finally {
      closeSync(kfd);
    }
  }

  static keyOf(instruction: string, text: string): Buffer {
    return createHash('sha256').update(instruction).update('\u0000').update(text).digest().subarray(0, KEY_BYTES);
  }

  get size(): number {
    return this.count;
  }

  statistics(): CacheStats {
    return { entries: this.count, ...this.stats };
  }

  /** Cached vectors for texts under one instruction (undefined where missing). */
  lookup(instruction: string, texts: readonly string[]): (Float32Array | undefined)[] {
    const out: (Float32Array | undefined)[] = new Array(texts.length).fill(undefined);
    const rec = Buffer.alloc(4 * this.dim);
    for (let i = 0; i < texts.length; i++) {
      const k = EmbeddingCache.keyOf(instruction, texts[i]!).toString('latin1');
      const at = this.index.get(k);
      if (at === undefined) {
        this.stats.misses++;
        continue;
      }
      readAll(this.fd, rec, at * this.recordBytes + KEY_BYTES);
      out[i] = LITTLE_ENDIAN ? new Float32Array(rec.buffer.slice(rec.byteOffset, rec.byteOffset + rec.byteLength)) : Float32Array.from({ length: this.dim }, (_, j) => rec.readFloatLE(4 * j));
      this.stats.hits++;
    }
    return out;
  }

  /** Appends vectors (one batch = one write per file, under the lock). Already-cached keys are skipped. */
  append(instruction: string, texts: readonly string[], vectors: readonly Float32Array[]): void {
    if (texts.length !== vectors.length) throw new Error('embedding cache: texts and vectors differ in count');
    const fresh: { key: Buffer; vec: Float32Array }[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < texts.length; i++) {
      const key = EmbeddingCache.keyOf(instruction, texts[i]!);
      const k = key.toString('latin1');
      if (this.index.has(k) || seen.has(k)) continue;
      if (vectors[i]!.length !== this.dim) throw new Error(`embedding cache: vector of dimension ${vectors[i]!.length}, cache holds ${this.dim}`);
      seen.add(k);
      fresh.push({ key, vec: vectors[i]! });
    }
    if (fresh.length === 0) return;
    const body = Buffer.alloc(fresh.length * this.recordBytes);
    const keys = Buffer.alloc(fresh.length * KEY_BYTES);
    fresh.forEach(({ key, vec }, r) => {
      const o = r * this.recordBytes;
      key.copy(body, o);
      if (LITTLE_ENDIAN) body.set(new Uint8Array(vec.buffer, vec.byteOffset, vec.byteLength), o + KEY_BYTES);
      else for (let j = 0; j < this.dim; j++) body.writeFloatLE(vec[j]!, o + KEY_BYTES + 4 * j);
      key.copy(keys, r * KEY_BYTES);
    });
    this.withLock(() => {
      // Another process may have appended since we opened: place our records after whatever is there.
      const start = Math.floor(fstatSync(this.fd).size / this.recordBytes);
      if (fstatSync(this.fd).size !== start * this.recordBytes) ftruncateSync(this.fd, start * this.recordBytes);
      writeAll(this.fd, body);
      const kfd = openSync(join(this.dir, 'keys.bin'), 'a');
      try {
        let kStart = Math.floor(fstatSync(kfd).size / KEY_BYTES);
        if (kStart > start || fstatSync(kfd).size !== kStart * KEY_BYTES) {
          kStart = Math.min(kStart, start);
          ftruncateSync(kfd, kStart * KEY_BYTES);
        }
        // Records whose keys never reached keys.bin (a crash between the two writes): copy their keys over.
        const probe = Buffer.alloc(KEY_BYTES);
        for (let r = kStart; r < start; r++) {
          readAll(this.fd, probe, r * this.recordBytes);
          writeAll(kfd, probe);
        }
        writeAll(kfd, keys);
      } finally {
        closeSync(kfd);
      }
      fresh.forEach(({ key }, r) => this.index.set(key.toString('latin1'), start + r));
      this.count = start + fresh.length;
    });
  }

  private withLock(fn: () => void): void {
    const lock = join(this.dir, 'append.lock');
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const fd = openSync(lock, 'wx');
        writeSync(fd, String(process.pid));
        closeSync(fd);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        let holder = NaN; // Number('') would be 0, i.e. "every process of the group"
        try {
          const text = readFileSync(lock, 'utf8').trim();
          if (/^[1-9]\d*$/.test(text)) holder = Number(text);
        } catch {
          /* vanished between open and read */
        }
        // A holder that is gone, or a lock that stayed empty (a crash between create and write), is stale.
        const stale = Number.isInteger(holder) ? holder !== process.pid && !processAlive(holder) : Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0) > 10_000;
        if (stale) {
          rmSync(lock, { force: true });
          continue;
        }
        if (Date.now() > deadline) throw new Error(`embedding cache: ${lock} is held by process ${holder}; remove it if no qzhou process is running`);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    }
    try {
      fn();
    } finally {
      rmSync(lock, { force: true });
    }
  }

  close(): void {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}
