// Turns checkpoint tensors into graph parameters in the dtype the model runs in.
//
// Where the dtype allows (F32 checkpoint run in f32, F16 run in f16) a parameter points straight at the
// tensor's byte range inside the .safetensors file: nothing is copied, ONNX Runtime reads the file through
// a hard link in the cache (src/graph/runtime.ts). Everything else — bf16 → f32/f16, f32 → f16, and int8 /
// int4 weight-only quantisation for MatMulNBits — is converted once, a few rows at a time (bounded memory),
// into a weights file in the cache, and reused by later loads of the same checkpoint with the same options.
import { createHash } from 'node:crypto';
import { mkdirSync, statSync, realpathSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph, ParamSource, Value } from '../graph/index.js';
import { CheckpointError } from './errors.js';
import { type SafetensorsCheckpoint, type TensorEntry, bytesToFloat32 } from './safetensors.js';
import { f32ToF16 } from '../graph/dtype.js';
import { writeAtomicWith, writeFileAtomicSync } from '../util/atomic-file.js';

/** How weights are stored for compute. f32/f16 are float weights; int8/int4 are weight-only quantised linears. */
export type WeightDtype = 'f32' | 'f16' | 'int8' | 'int4';
export const WEIGHT_DTYPES: readonly WeightDtype[] = ['f32', 'f16', 'int8', 'int4'];

/** What a tensor is used for decides its stored format. */
export type WeightRole = 'linear' | 'embedding' | 'vector';

export interface WeightRequest {
  /** Canonical name (no `model.` / `bert.` prefix). */
  name: string;
  /** Alternative canonical names tried when `name` is absent (e.g. LayerNorm gamma/beta of old BERT files). */
  aliases?: string[];
  shape: readonly number[];
  role: WeightRole;
  /** Missing optional tensors are left out instead of failing. */
  optional?: boolean;
}

export interface FloatWeight {
  kind: 'float';
  dtype: 'f32' | 'f16';
  shape: number[];
  source: ParamSource;
}

/** Weight-only quantised linear in MatMulNBits layout: B [N, blocks, blob], scales [N·blocks], zero points packed. */
export interface NBitsWeight {
  kind: 'nbits';
  bits: 4 | 8;
  blockSize: number;
  /** Output features (rows of the [out, in] checkpoint weight). */
  n: number;
  /** Input features. */
  k: number;
  packed: ParamSource;
  scales: ParamSource;
  scaleDtype: 'f32' | 'f16';
  zeroPoints: ParamSource;
}

export type PreparedWeight = FloatWeight | NBitsWeight;

export interface PrepareOptions {
  dtype: WeightDtype;
  /** Folder for converted weights (a `weights/` subfolder is used). */
  cacheDir: string;
  /** Quantisation block size along K (power of two ≥ 16; default 32). */
  blockSize?: number;
  /** Name prefixes tried in order when looking a canonical name up in the checkpoint. */
  prefixes?: readonly string[];
  /** Converted-weights progress: (bytes done, bytes total). */
  onProgress?: (done: number, total: number) => void;
}

/** Bump when the converted file layout changes, so old cache entries are not reused. */
const STORE_VERSION = 1;
const ALIGN = 4096;

/** Tensors of a checkpoint resolved to graph parameter sources. */
export class PreparedWeights {
  constructor(
    private readonly weights: Map<string, PreparedWeight>,
    /** The converted-weights file, when anything had to be converted. */
    readonly storeFile: string | undefined,
    /** Bytes the parameters occupy (what ORT will hold). */
    readonly bytes: number,
    /** Params are trainable graph inputs (training graphs) rather than frozen initializers. */
    readonly trainable = false,
  ) {}

  has(name: string): boolean {
    return this.weights.has(name);
  }

  get(name: string): PreparedWeight {
    const w = this.weights.get(name);
    if (!w) throw new Error(`weight ${name} was not prepared`);
    return w;
  }

