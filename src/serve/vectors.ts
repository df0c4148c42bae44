// Output-side vector handling: Matryoshka-style truncation with re-normalisation, OpenAI's base64
// encoding (little-endian float32 bytes, what the openai SDKs decode), and the JSON text of a vector.
import { endianness } from 'node:os';

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** The first `dims` components; re-normalised to unit length when `renormalize`. */
export function truncateDimensions(v: Float32Array, dims: number, renormalize: boolean): Float32Array {
  if (dims >= v.length) return v;
  const out = v.slice(0, dims);
  if (!renormalize) return out;
  let sq = 0;
  for (let i = 0; i < out.length; i++) sq += out[i]! * out[i]!;
  const norm = Math.sqrt(sq);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i] = out[i]! / norm;
  return out;
}

export function float32ToBase64(v: Float32Array): string {
  if (LITTLE_ENDIAN_HOST) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  const buf = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i]!, i * 4);
  return buf.toString('base64');
}

export function base64ToFloat32(s: string): Float32Array {
  const buf = Buffer.from(s, 'base64');
  if (buf.length % 4 !== 0) throw new Error(`base64 embedding has ${buf.length} bytes, not a multiple of 4`);
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

/**
 * `JSON.stringify(Array.from(v))`, byte for byte, without the intermediate array: Array.prototype.join
 * writes finite numbers exactly as JSON does (-0 as 0 too) at a fraction of the cost (docs/serve.md has
 * the numbers). A vector with NaN or ±Infinity, which JSON writes as null, takes the slow path.
 */
export function float32ToJson(v: Float32Array): string {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return JSON.stringify(Array.from(v));
  return `[${v.join(',')}]`;
}
