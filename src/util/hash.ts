// FNV-1a (32-bit) over a string's UTF-16 code units: the small, stable string hash the synthetic serving
// model, the lexical hashing embedder and LoRA's per-layer seeds all use (one copy, so all agree).

/** 32-bit FNV-1a of `s`'s UTF-16 code units, as an unsigned integer. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
