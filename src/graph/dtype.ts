// Element types of graph tensors, and how each maps to ONNX, ONNX Runtime and JS typed arrays.

export type DType = 'f32' | 'f16' | 'bf16' | 'f64' | 'i64' | 'i32' | 'i8' | 'u8' | 'bool' | 'u4' | 'i4';

export const ALL_DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'f64', 'i64', 'i32', 'i8', 'u8', 'bool', 'u4', 'i4'];

/** onnx.TensorProto.DataType numbers. */
export const ONNX_DTYPE: Readonly<Record<DType, number>> = {
  f32: 1, u8: 2, i8: 3, i32: 6, i64: 7, bool: 9, f16: 10, f64: 11, bf16: 16, u4: 21, i4: 22,
};

const FROM_ONNX = new Map<number, DType>(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k as DType]));

export function dtypeFromOnnx(code: number): DType {
  const d = FROM_ONNX.get(code);
  if (!d) throw new Error(`unsupported ONNX element type ${code}`);
  return d;
}

/** Names onnxruntime-common uses for tensor types. */
export type OrtTypeName = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool' | 'uint4' | 'int4';

export const ORT_TYPE: Readonly<Record<DType, OrtTypeName | undefined>> = {
  f32: 'float32', f16: 'float16', f64: 'float64', i64: 'int64', i32: 'int32', i8: 'int8', u8: 'uint8',
  bool: 'bool', u4: 'uint4', i4: 'int4', bf16: undefined, // ORT's JS API has no bfloat16 tensors
};

const ORT_TO_DTYPE = new Map<string, DType>(Object.entries(ORT_TYPE).filter(([, v]) => v).map(([k, v]) => [v!, k as DType]));

export function dtypeFromOrt(name: string): DType {
  const d = ORT_TO_DTYPE.get(name);
  if (!d) throw new Error(`unsupported ONNX Runtime tensor type "${name}"`);
  return d;
}

/** Bytes per element (4-bit types: 0.5). */
export function bytesPerElement(d: DType): number {
  switch (d) {
    case 'f64': case 'i64': return 8;
    case 'f32': case 'i32': return 4;
    case 'f16': case 'bf16': return 2;
    case 'i8': case 'u8': case 'bool': return 1;
    case 'u4': case 'i4': return 0.5;
  }
}

export function isFloat(d: DType): boolean {
  return d === 'f32' || d === 'f16' || d === 'bf16' || d === 'f64';
}

export type TypedArray =
  | Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

/** The typed array that holds raw elements of a dtype (f16/bf16 as their 16-bit patterns, 4-bit packed in bytes). */
export function arrayTypeFor(d: DType): string {
  switch (d) {
    case 'f32': return 'Float32Array';
    case 'f64': return 'Float64Array';
    case 'f16': case 'bf16': return 'Uint16Array';
    case 'i64': return 'BigInt64Array';
    case 'i32': return 'Int32Array';
    case 'i8': return 'Int8Array';
    case 'u8': case 'bool': case 'u4': case 'i4': return 'Uint8Array';
  }
}

export function checkArrayType(d: DType, data: TypedArray, what: string): void {
  const want = arrayTypeFor(d);
  // Subclasses count (a Node Buffer is a Uint8Array); the name check also accepts arrays from another realm.
  const ctor = (globalThis as unknown as Record<string, abstract new (...args: never[]) => unknown>)[want]!;
  if (!(data instanceof ctor) && data.constructor.name !== want) {
    throw new Error(`${what}: dtype ${d} needs a ${want}, got a ${data.constructor.name}`);
  }
}

/** Allocates a zeroed typed array for n elements of a dtype. */
export function allocate(d: DType, n: number): TypedArray {
  switch (d) {
    case 'f32': return new Float32Array(n);
    case 'f64': return new Float64Array(n);
    case 'f16': case 'bf16': return new Uint16Array(n);
    case 'i64': return new BigInt64Array(n);
    case 'i32': return new Int32Array(n);
    case 'i8': return new Int8Array(n);
    case 'u8': case 'bool': return new Uint8Array(n);
    case 'u4': case 'i4': return new Uint8Array(Math.ceil(n / 2));
  }
}

// --- half-precision conversions (round to nearest even), shared by checkpoints and the runtime ---

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE half bits, round-to-nearest-even, with overflow to inf and subnormals. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function bf16BitsToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

/** float32 → bfloat16 bits, round-to-nearest-even (NaN kept quiet). */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

// --- bulk conversions over typed arrays (checkpoint loading and saving run these over billions of elements) ---

let f16Table: Float32Array | undefined;

/** All 65,536 half values as float32 (256 KB, built once): a lookup is faster than bit twiddling. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  const bits = new Uint32Array(t.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      // zero or subnormal: mant × 2^-24, exact in float32
      t[h] = (sign ? -1 : 1) * mant * 2 ** -24;
    } else if (exp === 0x1f) {
      bits[h] = sign | 0x7f800000 | (mant << 13);
    } else {
      bits[h] = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
  }
  f16Table = t;
  return t;
}

/** IEEE half bits → float32. */
export function f16ToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const t = halfTable();
  const n = src.length;
  for (let i = 0; i < n; i++) dst[i] = t[src[i]!]!;
  return dst;
}

/** bfloat16 bits → float32 (exact: bfloat16 is the top half of a float32). */
export function bf16ToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  const n = src.length;
  for (let i = 0; i < n; i++) out[i] = src[i]! << 16;
  return dst;
}

/** float32 → IEEE half bits, round to nearest even, overflow to ±inf, subnormals kept, NaN stays NaN. */
export function f32ToF16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const b = bits[i]!;
    const sign = (b >>> 16) & 0x8000;
    const exp = (b >>> 23) & 0xff;
    const mant = b & 0x7fffff;
    if (exp === 0xff) {
      dst[i] = sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
      continue;
    }
    const e = exp - 112; // rebias 127 → 15
    if (e >= 0x1f) {
      dst[i] = sign | 0x7c00;
    } else if (e <= 0) {
      if (e < -10) {
        dst[i] = sign; // below half the smallest subnormal: ±0
        continue;
      }
      const m = mant | 0x800000;
      const shift = 14 - e;
      let h = m >>> shift;
      const rem = m & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      if (rem > mid || (rem === mid && h & 1)) h++;
      dst[i] = sign | h;
    } else {
      let h = (e << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // may carry into the exponent, which is right
      dst[i] = sign | h;
    }
  }
  return dst;
}

/** float32 → bfloat16 bits, round to nearest even, NaN kept quiet. */
export function f32ToBf16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const b = bits[i]!;
    if ((b & 0x7fffffff) > 0x7f800000) dst[i] = ((b >>> 16) | 0x40) & 0xffff;
    else dst[i] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return dst;
}
