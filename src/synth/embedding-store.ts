// Corpus embeddings on disk so an interrupted mining run does not embed the corpus again: raw
// little-endian float32 rows appended batch by batch (fsync'd), with a JSON sidecar naming the
// model, the corpus hash and the shape. A torn last row is cut off when the file is reopened.
import { open, type FileHandle } from 'node:fs/promises';
import { existsSync, readFileSync, writeFileSync, statSync, truncateSync } from 'node:fs';
import { writeFileAtomicSync } from '../util/atomic-file.js';

export interface EmbeddingFileMeta {
  /** Identity of (model, request, texts); a mismatch starts the file over. */
  key: string;
  dim: number;
  rows: number;
}

export class EmbeddingFile {
  private constructor(readonly path: string, readonly meta: EmbeddingFileMeta, private fh: FileHandle, private done: number) {}

  /** Opens `path` for `meta`, keeping the complete rows of a previous run with the same key. */
  static async open(path: string, meta: EmbeddingFileMeta): Promise<EmbeddingFile> {
    const metaPath = `${path}.json`;
    let keep = false;
    if (existsSync(metaPath) && existsSync(path)) {
      try {
        const old = JSON.parse(readFileSync(metaPath, 'utf8')) as EmbeddingFileMeta;
        keep = old.key === meta.key && old.dim === meta.dim && old.rows === meta.rows;
      } catch {
        keep = false;
      }
    }
    const rowBytes = meta.dim * 4;
    let done = 0;
    if (keep) {
      done = Math.min(meta.rows, Math.floor(statSync(path).size / rowBytes));
      truncateSync(path, done * rowBytes);
    } else {
      writeFileSync(path, '');
      writeFileAtomicSync(metaPath, JSON.stringify(meta));
    }
    const fh = await open(path, 'a');
    return new EmbeddingFile(path, meta, fh, done);
  }

  /** Rows already stored. */
  get rowsDone(): number {
    return this.done;
  }

  async append(vectors: readonly Float32Array[]): Promise<void> {
    const buf = Buffer.alloc(vectors.length * this.meta.dim * 4);
    vectors.forEach((v, i) => {
      if (v.length !== this.meta.dim) throw new Error(`${this.path}: vector of ${v.length} dimensions, expected ${this.meta.dim}`);
      Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(buf, i * this.meta.dim * 4);
    });
    let off = 0;
    while (off < buf.length) off += (await this.fh.write(buf, off, buf.length - off)).bytesWritten;
    await this.fh.datasync();
    this.done += vectors.length;
  }

  /** All rows, as views into one buffer. */
  async readAll(): Promise<Float32Array[]> {
    const { dim } = this.meta;
    const data = new Float32Array(this.done * dim);
    const fh = await open(this.path, 'r');
    try {
      const bytes = Buffer.from(data.buffer);
      for (let off = 0; off < bytes.length; ) {
        const { bytesRead } = await fh.read(bytes, off, Math.min(bytes.length - off, 1 << 30), off);
        if (bytesRead === 0) throw new Error(`${this.path}: ended after ${off} of ${bytes.length} bytes`);
        off += bytesRead;
      }
    } finally {
      await fh.close();
    }
    return Array.from({ length: this.done }, (_, i) => data.subarray(i * dim, (i + 1) * dim));
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
