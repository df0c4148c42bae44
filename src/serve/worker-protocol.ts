// Messages between WorkerModel (main thread) and model-worker.ts (the worker thread hosting the model).
import type { EmbedRequest } from '../model/embedder.js';
import type { ServeModelOptions } from './load-model.js';
import type { SyntheticEmbedderOptions } from './synthetic-embedder.js';

/** What the worker loads: a checkpoint folder through src/model, or the synthetic test model. */
export type WorkerModelSource =
  | { kind: 'checkpoint'; dir: string; options?: ServeModelOptions }
  | { kind: 'synthetic'; options?: Omit<SyntheticEmbedderOptions, 'costMs'> };

export interface WorkerData {
  /** URL of model-worker.(ts|js). */
  entry: string;
  /** URL of tsx's ESM API, when running from TypeScript sources. */
  tsx?: string;
  source: WorkerModelSource;
}

export type WorkerCall =
  | { op: 'count'; jobs: { texts: string[]; request: EmbedRequest }[] }
  | { op: 'truncateLeft'; prefix: string; text: string; request: EmbedRequest }
  | { op: 'embed'; texts: string[]; request: EmbedRequest }
  | { op: 'embedTokenIds'; ids: number[][] }
  | { op: 'close' };

export type WorkerRequest = WorkerCall & { id: number };

export type WorkerMessage =
  | { type: 'ready'; id: string; dim: number; maxLength: number; tokenIds: boolean }
  | { type: 'failed'; error: string }
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; error: string };
