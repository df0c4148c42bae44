// L-BFGS as scipy.optimize.minimize(method="L-BFGS-B") runs it on an unbounded problem, which is
// what scikit-learn's LogisticRegression(solver="lbfgs") calls. Ported from the published algorithm
// (Byrd, Lu, Nocedal & Zhu 1995; Moré & Thuente 1994 line search, MINPACK-2 dcsrch/dcstep):
// - iteration 0 (and after a restart) steps along −g (the generalised Cauchy point with θ = 1), and the
//   first line search starts at stp = 1/‖d‖; later ones start at stp = 1;
// - later directions are −H·g with the last m (s, y) pairs and H0 = I/θ, θ = yᵀy / sᵀy (the compact
//   L-BFGS-B matrix without bounds is this inverse; computed here by the two-loop recursion);
// - a pair is skipped when sᵀy ≤ ε·(−gᵀs); a failed line search restarts from a steepest-descent step;
// - stops when ‖g‖∞ ≤ pgtol, when (f_old − f)/max(|f_old|, |f|, 1) ≤ ftol, or after maxIter iterations
//   (scipy counts one per accepted step and stops as soon as the count reaches maxiter).

export type ObjectiveFn = (x: Float64Array) => Promise<[number, Float64Array]> | [number, Float64Array];

export interface LbfgsOptions {
  /** Correction pairs kept (scipy maxcor, default 10). */
  m?: number;
  /** Iterations (default 15000, scipy's default; sklearn passes max_iter). */
  maxIter?: number;
  /** Function evaluations (default 15000). */
  maxFun?: number;
  /** Evaluations per line search (scipy default 20; sklearn passes 50). */
  maxLs?: number;
  /** Projected-gradient tolerance (scipy gtol, default 1e-5). */
  pgtol?: number;
  /** Relative reduction tolerance (scipy ftol = factr·eps, default 2.220446049250313e-09). */
  ftol?: number;
}

export type LbfgsStatus = 'pgtol' | 'ftol' | 'max-iter' | 'max-fun' | 'abnormal-line-search';

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  g: Float64Array;
  /** Accepted iterations (scipy nit). */
  nit: number;
  /** Function evaluations (scipy nfev). */
  nfev: number;
  status: LbfgsStatus;
  converged: boolean;
}

const EPS = Number.EPSILON;

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]!);
    if (v > m) m = v;
  }
  return m;
}

/** The state dcsrch keeps between calls. */
interface SearchState {
  brackt: boolean;
  stage: 1 | 2;
  ginit: number;
  gtest: number;
  gx: number;
  gy: number;
  finit: number;
  fx: number;
  fy: number;
  stx: number;
  sty: number;
  stmin: number;
  stmax: number;
  width: number;
  width1: number;
}

type SearchTask = 'FG' | 'CONVERGENCE' | 'WARNING' | 'ERROR';

const LS_FTOL = 1e-3;
const LS_GTOL = 0.9;
const LS_XTOL = 0.1;

