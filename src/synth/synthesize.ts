// The synthesis run: stream source records, ask the LLM for each (up to `maxTries` tries per
// item, with the previous rejections fed back), check every candidate in code, and append the
// accepted records with provenance. Crash-safe and resumable: answers are cached as they arrive,
// every finished item is committed as (output lines, journal line), and a rerun of the same command
// skips finished items, so a kill loses at most the requests in flight.
import { existsSync, mkdirSync, renameSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppendLog } from './append-log.js';
import { DEFAULT_CONSTRAINTS, charLength, type LengthMeasure, type Rejection, type RejectionReason, type SynthConstraints } from './constraints.js';
import { acquireLock } from './file-lock.js';
import { createGenerator, type AcceptedCandidate, type Candidate, type Generator, type GeneratorName, type ItemPlan } from './generators/index.js';
import { parseJsonAnswer } from './json-answer.js';
import { validateJson } from './json-schema.js';
import { LlmClient, LlmError, costOf, type ChatAnswer, type ChatMessage, type ChatParams, type ChatRequest, type ClientStats, type LlmClientOptions, type Pricing } from './llm-client.js';
import { renderTemplate } from './prompts.js';
import { countRows, readRows } from './record-reader.js';
import { DataError, parseRecord, sourceIdOf, type CanonicalRecord } from './records.js';
import { ResponseCache, readCacheKeys } from './response-cache.js';
import { emptyUsage, loadResumeState, type ItemStatus, type ItemUsage, type JournalEntry, type JournalTotals } from './synth-journal.js';
import { estimateChatTokens } from './token-estimate.js';
import { writeFileAtomicSync } from '../util/atomic-file.js';
import { assertNotAnInput } from '../util/paths.js';
import { HashSet64 } from '../data/hashset.js';

/** Outputs per source item by default. */
export const DEFAULT_N: Readonly<Record<GeneratorName, number>> = { paraphrase: 2, augment: 2, 'hard-negative': 4 };

export interface SynthesizeOptions {
  generator: GeneratorName;
  /** Source records (JSONL; other formats through src/data). */
  input: string;
  /** Final output JSONL. While running: `<output>.partial`, `<output>.journal.jsonl`, `<output>.lock`. */
  output: string;
  llm: Omit<LlmClientOptions, 'cache'>;
  /** Answer cache file (default `<output>.cache.jsonl`); null turns caching off. */
  cachePath?: string | null;
  pricing?: Pricing;
  /** Outputs per source item (paraphrases, examples or negatives); default DEFAULT_N. */
  n?: number;
  /** LLM calls per item at most (recipe: 20). */
  maxTries?: number;
  /** Sampling parameters (default temperature 0.9). */
  params?: ChatParams;
  /** max_tokens per request: a number, 'auto' (from the expected answer size; default) or null (not sent). */
  maxTokens?: number | 'auto' | null;
  /** Ask for response_format json_object (default true). */
  jsonMode?: boolean;
  constraints?: Partial<SynthConstraints>;
  /** Length unit for the length constraints (default: characters). */
  measure?: LengthMeasure;
  promptsDir?: string;
  /** Synthesise at most this many new items in this run. */
  limit?: number;
  /** Skip invalid input records (journaled as skipped) instead of stopping at the first one. */
  skipInvalid?: boolean;
  /** Stop the run after this many items in a row failed for transient reasons (default 10). */
  maxConsecutiveFailures?: number;
  /** Stops scheduling new items; items in flight finish and are committed. */
  signal?: AbortSignal;
  onProgress?: (p: SynthProgress) => void;
  /** How often onProgress is called and the summary file refreshed (default 2000 ms). */
  progressIntervalMs?: number;
  /** Warnings and notices (default: none). */
  log?: (line: string) => void;
}

export interface ItemCounts {
  ok: number;
  partial: number;
  exhausted: number;
  rejected: number;
  skipped: number;
}

export interface SynthProgress {
  /** Input rows read so far / in the file (null when unknown). */
  rowsRead: number;
  rowsTotal: number | null;
  /** Items finished in this run, by status. */
  items: ItemCounts;
  /** Items finished by earlier runs (skipped now). */
  resumed: number;
  inFlight: number;
  outputs: number;
  client: ClientStats;
  costUsd: number;
  elapsedMs: number;
}

