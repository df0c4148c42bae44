// The JSON text of embedding vectors (`encoding_format: "float"`, TEI /embed): float32ToJson against
// JSON.stringify(Array.from(v)), which it replaces byte for byte, side by side per vector width.
//
//   npx tsx bench/serve-json.ts [--seconds 0.5]
import { float32ToJson } from '../src/serve/vectors.js';

const i = process.argv.indexOf('--seconds');
const seconds = i >= 0 ? Number(process.argv[i + 1]) : 0.5;

function perCall(f: () => string): number {
  for (let k = 0; k < 200; k++) f();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    f();
    n++;
  }
  return ((performance.now() - t0) * 1000) / n;
}

console.log('dim    JSON.stringify(Array.from(v))   float32ToJson(v)   ratio');
for (const dim of [64, 384, 1024, 3584]) {
  let seed = dim;
  const v = Float32Array.from({ length: dim }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1);
  if (float32ToJson(v) !== JSON.stringify(Array.from(v))) throw new Error(`dim ${dim}: the texts differ`);
  const a = perCall(() => JSON.stringify(Array.from(v)));
  const b = perCall(() => float32ToJson(v));
  console.log(`${String(dim).padEnd(6)} ${`${a.toFixed(1)} µs`.padStart(27)} ${`${b.toFixed(1)} µs`.padStart(18)} ${(a / b).toFixed(1).padStart(6)}×`);
}
