// Levenshtein distance over Unicode code points, with Myers' bit-parallel algorithm in 32-row
// blocks (Myers 1999; block form as in Hyyrö 2003 / edlib): O(⌈m/32⌉·n) word operations instead of
// O(m·n) cells, which matters because paraphrase checks compare paragraphs of thousands of characters
// against the original and against every accepted rewrite.

/** Splits a string into code points mapped to small integer ids shared by both strings. */
function toIds(a: string, b: string): [Int32Array, Int32Array, number] {
  const alphabet = new Map<number, number>();
  const encode = (s: string): Int32Array => {
    const out = new Int32Array(s.length);
    let n = 0;
    for (const ch of s) {
      const cp = ch.codePointAt(0)!;
      let id = alphabet.get(cp);
      if (id === undefined) {
        id = alphabet.size;
        alphabet.set(cp, id);
      }
      out[n++] = id;
    }
    return out.subarray(0, n);
  };
  const ea = encode(a);
  const eb = encode(b);
  return [ea, eb, alphabet.size];
}

/**
 * Edit distance (insertions, deletions, substitutions of one code point each) between `a` and `b`.
 * Surrogate pairs count as one character, so an emoji substitution costs 1.
 */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  const [ia, ib, sigma] = toIds(a, b);
  // The shorter string is the bit-vector "pattern" (rows); the longer one is scanned (columns).
  const [pat, txt] = ia.length <= ib.length ? [ia, ib] : [ib, ia];
  const m = pat.length;
  const n = txt.length;
  if (m === 0) return n;
  const peq = new Int32Array(sigma);
  // Horizontal delta entering the top of the current block at each column: row 0 is D[0][j] = j.
  const hin = new Int8Array(n).fill(1);
  let score = m;
  for (let start = 0; start < m; start += 32) {
    const h = Math.min(32, m - start);
    const high = 1 << (h - 1);
    for (let r = 0; r < h; r++) peq[pat[start + r]!] |= 1 << r;
    let pv = -1;
    let mv = 0;
    const last = start + h >= m;
    for (let j = 0; j < n; j++) {
      let eq = peq[txt[j]!]!;
      const carry = hin[j]!;
      const xv = eq | mv;
      if (carry < 0) eq |= 1;
      const xh = ((((eq & pv) + pv) | 0) ^ pv) | eq;
      let ph = mv | ~(xh | pv);
      let mh = pv & xh;
      const out = (ph & high) !== 0 ? 1 : (mh & high) !== 0 ? -1 : 0;
      ph <<= 1;
      mh <<= 1;
      if (carry < 0) mh |= 1;
      else if (carry > 0) ph |= 1;
      pv = mh | ~(xv | ph);
      mv = ph & xv;
      if (last) score += out;
      else hin[j] = out;
    }
    for (let r = 0; r < h; r++) peq[pat[start + r]!] = 0;
  }
  return score;
}

/** Number of code points (what `levenshtein` counts in). */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Normalised edit difference in [0, 1]: distance / length of the longer string (0 for two empty
 * strings). 1 − this is the usual normalised Levenshtein similarity.
 */
export function editDifference(a: string, b: string): number {
  const len = Math.max(codePointLength(a), codePointLength(b));
  return len === 0 ? 0 : levenshtein(a, b) / len;
}
