// "Did you mean" hints for unknown config keys. The pipeline config and the training config both
// report unknown fields this way, so they share one matcher (and the same closeness rule).
//
// Distances count UTF-16 code units: config keys are short, and this is not the synthesis area's
// `levenshtein` (src/synth/edit-distance.ts), which counts code points with a bit-parallel algorithm
// meant for paragraph-long texts.

/** The allowed key closest to `key` (ignoring case, `_` and `-`), if it is within ⌊len/4⌋ edits (at least 1). */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  let best: string | undefined;
  let bestD = Infinity;
  for (const a of allowed) {
    const d = editDistance(norm(key), norm(a));
    if (d < bestD) [best, bestD] = [a, d];
  }
  return bestD <= Math.max(1, Math.floor(key.length / 4)) ? best : undefined;
}

/** Levenshtein distance over UTF-16 code units (one-row dynamic programme). */
function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
