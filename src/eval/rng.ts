// Python-compatible random number generators, so that mteb's sampling is reproduced draw for draw:
// NumPy's legacy RandomState (classification undersampling, MiniBatchKMeans) and CPython's
// random.Random (ClusteringFast subsampling). Both are the 32-bit Mersenne Twister MT19937; they
// differ in seeding and in how raw words become integers and floats (mteb-semantics.md §11).

const N = 624;
const M = 397;

/** The MT19937 core: 624 words of state, tempered 32-bit outputs. */
export class MT19937 {
  readonly mt = new Uint32Array(N);
  index = N + 1;

  /** init_genrand(s). */
  initGenrand(seed: number): void {
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      // 1812433253 * prev + i (mod 2^32), split to stay exact in doubles.
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = N;
  }

  /** CPython's init_by_array(key). */
  initByArray(key: readonly number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    const keyLength = Math.max(key.length, 1);
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1664525)) + (key[j] ?? 0) + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
      if (j >= keyLength) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
    this.index = N;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i]! & 0x80000000) | (mt[(i + 1) % N]! & 0x7fffffff);
      mt[i] = (mt[(i + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0)) >>> 0;
    }
    this.index = 0;
  }

  /** genrand_int32. */
  next32(): number {
    if (this.index >= N) {
      if (this.index > N) this.initGenrand(5489);
      this.twist();
    }
    let y = this.mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A double in [0, 1) with 53 random bits (genrand_res53; NumPy random_sample and CPython random()). */
  nextDouble(): number {
    const a = this.next32() >>> 5;
    const b = this.next32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }
}

/** The smallest all-ones mask ≥ max (max < 2^32). */
export function maskFor(max: number): number {
  let mask = max >>> 0;
  mask |= mask >>> 1;
  mask |= mask >>> 2;
  mask |= mask >>> 4;
  mask |= mask >>> 8;
  mask |= mask >>> 16;
  return mask >>> 0;
}

/**
 * NumPy's random_interval(max): a uniform integer in [0, max] by masked rejection on 32-bit draws (max <
 * 2^32). Both NumPy APIs shuffle with it, each over its own bit generator.
 */
export function randomInterval(next32: () => number, max: number): number {
  if (max === 0) return 0;
  const mask = maskFor(max);
  let v: number;
  do v = (next32() & mask) >>> 0;
  while (v > max);
  return v;
}

/** NumPy's in-place Fisher–Yates from the end: positions n−1 … first swap with `partner(i)` ∈ [0, i]. */
export function shuffleFromEnd<T>(x: { length: number; [i: number]: T }, partner: (i: number) => number, first = 1): void {
  for (let i = x.length - 1; i >= first; i--) {
    const j = partner(i);
    const t = x[i]!;
    x[i] = x[j]!;
    x[j] = t;
  }
}

/** NumPy's legacy `np.random.RandomState(seed)` (also the global `np.random.seed(seed)` state). */
export class NumpyRandomState {
  private readonly mt = new MT19937();

