// Public API of the trainer (src/train): losses, GradCache, AdamW, schedules, configs, checkpoints and
// logs (the core), the ONNX-graph trainable model with LoRA, and the stage runner behind `qzhou train`.
export {
  retrievalInfoNCE,
  classificationInfoNCE,
  cosentLoss,
  multipleNegativesRankingLoss,
  embeddings,
  stackRows,
  type Embeddings,
  type Label,
  type RetrievalLossOptions,
  type ClassificationLossOptions,
  type CosentLossOptions,
  type MnrlOptions,
  type ContrastiveResult,
  type CosentResult,
} from './losses.js';
export { AdamW, DEFAULT_NO_DECAY, hasOptimizerState, globToRegExp, type AdamWOptions, type ResolvedAdamWOptions } from './optimizer.js';
export { GradientBuffers, clipGradNorm, clipFactor, countParameters, validateParameters, type Parameter, type ClipResult } from './parameters.js';
export { makeSchedule, lrMultiplier, validateSchedule, SCHEDULE_KINDS, type ScheduleKind, type ScheduleOptions } from './schedule.js';
export {
  loadTrainConfig,
  parseTrainConfig,
  resolveTrainConfig,
  applyOverrides,
  stagePreset,
  trainingInstruction,
  ConfigError,
  STAGE_PRESET_NAMES,
  type TrainConfig,
  type StageConfig,
  type ModelSpec,
  type DataSource,
  type LoraConfig,
  type EvalSchedule,
  type ConfigIssue,
  type PresetName,
  type StagePresetName,
  type InstructionSides,
} from './config.js';
export {
  accumulateBatchGradients,
  GradCacheTrainer,
  FAMILIES,
  type Family,
  type TrainableEncoder,
  type EncodeContext,
  type TrainBatch,
  type RetrievalBatch,
  type PairBatch,
  type ClsBatch,
  type LossSettings,
  type BatchGradientOptions,
  type BatchGradientResult,
  type GradCacheTrainerOptions,
  type StepResult,
} from './gradcache.js';
export { toTrainBatch, type ToTrainBatchOptions } from './batches.js';
export { StaticEmbeddingEncoder, type StaticEncoderConfig } from './static-encoder.js';
export {
  MetricsLog,
  readMetrics,
  TrainingProgress,
  formatDuration,
  formatCount,
  formatLr,
  formatStepTime,
  type MetricsLogOptions,
  type TrainingProgressOptions,
  type StepReport,
  type ProgressSnapshot,
  type ProgressStream,
} from './metrics-log.js';
export {
  saveCheckpoint,
  latestCheckpoint,
  listStageCheckpoints,
  readTrainerState,
  removeStaleCheckpointTemps,
  TRAINER_STATE_FILE,
  type TrainerState,
  type CheckpointInfo,
  type SaveCheckpointOptions,
} from './checkpoint.js';
export { writeTensorFile, readTensorFile, readTensorManifest, type NamedTensor, type TensorManifest, type TensorEntry } from './tensor-file.js';
export { writeFileAtomic, writeFileAtomicSync, writeAtomicWith } from '../util/atomic-file.js';
export { Rng, deriveSeed, mix32 } from './random.js';
export { GraphEncoder, memoryWeights, EMBED_ROWS_INPUT, type GraphEncoderOptions, type TrainingMode, type FullTraining, type LoraTraining } from './graph-encoder.js';
export { LoraAdapters, matchLoraTargets, PEFT_PREFIX, ADAPTER_WEIGHTS, ADAPTER_CONFIG, type LoraModule } from './lora.js';
export { openModelSource, initialWeights, readCheckpointWeights, memoryBase, checkpointBase, modelExtraFiles, type ModelSource, type FrozenBase } from './model-source.js';
export { runTraining, stageHash, type RunTrainingOptions, type RunTrainingResult, type StageSummary } from './runner.js';
export { recordTexts } from './record-texts.js';
