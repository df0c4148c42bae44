// Public API of the synthesis and mining area (`qzhou synth`, `qzhou mine`).
export { synthesize, planSynthesis, synthPaths, DEFAULT_N } from './synthesize.js';
export type { SynthesizeOptions, SynthesisSummary, SynthesisPlan, SynthProgress, ItemCounts } from './synthesize.js';
export { LlmClient, LlmError, costOf, emptyStats } from './llm-client.js';
export type { ChatMessage, ChatParams, ChatRequest, ChatAnswer, LlmClientOptions, ClientStats, Pricing, RetryCause } from './llm-client.js';
export { ResponseCache, requestKey, readCacheKeys } from './response-cache.js';
export type { CachedAnswer } from './response-cache.js';
export { TokenBucket, Semaphore, systemClock } from './rate-limiter.js';
export type { Clock } from './rate-limiter.js';
export { backoffDelay, parseRetryAfter } from '../util/backoff.js';
export { estimateTokens, estimateChatTokens } from './token-estimate.js';
export { createGenerator, GENERATOR_NAMES, NEGATIVE_KINDS } from './generators/index.js';
export type { Generator, GeneratorEnv, GeneratorName, ItemPlan, Candidate, AcceptedCandidate } from './generators/index.js';
export {
  DEFAULT_CONSTRAINTS, REJECTION_REASONS, charLength, tokenLength, normalizeForCompare, describeOriginal,
  checkDifferent, checkLanguage, checkLength, checkNotEmpty, lengthBounds, tooClose,
} from './constraints.js';
export type { SynthConstraints, Rejection, RejectionReason, LengthMeasure, LengthUnit, OriginalText } from './constraints.js';
export { tokenizerLength } from './tokenizer-length.js';
export { levenshtein, editDifference, codePointLength } from './edit-distance.js';
export { detectLanguage, sameLanguage, languageName } from './language-id.js';
export type { LanguageCode } from './language-id.js';
export { splitSentences, isParagraph } from './sentences.js';
export { parseJsonAnswer } from './json-answer.js';
export { validateJson } from './json-schema.js';
export type { JsonSchema } from './json-schema.js';
export { loadTemplate, renderTemplate, defaultPromptsDir, packageRoot } from './prompts.js';
export type { PromptTemplate } from './prompts.js';
export { parseRecord, sourceIdOf } from './records.js';
export type { CanonicalRecord, RetrievalRecord, PairRecord, ClsRecord, RecordType, Provenance } from './records.js';
export { readRows, countRows } from './record-reader.js';
export { AppendLog, repairTornTail, readLines } from './append-log.js';
export { loadResumeState } from './synth-journal.js';
export type { JournalEntry, ItemStatus, ItemUsage, ResumeState } from './synth-journal.js';
export { mineHardNegatives, mineFile, embedCorpus, NegativeMiner, emptyMineStats } from './mine.js';
export type { MineOptions, MineFileOptions, MineSummary, MineStats, MineProgress, MiningInfo, DropReason } from './mine.js';
export { CorpusIndex, readCorpus, matchKey } from './corpus.js';
export type { CorpusDoc } from './corpus.js';
export { HashingEmbedder, lexicalFeatures } from './hashing-embedder.js';
export { EmbeddingFile } from './embedding-store.js';
