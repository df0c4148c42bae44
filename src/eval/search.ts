// Exact dense top-k search (shared API 4): retrieval evaluation and hard-negative mining use it.
// Scores are dot products computed by ONNX Runtime in one graph per block — Gemm(Q, Dᵀ) then TopK —
// so only k scores and indices per query come back to JS. Documents are processed in chunks (bounded
// memory for large corpora) and queries in blocks; per-chunk results are merged per query.
// Order: score descending, ties → lower document index first (ONNX TopK's rule, kept by the merge).
import { Graph, Runtime, hostTensor, type GraphSession } from '../graph/index.js';
import { normalizeTorch, normalizeTorchInto } from './paired.js';

export interface TopKResult {
  /** Document indices, best first. */
  indices: Int32Array;
  /** Their scores (float32 dot products). */
  scores: Float32Array;
}

export interface ExactTopKOptions {
  /** Queries per graph run (default: as many as keep the score block ≤ 128 MiB, at most 256). */
  blockSize?: number;
  /** Documents per chunk (default: as many as fit in 256 MiB of float32, at most the corpus). */
  docChunkSize?: number;
  /** Called after each block: (query×document pairs scored in the current call, total in the call). */
  onProgress?: (done: number, total: number) => void;
  /** L2-normalise both sides first (float32, eps 1e-12), i.e. rank by cosine. Default false. */
  normalize?: boolean;
  /** ORT intra-op threads (default: the shared CPU runtime's, all cores). */
  threads?: number;
  signal?: AbortSignal;
}

const sessions = new Map<string, Promise<GraphSession>>();

/**
 * One graph per (dim, k): Gemm(q, dᵀ) → TopK(k) → int32 indices, plus `nonFinite`, the sum of the first
 * query's scores times 0: NaN exactly when some score of that (finite) query is not finite, which any
 * document holding NaN or ±Infinity causes (0 · ∞ is NaN too). It replaces a JS pass over the documents.
 */
function topKSession(dim: number, k: number, threads?: number): Promise<GraphSession> {
  const key = `${dim}:${k}:${threads ?? ''}`;
  let s = sessions.get(key);
  if (!s) {
    const g = new Graph('exact-topk');
    const q = g.input('q', 'f32', ['queries', dim]);
    const d = g.input('d', 'f32', ['docs', dim]);
    const scores = g.op1('Gemm', [q, d], { transB: 1 });
    const [values, indices] = g.op('TopK', [scores, g.constI64([k])], { axis: 1, largest: 1, sorted: 1 }, 2);
    g.output(values!, 'scores');
    g.output(indices!.cast('i32'), 'indices');
    g.output(scores.slice([0], [1], [0]).mul(0).reduceSum(undefined, false), 'nonFinite');
    s = Runtime.get('cpu').session(g, threads ? { threads } : {});
    sessions.set(key, s);
    s.catch(() => sessions.delete(key));
  }
  return s;
}

/** True when every value is finite: a 4-way sum stays finite unless some value is NaN or ±Infinity (or it overflows). */
function allFinite(a: Float32Array): boolean {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n = a.length - (a.length & 3);
  for (let i = 0; i < n; i += 4) {
    s0 += a[i]!;
    s1 += a[i + 1]!;
    s2 += a[i + 2]!;
    s3 += a[i + 3]!;
  }
  for (let i = n; i < a.length; i++) s0 += a[i]!;
  return Number.isFinite(s0 + s1 + s2 + s3);
}

function checkVectors(vs: readonly Float32Array[], dim: number, what: string, offset = 0): void {
  for (let i = 0; i < vs.length; i++) {
    const v = vs[i]!;
    if (v.length !== dim) throw new Error(`exactTopK: ${what} ${offset + i} has ${v.length} dimensions, expected ${dim}`);
  }
}

/** Names the first non-finite value of a vector (none is named when only a sum overflowed). */
function checkFinite(v: Float32Array, what: string, index: number): void {
  for (let i = 0; i < v.length; i++) {
    // x − x is NaN exactly for NaN and ±Infinity.
    if (v[i]! - v[i]! !== 0) throw new Error(`exactTopK: ${what} ${index} has a non-finite value at dimension ${i} (${v[i]})`);
  }
}

/** When vectors [start, start+n) are consecutive views of one buffer (e.g. rows of one matrix), that block without copying. */
function contiguousView(vs: readonly Float32Array[], start: number, n: number, dim: number): Float32Array | undefined {
  const first = vs[start]!;
  for (let i = 1; i < n; i++) {
    const v = vs[start + i]!;
    if (v.buffer !== first.buffer || v.byteOffset !== first.byteOffset + i * dim * 4) return undefined;
  }
  return new Float32Array(first.buffer, first.byteOffset, n * dim);
}

/** Merges two best-first lists; on equal scores the entry from `a` (lower document indices) comes first. */
function mergeTopK(a: TopKResult, bScores: Float32Array, bIdx: Int32Array, k: number): TopKResult {
  const n = Math.min(k, a.scores.length + bScores.length);
  const scores = new Float32Array(n);
  const indices = new Int32Array(n);
  let i = 0;
  let j = 0;
  for (let t = 0; t < n; t++) {
    if (j >= bScores.length || (i < a.scores.length && a.scores[i]! >= bScores[j]!)) {
      scores[t] = a.scores[i]!;
      indices[t] = a.indices[i++]!;
    } else {
      scores[t] = bScores[j]!;
      indices[t] = bIdx[j++]!;
    }
  }
  return { scores, indices };
}