  /** A float parameter (any role). */
  float(g: Graph, name: string, paramName = name): Value {
    const w = this.get(name);
    if (w.kind !== 'float') throw new Error(`weight ${name} is quantised; use linear()`);
    return g.param(paramName, w.dtype, w.shape, w.source, this.trainable);
  }
}

/**
 * Weights as graph inputs fed at every run (`{kind: 'input'}`, trainable): the same graph builders then
 * give a training graph for src/graph's autodiff. Values come from `readFloatWeights` or the trainer.
 */
export function inputWeights(requests: readonly WeightRequest[], dtype: 'f32' | 'f16' = 'f32'): PreparedWeights {
  const m = new Map<string, PreparedWeight>();
  for (const r of requests) m.set(r.name, { kind: 'float', dtype, shape: [...r.shape], source: { kind: 'input' } });
  return new PreparedWeights(m, undefined, 0, true);
}

/** Reads the requested tensors as float32 by canonical name (prefixes and aliases resolved), e.g. to start training. */
export async function readFloatWeights(ckpt: SafetensorsCheckpoint, requests: readonly WeightRequest[], prefixes: readonly string[] = ['']): Promise<Map<string, Float32Array>> {
  const find = resolver(ckpt, prefixes);
  const where = ckpt.indexFile ?? ckpt.files[0]?.path ?? ckpt.dir;
  const out = new Map<string, Float32Array>();
  for (const r of requests) {
    const actual = find([r.name, ...(r.aliases ?? [])]);
    if (!actual) {
      if (r.optional) continue;
      throw new CheckpointError(where, `tensor "${r.name}"`, 'missing');
    }
    const e = ckpt.get(actual)!;
    if (e.shape.join(',') !== r.shape.join(',')) throw new CheckpointError(e.file, `tensor "${actual}".shape`, `is ${JSON.stringify(e.shape)}, config.json implies ${JSON.stringify(r.shape)}`);
    out.set(r.name, await ckpt.readFloat32(actual));
  }
  return out;
}