export interface SynthesisSummary {
  generator: GeneratorName;
  model: string;
  prompt_versions: string[];
  input: string;
  output: string;
  /** True when every input item is finished (the output then has its final name). */
  complete: boolean;
  /** Stopped through the abort signal (Ctrl-C); rerun to continue. */
  interrupted: boolean;
  /** Stopped at --limit; the output has its final name, and a rerun with a larger limit continues. */
  limited: boolean;
  /** Items of all runs so far (from the journal). */
  items: ItemCounts & { finished: number };
  /** Input rows skipped in this run because an identical record (same source id) came earlier. */
  duplicate_inputs: number;
  /** Items that failed for transient reasons in this run and will be retried by the next run. */
  unfinished: number;
  outputs: number;
  tries: number;
  /** Rejected answers/candidates by reason, all runs. */
  rejections: Partial<Record<RejectionReason, number>>;
  skip_reasons: Record<string, number>;
  /** Tokens and cost of all runs, from the journal: paid, and served by the cache. */
  tokens: { prompt: number; completion: number; cached_prompt: number; cached_completion: number };
  cost_usd: number;
  saved_by_cache_usd: number;
  this_run: {
    elapsed_s: number;
    requests: number;
    answers: number;
    cached_answers: number;
    prompt_tokens: number;
    completion_tokens: number;
    estimated_usage_answers: number;
    cost_usd: number;
    retries: ClientStats['retries'];
    failures: number;
    dropped_uncommitted_lines: number;
  };
}

interface ItemResult {
  status: Exclude<ItemStatus, 'skipped'>;
  records: CanonicalRecord[];
  tries: number;
  rejections: Record<string, number>;
  usage: ItemUsage;
}

function emptyCounts(): ItemCounts {
  return { ok: 0, partial: 0, exhausted: 0, rejected: 0, skipped: 0 };
}

/** Paths of the files a run keeps next to its output. */
export function synthPaths(output: string, cachePath?: string | null) {
  return {
    partial: `${output}.partial`,
    journal: `${output}.journal.jsonl`,
    summary: `${output}.summary.json`,
    lock: `${output}.lock`,
    cache: cachePath === undefined ? `${output}.cache.jsonl` : cachePath,
  };
}

/** Everything needed to turn (plan, need, feedback, try) into the exact request the run sends. */
class RequestBuilder {
  constructor(
    private readonly generator: GeneratorName,
    private readonly params: ChatParams,
    private readonly maxTokens: number | 'auto' | null,
    private readonly jsonMode: boolean,
  ) {}

  build(plan: ItemPlan, need: number, feedback: string, attempt: number): ChatRequest {
    const messages: ChatMessage[] = renderTemplate(plan.template, plan.variables(need, feedback));
    const expected = plan.expectedOutputTokens(need);
    const maxTokens = this.maxTokens === 'auto' ? Math.min(16384, Math.max(512, Math.ceil(expected * 1.5) + 256)) : this.maxTokens ?? undefined;
    return {
      messages,
      params: {
        ...this.params,
        ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
        ...(this.jsonMode ? { response_format: { type: 'json_object' as const } } : {}),
      },
      tag: { generator: this.generator, prompt: plan.template.id, prompt_hash: plan.template.hash, attempt },
      expectedCompletionTokens: expected,
    };
  }
}

function resolveSettings(opts: SynthesizeOptions) {
  const constraints: SynthConstraints = { ...DEFAULT_CONSTRAINTS, ...opts.constraints };
  const measure = opts.measure ?? charLength;
  const generator = createGenerator(opts.generator, { constraints, measure, promptsDir: opts.promptsDir });
  const n = opts.n ?? DEFAULT_N[opts.generator];
  const maxTries = opts.maxTries ?? 20;
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`n must be a positive integer, got ${n}`);
  if (!(Number.isInteger(maxTries) && maxTries >= 1)) throw new Error(`maxTries must be a positive integer, got ${maxTries}`);
  const builder = new RequestBuilder(opts.generator, { temperature: 0.9, ...opts.params }, opts.maxTokens === undefined ? 'auto' : opts.maxTokens, opts.jsonMode ?? true);
  return { constraints, measure, generator, n, maxTries, builder };
}