/**
 * Top-k over documents that arrive in chunks (bounded memory: only the current chunk and k results
 * per query are held). Document indices continue across chunks in arrival order.
 */
export class StreamingTopK {
  private readonly results: (TopKResult | undefined)[];
  private readonly q: readonly Float32Array[];
  private readonly dim: number;
  private seen = 0;

  constructor(
    queries: readonly Float32Array[],
    readonly k: number,
    private readonly opts: ExactTopKOptions = {},
  ) {
    if (!Number.isInteger(k) || k < 1) throw new Error(`exactTopK: k must be a positive integer, got ${k}`);
    this.dim = queries[0]?.length ?? 0;
    if (queries.length > 0 && this.dim === 0) throw new Error('exactTopK: vectors have no dimensions');
    checkVectors(queries, this.dim, 'query');
    queries.forEach((v, i) => {
      if (!allFinite(v)) checkFinite(v, 'query', i);
    });
    this.q = opts.normalize ? queries.map(normalizeTorch) : queries;
    this.results = new Array(queries.length);
  }

  /** Documents added so far. */
  get documents(): number {
    return this.seen;
  }

  /** Scores one chunk of documents against every query and merges it into the running top-k. */
  async add(docs: readonly Float32Array[]): Promise<void> {
    const nq = this.q.length;
    const dim = this.dim;
    if (nq === 0 || docs.length === 0) {
      this.seen += docs.length;
      return;
    }
    checkVectors(docs, dim, 'document', this.seen);
    const nd = docs.length;
    const chunk = Math.max(1, Math.min(nd, this.opts.docChunkSize ?? Math.max(1024, Math.floor((256 * 2 ** 20) / (4 * dim)))));
    const block = Math.max(1, Math.min(nq, this.opts.blockSize ?? Math.min(256, Math.max(8, Math.floor((128 * 2 ** 20) / (4 * chunk))))));
    const qbuf = new Float32Array(block * dim);
    // Documents go to ORT as one matrix per chunk: rows of one buffer are used in place; otherwise they are
    // copied (normalised on the way when asked) into one buffer reused for every chunk.
    const inPlace = !this.opts.normalize && contiguousView(docs, 0, nd, dim) !== undefined;
    const packed = inPlace ? new Float32Array(0) : new Float32Array(Math.min(chunk, nd) * dim);
    let pairs = 0;
    for (let d0 = 0; d0 < nd; d0 += chunk) {
      const dn = Math.min(chunk, nd - d0);
      let dbuf: Float32Array;
      if (inPlace) dbuf = contiguousView(docs, d0, dn, dim)!;
      else {
        dbuf = packed.subarray(0, dn * dim);
        for (let i = 0; i < dn; i++) {
          const row = dbuf.subarray(i * dim, (i + 1) * dim);
          if (this.opts.normalize) normalizeTorchInto(docs[d0 + i]!, row);
          else row.set(docs[d0 + i]!);
        }
      }
      const kc = Math.min(this.k, dn);
      const session = await topKSession(dim, kc, this.opts.threads);
      const dTensor = hostTensor('f32', dbuf, [dn, dim]);
      const offset = this.seen + d0;
      for (let q0 = 0; q0 < nq; q0 += block) {
        this.opts.signal?.throwIfAborted();
        const qn = Math.min(block, nq - q0);
        const qview = qbuf.subarray(0, qn * dim);
        for (let i = 0; i < qn; i++) qview.set(this.q[q0 + i]!, i * dim);
        const out = await session.run({ q: hostTensor('f32', qview, [qn, dim]), d: dTensor });
        // Checked once per chunk, on its first query block; a flag raised only by overflow names nothing.
        if (q0 === 0 && Number.isNaN((out.nonFinite!.data as Float32Array)[0])) {
          for (let i = 0; i < dn; i++) checkFinite(docs[d0 + i]!, 'document', offset + i);
        }
        const vals = out.scores!.data as Float32Array;
        const idx = out.indices!.data as Int32Array;
        for (let i = 0; i < qn; i++) {
          const sc = vals.slice(i * kc, (i + 1) * kc);
          const ix = idx.slice(i * kc, (i + 1) * kc);
          if (offset > 0) for (let t = 0; t < kc; t++) ix[t] = ix[t]! + offset;
          const prev = this.results[q0 + i];
          this.results[q0 + i] = prev ? mergeTopK(prev, sc, ix, this.k) : { scores: sc, indices: ix };
        }
        pairs += qn * dn;
        this.opts.onProgress?.(pairs, nq * nd);
      }
    }
    this.seen += nd;
  }

  /** The current best documents per query. */
  finish(): TopKResult[] {
    return this.results.map((r) => r ?? { indices: new Int32Array(0), scores: new Float32Array(0) });
  }
}

/**
 * The k best documents for every query by dot product (cosine with `normalize`). Returns one result
 * per query with min(k, documents) entries.
 */
export async function exactTopK(queries: readonly Float32Array[], docs: readonly Float32Array[], k: number, opts: ExactTopKOptions = {}): Promise<TopKResult[]> {
  const acc = new StreamingTopK(queries, k, opts);
  await acc.add(docs);
  return acc.finish();
}