function storeKey(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/** Resolves a canonical name to the checkpoint's own name (prefix auto-detection). */
function resolver(ckpt: SafetensorsCheckpoint, prefixes: readonly string[]): (names: readonly string[]) => string | undefined {
  return (names) => {
    for (const n of names) {
      for (const p of prefixes) if (ckpt.get(p + n)) return p + n;
    }
    return undefined;
  };
}

function sameFilesystem(a: string, b: string): boolean {
  try {
    return statSync(a).dev === statSync(b).dev;
  } catch {
    return false;
  }
}

/** Plain float target of a role under a dtype (quantised linears aside). */
function floatTarget(role: WeightRole, dtype: WeightDtype): 'f32' | 'f16' {
  if (dtype === 'f32') return 'f32';
  if (dtype === 'f16') return 'f16';
  // int8/int4: embeddings go to f16 (a gather reads a few rows, half the memory), norms/biases stay f32
  return role === 'embedding' ? 'f16' : 'f32';
}

interface Planned {
  req: WeightRequest;
  entry: TensorEntry;
  /** direct: point at the checkpoint bytes; float: convert; nbits: quantise. */
  how: 'direct' | 'float' | 'nbits';
  target: 'f32' | 'f16';
  bits?: 4 | 8;
}

/**
 * Resolves, validates (presence, shape, dtype) and converts the requested tensors. Errors name the weights
 * file and the tensor.
 */
export async function prepareWeights(ckpt: SafetensorsCheckpoint, requests: readonly WeightRequest[], opts: PrepareOptions): Promise<PreparedWeights> {
  const blockSize = opts.blockSize ?? 32;
  if (!(blockSize >= 16 && (blockSize & (blockSize - 1)) === 0)) throw new Error(`block size must be a power of two ≥ 16, got ${blockSize}`);
  const find = resolver(ckpt, opts.prefixes ?? ['']);
  const where = ckpt.indexFile ?? ckpt.files[0]?.path ?? ckpt.dir;
  const storeDir = join(opts.cacheDir, 'weights');
  mkdirSync(storeDir, { recursive: true });

  const plan: Planned[] = [];
  for (const req of requests) {
    const actual = find([req.name, ...(req.aliases ?? [])]);
    if (!actual) {
      if (req.optional) continue;
      const tried = (opts.prefixes ?? ['']).map((p) => `"${p}${req.name}"`).join(', ');
      throw new CheckpointError(where, `tensor "${req.name}"`, `missing (looked for ${tried})`);
    }
    const entry = ckpt.get(actual)!;
    if (entry.shape.length !== req.shape.length || entry.shape.some((d, i) => d !== req.shape[i])) {
      throw new CheckpointError(entry.file, `tensor "${actual}".shape`, `is ${JSON.stringify(entry.shape)}, config.json implies ${JSON.stringify(req.shape)}`);
    }
    if (entry.dtype !== 'F32' && entry.dtype !== 'F16' && entry.dtype !== 'BF16') {
      throw new CheckpointError(entry.file, `tensor "${actual}".dtype`, `${entry.dtype} is not supported for weights (F32, F16, BF16)`);
    }
    const quant = req.role === 'linear' && (opts.dtype === 'int8' || opts.dtype === 'int4');
    if (quant) {
      plan.push({ req, entry, how: 'nbits', target: 'f32', bits: opts.dtype === 'int8' ? 8 : 4 });
      continue;
    }
    const target = floatTarget(req.role, opts.dtype);
    const direct = ((target === 'f32' && entry.dtype === 'F32') || (target === 'f16' && entry.dtype === 'F16')) && sameFilesystem(entry.file, storeDir);
    plan.push({ req, entry, how: direct ? 'direct' : 'float', target });
  }

  const weights = new Map<string, PreparedWeight>();
  let bytes = 0;
  for (const p of plan) {
    if (p.how !== 'direct') continue;
    weights.set(p.req.name, { kind: 'float', dtype: p.target, shape: [...p.req.shape], source: { kind: 'file', path: p.entry.file, offset: p.entry.offset, length: p.entry.byteLength } });
    bytes += p.entry.byteLength;
  }
  const toConvert = plan.filter((p) => p.how !== 'direct');
  if (toConvert.length === 0) return new PreparedWeights(weights, undefined, bytes);

  // Converted store: named by what went in (checkpoint files with size and mtime, requests, options).
  const files = [...new Set(toConvert.map((p) => p.entry.file))].sort();
  const key = storeKey({
    v: STORE_VERSION, blockSize,
    files: files.map((f) => {
      const st = statSync(f);
      // The inode too: a replaced file with the same size and mtime (cp -p, rsync -a) is a different file.
      return [realpathSync(f), st.dev, st.ino, st.size, st.mtimeMs];
    }),
    items: toConvert.map((p) => [p.entry.file, p.entry.offset, p.entry.dtype, p.entry.shape, p.how, p.target, p.bits ?? 0]),
  });
  const binPath = join(storeDir, `${key}.bin`);
  const manifestPath = join(storeDir, `${key}.json`);

  type Layout = Record<string, { offset: number; length: number }[]>;
  let layout: Layout | undefined;
  if (existsSync(manifestPath) && existsSync(binPath)) {
    try {
      const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as { size: number; layout: Layout };
      if (statSync(binPath).size === m.size) layout = m.layout;
    } catch {
      layout = undefined; // unreadable manifest: rebuild
    }
  }
  if (!layout) layout = await convert(ckpt, toConvert, binPath, manifestPath, blockSize, opts.onProgress);

  for (const p of toConvert) {
    const parts = layout[p.req.name];
    if (!parts) throw new Error(`converted weights ${binPath} lack ${p.req.name}; delete the file to rebuild`);
    const src = (i: number): ParamSource => ({ kind: 'file', path: binPath, offset: parts[i]!.offset, length: parts[i]!.length });
    bytes += parts.reduce((s, x) => s + x.length, 0);
    if (p.how === 'float') {
      weights.set(p.req.name, { kind: 'float', dtype: p.target, shape: [...p.req.shape], source: src(0) });
    } else {
      const [n, k] = p.req.shape as [number, number];
      weights.set(p.req.name, { kind: 'nbits', bits: p.bits!, blockSize, n, k, packed: src(0), scales: src(1), scaleDtype: 'f32', zeroPoints: src(2) });
    }
  }
  return new PreparedWeights(weights, binPath, bytes);
}

/** Rows per conversion step: about 16M elements, so memory stays bounded for any tensor size. */
function rowsPerChunk(shape: readonly number[]): number {
  const rowElems = shape.slice(1).reduce((a, b) => a * b, 1) || 1;
  return Math.max(1, Math.floor((16 << 20) / rowElems));
}

async function convert(
  ckpt: SafetensorsCheckpoint, items: Planned[], binPath: string, manifestPath: string, blockSize: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Record<string, { offset: number; length: number }[]>> {
  const layout: Record<string, { offset: number; length: number }[]> = {};
  let pos = 0;
  const total = items.reduce((s, p) => s + p.entry.byteLength, 0);
  let done = 0;
  const align = () => (pos = Math.ceil(pos / ALIGN) * ALIGN);
  await writeAtomicWith(binPath, async (fh) => {
    const write = async (data: Uint8Array, at: number) => {
      let w = 0;
      while (w < data.length) w += (await fh.write(data, w, data.length - w, at + w)).bytesWritten;
    };
    for (const p of items) {
      const name = p.entry.name;
      const shape = p.entry.shape;
      const rows = shape.length ? shape[0]! : 1;
      const step = rowsPerChunk(shape);
      if (p.how === 'float') {
        align();
        const start = pos;
        for (let r = 0; r < rows; r += step) {
          const end = Math.min(rows, r + step);
          const raw = await ckpt.readBytes(name, shape.length ? r : undefined, shape.length ? end : undefined);
          const f = bytesToFloat32(raw, p.entry.dtype, name);
          const out = p.target === 'f32' ? f : f32ToF16(f);
          const b = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
          await write(b, pos);
          pos += b.length;
          done += raw.length;
          onProgress?.(done, total);
          if (!shape.length) break;
        }
        layout[p.req.name] = [{ offset: start, length: pos - start }];
      } else {
        const [n, k] = shape as [number, number];
        const bits = p.bits!;
        const blocks = Math.ceil(k / blockSize);
        const blob = (blockSize * bits) / 8;
        const zpPerRow = bits === 8 ? blocks : Math.ceil(blocks / 2);
        align();
        const packedAt = pos;
        const packedLen = n * blocks * blob;
        const scalesAt = Math.ceil((packedAt + packedLen) / ALIGN) * ALIGN;
        const scalesLen = n * blocks * 4;
        const zpAt = Math.ceil((scalesAt + scalesLen) / ALIGN) * ALIGN;
        const zpLen = n * zpPerRow;
        for (let r = 0; r < n; r += step) {
          const end = Math.min(n, r + step);
          const f = bytesToFloat32(await ckpt.readBytes(name, r, end), p.entry.dtype, name);
          const q = quantizeRows(f, end - r, k, bits, blockSize);
          await write(q.packed, packedAt + r * blocks * blob);
          await write(new Uint8Array(q.scales.buffer), scalesAt + r * blocks * 4);
          await write(q.zeroPoints, zpAt + r * zpPerRow);
          done += (end - r) * k * (p.entry.dtype === 'F32' ? 4 : 2);
          onProgress?.(done, total);
        }
        pos = zpAt + zpLen;
        layout[p.req.name] = [{ offset: packedAt, length: packedLen }, { offset: scalesAt, length: scalesLen }, { offset: zpAt, length: zpLen }];
      }
    }
  });
  writeFileAtomicSync(manifestPath, JSON.stringify({ version: STORE_VERSION, size: pos, layout }));
  return layout;
}

export interface QuantizedRows {
  /** [rows, blocks, blockSize·bits/8]: 4-bit values two per byte, the even element in the low nibble. */
  packed: Uint8Array;
  /** [rows · blocks] */
  scales: Float32Array;
  /** [rows, ceil(blocks·bits/8)] zero points (4-bit: two per byte, low nibble first). */
  zeroPoints: Uint8Array;
}

/**
 * Asymmetric block-wise quantisation of rows of length k, in the layout of com.microsoft MatMulNBits:
 * w ≈ (q − zp) · scale per block of `blockSize` consecutive inputs. The range always includes 0 so that
 * zero stays exact; the last block is padded with the zero point.
 */
export function quantizeRows(w: Float32Array, rows: number, k: number, bits: 4 | 8, blockSize: number): QuantizedRows {
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const qmax = (1 << bits) - 1;
  const zpPerRow = bits === 8 ? blocks : Math.ceil(blocks / 2);
  const packed = new Uint8Array(rows * blocks * blob);
  const scales = new Float32Array(rows * blocks);
  const zeroPoints = new Uint8Array(rows * zpPerRow);
  const q = new Uint8Array(blockSize);
  for (let r = 0; r < rows; r++) {
    const row = r * k;
    for (let b = 0; b < blocks; b++) {
      const start = b * blockSize;
      const end = Math.min(k, start + blockSize);
      let lo = 0;
      let hi = 0;
      for (let i = start; i < end; i++) {
        const v = w[row + i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      let scale = (hi - lo) / qmax;
      let zp: number;
      if (scale === 0 || !Number.isFinite(scale)) {
        scale = 1;
        zp = 0;
      } else {
        scale = Math.fround(scale);
        zp = Math.min(qmax, Math.max(0, Math.round(-lo / scale)));
      }
      const inv = 1 / scale;
      for (let i = 0; i < blockSize; i++) {
        const idx = start + i;
        if (idx < end) {
          const x = Math.round(w[row + idx]! * inv) + zp;
          q[i] = x < 0 ? 0 : x > qmax ? qmax : x;
        } else q[i] = zp;
      }
      scales[r * blocks + b] = scale;
      const out = (r * blocks + b) * blob;
      if (bits === 8) {
        packed.set(q, out);
        zeroPoints[r * zpPerRow + b] = zp;
      } else {
        for (let i = 0; i < blob; i++) packed[out + i] = q[2 * i]! | (q[2 * i + 1]! << 4);
        const zi = r * zpPerRow + (b >> 1);
        zeroPoints[zi] = b & 1 ? zeroPoints[zi]! | (zp << 4) : zp;
      }
    }
  }
  return { packed, scales, zeroPoints };
}

/** The inverse of quantizeRows (for tests and error measurements). */
export function dequantizeRows(q: QuantizedRows, rows: number, k: number, bits: 4 | 8, blockSize: number): Float32Array {
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const zpPerRow = bits === 8 ? blocks : Math.ceil(blocks / 2);
  const out = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < k; i++) {
      const b = Math.floor(i / blockSize);
      const j = i % blockSize;
      const base = (r * blocks + b) * blob;
      const v = bits === 8 ? q.packed[base + j]! : (q.packed[base + (j >> 1)]! >> ((j & 1) * 4)) & 15;
      const zb = bits === 8 ? q.zeroPoints[r * zpPerRow + b]! : (q.zeroPoints[r * zpPerRow + (b >> 1)]! >> ((b & 1) * 4)) & 15;
      out[r * k + i] = (v - zb) * q.scales[r * blocks + b]!;
    }
  }
  return out;
}
