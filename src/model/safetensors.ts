// Safetensors checkpoints: a strict header parser, positioned tensor reads (a tensor at a time, never the
// whole file in the JS heap), sharded checkpoints (model.safetensors.index.json) and an atomic writer that
// produces the same layout as the Python `safetensors` package.
//
// File layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON (padded with spaces), then the
// data region; every tensor's `data_offsets` are relative to the start of the data region.
import { open, stat, readFile, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CheckpointError } from './errors.js';
import { writeAtomicWith, writeFileAtomic } from '../util/atomic-file.js';

export { writeFileAtomic };
import { bf16ToF32, f16ToF32, f32ToF16, f32ToBf16 } from '../graph/dtype.js';

export type SafetensorsDtype =
  | 'BOOL' | 'U8' | 'I8' | 'F8_E5M2' | 'F8_E4M3' | 'I16' | 'U16' | 'F16' | 'BF16'
  | 'I32' | 'U32' | 'F32' | 'F64' | 'I64' | 'U64';

/** Bytes per element of every dtype the format defines. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

/** The Rust implementation's cap on the header size; a larger length is corruption, not a model. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset of the tensor's data in its file. */
  offset: number;
  byteLength: number;
  /** The file that holds it. */
  file: string;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  /** Absolute offset of the data region (8 + header length). */
  dataStart: number;
}

const isDtype = (s: unknown): s is SafetensorsDtype => typeof s === 'string' && Object.hasOwn(DTYPE_BYTES, s);

/** Number of elements of a shape (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Validates the 8-byte length prefix against the file size; returns the header length. */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new CheckpointError(file, 'header length', `file is ${fileSize} bytes, shorter than the 8-byte header length prefix`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n === 0n) throw new CheckpointError(file, 'header length', 'is 0 (no JSON header)');
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new CheckpointError(file, 'header length', `${n} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt or not a safetensors file)`);
  }
  if (8n + n > BigInt(fileSize)) {
    throw new CheckpointError(file, 'header length', `${n} bytes runs past the end of the ${fileSize}-byte file (truncated?)`);
  }
  return Number(n);
}

/**
 * Parses and validates the JSON header (the N bytes after the length prefix) of a file of `fileSize` bytes.
 * Checks: UTF-8, a JSON object, known dtypes, non-negative integer shapes, offsets inside the data region,
 * byte length = elements × dtype size, no two tensors overlapping, `__metadata__` a string → string map.
 */
export function parseSafetensorsHeader(header: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const dataStart = 8 + header.length;
  const dataSize = fileSize - dataStart;
  if (dataSize < 0) throw new CheckpointError(file, 'header length', 'runs past the end of the file');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(header);
  } catch {
    throw new CheckpointError(file, 'header', 'is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new CheckpointError(file, 'header', 'does not start with "{" (not a safetensors file?)');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, 'header', `is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CheckpointError(file, 'header', 'is not a JSON object');
  }
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorEntry>();
  const ranges: { begin: number; end: number; name: string }[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null) continue;
      if (typeof value !== 'object' || Array.isArray(value)) throw new CheckpointError(file, '__metadata__', 'must be an object of strings');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new CheckpointError(file, `__metadata__.${k}`, `must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    const field = `tensor ${JSON.stringify(name)}`;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new CheckpointError(file, field, 'must be an object with dtype, shape, data_offsets');
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (!isDtype(dtype)) throw new CheckpointError(file, `${field}.dtype`, `unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(file, `${field}.shape`, `must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new CheckpointError(file, `${field}.data_offsets`, `must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw new CheckpointError(file, `${field}.data_offsets`, `begin ${begin} > end ${end}`);
    if (end > dataSize) {
      throw new CheckpointError(file, `${field}.data_offsets`, `end ${end} is past the ${dataSize}-byte data region (truncated file?)`);
    }
    const elements = numel(shape as number[]);
    const want = elements * DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(want) || want !== end - begin) {
      throw new CheckpointError(file, `${field}.data_offsets`, `holds ${end - begin} bytes but shape ${JSON.stringify(shape)} × ${dtype} needs ${want}`);
    }
    tensors.set(name, { name, dtype, shape: shape as number[], offset: dataStart + begin, byteLength: end - begin, file });
    if (end > begin) ranges.push({ begin, end, name });
  }
  ranges.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]!.begin < ranges[i - 1]!.end) {
      throw new CheckpointError(file, `tensor ${JSON.stringify(ranges[i]!.name)}.data_offsets`, `overlaps tensor ${JSON.stringify(ranges[i - 1]!.name)}`);
    }
  }
  return { tensors, metadata, dataStart };
}