/** MINPACK-2 dcstep: updates the interval of uncertainty and proposes the next step. */
function dcstep(s: SearchState, stp: number, fp: number, dp: number, stpmin: number, stpmax: number, modified: { fx: number; gx: number; fy: number; gy: number }): number {
  let { stx, sty, brackt } = s;
  let { fx, gx: dx, fy, gy: dy } = modified;
  const sgnd = dp * (dx / Math.abs(dx));
  let stpf: number;
  if (fp > fx) {
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    const sc = Math.max(Math.abs(theta), Math.abs(dx), Math.abs(dp));
    let gamma = sc * Math.sqrt((theta / sc) ** 2 - (dx / sc) * (dp / sc));
    if (stp < stx) gamma = -gamma;
    const p = gamma - dx + theta;
    const q = gamma - dx + gamma + dp;
    const r = p / q;
    const stpc = stx + r * (stp - stx);
    const stpq = stx + (dx / ((fx - fp) / (stp - stx) + dx) / 2) * (stp - stx);
    stpf = Math.abs(stpc - stx) < Math.abs(stpq - stx) ? stpc : stpc + (stpq - stpc) / 2;
    brackt = true;
  } else if (sgnd < 0) {
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    const sc = Math.max(Math.abs(theta), Math.abs(dx), Math.abs(dp));
    let gamma = sc * Math.sqrt((theta / sc) ** 2 - (dx / sc) * (dp / sc));
    if (stp > stx) gamma = -gamma;
    const p = gamma - dp + theta;
    const q = gamma - dp + gamma + dx;
    const r = p / q;
    const stpc = stp + r * (stx - stp);
    const stpq = stp + (dp / (dp - dx)) * (stx - stp);
    stpf = Math.abs(stpc - stp) > Math.abs(stpq - stp) ? stpc : stpq;
    brackt = true;
  } else if (Math.abs(dp) < Math.abs(dx)) {
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    const sc = Math.max(Math.abs(theta), Math.abs(dx), Math.abs(dp));
    let gamma = sc * Math.sqrt(Math.max(0, (theta / sc) ** 2 - (dx / sc) * (dp / sc)));
    if (stp > stx) gamma = -gamma;
    const p = gamma - dp + theta;
    const q = gamma + (dx - dp) + gamma;
    const r = p / q;
    let stpc: number;
    if (r < 0 && gamma !== 0) stpc = stp + r * (stx - stp);
    else if (stp > stx) stpc = stpmax;
    else stpc = stpmin;
    const stpq = stp + (dp / (dp - dx)) * (stx - stp);
    if (brackt) {
      stpf = Math.abs(stpc - stp) < Math.abs(stpq - stp) ? stpc : stpq;
      stpf = stp > stx ? Math.min(stp + 0.66 * (sty - stp), stpf) : Math.max(stp + 0.66 * (sty - stp), stpf);
    } else {
      stpf = Math.abs(stpc - stp) > Math.abs(stpq - stp) ? stpc : stpq;
      stpf = Math.min(stpmax, stpf);
      stpf = Math.max(stpmin, stpf);
    }
  } else {
    if (brackt) {
      const theta = (3 * (fp - fy)) / (sty - stp) + dy + dp;
      const sc = Math.max(Math.abs(theta), Math.abs(dy), Math.abs(dp));
      let gamma = sc * Math.sqrt((theta / sc) ** 2 - (dy / sc) * (dp / sc));
      if (stp > sty) gamma = -gamma;
      const p = gamma - dp + theta;
      const q = gamma - dp + gamma + dy;
      const r = p / q;
      stpf = stp + r * (sty - stp);
    } else if (stp > stx) stpf = stpmax;
    else stpf = stpmin;
  }
  if (fp > fx) {
    sty = stp;
    fy = fp;
    dy = dp;
  } else {
    if (sgnd < 0) {
      sty = stx;
      fy = fx;
      dy = dx;
    }
    stx = stp;
    fx = fp;
    dx = dp;
  }
  s.stx = stx;
  s.sty = sty;
  s.brackt = brackt;
  modified.fx = fx;
  modified.gx = dx;
  modified.fy = fy;
  modified.gy = dy;
  return stpf;
}

/** Moré–Thuente line search (MINPACK-2 dcsrch), called once per trial point. */
class LineSearch {
  private s!: SearchState;
  constructor(
    private readonly stpmin: number,
    private readonly stpmax: number,
  ) {}

  start(f: number, g: number, stp: number): SearchTask {
    if (stp < this.stpmin || stp > this.stpmax || g >= 0) return 'ERROR';
    this.s = {
      brackt: false,
      stage: 1,
      finit: f,
      ginit: g,
      gtest: LS_FTOL * g,
      width: this.stpmax - this.stpmin,
      width1: (this.stpmax - this.stpmin) / 0.5,
      stx: 0,
      fx: f,
      gx: g,
      sty: 0,
      fy: f,
      gy: g,
      stmin: 0,
      stmax: stp + 4 * stp,
    };
    return 'FG';
  }