/** Turns one answer into accepted candidates and rejections. */
function evaluateAnswer(
  answer: ChatAnswer,
  plan: ItemPlan,
  accepted: AcceptedCandidate[],
  need: number,
  attempt: number,
  globalKeys: HashSet64,
): Rejection[] {
  if (answer.finishReason === 'content_filter') return [{ reason: 'content_filter', message: 'the answer was blocked by the content filter' }];
  const parsed = parseJsonAnswer(answer.content);
  if (!parsed.ok) {
    if (answer.finishReason === 'length') return [{ reason: 'truncated', message: 'the answer was cut off; keep it shorter and answer with the JSON only' }];
    return [{ reason: 'malformed_json', message: `the answer was not valid JSON (${parsed.error}); answer with one JSON object only` }];
  }
  // Accept the documented envelope, and also a bare list or a single bare item.
  let items: unknown;
  const v = parsed.value;
  if (Array.isArray(v)) items = v;
  else if (v && typeof v === 'object' && Array.isArray((v as Record<string, unknown>)[plan.listKey])) items = (v as Record<string, unknown>)[plan.listKey];
  else if (v && typeof v === 'object' && validateJson(plan.coerce ? plan.coerce(v) : v, plan.itemSchema).length === 0) items = [v];
  else return [{ reason: 'schema', message: `the answer must be a JSON object {"${plan.listKey}": [...]}` }];
  const rejections: Rejection[] = [];
  const list = items as unknown[];
  if (list.length === 0) return [{ reason: 'schema', message: `"${plan.listKey}" was empty` }];
  // Items beyond what was asked for are neither checked nor counted.
  const target = accepted.length + need;
  for (const raw of list) {
    if (accepted.length >= target) break;
    const item = plan.coerce ? plan.coerce(raw) : raw;
    const errors = validateJson(item, plan.itemSchema, `$.${plan.listKey}[]`);
    if (errors.length > 0) {
      rejections.push({ reason: 'schema', message: `an item did not match the format: ${errors.slice(0, 3).join('; ')}` });
      continue;
    }
    const candidate = item as Candidate;
    const rej = plan.check(candidate, accepted);
    if (rej) {
      rejections.push(rej);
      continue;
    }
    const keys = plan.globalKeys(candidate);
    if (keys.some((k) => globalKeys.hasString(k))) {
      rejections.push({ reason: 'duplicate', message: 'an item repeats an output that already exists; write something new' });
      continue;
    }
    for (const k of keys) globalKeys.addString(k);
    accepted.push({ candidate, attempt });
  }
  return rejections;
}

function feedbackText(rejections: readonly Rejection[], acceptedNow: number): string {
  if (rejections.length === 0) return '';
  const messages = [...new Set(rejections.map((r) => r.message))].slice(0, 6);
  const head = acceptedNow > 0
    ? `Your previous answer was only partly usable (${acceptedNow} accepted). Problems with the rest:`
    : 'Your previous answer could not be used:';
  return `${head}\n${messages.map((m) => `- ${m}`).join('\n')}\nAvoid these problems this time.`;
}

async function runItem(
  plan: ItemPlan,
  sourceId: string,
  source: CanonicalRecord,
  client: LlmClient,
  builder: RequestBuilder,
  n: number,
  maxTries: number,
  globalKeys: HashSet64,
): Promise<ItemResult> {
  const accepted: AcceptedCandidate[] = [];
  const rejections: Record<string, number> = {};
  const usage = emptyUsage();
  let feedback = '';
  let tries = 0;
  let refused = false;
  while (accepted.length < n && tries < maxTries) {
    tries++;
    const need = n - accepted.length;
    const request = builder.build(plan, need, feedback, tries);
    let answer: ChatAnswer;
    try {
      answer = await client.complete(request);
    } catch (e) {
      if (e instanceof LlmError && !e.retryable && !e.fatal) {
        rejections.request_rejected = (rejections.request_rejected ?? 0) + 1;
        refused = true;
        break;
      }
      throw e;
    }
    if (answer.cached) {
      usage.cached_answers++;
      usage.cached_prompt_tokens += answer.usage.promptTokens;
      usage.cached_completion_tokens += answer.usage.completionTokens;
    } else {
      usage.answers++;
      usage.prompt_tokens += answer.usage.promptTokens;
      usage.completion_tokens += answer.usage.completionTokens;
    }
    const before = accepted.length;
    const rejs = evaluateAnswer(answer, plan, accepted, need, tries, globalKeys);
    for (const r of rejs) rejections[r.reason] = (rejections[r.reason] ?? 0) + 1;
    feedback = feedbackText(rejs, accepted.length - before);
  }
  const records = plan.emit(accepted, { model: client.model, sourceId, parent: source.provenance });
  const status: ItemResult['status'] = accepted.length >= n ? 'ok' : accepted.length > 0 ? 'partial' : refused ? 'rejected' : 'exhausted';
  return { status, records, tries, rejections, usage };
}