  constructor(seed = 0) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`RandomState seed must be an integer in [0, 2^32), got ${seed}`);
    this.mt.initGenrand(seed);
  }

  nextUint32(): number {
    return this.mt.next32();
  }

  /** random_interval(max): a uniform integer in [0, max] by masked rejection (max < 2^32). */
  randomInterval(max: number): number {
    return randomInterval(() => this.mt.next32(), max);
  }

  /** `shuffle(x)` in place: Fisher–Yates from the end, as the legacy generator does for lists and 1-D arrays. */
  shuffle<T>(x: { length: number; [i: number]: T }): void {
    shuffleFromEnd(x, (i) => this.randomInterval(i));
  }

  /** `permutation(n)`: arange(n) shuffled. */
  permutation(n: number): Int32Array {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) a[i] = i;
    this.shuffle(a);
    return a;
  }

  /** `randint(low, high, size)` with the default int64 dtype: masked rejection on [0, high−low−1] (high − low ≤ 2^32). */
  randint(low: number, high: number, size: number): Int32Array {
    const range = high - low - 1;
    if (range < 0) throw new RangeError(`randint: low >= high (${low} >= ${high})`);
    if (range > 0xffffffff) throw new RangeError('randint: ranges above 2^32 are not supported');
    const out = new Int32Array(size);
    if (range === 0) {
      out.fill(low);
      return out;
    }
    if (range === 0xffffffff) {
      for (let i = 0; i < size; i++) out[i] = low + this.mt.next32();
      return out;
    }
    const mask = maskFor(range);
    for (let i = 0; i < size; i++) {
      let v: number;
      do v = (this.mt.next32() & mask) >>> 0;
      while (v > range);
      out[i] = low + v;
    }
    return out;
  }

  /** `random_sample()` / `rand()`: a double in [0, 1). */
  randomSample(): number {
    return this.mt.nextDouble();
  }

  /** `uniform(0, 1, size)`. */
  uniform(size: number): Float64Array {
    const out = new Float64Array(size);
    for (let i = 0; i < size; i++) out[i] = this.mt.nextDouble();
    return out;
  }

  /** `choice(n, p=p)` for one draw: the cdf is p's cumulative sum normalised by its last value, searched with side='right'. */
  choiceWeighted(p: ArrayLike<number>): number {
    const n = p.length;
    const cdf = new Float64Array(n);
    let acc = 0;
    for (let i = 0; i < n; i++) cdf[i] = acc += p[i]!;
    const last = cdf[n - 1]!;
    for (let i = 0; i < n; i++) cdf[i] = cdf[i]! / last;
    const u = this.mt.nextDouble();
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! <= u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** `choice(n, size, replace=False)` without weights: the first `size` entries of permutation(n). */
  choiceWithoutReplacement(n: number, size: number): Int32Array {
    if (size > n) throw new RangeError(`choice: cannot take ${size} samples from ${n} without replacement`);
    return this.permutation(n).slice(0, size);
  }
}

/** int.bit_length() for 0 ≤ n < 2^32. */
function bitLength(n: number): number {
  return 32 - Math.clz32(n);
}

/** CPython's `random.Random(seed)` for non-negative integer seeds. */
export class PythonRandom {
  private readonly mt = new MT19937();

  constructor(seed = 0) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`random.Random seed must be a safe integer, got ${seed}`);
    let s = Math.abs(seed);
    const key: number[] = [];
    do {
      key.push(s % 0x100000000);
      s = Math.floor(s / 0x100000000);
    } while (s > 0);
    this.mt.initByArray(key);
  }

  /** random(): a double in [0, 1). */
  random(): number {
    return this.mt.nextDouble();
  }

  /** getrandbits(k) for 0 < k ≤ 32. */
  getrandbits(k: number): number {
    if (k <= 0 || k > 32) throw new RangeError('getrandbits: k must be in 1..32');
    return this.mt.next32() >>> (32 - k);
  }

  /** _randbelow(n): a uniform integer in [0, n) by rejection on bit_length(n) bits. */
  randbelow(n: number): number {
    if (n <= 0) return 0;
    const k = bitLength(n);
    if (k > 32) throw new RangeError('randbelow: n ≥ 2^32 is not supported');
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `sample(range(n), k)`: the pool method for small populations, the set method otherwise (CPython 3.11). */
  sample(n: number, k: number): number[] {
    if (k < 0 || k > n) throw new RangeError(`sample larger than population or is negative (k=${k}, n=${n})`);
    const out: number[] = new Array(k);
    let setsize = 21;
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(3 * k) / Math.log(4));
    if (n <= setsize) {
      const pool: number[] = Array.from({ length: n }, (_, i) => i);
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        out[i] = pool[j]!;
        pool[j] = pool[n - i - 1]!;
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        out[i] = j;
      }
    }
    return out;
  }

  /** `choices(range(n), k=k)` without weights: ⌊random()·n⌋, k times. */
  choices(n: number, k: number): Int32Array {
    const out = new Int32Array(k);
    for (let i = 0; i < k; i++) out[i] = Math.floor(this.mt.nextDouble() * n);
    return out;
  }
}