  /** Given f and g(= f′ along d) at stp, returns the task and the next step. */
  step(f: number, g: number, stp: number): { task: SearchTask; stp: number } {
    const s = this.s;
    const ftest = s.finit + stp * s.gtest;
    if (s.stage === 1 && f <= ftest && g >= 0) s.stage = 2;
    let task: SearchTask = 'FG';
    if (s.brackt && (stp <= s.stmin || stp >= s.stmax)) task = 'WARNING';
    if (s.brackt && s.stmax - s.stmin <= LS_XTOL * s.stmax) task = 'WARNING';
    if (stp === this.stpmax && f <= ftest && g <= s.gtest) task = 'WARNING';
    if (stp === this.stpmin && (f > ftest || g >= s.gtest)) task = 'WARNING';
    if (f <= ftest && Math.abs(g) <= LS_GTOL * -s.ginit) task = 'CONVERGENCE';
    if (task !== 'FG') return { task, stp };

    let next: number;
    if (s.stage === 1 && f <= s.fx && f > ftest) {
      const mod = { fx: s.fx - s.stx * s.gtest, gx: s.gx - s.gtest, fy: s.fy - s.sty * s.gtest, gy: s.gy - s.gtest };
      next = dcstep(s, stp, f - stp * s.gtest, g - s.gtest, s.stmin, s.stmax, mod);
      s.fx = mod.fx + s.stx * s.gtest;
      s.fy = mod.fy + s.sty * s.gtest;
      s.gx = mod.gx + s.gtest;
      s.gy = mod.gy + s.gtest;
    } else {
      const mod = { fx: s.fx, gx: s.gx, fy: s.fy, gy: s.gy };
      next = dcstep(s, stp, f, g, s.stmin, s.stmax, mod);
      s.fx = mod.fx;
      s.gx = mod.gx;
      s.fy = mod.fy;
      s.gy = mod.gy;
    }
    if (s.brackt) {
      if (Math.abs(s.sty - s.stx) >= 0.66 * s.width1) next = s.stx + 0.5 * (s.sty - s.stx);
      s.width1 = s.width;
      s.width = Math.abs(s.sty - s.stx);
    }
    if (s.brackt) {
      s.stmin = Math.min(s.stx, s.sty);
      s.stmax = Math.max(s.stx, s.sty);
    } else {
      s.stmin = next + 1.1 * (next - s.stx);
      s.stmax = next + 4 * (next - s.stx);
    }
    next = Math.max(next, this.stpmin);
    next = Math.min(next, this.stpmax);
    if ((s.brackt && (next <= s.stmin || next >= s.stmax)) || (s.brackt && s.stmax - s.stmin <= LS_XTOL * s.stmax)) next = s.stx;
    return { task: 'FG', stp: next };
  }
}

