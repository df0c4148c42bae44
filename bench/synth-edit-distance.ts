// The paraphrase constraints compare every candidate against its original (and against the other
// accepted rewrites) by normalised edit distance. This compares the bit-parallel Myers/Hyyrö
// implementation (src/synth/edit-distance.ts) with the textbook O(m·n) dynamic programme on the
// same random sentence/paragraph pairs, side by side in one run.
// Run: npx tsx bench/synth-edit-distance.ts
import { levenshtein } from '../src/synth/edit-distance.js';

function dp(a: string, b: string): number {
  const A = Array.from(a);
  const B = Array.from(b);
  let prev = new Int32Array(B.length + 1).map((_, j) => j);
  let cur = new Int32Array(B.length + 1);
  for (let i = 1; i <= A.length; i++) {
    cur[0] = i;
    const ai = A[i - 1];
    for (let j = 1; j <= B.length; j++) {
      const sub = prev[j - 1]! + (ai === B[j - 1] ? 0 : 1);
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, sub);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[B.length]!;
}

let seed = 12345;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const WORDS = 'the a bank card account transfer money limit app password reset fee abroad cash pending payment declined online branch code'.split(' ');
const text = (chars: number) => {
  let s = '';
  while (s.length < chars) s += `${WORDS[Math.floor(rnd() * WORDS.length)]} `;
  return s.slice(0, chars);
};
function time(fn: () => void, minMs = 300): number {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    fn();
    n++;
  }
  return (performance.now() - t0) / n;
}

console.log('edit distance: bit-parallel (Myers/Hyyrö, 32-row blocks) vs O(m·n) DP, same inputs');
console.log('chars    bit-parallel     DP        speed-up');
for (const n of [60, 300, 1500, 6000]) {
  const pairs = Array.from({ length: 4 }, () => [text(n), text(Math.round(n * (0.85 + 0.3 * rnd())))] as const);
  for (const [a, b] of pairs) if (levenshtein(a, b) !== dp(a, b)) throw new Error('mismatch');
  const fast = time(() => pairs.forEach(([a, b]) => levenshtein(a, b))) / pairs.length;
  const slow = time(() => pairs.forEach(([a, b]) => dp(a, b))) / pairs.length;
  console.log(`${String(n).padEnd(8)} ${fast.toFixed(4).padStart(9)} ms  ${slow.toFixed(4).padStart(9)} ms  ${(slow / fast).toFixed(1).padStart(6)}×`);
}
