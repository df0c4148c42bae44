// NumPy's `Generator` API (np.random.default_rng), draw for draw: SeedSequence seeding, the PCG64 bit
// generator (and MT19937 under SeedSequence, which NumPy's own known-answer tests use), and the
// Generator methods HF datasets' `train_test_split` calls — `permutation` and `choice` without
// replacement. Ported from numpy/random (bit_generator.pyx, pcg64.h, _generator.pyx, distributions.c);
// the algorithms have been stable since NumPy 1.17/1.20. The legacy RandomState lives in rng.ts.
import { MT19937, maskFor, randomInterval, shuffleFromEnd } from './rng.js';

const M32 = 0xffffffff;

/** NumPy's SeedSequence for a non-negative integer (or list of integers) entropy, pool size 4, no spawn key. */
export class SeedSequence {
  readonly pool = new Uint32Array(4);

  constructor(entropy: number | bigint | readonly (number | bigint)[]) {
    const words = (Array.isArray(entropy) ? entropy : [entropy]).flatMap((e) => toUint32Words(e as number | bigint));
    const mult = (a: number, b: number) => Math.imul(a, b) >>> 0;
    let hashConst = 0x43b0d7e5;
    const hashmix = (value: number): number => {
      value = (value ^ hashConst) >>> 0;
      hashConst = mult(hashConst, 0x931e8875);
      value = mult(value, hashConst);
      return (value ^ (value >>> 16)) >>> 0;
    };
    const mix = (x: number, y: number): number => {
      const r = (mult(0xca01f9dd, x) - mult(0x4973f715, y)) >>> 0;
      return (r ^ (r >>> 16)) >>> 0;
    };
    const pool = this.pool;
    for (let i = 0; i < pool.length; i++) pool[i] = hashmix(i < words.length ? words[i]! : 0);
    for (let src = 0; src < pool.length; src++) {
      for (let dst = 0; dst < pool.length; dst++) if (src !== dst) pool[dst] = mix(pool[dst]!, hashmix(pool[src]!));
    }
    for (let src = pool.length; src < words.length; src++) {
      for (let dst = 0; dst < pool.length; dst++) pool[dst] = mix(pool[dst]!, hashmix(words[src]!));
    }
  }

  /** generate_state(n, uint32). */
  generateState32(n: number): Uint32Array {
    const out = new Uint32Array(n);
    let hashConst = 0x8b51f9dd;
    for (let i = 0; i < n; i++) {
      let v = (this.pool[i % this.pool.length]! ^ hashConst) >>> 0;
      hashConst = Math.imul(hashConst, 0x58f38ded) >>> 0;
      v = Math.imul(v, hashConst) >>> 0;
      out[i] = (v ^ (v >>> 16)) >>> 0;
    }
    return out;
  }

  /** generate_state(n, uint64): pairs of 32-bit words, little-endian. */
  generateState64(n: number): bigint[] {
    const w = this.generateState32(2 * n);
    return Array.from({ length: n }, (_, i) => BigInt(w[2 * i]!) | (BigInt(w[2 * i + 1]!) << 32n));
  }
}

function toUint32Words(x: number | bigint): number[] {
  let n = BigInt(x);
  if (n < 0n) throw new RangeError(`SeedSequence entropy must be non-negative, got ${x}`);
  if (n === 0n) return [0];
  const words: number[] = [];
  for (; n > 0n; n >>= 32n) words.push(Number(n & 0xffffffffn));
  return words;
}

/** A NumPy bit generator: 64-bit draws and NumPy's 32-bit draws (which may halve a 64-bit one). */
export interface BitGenerator {
  next64(): bigint;
  next32(): number;
}

const MASK64 = (1n << 64n) - 1n;
const MASK128 = (1n << 128n) - 1n;
const PCG_MULT = (2549297995355413924n << 64n) | 4865540595714422341n;

/** PCG64 (XSL-RR 128/64), seeded through SeedSequence as `np.random.PCG64(seed)` is. */
export class PCG64 implements BitGenerator {
  private state = 0n;
  private readonly inc: bigint;
  private spare: number | undefined;

  constructor(seed: number | bigint | SeedSequence) {
    const [s0, s1, i0, i1] = (seed instanceof SeedSequence ? seed : new SeedSequence(seed)).generateState64(4) as [bigint, bigint, bigint, bigint];
    const initState = (s0 << 64n) | s1;
    const initSeq = (i0 << 64n) | i1;
    this.inc = ((initSeq << 1n) | 1n) & MASK128;
    this.step();
    this.state = (this.state + initState) & MASK128;
    this.step();
  }

  private step(): void {
    this.state = (this.state * PCG_MULT + this.inc) & MASK128;
  }

  next64(): bigint {
    this.step();
    const hi = this.state >> 64n;
    const x = (hi ^ this.state) & MASK64;
    const rot = hi >> 58n;
    return ((x >> rot) | (x << ((64n - rot) & 63n))) & MASK64;
  }