/** Reads exactly `length` bytes at `position` (fs.read caps one call at 2 GiB). */
async function readExact(fh: FileHandle, target: Uint8Array, position: number, file: string): Promise<void> {
  const CHUNK = 1 << 30;
  let done = 0;
  while (done < target.length) {
    const len = Math.min(CHUNK, target.length - done);
    const { bytesRead } = await fh.read(target, done, len, position + done);
    if (bytesRead === 0) throw new CheckpointError(file, undefined, `unexpected end of file at byte ${position + done} (file changed or truncated while reading)`);
    done += bytesRead;
  }
}

/** One open .safetensors file. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    readonly size: number,
    readonly header: SafetensorsHeader,
    private fh: FileHandle | undefined,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new CheckpointError(path, undefined, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      const { size } = await fh.stat();
      const prefix = new Uint8Array(8);
      if (size >= 8) await readExact(fh, prefix, 0, path);
      const n = readHeaderLength(prefix, size, path);
      const headerBytes = new Uint8Array(n);
      await readExact(fh, headerBytes, 8, path);
      const header = parseSafetensorsHeader(headerBytes, size, path);
      return new SafetensorsFile(path, size, header, fh);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  get tensors(): ReadonlyMap<string, TensorEntry> {
    return this.header.tensors;
  }

  private handle(): FileHandle {
    if (!this.fh) throw new CheckpointError(this.path, undefined, 'file is closed');
    return this.fh;
  }

  /** The raw little-endian bytes of a tensor (or of rows [rowStart, rowEnd) of its first dimension). */
  async readBytes(entry: TensorEntry, rowStart?: number, rowEnd?: number): Promise<Uint8Array> {
    let offset = entry.offset;
    let length = entry.byteLength;
    if (rowStart !== undefined) {
      const rows = entry.shape[0] ?? 1;
      const end = rowEnd ?? rows;
      if (!(Number.isSafeInteger(rowStart) && Number.isSafeInteger(end) && 0 <= rowStart && rowStart <= end && end <= rows)) {
        throw new RangeError(`${this.path}: tensor ${entry.name}: rows [${rowStart}, ${end}) outside [0, ${rows})`);
      }
      const rowBytes = rows === 0 ? 0 : entry.byteLength / rows;
      offset += rowStart * rowBytes;
      length = (end - rowStart) * rowBytes;
    }
    const out = new Uint8Array(new ArrayBuffer(length)); // fresh buffer: byteOffset 0, so any typed view aligns
    await readExact(this.handle(), out, offset, this.path);
    return out;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}

/** Converts a tensor's raw bytes to float32 (F32, F16, BF16, F64). */
export function bytesToFloat32(bytes: Uint8Array, dtype: SafetensorsDtype, what: string): Float32Array {
  if (bytes.byteOffset % 8 !== 0) bytes = bytes.slice();
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  switch (dtype) {
    case 'F32': return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    case 'F16': return f16ToF32(new Uint16Array(bytes.buffer, bytes.byteOffset, n));
    case 'BF16': return bf16ToF32(new Uint16Array(bytes.buffer, bytes.byteOffset, n));
    case 'F64': return Float32Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, n));
    default: throw new Error(`${what}: dtype ${dtype} is not a float type (expected F32, F16 or BF16)`);
  }
}

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/**
 * A checkpoint: one model.safetensors, or shards listed by model.safetensors.index.json. Every shard's header
 * is validated on open, and every tensor the index names must be in the shard it names.
 */
export class SafetensorsCheckpoint {
  private constructor(
    readonly dir: string,
    readonly files: SafetensorsFile[],
    private readonly entries: Map<string, { entry: TensorEntry; file: SafetensorsFile }>,
    /** The index file when sharded. */
    readonly indexFile: string | undefined,
  ) {}

