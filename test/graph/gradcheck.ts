// Finite-difference checking of VJP graphs. A case builds a forward graph with output "y"; the checker
// builds its VJP, runs it on random inputs and a random cotangent c, and compares each gradient with
// central differences of L(θ) = Σ c·y(θ), element by element and along one random direction over all
// gradients at once. Gradients are checked for params fed as inputs and for float inputs.
import { AssertionError } from 'node:assert';
import { type DType, type Graph as GraphT, type HostTensor, type VjpRule, Graph, Runtime, buildVjp, gradName, isFloat } from '../../src/graph/index.js';
import { mulberry32 } from '../../src/util/random.js';

export interface GradCase {
  /** Adds inputs and params to the graph and returns the value to differentiate (output "y"). */
  build(g: Graph): GraphT['outputs'][number];
  /** Sizes of symbolic dims for the random feeds. */
  dims?: Record<string, number>;
  /** Fixed feeds (indices, masks, or values chosen away from kinks). */
  feeds?: Record<string, HostTensor>;
  /** Range of the random values per input/param (default [-1, 1]). */
  ranges?: Record<string, [number, number]>;
  /** Params to check (default: every trainable param). */
  wrt?: string[];
  /** Float inputs to check (default: every float input not in `feeds`). */
  inputGrads?: string[];
  /** Rule overrides (mutation tests). */
  rules?: Record<string, VjpRule>;
  /** Central-difference step, relative to max(1, |θ|) (default 1e-6 for f64, 1e-3 for f32). */
  step?: number;
  /**
   * Allowed error: |analytic − numeric| ≤ atol + noise + rtol·max(|analytic|, |numeric|, scale of that
   * gradient), where noise = 8·ε·Σ|c·y| / 2h is the rounding floor of the output's dtype. Default rtol
   * 1e-6 (f64), 2e-3 (f32).
   */
  rtol?: number;
  atol?: number;
  /** Elements per gradient checked one by one (beyond this, a random sample of this size). Default 48. */
  maxElements?: number;
  seed?: number;
}

export interface GradReport {
  ok: boolean;
  /** Elements compared one by one. */
  checked: number;
  /** The params and inputs whose gradients were checked. */
  targets: string[];
  /** Largest |analytic − numeric| / (atol + rtol·scale) seen: ≤ 1 passes. */
  worstRatio: number;
  /** Largest relative error: |a − n| / max(|a|, |n|, scale). */
  worstRelative: number;
  mismatches: string[];
  directional: { analytic: number; numeric: number };
}

export function floatTensor(dtype: DType, values: ArrayLike<number>, dims: number[]): HostTensor {
  if (dtype === 'f64') return { dtype, dims, data: Float64Array.from(values) };
  if (dtype === 'f32') return { dtype, dims, data: Float32Array.from(values) };
  throw new Error(`gradcheck: no ${dtype} tensors`);
}

