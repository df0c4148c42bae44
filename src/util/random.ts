// A small seeded pseudo-random generator (SplitMix32-seeded xoshiro128**) for reproducible
// initialisation (model weights, LoRA adapters), per-chunk seeds and sampling. Not cryptographic. State is
// four uint32 words, so it can be saved and restored exactly.
// Also mulberry32, the one-word generator behind the synthetic serving model's vectors and the tests' and
// benches' generated inputs (one copy, so those streams stay exactly as they were).

/** Mixes a 32-bit value (the SplitMix32 finaliser); also used to derive seeds from (seed, index). */
export function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Derives a child seed from a seed and any number of integer coordinates (step, chunk, ...). */
export function deriveSeed(seed: number, ...coords: number[]): number {
  let h = mix32(seed >>> 0);
  for (const c of coords) h = mix32((h ^ mix32(c >>> 0)) >>> 0);
  return h;
}

export class Rng {
  private s: Uint32Array;
  private spare: number | undefined;

  constructor(seed: number) {
    this.s = new Uint32Array(4);
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = mix32(x + i);
      this.s[i] = x;
    }
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  /** Uniform uint32. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fills `out` with N(0, std²) values. */
  fillNormal(out: Float32Array | Float64Array, std = 1): void {
    for (let i = 0; i < out.length; i++) out[i] = this.normal() * std;
  }

  /** Serialisable state. */
  state(): { s: number[]; spare: number | null } {
    return { s: Array.from(this.s), spare: this.spare ?? null };
  }

  static fromState(state: { s: number[]; spare: number | null }): Rng {
    const r = new Rng(0);
    if (!Array.isArray(state.s) || state.s.length !== 4) throw new Error('Rng state: expected four uint32 words');
    r.s = Uint32Array.from(state.s);
    r.spare = state.spare ?? undefined;
    return r;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * mulberry32: uniform numbers in [0, 1) from one 32-bit word of state. Small and fast; used where a
 * stream of plain uniforms is enough (the synthetic serving model, generated test and bench inputs).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