/** Minimises f from x0. `fg` returns f(x) and ∇f(x) (it may keep x; a fresh array is passed each call). */
export async function lbfgsb(fg: ObjectiveFn, x0: Float64Array, opts: LbfgsOptions = {}): Promise<LbfgsResult> {
  const m = opts.m ?? 10;
  const maxIter = opts.maxIter ?? 15000;
  const maxFun = opts.maxFun ?? 15000;
  const maxLs = opts.maxLs ?? 20;
  const pgtol = opts.pgtol ?? 1e-5;
  const ftol = opts.ftol ?? 1e7 * EPS;
  const n = x0.length;

  let x = Float64Array.from(x0);
  let [f, g] = await fg(Float64Array.from(x));
  let nfev = 1;
  const done = (status: LbfgsStatus): LbfgsResult => ({ x, f, g, nit, nfev, status, converged: status === 'pgtol' || status === 'ftol' });
  let nit = 0;
  let iter = 0; // L-BFGS-B's own counter (0 only before the first accepted step)
  if (maxAbs(g) <= pgtol) return done('pgtol');

  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  let theta = 1;

  for (;;) {
    // Search direction d = z − x.
    const z = new Float64Array(n);
    if (S.length === 0) {
      // Generalised Cauchy point without bounds: x − g/θ (θ = 1 here).
      let f1 = 0;
      for (let i = 0; i < n; i++) f1 -= g[i]! * g[i]!;
      const f2 = -theta * f1;
      let dtm = -f1 / f2;
      if (!(dtm > 0)) dtm = 0;
      for (let i = 0; i < n; i++) z[i] = x[i]! + dtm * -g[i]!;
    } else {
      const q = Float64Array.from(g);
      const alpha = new Float64Array(S.length);
      for (let j = S.length - 1; j >= 0; j--) {
        alpha[j] = rho[j]! * dot(S[j]!, q);
        const yj = Y[j]!;
        for (let i = 0; i < n; i++) q[i] = q[i]! - alpha[j]! * yj[i]!;
      }
      for (let i = 0; i < n; i++) q[i] = q[i]! / theta;
      for (let j = 0; j < S.length; j++) {
        const beta = rho[j]! * dot(Y[j]!, q);
        const sj = S[j]!;
        for (let i = 0; i < n; i++) q[i] = q[i]! + sj[i]! * (alpha[j]! - beta);
      }
      for (let i = 0; i < n; i++) z[i] = x[i]! - q[i]!;
    }
    const d = new Float64Array(n);
    for (let i = 0; i < n; i++) d[i] = z[i]! - x[i]!;

    // Line search (lnsrlb).
    const dtd = dot(d, d);
    const dnorm = Math.sqrt(dtd);
    const stpmx = 1e10;
    let stp = iter === 0 ? Math.min(1 / dnorm, stpmx) : 1;
    const t = x;
    const r = g;
    const fold = f;
    const gdold = dot(g, d);
    let gd = gdold;
    let failed = gdold >= 0; // not a descent direction
    const ls = new LineSearch(0, stpmx);
    let ifun = 0;
    if (!failed) {
      let task = ls.start(f, gd, stp);
      while (task === 'FG') {
        ifun++;
        if (ifun - 1 >= maxLs) {
          failed = true;
          break;
        }
        const xt = new Float64Array(n);
        if (stp === 1) xt.set(z);
        else for (let i = 0; i < n; i++) xt[i] = stp * d[i]! + t[i]!;
        [f, g] = await fg(Float64Array.from(xt));
        x = xt;
        nfev++;
        gd = dot(g, d);
        const res = ls.step(f, gd, stp);
        task = res.task;
        stp = res.stp;
        if (task === 'FG' && nfev >= maxFun) {
          // scipy postpones the maxfun stop to the end of the iteration; stopping here keeps the best point.
          break;
        }
      }
      if (task === 'ERROR') failed = true;
      if (task === 'FG' && !failed) return done('max-fun');
    }
    if (failed) {
      x = t;
      g = r;
      f = fold;
      if (S.length === 0) return done('abnormal-line-search');
      S.length = 0;
      Y.length = 0;
      rho.length = 0;
      theta = 1;
      continue;
    }

    iter++;
    nit++;
    if (nit >= maxIter) return done('max-iter');
    if (maxAbs(g) <= pgtol) return done('pgtol');
    if (fold - f <= ftol * Math.max(Math.abs(fold), Math.abs(f), 1)) return done('ftol');
    if (nfev >= maxFun) return done('max-fun');

    // Correction pair.
    const yv = new Float64Array(n);
    for (let i = 0; i < n; i++) yv[i] = g[i]! - r[i]!;
    const rr = dot(yv, yv);
    let dr: number;
    let ddum: number;
    const sv = d;
    if (stp === 1) {
      dr = gd - gdold;
      ddum = -gdold;
    } else {
      dr = (gd - gdold) * stp;
      for (let i = 0; i < n; i++) sv[i] = stp * sv[i]!;
      ddum = -gdold * stp;
    }
    if (dr <= EPS * ddum) continue; // skip the update
    if (S.length === m) {
      S.shift();
      Y.shift();
      rho.shift();
    }
    S.push(sv);
    Y.push(yv);
    rho.push(1 / dr);
    theta = rr / dr;
  }
}