export function i64Tensor(values: number[], dims: number[]): HostTensor {
  return { dtype: 'i64', dims, data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

function concrete(shape: readonly (number | string)[], dims: Record<string, number>, what: string): number[] {
  return shape.map((d) => {
    if (typeof d === 'number') return d;
    const n = dims[d];
    if (n === undefined) throw new Error(`gradcheck: ${what} has symbolic dim "${d}"; give its size in dims`);
    return n;
  });
}

let graphCounter = 0;

/** Builds, runs and compares; returns a report (see assertGradients to fail a test). */
export async function gradCheck(c: GradCase): Promise<GradReport> {
  const fwd = new Graph(`gradcheck_${graphCounter++}`);
  fwd.output(c.build(fwd), 'y');
  // QZ_GRADCHECK_SEED=n reruns every check on other random values (robustness sweeps).
  const rand = mulberry32(c.seed ?? (Number(process.env.QZ_GRADCHECK_SEED) || 1234));
  const dims = c.dims ?? {};
  const feedable = [...fwd.inputs, ...fwd.params.filter((p) => p.origin.kind === 'param' && p.origin.source.kind === 'input')];
  const feeds: Record<string, HostTensor> = {};
  for (const v of feedable) {
    const fixed = c.feeds?.[v.name];
    if (fixed) {
      feeds[v.name] = fixed;
      continue;
    }
    if (!isFloat(v.dtype)) throw new Error(`gradcheck: ${v.dtype} input "${v.name}" needs a fixed feed`);
    const shape = concrete(v.shape, dims, v.name);
    const [lo, hi] = c.ranges?.[v.name] ?? [-1, 1];
    feeds[v.name] = floatTensor(v.dtype, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * rand()), shape);
  }
  const wrt = c.wrt ?? fwd.params.filter((p) => p.origin.kind === 'param' && p.origin.trainable && isFloat(p.dtype)).map((p) => p.name);
  const inputGrads = c.inputGrads ?? fwd.inputs.filter((v) => isFloat(v.dtype) && !c.feeds?.[v.name]).map((v) => v.name);
  for (const name of wrt) if (!feeds[name]) throw new Error(`gradcheck: param "${name}" must be fed as an input to be perturbed`);
  const targets = [...wrt, ...inputGrads];
  const vjp = buildVjp(fwd, { output: 'y', wrt, inputGrads, keepOutputs: ['y'], rules: c.rules, unreached: 'zeros' });

  const rt = new Runtime({ threads: 1 });
  // ORT's extended fusions (e.g. x·sigmoid(x) → QuickGelu) ignore the dtype and leave float64 graphs with
  // float32-only kernels, so float64 checks run with basic optimisations.
  const hasF64 = [...fwd.inputs, ...fwd.params].some((v) => v.dtype === 'f64');
  const so = { optimization: hasF64 ? ('basic' as const) : ('all' as const) };
  try {
    const fs = await rt.session(fwd, so);
    const vs = await rt.session(vjp, so);
    const y0 = (await fs.run(feeds)).y!;
    const dtype = y0.dtype;
    const cot = floatTensor(dtype, Array.from({ length: y0.data.length }, () => rand() * 2 - 1), [...y0.dims]);
    const res = await vs.run({ ...feeds, [gradName('y')]: cot });
    const yk = res.y!.data as Float64Array;
    for (let i = 0; i < yk.length; i++) {
      const a = yk[i]!;
      const b = (y0.data as Float64Array)[i]!;
      if (!(Math.abs(a - b) <= 1e-5 * (1 + Math.abs(b)))) throw new AssertionError({ message: `gradcheck: the VJP graph's forward output differs at ${i}: ${a} vs ${b}` });
    }
    const cv = cot.data as Float64Array;
    const loss = async (f: Record<string, HostTensor>) => {
      const y = (await fs.run(f)).y!.data as Float64Array;
      let s = 0;
      for (let i = 0; i < y.length; i++) s += cv[i]! * y[i]!;
      return s;
    };
    const isF32 = targets.some((t) => feeds[t]!.dtype === 'f32') || dtype === 'f32';
    const step = c.step ?? (isF32 ? 1e-3 : 1e-6);
    const rtol = c.rtol ?? (isF32 ? 2e-3 : 1e-6);
    const atol = c.atol ?? (isF32 ? 1e-4 : 1e-9);
    const maxElements = c.maxElements ?? 48;
    // Rounding noise of a central difference: a few ulps of each output term, divided by 2h.
    let magnitude = 0;
    for (let i = 0; i < cv.length; i++) magnitude += Math.abs(cv[i]! * Number(y0.data[i]));
    const noise = (8 * (dtype === 'f32' ? 2 ** -24 : 2 ** -53) * magnitude) / (2 * step);
    const report: GradReport = { ok: true, checked: 0, targets, worstRatio: 0, worstRelative: 0, mismatches: [], directional: { analytic: 0, numeric: 0 } };

    for (const name of targets) {
      const grad = res[gradName(name)];
      if (!grad) throw new AssertionError({ message: `gradcheck: the VJP graph has no output ${gradName(name)}` });
      const base = feeds[name]!;
      const n = base.data.length;
      if (grad.data.length !== n) throw new AssertionError({ message: `gradcheck: ${gradName(name)} has ${grad.data.length} elements, ${name} has ${n}` });
      let idx = [...Array(n).keys()];
      if (n > maxElements) idx = Array.from({ length: maxElements }, () => Math.floor(rand() * n));
      const numeric: number[] = [];
      for (const j of idx) {
        const x = Number(base.data[j]);
        const h = step * Math.max(1, Math.abs(x));
        const plus = base.data.slice() as Float64Array;
        const minus = base.data.slice() as Float64Array;
        plus[j] = x + h;
        minus[j] = x - h;
        const hp = plus[j]! - x; // the step actually taken in this dtype
        const hm = x - minus[j]!;
        const lp = await loss({ ...feeds, [name]: { ...base, data: plus } });
        const lm = await loss({ ...feeds, [name]: { ...base, data: minus } });
        numeric.push((lp - lm) / (hp + hm));
      }
      const scale = Math.max(...numeric.map(Math.abs), ...idx.map((j) => Math.abs(Number(grad.data[j]))));
      idx.forEach((j, k) => {
        const a = Number(grad.data[j]);
        const num = numeric[k]!;
        const err = Math.abs(a - num);
        const allowed = atol + noise + rtol * Math.max(Math.abs(a), Math.abs(num), scale);
        report.checked++;
        report.worstRatio = Math.max(report.worstRatio, err / allowed);
        report.worstRelative = Math.max(report.worstRelative, err / Math.max(Math.abs(a), Math.abs(num), scale, 1e-300));
        if (!(err <= allowed)) {
          report.ok = false;
          if (report.mismatches.length < 8) report.mismatches.push(`${name}[${j}]: analytic ${a} vs numeric ${num} (|error| ${err.toExponential(2)} > ${allowed.toExponential(2)})`);
        }
      });
    }

    // One random unit direction over all gradients at once: catches errors in unsampled elements.
    const dirs: Record<string, Float64Array> = {};
    let norm = 0;
    for (const name of targets) {
      const d = Float64Array.from({ length: feeds[name]!.data.length }, () => rand() * 2 - 1);
      dirs[name] = d;
      for (const v of d) norm += v * v;
    }
    let analytic = 0;
    for (const name of targets) {
      const g = res[gradName(name)]!.data as Float64Array;
      const d = dirs[name]!;
      for (let i = 0; i < g.length; i++) {
        d[i] = d[i]! / Math.sqrt(norm);
        analytic += g[i]! * d[i]!;
      }
    }
    const shifted = (sign: number) => {
      const f = { ...feeds };
      for (const name of targets) {
        const b = feeds[name]!;
        const data = b.data.slice() as Float64Array;
        for (let i = 0; i < data.length; i++) data[i] = data[i]! + sign * step * dirs[name]![i]!;
        f[name] = { ...b, data };
      }
      return f;
    };
    const numeric = ((await loss(shifted(1))) - (await loss(shifted(-1)))) / (2 * step);
    report.directional = { analytic, numeric };
    const dErr = Math.abs(analytic - numeric);
    const dAllowed = atol * 10 + noise + rtol * Math.max(Math.abs(analytic), Math.abs(numeric));
    report.worstRatio = Math.max(report.worstRatio, dErr / dAllowed);
    if (!(dErr <= dAllowed)) {
      report.ok = false;
      report.mismatches.push(`directional derivative: analytic ${analytic} vs numeric ${numeric}`);
    }
    return report;
  } finally {
    await rt.releaseAll();
  }
}

/** Runs gradCheck and fails with the mismatches when a gradient is wrong. */
export async function assertGradients(c: GradCase, label = 'gradients'): Promise<GradReport> {
  const r = await gradCheck(c);
  // QZ_GRADCHECK_LOG=1 prints each check's margin (worst error / allowed error, ≤ 1 passes).
  if (process.env.QZ_GRADCHECK_LOG) process.stderr.write(`${label}: worst relative error ${r.worstRelative.toExponential(2)}, ratio to tolerance ${r.worstRatio.toFixed(4)}\n`);
  if (!r.ok) throw new AssertionError({ message: `${label}: ${r.checked} elements checked, mismatches:\n  ${r.mismatches.join('\n  ')}` });
  return r;
}
