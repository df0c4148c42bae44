// The qzhou package: every area's public API as a namespace (`import { model, evaluation } from 'qzhou'`),
// plus the entry points most programs start from as plain names. Areas export some names in common
// (e.g. Rng, DataError), so each keeps its own namespace instead of one flat list.
export * as graph from './graph/index.js';
export * as model from './model/index.js';
export * as data from './data/index.js';
export * as synth from './synth/index.js';
export * as train from './train/index.js';
export * as evaluation from './eval/index.js';
export * as serve from './serve/index.js';
export * as pipeline from './pipeline/index.js';
export * as report from './report/index.js';

// Run a checkpoint.
export { Embedder, loadEmbedder, loadTokenizer, type EmbedderOptions, type EmbedRequest, type TextKind } from './model/index.js';
// Data.
export { readRecords, transformFiles, inspectFiles, RecordStore, GroupedBatchSampler } from './data/index.js';
// Synthesis and mining.
export { synthesize, mineHardNegatives, mineFile, HashingEmbedder } from './synth/index.js';
// Training.
export { runTraining, loadTrainConfig } from './train/index.js';
// Evaluation.
export { evaluate, TfidfEmbedder, OpenAIEmbedder, exactTopK } from './eval/index.js';
// Serving.
export { createEmbeddingServer } from './serve/index.js';
// The whole recipe, and its report.
export { loadPipelineConfig, runPipeline, planPipeline } from './pipeline/index.js';
export { writeReport } from './report/index.js';