interface ScheduledItem {
  record: CanonicalRecord;
  id: string;
}

/** Runs (or resumes) a synthesis job. Resolves with the summary, also written to `<output>.summary.json`. */
function requireInput(path: string): void {
  if (!existsSync(path)) throw new Error(`${path}: input file not found`);
}

export async function synthesize(opts: SynthesizeOptions): Promise<SynthesisSummary> {
  const started = Date.now();
  requireInput(opts.input);
  // An existing output is renamed to OUTPUT.partial below (to extend it): never do that to the input.
  assertNotAnInput(opts.output, [opts.input]);
  const { generator, n, maxTries, builder } = resolveSettings(opts);
  const paths = synthPaths(opts.output, opts.cachePath);
  mkdirSync(dirname(opts.output), { recursive: true });
  const log = opts.log ?? (() => {});
  const releaseLock = acquireLock(paths.lock, `the synthesis output ${opts.output}`);
  let cache: ResponseCache | undefined;
  let out: AppendLog | undefined;
  let journal: AppendLog | undefined;
  try {
    if (existsSync(opts.output)) {
      if (existsSync(paths.partial)) throw new Error(`both ${opts.output} and ${paths.partial} exist; remove the one that is not wanted`);
      // A finished run being extended (more input, larger limit): continue in the working file.
      renameSync(opts.output, paths.partial);
    }
    const state = await loadResumeState(paths.partial, paths.journal, (r) => generator.outputKeys(r));
    if (state.droppedLines > 0) log(`resume: dropped ${state.droppedLines} uncommitted output line(s) from ${paths.partial}`);
    const previous = readPreviousSummary(paths.summary);
    cache = paths.cache ? await ResponseCache.open(paths.cache) : undefined;
    const client = new LlmClient({ ...opts.llm, cache });
    out = await AppendLog.open(paths.partial);
    journal = await AppendLog.open(paths.journal);
    const rowsTotal = await countRows(opts.input);

    const thisRun = emptyCounts();
    let rowsRead = 0;
    let resumed = 0;
    let duplicateInputs = 0;
    let unfinished = 0;
    let outputs = state.outputLines;
    let inFlight = 0;
    let consecutiveFailures = 0;
    let fatal: unknown = null;
    let stopping = false;
    // Ids seen in this run (finished before, scheduled, or skipped): tells duplicate input rows apart.
    const seenIds = new HashSet64();
    const { done, totals } = state;

    // (output lines, journal line) pairs are committed strictly one item after another.
    let commitChain: Promise<void> = Promise.resolve();
    const commit = (entry: JournalEntry, records: CanonicalRecord[]): Promise<void> => {
      const run = commitChain.then(async () => {
        if (records.length > 0) await out!.append(records.map((r) => `${JSON.stringify(r)}\n`).join(''));
        await journal!.append(`${JSON.stringify(entry)}\n`);
        done.addString(entry.id);
        totals.add(entry);
        outputs += records.length;
        thisRun[entry.status]++;
      });
      commitChain = run.catch(() => undefined);
      return run;
    };

    const progress = (): SynthProgress => ({
      rowsRead, rowsTotal, items: { ...thisRun }, resumed, inFlight, outputs, client: client.stats,
      costUsd: costOf(client.stats.promptTokens, client.stats.completionTokens, opts.pricing), elapsedMs: Date.now() - started,
    });
    const summarize = (complete: boolean, interrupted: boolean, limited = false) =>
      buildSummary(opts, generator, client, totals, previous, { complete, interrupted, limited, duplicateInputs, unfinished, outputs, started, droppedLines: state.droppedLines });
    const ticker = setInterval(() => {
      opts.onProgress?.(progress());
      writeSummary(paths.summary, summarize(false, false));
    }, opts.progressIntervalMs ?? 2000);
    ticker.unref();

    const limit = opts.limit ?? Infinity;
    let scheduled = 0;
    let limitHit = false;
    async function* items(): AsyncGenerator<ScheduledItem> {
      // Rows the reader cannot parse (bad JSON, not an object) arrive here with --skip-invalid.
      const badRows: DataError[] = [];
      const skipBad = async (e: DataError) => {
        const id = `invalid:${e.file}:${e.line}`;
        if (!done.hasString(id)) await commit(skipEntry(id, 'invalid_record'), []);
        log(`skipped: ${e.message}`);
      };
      for await (const row of readRows(opts.input, opts.skipInvalid ? (e) => badRows.push(e) : undefined)) {
        for (const e of badRows.splice(0)) await skipBad(e);
        rowsRead++;
        if (stopping || opts.signal?.aborted) return;
        let record: CanonicalRecord;
        try {
          record = parseRecord(row.record, row);
        } catch (e) {
          if (!(e instanceof DataError) || !opts.skipInvalid) throw e;
          await skipBad(e);
          continue;
        }
        const id = sourceIdOf(record);
        if (scheduled >= limit && !done.hasString(id)) {
          limitHit = true;
          return;
        }
        if (!seenIds.addString(id)) {
          duplicateInputs++;
          continue;
        }
        if (done.hasString(id)) {
          resumed++;
          continue;
        }
        const why = generator.unsupported(record);
        if (why) {
          await commit(skipEntry(id, why), []);
          continue;
        }
        scheduled++;
        yield { record, id };
      }
      for (const e of badRows.splice(0)) await skipBad(e);
    }

    const source = items();
    const worker = async () => {
      for (;;) {
        if (stopping || opts.signal?.aborted) return;
        const next = await source.next();
        if (next.done) return;
        const { record, id } = next.value;
        inFlight++;
        try {
          const result = await runItem(generator.plan(record), id, record, client, builder, n, maxTries, state.dedupKeys);
          await commit({ id, status: result.status, outputs: result.records.length, tries: result.tries, rejections: result.rejections, usage: result.usage }, result.records);
          consecutiveFailures = 0;
        } catch (e) {
          if (e instanceof LlmError && e.retryable) {
            unfinished++;
            consecutiveFailures++;
            log(`item ${id} not finished: ${e.message}`);
            if (consecutiveFailures >= (opts.maxConsecutiveFailures ?? 10)) {
              fatal ??= new Error(`${consecutiveFailures} items in a row failed (last: ${e.message}); stopping. Rerun the same command to resume.`);
              stopping = true;
            }
          } else {
            fatal ??= e;
            stopping = true;
          }
        } finally {
          inFlight--;
        }
      }
    };
    const workers = Math.max(1, opts.llm.concurrency ?? 8);
    try {
      const results = await Promise.allSettled(Array.from({ length: workers }, worker));
      for (const r of results) if (r.status === 'rejected') fatal ??= r.reason;
    } finally {
      clearInterval(ticker);
      await commitChain;
    }
    await out.close();
    await journal.close();
    out = journal = undefined;
    const interrupted = !fatal && (opts.signal?.aborted ?? false);
    // A run that ended normally publishes its output, even when --limit left input for later.
    const ended = !fatal && !interrupted && unfinished === 0;
    if (ended) renameSync(paths.partial, opts.output);
    opts.onProgress?.(progress());
    const summary = summarize(ended && !limitHit, interrupted, limitHit);
    writeSummary(paths.summary, summary);
    if (fatal) throw fatal;
    return summary;
  } finally {
    await out?.close().catch(() => undefined);
    await journal?.close().catch(() => undefined);
    await cache?.close().catch(() => undefined);
    releaseLock();
  }
}