  static async open(dir: string, fileName?: string): Promise<SafetensorsCheckpoint> {
    const single = join(dir, fileName ?? SINGLE_FILE);
    const index = join(dir, INDEX_FILE);
    if (fileName || (await exists(single))) {
      const f = await SafetensorsFile.open(single);
      const entries = new Map<string, { entry: TensorEntry; file: SafetensorsFile }>();
      for (const [name, entry] of f.tensors) entries.set(name, { entry, file: f });
      return new SafetensorsCheckpoint(dir, [f], entries, undefined);
    }
    if (!(await exists(index))) {
      const hasBin = (await exists(join(dir, 'pytorch_model.bin'))) || (await exists(join(dir, 'pytorch_model.bin.index.json')));
      throw new CheckpointError(dir, undefined, `no ${SINGLE_FILE} or ${INDEX_FILE}` +
        (hasBin ? ' (only PyTorch .bin weights, which are pickles: convert them to safetensors with transformers\' save_pretrained(safe_serialization=True))' : ''));
    }
    let json: unknown;
    try {
      json = JSON.parse(await readFile(index, 'utf8'));
    } catch (e) {
      throw new CheckpointError(index, undefined, `is not valid JSON (${(e as Error).message})`);
    }
    const map = (json as { weight_map?: unknown } | null)?.weight_map;
    if (!map || typeof map !== 'object' || Array.isArray(map)) throw new CheckpointError(index, 'weight_map', 'missing or not an object');
    const shardNames = new Map<string, string[]>();
    for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
      if (typeof shard !== 'string' || shard === '' || basename(shard) !== shard) {
        throw new CheckpointError(index, `weight_map[${JSON.stringify(tensor)}]`, `must be a file name in the same folder, got ${JSON.stringify(shard)}`);
      }
      let list = shardNames.get(shard);
      if (!list) shardNames.set(shard, (list = []));
      list.push(tensor);
    }
    const files: SafetensorsFile[] = [];
    const entries = new Map<string, { entry: TensorEntry; file: SafetensorsFile }>();
    try {
      for (const [shard, names] of shardNames) {
        const path = join(dir, shard);
        if (!(await exists(path))) {
          throw new CheckpointError(index, `weight_map[${JSON.stringify(names[0])}]`, `names shard ${shard}, which does not exist`);
        }
        const f = await SafetensorsFile.open(path);
        files.push(f);
        for (const name of names) {
          const entry = f.tensors.get(name);
          if (!entry) throw new CheckpointError(index, `weight_map[${JSON.stringify(name)}]`, `tensor is not in ${shard}`);
          entries.set(name, { entry, file: f });
        }
      }
    } catch (e) {
      await Promise.all(files.map((f) => f.close()));
      throw e;
    }
    return new SafetensorsCheckpoint(dir, files, entries, index);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  get(name: string): TensorEntry | undefined {
    return this.entries.get(name)?.entry;
  }

  /** Metadata of the first file (transformers writes {"format": "pt"}). */
  get metadata(): Record<string, string> {
    return this.files[0]?.header.metadata ?? {};
  }

  private lookup(name: string): { entry: TensorEntry; file: SafetensorsFile } {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(this.indexFile ?? this.files[0]?.path ?? this.dir, `tensor ${JSON.stringify(name)}`, 'missing');
    return e;
  }

  async readBytes(name: string, rowStart?: number, rowEnd?: number): Promise<Uint8Array> {
    const { entry, file } = this.lookup(name);
    return file.readBytes(entry, rowStart, rowEnd);
  }

