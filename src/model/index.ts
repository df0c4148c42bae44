// The embedding model runtime: Hugging Face checkpoints (Qwen2/Qwen3 decoders, BERT encoders) on the graph
// engine. `loadEmbedder(dir)` / `Embedder.fromPretrained(dir)` is what evaluation, training, mining and serving use.
import type { Embedder as EmbedderInterface } from './embedder.js';
import { CheckpointEmbedder, type EmbedderOptions } from './checkpoint-embedder.js';

export type { EmbedRequest, TextKind } from './embedder.js';
export { CheckpointEmbedder, type EmbedderOptions } from './checkpoint-embedder.js';
export { CheckpointError } from './errors.js';
export {
  type ModelConfig, type DecoderConfig, type EncoderConfig, type AttentionMode, type RopeScaling,
  parseModelConfig, loadModelConfig, decoderAttention, configForSave, SUPPORTED_MODEL_TYPES,
} from './config.js';
export { type SentenceTransformersConfig, type PoolingMode, POOLING_MODES, loadSentenceTransformersConfig } from './sentence-transformers.js';
export { type TextTokenizer, HfTokenizer, loadTokenizer, bertNormalize } from './tokenizer.js';
export {
  type SafetensorsDtype, type TensorEntry, type TensorToWrite, SafetensorsFile, SafetensorsCheckpoint,
  parseSafetensorsHeader, readHeaderLength, writeSafetensors, writeSafetensorsSharded, floatTensor, bytesToFloat32, writeFileAtomic,
} from './safetensors.js';
export { type SaveCheckpointOptions, type SentenceTransformersSave, saveCheckpoint, checkpointTensors } from './save.js';
export {
  type WeightDtype, type WeightRequest, type PreparedWeight, PreparedWeights, WEIGHT_DTYPES, prepareWeights, inputWeights,
  readFloatWeights, quantizeRows, dequantizeRows,
} from './weights.js';
export { buildDecoderGraph, decoderWeightRequests, ropeTables } from './qwen2.js';
export { buildEncoderGraph, encoderWeightRequests } from './bert.js';
export { type EmbeddingGraphOptions, type DenseLayer, type LinearAdapter } from './layers.js';
export { randomWeights, writeRandomCheckpoint, completeRandomConfig, modelWeightRequests, tokenEmbeddingName, initRule, type RandomInitOptions, type WriteRandomCheckpointOptions } from './random-init.js';
export { trainTokenizer, saveTrainedTokenizer, byteLevelAlphabet, type TokenizerKind, type TrainTokenizerOptions, type TrainedTokenizer } from './tokenizer-trainer.js';
export { resolvePrompt, defaultEmptyText, type PromptSettings } from './prompts.js';
export * from './instructions.js';

/** Shared API 3: loads an embedding model from a checkpoint folder. */
export async function loadEmbedder(dir: string, options?: EmbedderOptions): Promise<CheckpointEmbedder> {
  return CheckpointEmbedder.load(dir, options);
}

/** The Embedder interface (type) and `Embedder.fromPretrained(dir, options)` (value). */
export type Embedder = EmbedderInterface;
export const Embedder = {
  fromPretrained: loadEmbedder,
} as const;
