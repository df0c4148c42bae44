// Arithmetic that mirrors what Python, NumPy and SciPy do, so that means, correlations and rounding
// land on the same doubles as mteb's: NumPy's pairwise summation, Python's round() (correctly rounded,
// ties to even on the exact binary value), SciPy's pearsonr and spearmanr formulas.

/** NumPy's pairwise summation of a contiguous float64 array (np.add.reduce / np.sum / np.mean). */
export function pairwiseSum(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i]!;
    return res;
  }
  if (n <= 128) {
    let r0 = a[start]!, r1 = a[start + 1]!, r2 = a[start + 2]!, r3 = a[start + 3]!;
    let r4 = a[start + 4]!, r5 = a[start + 5]!, r6 = a[start + 6]!, r7 = a[start + 7]!;
    let i = 8;
    const end = n - (n % 8);
    for (; i < end; i += 8) {
      r0 += a[start + i]!;
      r1 += a[start + i + 1]!;
      r2 += a[start + i + 2]!;
      r3 += a[start + i + 3]!;
      r4 += a[start + i + 4]!;
      r5 += a[start + i + 5]!;
      r6 += a[start + i + 6]!;
      r7 += a[start + i + 7]!;
    }
    let res = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/** np.mean of a float64 array. NaN for an empty array (NumPy warns and returns nan). */
export function npMean(a: ArrayLike<number>): number {
  return a.length === 0 ? NaN : pairwiseSum(a) / a.length;
}

/** np.std (population, ddof=0). */
export function npStd(a: ArrayLike<number>): number {
  const n = a.length;
  if (n === 0) return NaN;
  const mean = npMean(a);
  const sq = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - mean;
    sq[i] = d * d;
  }
  return Math.sqrt(pairwiseSum(sq) / n);
}

/** Python's built-in sum() over floats: left to right. */
export function pythonSum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

const TWO_52 = 2 ** 52;

/** Exact decomposition x = mant · 2^exp with an integer mantissa (x finite, non-zero). */
function decompose(x: number): { mant: bigint; exp: number } {
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  const hi = buf.getUint32(0);
  const lo = buf.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  const frac = BigInt(hi & 0xfffff) * 4294967296n + BigInt(lo);
  if (biased === 0) return { mant: frac, exp: -1074 };
  return { mant: frac + BigInt(TWO_52), exp: biased - 1075 };
}

/**
 * Python's round(x, ndigits) for floats: the exact binary value of x is rounded to ndigits decimals,
 * ties (only possible when x is exactly halfway) to even; the result is the double nearest to that decimal.
 */
export function pythonRound(x: number, ndigits: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  if (!Number.isInteger(ndigits) || ndigits < 0 || ndigits > 20) throw new RangeError(`pythonRound: ndigits must be an integer in 0..20, got ${ndigits}`);
  const neg = x < 0;
  const ax = Math.abs(x);
  if (ax >= 1e21) return x;
  // q = x·10^n = mant·10^n·2^exp; floor(q) and whether the remainder is <, =, > 1/2, all exact.
  const { mant, exp } = decompose(ax);
  const scaled = mant * 10n ** BigInt(ndigits);
  let floorQ: bigint;
  let cmpHalf: number; // sign of (remainder − 1/2)
  if (exp >= 0) {
    floorQ = scaled << BigInt(exp);
    cmpHalf = -1;
  } else {
    const den = 1n << BigInt(-exp);
    floorQ = scaled / den;
    const rem2 = (scaled - floorQ * den) * 2n;
    cmpHalf = rem2 < den ? -1 : rem2 > den ? 1 : 0;
  }
  let q = floorQ;
  if (cmpHalf > 0 || (cmpHalf === 0 && (floorQ & 1n) === 1n)) q += 1n;
  const digits = q.toString().padStart(ndigits + 1, '0');
  const text = ndigits === 0 ? digits : `${digits.slice(0, -ndigits)}.${digits.slice(-ndigits)}`;
  const r = Number(text);
  return neg ? -r : r;
}

/** Ranks with ties averaged (scipy.stats.rankdata(method='average')), 1-based. */
export function rankAverage(a: ArrayLike<number>): Float64Array {
  const n = a.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((i, j) => a[i]! - a[j]! || i - j);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && a[order[j]!]! === a[order[i]!]!) j++;
    // Positions i..j-1 (0-based) share the average of ranks i+1..j.
    const avg = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) ranks[order[t]!] = avg;
    i = j;
  }
  return ranks;
}

/** Euclidean norm, scaled like BLAS nrm2 to avoid overflow. */
function norm2(a: Float64Array): number {
  let scale = 0;
  let ssq = 1;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v !== 0) {
      const av = Math.abs(v);
      if (scale < av) {
        ssq = 1 + ssq * (scale / av) * (scale / av);
        scale = av;
      } else ssq += (av / scale) * (av / scale);
    }
  }
  return scale * Math.sqrt(ssq);
}

/**
 * scipy.stats.pearsonr's statistic: centre, scale by the max absolute deviation, divide by the norms,
 * dot, clip to [−1, 1]. NaN when either input is constant or has fewer than 2 values.
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new Error(`pearson: lengths differ (${n} vs ${y.length})`);
  if (n < 2) return NaN;
  const xm = Float64Array.from(x as ArrayLike<number>);
  const ym = Float64Array.from(y as ArrayLike<number>);
  const mx = npMean(xm);
  const my = npMean(ym);
  let xmax = 0;
  let ymax = 0;
  for (let i = 0; i < n; i++) {
    xm[i] = xm[i]! - mx;
    ym[i] = ym[i]! - my;
    xmax = Math.max(xmax, Math.abs(xm[i]!));
    ymax = Math.max(ymax, Math.abs(ym[i]!));
  }
  if (xmax === 0 || ymax === 0) return NaN;
  for (let i = 0; i < n; i++) {
    xm[i] = xm[i]! / xmax;
    ym[i] = ym[i]! / ymax;
  }
  const nx = norm2(xm);
  const ny = norm2(ym);
  let r = 0;
  for (let i = 0; i < n; i++) r += (xm[i]! / nx) * (ym[i]! / ny);
  return Math.max(Math.min(r, 1), -1);
}

/** scipy.stats.spearmanr's statistic: np.corrcoef of the average ranks. NaN for constant input. */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new Error(`spearman: lengths differ (${n} vs ${y.length})`);
  if (n < 2) return NaN;
  const rx = rankAverage(x);
  const ry = rankAverage(y);
  const mx = npMean(rx);
  const my = npMean(ry);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = rx[i]! - mx;
    const dy = ry[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  const f = n - 1;
  const c = sxy / f / Math.sqrt(sxx / f) / Math.sqrt(syy / f);
  if (!Number.isFinite(c)) return NaN;
  return Math.max(Math.min(c, 1), -1);
}

/** Code-point order of two strings (Python's str comparison; equal to byte order of their UTF-8). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // Surrogates (U+D800–DFFF) encode code points above U+FFFF, which sort after every BMP unit.
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa !== sb) return sa ? 1 : -1;
    return ca - cb;
  }
  return a.length - b.length;
}