  /** A float tensor (F32/F16/BF16/F64) as float32, optionally only rows [rowStart, rowEnd). */
  async readFloat32(name: string, rowStart?: number, rowEnd?: number): Promise<Float32Array> {
    const { entry, file } = this.lookup(name);
    const bytes = await file.readBytes(entry, rowStart, rowEnd);
    try {
      return bytesToFloat32(bytes, entry.dtype, name);
    } catch (e) {
      throw new CheckpointError(entry.file, `tensor ${JSON.stringify(name)}.dtype`, (e as Error).message.replace(`${name}: `, ''));
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writing

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** The raw little-endian bytes, or a function producing them (called once, while writing). */
  data: ArrayBufferView | (() => ArrayBufferView | Promise<ArrayBufferView>);
}

/** A float32 array stored as F32, F16 or BF16. */
export function floatTensor(name: string, shape: readonly number[], values: Float32Array, dtype: 'F32' | 'F16' | 'BF16' = 'F32'): TensorToWrite {
  return {
    name, shape, dtype,
    data: () => (dtype === 'F32' ? values : dtype === 'F16' ? f32ToF16(values) : f32ToBf16(values)),
  };
}

function tensorBytes(t: TensorToWrite): number {
  return numel(t.shape) * DTYPE_BYTES[t.dtype];
}

/** Same order as the Rust writer: larger dtypes first (keeps data aligned), then by name. */
function layoutOrder(tensors: readonly TensorToWrite[]): TensorToWrite[] {
  return [...tensors].sort((a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Writes one .safetensors file atomically (temp file in the same folder, then rename). The header is
 * padded with spaces to a multiple of 8 bytes, as the Python writer does, so data offsets stay aligned.
 */
export async function writeSafetensors(path: string, tensors: readonly TensorToWrite[], metadata?: Record<string, string>): Promise<void> {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`${path}: tensor ${JSON.stringify(t.name)} given twice`);
    if (t.name === '__metadata__') throw new Error(`${path}: "__metadata__" is reserved and cannot name a tensor`);
    if (!isDtype(t.dtype)) throw new Error(`${path}: tensor ${JSON.stringify(t.name)}: unknown dtype ${String(t.dtype)}`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`${path}: tensor ${JSON.stringify(t.name)}: bad shape ${JSON.stringify(t.shape)}`);
    seen.add(t.name);
  }
  const ordered = layoutOrder(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of ordered) {
    const n = tensorBytes(t);
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));

  await writeAtomicWith(path, async (fh) => {
    let pos = 0;
    const write = async (b: Uint8Array) => {
      let done = 0;
      while (done < b.length) {
        const { bytesWritten } = await fh.write(b, done, Math.min(1 << 30, b.length - done), pos + done);
        done += bytesWritten;
      }
      pos += b.length;
    };
    await write(prefix);
    await write(json);
    for (const t of ordered) {
      const view = typeof t.data === 'function' ? await t.data() : t.data;
      const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      if (bytes.length !== tensorBytes(t)) {
        throw new Error(`${path}: tensor ${JSON.stringify(t.name)}: ${bytes.length} bytes given, shape ${JSON.stringify(t.shape)} × ${t.dtype} needs ${tensorBytes(t)}`);
      }
      await write(bytes);
    }
  });
}

export interface ShardedWriteOptions {
  /** Largest shard in bytes (default 5 GB, as transformers 4.x `save_pretrained`). */
  maxShardBytes?: number;
  metadata?: Record<string, string>;
}

/**
 * Writes `model.safetensors`, or `model-0000i-of-0000n.safetensors` shards plus `model.safetensors.index.json`
 * when the weights exceed `maxShardBytes` (greedy in layout order; a tensor larger than the limit gets its own
 * shard). Returns the names of the files written. Each file is written atomically.
 */
export async function writeSafetensorsSharded(dir: string, tensors: readonly TensorToWrite[], opts: ShardedWriteOptions = {}): Promise<string[]> {
  const max = opts.maxShardBytes ?? 5_000_000_000;
  const metadata = opts.metadata ?? { format: 'pt' };
  const total = tensors.reduce((s, t) => s + tensorBytes(t), 0);
  if (total <= max) {
    await writeSafetensors(join(dir, SINGLE_FILE), tensors, metadata);
    return [SINGLE_FILE];
  }
  const shards: TensorToWrite[][] = [];
  let current: TensorToWrite[] = [];
  let size = 0;
  for (const t of layoutOrder(tensors)) {
    const n = tensorBytes(t);
    if (current.length && size + n > max) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(t);
    size += n;
  }
  if (current.length) shards.push(current);
  const width = 5;
  const names = shards.map((_, i) => `model-${String(i + 1).padStart(width, '0')}-of-${String(shards.length).padStart(width, '0')}.safetensors`);
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < shards.length; i++) {
    await writeSafetensors(join(dir, names[i]!), shards[i]!, metadata);
    for (const t of shards[i]!) weightMap[t.name] = names[i]!;
  }
  const sortedMap = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]!]));
  await writeFileAtomic(join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: total }, weight_map: sortedMap }, null, 2) + '\n');
  return [...names, INDEX_FILE];
}

