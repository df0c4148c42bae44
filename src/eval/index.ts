// MTEB-compatible evaluation: the public API of src/eval.
export { evaluate, defaultCacheDir, type EvaluationOptions, type EvaluationReport, type EvalModel, type EvalModelFactory, type FitContext, type TaskOutcome } from './run.js';
export { exactTopK, StreamingTopK, type ExactTopKOptions, type TopKResult } from './search.js';
export { listTasks, getTask, findTask, instructionFor, TASK_TYPES, type TaskMetadata, type TaskType, type TextSide } from './tasks.js';
export { getBenchmark, benchmarkTasks, BENCHMARK_NAMES, type Benchmark, type BenchmarkTask, type CmnConvention } from './benchmarks.js';
export { summarizeBenchmark, taskScore, bordaRanks, type BenchmarkSummary, type TaskScore } from './aggregate.js';
export {
  taskResult,
  writeTaskResult,
  readTaskResult,
  readResultsFolder,
  mergeTaskResults,
  resultsFolder,
  pythonJson,
  parsePythonJson,
  roundScores,
  MTEB_SEMANTICS_VERSION,
  type TaskResultJson,
} from './results.js';
export { formatTaskTable, formatBenchmarkSummary, type TaskRow } from './table.js';
export { EmbeddingCache } from './cache.js';
export { ResultIdentityError, readIdentities, describeIdentity, type ModelIdentity, type TaskIdentity } from './identity.js';
export { TaskEncoder, type TextEncoder } from './encoder.js';
export { locateTask, loadTaskFolder, TaskDataError, type TaskFolderConfig, type TaskSource } from './datasets.js';
export { OpenAIEmbedder, RemoteEmbeddingError, type OpenAIEmbedderOptions } from './openai-embedder.js';
export { TfidfEmbedder, type TfidfOptions } from './tfidf-embedder.js';
export { streamProgress, silentProgress, type Progress } from './progress.js';
// Evaluators and the metric building blocks, for callers with their own embeddings.
export { evaluateRetrieval, type RetrievalData } from './evaluators/retrieval.js';
export { evaluateReranking, type RerankingSample } from './evaluators/reranking.js';
export { evaluateSts, type StsData } from './evaluators/sts.js';
export { evaluatePairClassification, type PairData } from './evaluators/pair-classification.js';
export { evaluateClassification, undersamplingPlan, type LabelledTexts } from './evaluators/classification.js';
export { evaluateFastClustering, evaluateLegacyClustering, type FastClusteringData, type ClusterSet } from './evaluators/clustering.js';
export { evaluateSummarization, type SummarizationDoc } from './evaluators/summarization.js';
export { retrievalScores, queryMetrics, nAUC, K_VALUES, type Qrels, type QueryRun } from './trec.js';
export { averagePrecision, accuracyScore, f1Score, vMeasure } from './sklearn-metrics.js';
export { LogisticRegression } from './logistic-regression.js';
export { miniBatchKMeans } from './kmeans.js';
export { lbfgsb } from './lbfgs.js';
export { NumpyRandomState, PythonRandom, MT19937 } from './rng.js';
export { pythonRound, pearson, spearman } from './numeric.js';
