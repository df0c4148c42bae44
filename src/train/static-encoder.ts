// A small trainable encoder in pure TypeScript with hand-written gradients: the mean of learned token
// embeddings, a linear projection, and L2 normalisation (a "static embedding" model in the manner of
// model2vec / sentence-transformers' StaticEmbedding, plus a projection). It implements
// TrainableEncoder over token-id inputs, so the GradCache step, the losses and the optimizer can be
// exercised end to end without the ONNX runtime; it is the reference the graph-backed encoder is
// checked against. Arithmetic is float64; outputs are float32.
import type { EncodeContext, TrainableEncoder } from './gradcache.js';
import type { GradientBuffers, Parameter } from './parameters.js';
import { Rng } from './random.js';

export interface StaticEncoderConfig {
  vocabSize: number;
  /** Width of the token embedding table. */
  inputDim: number;
  /** Width of the output embedding. */
  outputDim: number;
  /** Add a bias to the projection. Default true. */
  bias?: boolean;
  /** Initialisation seed. Default 0. */
  seed?: number;
}

const NORM_EPS = 1e-12;

export class StaticEmbeddingEncoder implements TrainableEncoder<readonly number[]> {
  readonly dim: number;
  readonly config: Required<StaticEncoderConfig>;
  /** [vocabSize, inputDim] */
  readonly embedding: Parameter;
  /** [outputDim, inputDim] (Hugging Face Linear layout) */
  readonly projection: Parameter;
  /** [outputDim], present when config.bias */
  readonly bias: Parameter | undefined;

  constructor(config: StaticEncoderConfig) {
    const c: Required<StaticEncoderConfig> = { bias: true, seed: 0, ...config };
    for (const k of ['vocabSize', 'inputDim', 'outputDim'] as const) {
      if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`StaticEmbeddingEncoder: ${k} must be a positive integer, got ${c[k]}`);
    }
    this.config = c;
    this.dim = c.outputDim;
    const rng = new Rng(c.seed);
    this.embedding = { name: 'embedding.weight', shape: [c.vocabSize, c.inputDim], data: new Float32Array(c.vocabSize * c.inputDim) };
    rng.fillNormal(this.embedding.data, 1);
    this.projection = { name: 'projection.weight', shape: [c.outputDim, c.inputDim], data: new Float32Array(c.outputDim * c.inputDim) };
    rng.fillNormal(this.projection.data, 1 / Math.sqrt(c.inputDim));
    this.bias = c.bias ? { name: 'projection.bias', shape: [c.outputDim], data: new Float32Array(c.outputDim) } : undefined;
  }

  /** All trainable parameters. */
  get parameters(): Parameter[] {
    return this.bias ? [this.embedding, this.projection, this.bias] : [this.embedding, this.projection];
  }

  tokenCount(input: readonly number[]): number {
    return input.length;
  }

  async embed(inputs: readonly (readonly number[])[], _ctx?: EncodeContext): Promise<Float32Array> {
    return this.embedSync(inputs);
  }

  /** Forward pass: one L2-normalised row per input. */
  embedSync(inputs: readonly (readonly number[])[]): Float32Array {
    return Float32Array.from(this.embed64(inputs));
  }

  /** The forward pass without rounding the outputs to float32 (for gradient checks). */
  embed64(inputs: readonly (readonly number[])[]): Float64Array {
    const out = new Float64Array(inputs.length * this.dim);
    inputs.forEach((ids, r) => {
      const { yHat } = this.forwardOne(ids, r);
      out.set(yHat, r * this.dim);
    });
    return out;
  }

  async backward(inputs: readonly (readonly number[])[], dE: Float32Array, grads: GradientBuffers, _ctx?: EncodeContext): Promise<void> {
    const { inputDim: din, outputDim: dout } = this.config;
    if (dE.length !== inputs.length * dout) throw new Error(`StaticEmbeddingEncoder.backward: dE has ${dE.length} values for ${inputs.length} inputs × ${dout}`);
    const gEmb = grads.get(this.embedding.name);
    const gW = grads.get(this.projection.name);
    const gB = this.bias ? grads.get(this.bias.name) : undefined;
    const W = this.projection.data;
    const dy = new Float64Array(dout);
    const dh = new Float64Array(din);
    inputs.forEach((ids, r) => {
      const { h, yHat, norm } = this.forwardOne(ids, r);
      // Through the normalisation: dy = (g − ŷ(ŷ·g)) / ‖y‖ (g / eps when the norm was clamped).
      let proj = 0;
      for (let o = 0; o < dout; o++) proj += yHat[o]! * dE[r * dout + o]!;
      if (norm === NORM_EPS) proj = 0;
      for (let o = 0; o < dout; o++) dy[o] = (dE[r * dout + o]! - yHat[o]! * proj) / norm;
      // Through the projection.
      dh.fill(0);
      for (let o = 0; o < dout; o++) {
        const g = dy[o]!;
        if (gB) gB[o] += g;
        const wo = o * din;
        for (let k = 0; k < din; k++) {
          gW[wo + k] += g * h[k]!;
          dh[k] += W[wo + k]! * g;
        }
      }
      // Through the mean.
      const inv = 1 / ids.length;
      for (const t of ids) {
        const eo = t * din;
        for (let k = 0; k < din; k++) gEmb[eo + k] += dh[k]! * inv;
      }
    });
  }

  private forwardOne(ids: readonly number[], row: number): { h: Float64Array; yHat: Float64Array; norm: number } {
    const { vocabSize, inputDim: din, outputDim: dout } = this.config;
    if (ids.length === 0) throw new Error(`StaticEmbeddingEncoder: input ${row} has no tokens`);
    const E = this.embedding.data;
    const h = new Float64Array(din);
    for (const t of ids) {
      if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw new Error(`StaticEmbeddingEncoder: input ${row}: token id ${t} outside [0, ${vocabSize})`);
      const eo = t * din;
      for (let k = 0; k < din; k++) h[k] += E[eo + k]!;
    }
    for (let k = 0; k < din; k++) h[k] /= ids.length;
    const W = this.projection.data;
    const b = this.bias?.data;
    const y = new Float64Array(dout);
    let ss = 0;
    for (let o = 0; o < dout; o++) {
      let s = b ? b[o]! : 0;
      const wo = o * din;
      for (let k = 0; k < din; k++) s += W[wo + k]! * h[k]!;
      y[o] = s;
      ss += s * s;
    }
    const norm = Math.max(Math.sqrt(ss), NORM_EPS);
    for (let o = 0; o < dout; o++) y[o] /= norm;
    return { h, yHat: y, norm };
  }
}
