// Loads a model folder for serving: the Embedder through the model runtime's loadEmbedder (shared API 3,
// imported lazily so that `--synthetic` and the server's own code do not load ONNX Runtime), in a worker
// thread (default for `qzhou serve`) or on the calling thread, plus the metadata the server reads itself.
import type { EmbedderOptions } from '../model/index.js';
import { readModelMetadata, type ModelMetadata } from './model-metadata.js';
import type { ServedModel } from './served-model.js';
import { WorkerModel, type WorkerModelOptions } from './worker-model.js';

/** The model loader options `qzhou serve` passes on (a subset of src/model's EmbedderOptions). */
export type ServeModelOptions = Pick<EmbedderOptions, 'device' | 'dtype' | 'maxLength' | 'batchTokens' | 'pooling' | 'attention' | 'threads' | 'cacheDir'>;

export interface LoadedModel {
  embedder: ServedModel;
  metadata: ModelMetadata;
}

export interface LoadForServingOptions {
  /** Host the model in a worker thread (default true); see worker-model.ts for why. */
  worker?: boolean;
  /** With a worker: called if it dies while serving. */
  onWorkerExit?: WorkerModelOptions['onExit'];
}

export async function loadModelForServing(dir: string, options: ServeModelOptions = {}, how: LoadForServingOptions = {}): Promise<LoadedModel> {
  const metadata = await readModelMetadata(dir);
  if (how.worker ?? true) {
    const embedder = await WorkerModel.start({ kind: 'checkpoint', dir, options }, { onExit: how.onWorkerExit });
    return { embedder, metadata };
  }
  const { loadEmbedder } = await import('../model/index.js');
  return { embedder: await loadEmbedder(dir, options), metadata };
}
