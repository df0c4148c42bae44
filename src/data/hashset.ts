// 64-bit string hashing and a compact set of 64-bit hashes (16 bytes a slot, open addressing), so
// dedup and contamination filters hold tens of millions of keys without a JS object per key.
// Collisions: with n keys the chance of any false match is about n²/2⁶⁵ (3·10⁻⁶ at 10M keys).

/** Two independent 32-bit MurmurHash3-style hashes of the UTF-16 code units, as [hi, lo]. */
export function hash64(s: string): [number, number] {
  let h1 = 0x9747b28c ^ s.length;
  let h2 = 0x85ebca6b ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let k = Math.imul(c, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h1 ^= k;
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
    let j = Math.imul(c ^ 0x5bd1e995, 0x27d4eb2f);
    j = (j << 17) | (j >>> 15);
    h2 = Math.imul(h2 ^ j, 0x165667b1);
    h2 = (h2 << 11) | (h2 >>> 21);
    h2 = (h2 + 0x7feb352d) | 0;
  }
  return [fmix(h1), fmix(h2 ^ h1)];
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A growable set of 64-bit keys given as two uint32 halves. Key (0, 0) is stored out of band. */
export class HashSet64 {
  private keys: Uint32Array;
  private mask: number;
  private count = 0;
  private hasZero = false;

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.keys = new Uint32Array(cap * 2);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count + (this.hasZero ? 1 : 0);
  }

  /** Adds the key; returns false when it was already present. */
  add(hi: number, lo: number): boolean {
    hi >>>= 0;
    lo >>>= 0;
    if (hi === 0 && lo === 0) {
      if (this.hasZero) return false;
      this.hasZero = true;
      return true;
    }
    if ((this.count + 1) * 4 > (this.mask + 1) * 3) this.grow();
    return this.insert(hi, lo);
  }

  has(hi: number, lo: number): boolean {
    hi >>>= 0;
    lo >>>= 0;
    if (hi === 0 && lo === 0) return this.hasZero;
    const keys = this.keys;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const a = keys[2 * i]!;
      const b = keys[2 * i + 1]!;
      if (a === 0 && b === 0) return false;
      if (a === hi && b === lo) return true;
      i = (i + 1) & this.mask;
    }
  }

  addString(s: string): boolean {
    const [hi, lo] = hash64(s);
    return this.add(hi, lo);
  }

  hasString(s: string): boolean {
    const [hi, lo] = hash64(s);
    return this.has(hi, lo);
  }

  private insert(hi: number, lo: number): boolean {
    const keys = this.keys;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const a = keys[2 * i]!;
      const b = keys[2 * i + 1]!;
      if (a === 0 && b === 0) {
        keys[2 * i] = hi;
        keys[2 * i + 1] = lo;
        this.count++;
        return true;
      }
      if (a === hi && b === lo) return false;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.keys;
    this.keys = new Uint32Array(old.length * 2);
    this.mask = old.length - 1;
    this.count = 0;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] !== 0 || old[i + 1] !== 0) this.insert(old[i]!, old[i + 1]!);
    }
  }

  /** Bytes for a checkpoint: [hasZero u32][keys…] (only occupied slots are written). */
  serialize(): Buffer {
    const out = Buffer.alloc(4 + this.count * 8);
    out.writeUInt32LE(this.hasZero ? 1 : 0, 0);
    let o = 4;
    const keys = this.keys;
    for (let i = 0; i < keys.length; i += 2) {
      if (keys[i] !== 0 || keys[i + 1] !== 0) {
        out.writeUInt32LE(keys[i]!, o);
        out.writeUInt32LE(keys[i + 1]!, o + 4);
        o += 8;
      }
    }
    return out;
  }

  static deserialize(buf: Buffer): HashSet64 {
    const n = (buf.length - 4) / 8;
    if (!Number.isInteger(n) || n < 0) throw new Error('corrupt hash set checkpoint');
    const set = new HashSet64(n);
    set.hasZero = buf.readUInt32LE(0) === 1;
    for (let o = 4; o < buf.length; o += 8) set.insert(buf.readUInt32LE(o), buf.readUInt32LE(o + 4));
    return set;
  }
}