function skipEntry(id: string, reason: string): JournalEntry {
  return { id, status: 'skipped', outputs: 0, tries: 0, rejections: {}, usage: emptyUsage(), reason };
}

interface PreviousRuns {
  /** Cost of earlier runs as recorded in their summary (usage is also in the journal, per item). */
  runs: number;
}

function readPreviousSummary(path: string): PreviousRuns {
  if (!existsSync(path)) return { runs: 0 };
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as { runs?: number };
    return { runs: typeof s.runs === 'number' ? s.runs : 1 };
  } catch {
    return { runs: 0 };
  }
}

function buildSummary(
  opts: SynthesizeOptions,
  generator: Generator,
  client: LlmClient,
  totals: JournalTotals,
  previous: PreviousRuns,
  run: { complete: boolean; interrupted: boolean; limited: boolean; duplicateInputs: number; unfinished: number; outputs: number; started: number; droppedLines: number },
): SynthesisSummary & { runs: number } {
  const s = client.stats;
  const t = totals.tokens;
  return {
    generator: generator.name,
    model: opts.llm.model,
    prompt_versions: Object.values(generator.templates).map((tpl) => `${tpl!.id}#${tpl!.hash}`),
    input: opts.input,
    output: opts.output,
    complete: run.complete,
    interrupted: run.interrupted,
    limited: run.limited,
    items: { ...totals.items },
    duplicate_inputs: run.duplicateInputs,
    unfinished: run.unfinished,
    outputs: run.outputs,
    tries: totals.tries,
    rejections: { ...totals.rejections },
    skip_reasons: { ...totals.skipReasons },
    tokens: { ...t },
    cost_usd: round6(costOf(t.prompt, t.completion, opts.pricing)),
    saved_by_cache_usd: round6(costOf(t.cached_prompt, t.cached_completion, opts.pricing)),
    this_run: {
      elapsed_s: Math.round((Date.now() - run.started) / 100) / 10,
      requests: s.requests,
      answers: s.answers,
      cached_answers: s.cachedAnswers,
      prompt_tokens: s.promptTokens,
      completion_tokens: s.completionTokens,
      estimated_usage_answers: s.estimatedUsage,
      cost_usd: round6(costOf(s.promptTokens, s.completionTokens, opts.pricing)),
      retries: { ...s.retries },
      failures: s.failures,
      dropped_uncommitted_lines: run.droppedLines,
    },
    runs: previous.runs + 1,
  };
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

function writeSummary(path: string, summary: object): void {
  writeFileAtomicSync(path, `${JSON.stringify(summary, null, 2)}\n`);
}

export interface SynthesisPlan {
  generator: GeneratorName;
  model: string;
  /** Items that would be sent (after skipping finished, duplicate and unsupported ones, and --limit). */
  items: number;
  alreadyDone: number;
  unsupported: number;
  duplicates: number;
  /** First-try requests whose answer is already cached. */
  cachedRequests: number;
  /** Estimated tokens of the first try of every item (retries add to this). */
  promptTokens: number;
  completionTokens: number;
  /** Estimated cost of the uncached first tries. */
  costUsd: number;
  /** The first requests in full, for inspection. */
  samples: { sourceId: string; messages: ChatMessage[]; params: ChatParams; promptTokens: number }[];
}

/** --dry-run: what a run would send, with token and cost estimates. Sends and writes nothing. */
export async function planSynthesis(opts: SynthesizeOptions & { show?: number }): Promise<SynthesisPlan> {
  requireInput(opts.input);
  const { generator, n, builder } = resolveSettings(opts);
  const paths = synthPaths(opts.output, opts.cachePath);
  const keyer = new LlmClient({ ...opts.llm });
  const cachedKeys = paths.cache && existsSync(paths.cache) ? await readCacheKeys(paths.cache) : new Set<string>();
  const doneIds = new HashSet64();
  if (existsSync(paths.journal)) {
    const { readLines } = await import('./append-log.js');
    for await (const { text } of readLines(paths.journal)) {
      try {
        doneIds.addString((JSON.parse(text) as JournalEntry).id);
      } catch {
        // torn line: the item is not done
      }
    }
  }
  const show = opts.show ?? 3;
  const seen = new HashSet64();
  const plan: SynthesisPlan = {
    generator: opts.generator, model: opts.llm.model, items: 0, alreadyDone: 0, unsupported: 0, duplicates: 0,
    cachedRequests: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, samples: [],
  };
  let uncachedPrompt = 0;
  let uncachedCompletion = 0;
  for await (const row of readRows(opts.input, opts.skipInvalid ? () => {} : undefined)) {
    let record: CanonicalRecord;
    try {
      record = parseRecord(row.record, row);
    } catch (e) {
      if (e instanceof DataError && opts.skipInvalid) continue;
      throw e;
    }
    const id = sourceIdOf(record);
    if (doneIds.hasString(id)) {
      plan.alreadyDone++;
      continue;
    }
    if (!seen.addString(id)) {
      plan.duplicates++;
      continue;
    }
    if (generator.unsupported(record)) {
      plan.unsupported++;
      continue;
    }
    if (plan.items >= (opts.limit ?? Infinity)) break;
    plan.items++;
    const itemPlan = generator.plan(record);
    const request = builder.build(itemPlan, n, '', 1);
    const promptTokens = estimateChatTokens(request.messages);
    const completionTokens = itemPlan.expectedOutputTokens(n);
    plan.promptTokens += promptTokens;
    plan.completionTokens += completionTokens;
    if (cachedKeys.has(keyer.keyOf(request))) plan.cachedRequests++;
    else {
      uncachedPrompt += promptTokens;
      uncachedCompletion += completionTokens;
    }
    if (plan.samples.length < show) plan.samples.push({ sourceId: id, messages: request.messages, params: request.params ?? {}, promptTokens });
  }
  plan.costUsd = round6(costOf(uncachedPrompt, uncachedCompletion, opts.pricing));
  return plan;
}