  /** The low half of a 64-bit draw, then its high half on the next call. */
  next32(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    const v = this.next64();
    this.spare = Number(v >> 32n);
    return Number(v & 0xffffffffn);
  }
}

/** MT19937 seeded through SeedSequence (`np.random.MT19937(seed)`, not the legacy RandomState seeding). */
export class SeededMT19937 implements BitGenerator {
  private readonly mt = new MT19937();

  constructor(seed: number | bigint | SeedSequence) {
    const words = (seed instanceof SeedSequence ? seed : new SeedSequence(seed)).generateState32(624);
    this.mt.mt.set(words);
    this.mt.mt[0] = 0x80000000; // non-zero state guaranteed
    this.mt.index = 623; // NumPy leaves its position at the loop's last index
  }

  next32(): number {
    return this.mt.next32();
  }

  next64(): bigint {
    const hi = this.mt.next32();
    return (BigInt(hi) << 32n) | BigInt(this.mt.next32());
  }
}

/** NumPy's `Generator` (only what HF datasets' splits need; integer arguments below 2^32). */
export class NumpyGenerator {
  constructor(readonly bits: BitGenerator) {}

  /** `np.random.default_rng(seed)`: a Generator over PCG64. */
  static defaultRng(seed: number | bigint): NumpyGenerator {
    return new NumpyGenerator(new PCG64(seed));
  }

  /** random_interval(max): uniform in [0, max] by masked rejection on 32-bit draws (shuffle's draw). */
  randomInterval(max: number): number {
    return randomInterval(() => this.bits.next32(), max);
  }

  /** random_bounded_uint64(0, rng, use_masked=false) for rng < 2^32: Lemire's method on 32-bit draws. */
  boundedLemire(rng: number): number {
    if (rng === 0) return 0;
    if (rng === M32) return this.bits.next32();
    const excl = BigInt(rng + 1);
    let m = BigInt(this.bits.next32()) * excl;
    let leftover = Number(m & 0xffffffffn);
    if (leftover < rng + 1) {
      const threshold = (M32 - rng) % (rng + 1);
      while (leftover < threshold) {
        m = BigInt(this.bits.next32()) * excl;
        leftover = Number(m & 0xffffffffn);
      }
    }
    return Number(m >> 32n);
  }

  /** `shuffle(x)` for a 1-D array or list: Fisher–Yates from the end with random_interval. */
  shuffle<T>(x: { length: number; [i: number]: T }): void {
    shuffleFromEnd(x, (i) => this.randomInterval(i));
  }

  /** `permutation(n)` (arange(n) shuffled) or `permutation(array)` (a shuffled copy). */
  permutation(x: number): number[];
  permutation<T>(x: readonly T[]): T[];
  permutation<T>(x: number | readonly T[]): (number | T)[] {
    const a: (number | T)[] = typeof x === 'number' ? Array.from({ length: x }, (_, i) => i) : [...x];
    this.shuffle(a);
    return a;
  }

  /** _shuffle_int(n, first): swaps positions n−1 … first with Lemire draws (choice's own shuffle). */
  private shuffleInt(a: number[], first: number): void {
    shuffleFromEnd(a, (i) => this.boundedLemire(i), first);
  }

  /** `choice(popSize, size, replace=False, shuffle)`: indices into the population (uniform, no p). */
  choiceWithoutReplacement(popSize: number, size: number, shuffle = true): number[] {
    if (size > popSize) throw new RangeError('Cannot take a larger sample than population when replace is False');
    if (size < 0) throw new RangeError('negative dimensions are not allowed');
    const cutoff = shuffle ? 50 : 20;
    if (popSize > 10000 && size > Math.floor(popSize / cutoff)) {
      // Tail shuffle: the last `size` places of a partially shuffled arange.
      const idx = Array.from({ length: popSize }, (_, i) => i);
      this.shuffleInt(idx, Math.max(popSize - size, 1));
      return idx.slice(popSize - size);
    }
    // Floyd's algorithm with an open-addressing set (probe order matters only for speed, not for draws).
    const idx = new Array<number>(size);
    const mask = maskFor(Math.floor(1.2 * size));
    const set = new Float64Array(mask + 1).fill(-1);
    for (let j = popSize - size; j < popSize; j++) {
      const val = this.boundedLemire(j);
      let loc = val & mask;
      while (set[loc] !== -1 && set[loc] !== val) loc = (loc + 1) & mask;
      if (set[loc] === -1) {
        set[loc] = val;
        idx[j - popSize + size] = val;
      } else {
        loc = j & mask;
        while (set[loc] !== -1) loc = (loc + 1) & mask;
        set[loc] = j;
        idx[j - popSize + size] = j;
      }
    }
    if (shuffle) this.shuffleInt(idx, 1);
    return idx;
  }
}
