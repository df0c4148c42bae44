// Public API of the embedding server (`qzhou serve`).
export { createEmbeddingServer, type EmbeddingServer, type EmbeddingServerOptions, type ListenOptions } from './server.js';
export { DynamicBatcher, type BatchInput, type BatchStats, type BatcherOptions, type JobResult, type SubmitOptions } from './batcher.js';
export { ServeError, openAIErrorBody, teiErrorBody, type ServeErrorKind, type OpenAIErrorBody, type TeiErrorBody, type TeiErrorType } from './errors.js';
export { MetricsRegistry, Counter, Gauge, Histogram, exponentialBuckets, PROMETHEUS_CONTENT_TYPE } from './metrics.js';
export { readModelMetadata, type ModelMetadata } from './model-metadata.js';
export { loadModelForServing, type LoadedModel, type LoadForServingOptions, type ServeModelOptions } from './load-model.js';
export { WorkerModel, type WorkerModelOptions, type WorkerModelSource } from './worker-model.js';
export { plainRequest, type ServedModel } from './served-model.js';
export { resolvePrompt, type PromptCatalog, type PromptFields, type ResolvedPrompt } from './prompts.js';
export { parseInputs, prepareInputs, truncateLeft, searchLeftCut, type RawInput, type TruncationDirection } from './inputs.js';
export { truncateDimensions, float32ToBase64, base64ToFloat32, float32ToJson } from './vectors.js';
export { SyntheticEmbedder, type SyntheticEmbedderOptions, type SyntheticCall } from './synthetic-embedder.js';
export { ApiKeyCheck } from './auth.js';
