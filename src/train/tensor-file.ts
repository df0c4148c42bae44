// A plain tensor container for training state: `<base>.bin` holds float32 little-endian arrays back to
// back, `<base>.json` is the manifest (names, shapes, byte offsets, total size, SHA-256 of the .bin,
// free-form metadata). Both files are written atomically, the .bin first; the checksum ties the
// manifest to the exact .bin it describes, so a mismatched pair is detected on read.
import { promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { writeAtomicWith, writeFileAtomic } from '../util/atomic-file.js';

export const TENSOR_FILE_FORMAT = 'qzhou-tensors';
const VERSION = 1;
const IO_CHUNK = 1 << 26; // 64 MiB per read/write call

export interface NamedTensor {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

export interface TensorEntry {
  name: string;
  shape: number[];
  /** Byte offset in the .bin file. */
  offset: number;
  /** Number of float32 values. */
  length: number;
}

export interface TensorManifest {
  format: typeof TENSOR_FILE_FORMAT;
  version: number;
  dtype: 'f32';
  bin: string;
  bytes: number;
  sha256: string;
  tensors: TensorEntry[];
  meta: Record<string, unknown>;
}

function assertLittleEndian(): void {
  if (endianness() !== 'LE') throw new Error('tensor files are little-endian; this platform is big-endian');
}

/** Writes tensors and metadata to `<base>.bin` + `<base>.json` (both atomically). */
export async function writeTensorFile(base: string, tensors: readonly NamedTensor[], meta: Record<string, unknown> = {}): Promise<TensorManifest> {
  assertLittleEndian();
  const binPath = `${base}.bin`;
  const entries: TensorEntry[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`writeTensorFile ${binPath}: duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) throw new Error(`writeTensorFile ${binPath}: tensor "${t.name}" has shape [${t.shape.join(', ')}] but ${t.data.length} values`);
    entries.push({ name: t.name, shape: [...t.shape], offset, length: t.data.length });
    offset += t.data.byteLength;
  }
  const hash = createHash('sha256');
  await writeAtomicWith(binPath, async (fh) => {
    let pos = 0;
    for (const t of tensors) {
      const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      for (let off = 0; off < bytes.byteLength; off += IO_CHUNK) {
        const part = bytes.subarray(off, Math.min(bytes.byteLength, off + IO_CHUNK));
        hash.update(part);
        let done = 0;
        while (done < part.byteLength) {
          const { bytesWritten } = await fh.write(part, done, part.byteLength - done, pos);
          done += bytesWritten;
          pos += bytesWritten;
        }
      }
    }
  });
  const manifest: TensorManifest = {
    format: TENSOR_FILE_FORMAT,
    version: VERSION,
    dtype: 'f32',
    bin: basename(binPath),
    bytes: offset,
    sha256: hash.digest('hex'),
    tensors: entries,
    meta,
  };
  await writeFileAtomic(`${base}.json`, JSON.stringify(manifest, null, 1) + '\n');
  return manifest;
}

/** Reads and validates `<base>.json`. */
export async function readTensorManifest(base: string): Promise<TensorManifest> {
  const path = `${base}.json`;
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read tensor manifest (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let m: TensorManifest;
  try {
    m = JSON.parse(text) as TensorManifest;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const bad = (field: string, problem: string): never => {
    throw new Error(`${path}: ${field}: ${problem}`);
  };
  if (m === null || typeof m !== 'object') bad('(root)', 'expected an object');
  if (m.format !== TENSOR_FILE_FORMAT) bad('format', `expected "${TENSOR_FILE_FORMAT}", got ${JSON.stringify(m.format)}`);
  if (m.version !== VERSION) bad('version', `unsupported version ${JSON.stringify(m.version)} (this build reads ${VERSION})`);
  if (m.dtype !== 'f32') bad('dtype', `unsupported ${JSON.stringify(m.dtype)}`);
  if (typeof m.bin !== 'string' || m.bin.includes('/') || m.bin.includes('\\')) bad('bin', 'expected a file name next to the manifest');
  if (!Number.isSafeInteger(m.bytes) || m.bytes < 0) bad('bytes', 'expected a non-negative integer');
  if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) bad('sha256', 'expected 64 hex digits');
  if (!Array.isArray(m.tensors)) bad('tensors', 'expected an array');
  let expectOffset = 0;
  m.tensors.forEach((t, i) => {
    const f = `tensors[${i}]`;
    if (typeof t?.name !== 'string') bad(`${f}.name`, 'expected a string');
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(`${f}.shape`, 'expected non-negative integers');
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.length !== numel) bad(`${f}.length`, `${t.length} does not match shape [${t.shape.join(', ')}]`);
    if (t.offset !== expectOffset) bad(`${f}.offset`, `expected ${expectOffset} (tensors are stored back to back), got ${t.offset}`);
    expectOffset += numel * 4;
  });
  if (expectOffset !== m.bytes) bad('bytes', `tensors cover ${expectOffset} bytes but the manifest says ${m.bytes}`);
  if (m.meta === null || typeof m.meta !== 'object') m.meta = {};
  return m;
}

/**
 * Reads every tensor of `<base>` into arrays supplied by `target(entry)` (return undefined to skip one),
 * verifying the .bin size and SHA-256 against the manifest. Throws naming the file on any mismatch.
 */
export async function readTensorFile(
  base: string,
  target: (entry: TensorEntry) => Float32Array | undefined,
): Promise<TensorManifest> {
  assertLittleEndian();
  const manifest = await readTensorManifest(base);
  const binPath = join(dirname(base), manifest.bin);
  const fh = await fsp.open(binPath, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`${binPath}: cannot open (${e.code ?? e.message})`);
  });
  try {
    const { size } = await fh.stat();
    if (size !== manifest.bytes) throw new Error(`${binPath}: ${size} bytes on disk, manifest ${base}.json says ${manifest.bytes}`);
    const hash = createHash('sha256');
    const scratch = Buffer.allocUnsafe(Math.min(IO_CHUNK, Math.max(1, manifest.bytes)));
    for (const entry of manifest.tensors) {
      const out = target(entry);
      if (out !== undefined && out.length !== entry.length) {
        throw new Error(`${base}.json: tensor "${entry.name}" has ${entry.length} values, the destination holds ${out.length}`);
      }
      const dest = out ? new Uint8Array(out.buffer, out.byteOffset, out.byteLength) : undefined;
      const total = entry.length * 4;
      for (let off = 0; off < total; ) {
        const n = Math.min(IO_CHUNK, total - off);
        const view = dest ? dest.subarray(off, off + n) : scratch.subarray(0, n);
        let got = 0;
        while (got < n) {
          const { bytesRead } = await fh.read(view, got, n - got, entry.offset + off + got);
          if (bytesRead === 0) throw new Error(`${binPath}: unexpected end of file in tensor "${entry.name}"`);
          got += bytesRead;
        }
        hash.update(view);
        off += n;
      }
    }
    const digest = hash.digest('hex');
    if (digest !== manifest.sha256) throw new Error(`${binPath}: SHA-256 ${digest} does not match ${base}.json (${manifest.sha256}); the pair is inconsistent or corrupt`);
  } finally {
    await fh.close();
  }
  return manifest;
}
