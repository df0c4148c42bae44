// `qzhou synth`: LLM data synthesis (paraphrase, augment, hard-negative) over canonical records.
// A thin layer over src/synth: flags → SynthesizeOptions, progress and summary on stderr.
import { checkOutputPath, inputFileFlag, intFlag, numberFlag, parseFlags, requireFlag, UsageError, type Command } from '../command.js';
import type { LengthMeasure, SynthConstraints } from '../../synth/constraints.js';
import type { GeneratorName } from '../../synth/generators/index.js';
import type { SynthesisSummary, SynthesizeOptions, SynthProgress } from '../../synth/synthesize.js';

const usage = `usage: qzhou synth --generator NAME --input IN.jsonl --output OUT.jsonl --model MODEL [options]

Synthesises training records with an OpenAI-compatible chat endpoint (as in the QZhou-Embedding paper).
Generators:
  paraphrase     rewrite query+positive (retrieval), both texts (pair) or the text (cls); same
                 meaning, length ±15 %, ≥30 % (sentence) / ≥20 % (paragraph) different
  augment        new topic in the same field: (query', positive', negative'); retrieval only
  hard-negative  negatives that imitate the positive, length ±20 %; retrieval only
Input: JSONL canonical records ({"type":"retrieval","query","pos":[…]}, {"type":"pair",…},
{"type":"cls",…}). Output: canonical records with "provenance". Rerun the same command to resume.

Endpoint:
  --model NAME          model name (env QZHOU_LLM_MODEL, OPENAI_MODEL)
  --base-url URL        default https://api.openai.com/v1 (env QZHOU_LLM_BASE_URL, OPENAI_BASE_URL)
  --api-key KEY         (env QZHOU_LLM_API_KEY, OPENAI_API_KEY)
  --concurrency N       requests in flight (default 8)
  --rpm N               requests per minute (default: unlimited)
  --tpm N               tokens per minute (default: unlimited)
  --timeout S           per-request timeout in seconds (default 120)
  --max-retries N       retries on 429/5xx/timeouts/dropped connections (default 8)
  --price-in USD        price per million prompt tokens, for the cost summary
  --price-out USD       price per million completion tokens
Generation:
  --generator NAME      paraphrase | augment | hard-negative
  --n N                 outputs per source record (default 2; hard-negative 4)
  --max-tries N         LLM calls per record at most (default 20)
  --temperature T       default 0.9
  --top-p P
  --max-tokens N|auto|none   default auto (from the expected answer size)
  --response-format json|text  ask for a JSON object (default json)
  --prompts DIR         folder with edited prompt templates (default: the shipped ones)
Constraints:
  --length-unit chars|tokens   default chars; tokens are estimated unless --tokenizer is given
  --tokenizer PATH      tokenizer.json (or its folder) for exact token lengths
  --paraphrase-tolerance F     default 0.15
  --generation-tolerance F     augment / hard-negative length tolerance, default 0.2
  --min-diff-sentence F        default 0.3
  --min-diff-paragraph F       default 0.2
  --min-neg-diff F      minimum difference negative vs positive, default 0.1
  --min-output-diff F   minimum difference between outputs of one record, default 0.1
  --any-language        do not check that outputs keep the input's language
Run:
  --cache FILE          answer cache (default OUT.jsonl.cache.jsonl)
  --no-cache            do not cache answers (a crash then pays again)
  --limit N             synthesise at most N new records in this run
  --skip-invalid        skip invalid input records instead of stopping
  --dry-run             print the first prompts and the token/cost estimate; send nothing
  --show N              prompts printed by --dry-run (default 3)
  --quiet               no progress lines

Example:
  qzhou synth --generator paraphrase --input train.jsonl --output para.jsonl \\
    --model gpt-4o-mini --concurrency 16 --rpm 3000 --price-in 0.15 --price-out 0.6`;

const flags = {
  generator: { type: 'string' },
  input: { type: 'string' },
  output: { type: 'string' },
  model: { type: 'string' },
  'base-url': { type: 'string' },
  'api-key': { type: 'string' },
  concurrency: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  timeout: { type: 'string' },
  'max-retries': { type: 'string' },
  'price-in': { type: 'string' },
  'price-out': { type: 'string' },
  n: { type: 'string' },
  'max-tries': { type: 'string' },
  temperature: { type: 'string' },
  'top-p': { type: 'string' },
  'max-tokens': { type: 'string' },
  'response-format': { type: 'string' },
  prompts: { type: 'string' },
  'length-unit': { type: 'string' },
  tokenizer: { type: 'string' },
  'paraphrase-tolerance': { type: 'string' },
  'generation-tolerance': { type: 'string' },
  'min-diff-sentence': { type: 'string' },
  'min-diff-paragraph': { type: 'string' },
  'min-neg-diff': { type: 'string' },
  'min-output-diff': { type: 'string' },
  'any-language': { type: 'boolean' },
  cache: { type: 'string' },
  'no-cache': { type: 'boolean' },
  limit: { type: 'string' },
  'skip-invalid': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  show: { type: 'string' },
  quiet: { type: 'boolean' },
} as const;


function fraction(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = numberFlag(name, value, 0);
  if (n < 0 || n > 1) throw new UsageError(`--${name}: expected a number between 0 and 1, got "${value}"`);
  return n;
}

function positive(name: string, value: string | undefined, fallback: number): number {
  const n = numberFlag(name, value, fallback);
  if (!(n > 0)) throw new UsageError(`--${name}: expected a number > 0, got "${value}"`);
  return n;
}

const env = (...names: string[]) => names.map((n) => process.env[n]).find((v) => v !== undefined && v !== '');

async function buildOptions(v: ReturnType<typeof parseFlags<typeof flags>>['values']): Promise<SynthesizeOptions & { show: number }> {
  const generator = requireFlag('generator', v.generator) as GeneratorName;
  if (!['paraphrase', 'augment', 'hard-negative'].includes(generator)) {
    throw new UsageError(`--generator: expected paraphrase, augment or hard-negative, got "${generator}"`);
  }
  const model = v.model ?? env('QZHOU_LLM_MODEL', 'OPENAI_MODEL');
  if (!model) throw new UsageError('--model is required (or set QZHOU_LLM_MODEL)');
  const baseUrl = v['base-url'] ?? env('QZHOU_LLM_BASE_URL', 'OPENAI_BASE_URL') ?? 'https://api.openai.com/v1';
  const apiKey = v['api-key'] ?? env('QZHOU_LLM_API_KEY', 'OPENAI_API_KEY');
  const priceIn = v['price-in'] === undefined ? undefined : numberFlag('price-in', v['price-in'], 0);
  const priceOut = v['price-out'] === undefined ? undefined : numberFlag('price-out', v['price-out'], 0);
  const pricing = priceIn !== undefined || priceOut !== undefined ? { inputPerMillion: priceIn ?? 0, outputPerMillion: priceOut ?? 0 } : undefined;

  let maxTokens: number | 'auto' | null = 'auto';
  const mt = v['max-tokens'];
  if (mt === 'none') maxTokens = null;
  else if (mt !== undefined && mt !== 'auto') maxTokens = intFlag('max-tokens', mt, 0);
  const rf = v['response-format'] ?? 'json';
  if (rf !== 'json' && rf !== 'text') throw new UsageError(`--response-format: expected json or text, got "${rf}"`);

  const unit = v['length-unit'] ?? (v.tokenizer ? 'tokens' : 'chars');
  if (unit !== 'chars' && unit !== 'tokens') throw new UsageError(`--length-unit: expected chars or tokens, got "${unit}"`);
  let measure: LengthMeasure | undefined;
  if (unit === 'tokens') {
    if (v.tokenizer) {
      const { tokenizerLength } = await import('../../synth/tokenizer-length.js');
      measure = await tokenizerLength(v.tokenizer);
    } else {
      const [{ tokenLength }, { estimateTokens }] = await Promise.all([import('../../synth/constraints.js'), import('../../synth/token-estimate.js')]);
      measure = tokenLength(estimateTokens);
    }
  } else if (v.tokenizer) {
    throw new UsageError('--tokenizer needs --length-unit tokens');
  }
  const constraints: Partial<SynthConstraints> = {};
  const set = <K extends keyof SynthConstraints>(k: K, x: SynthConstraints[K] | undefined) => {
    if (x !== undefined) constraints[k] = x;
  };
  set('paraphraseLengthTolerance', fraction('paraphrase-tolerance', v['paraphrase-tolerance']));
  set('generationLengthTolerance', fraction('generation-tolerance', v['generation-tolerance']));
  set('minDifferenceSentence', fraction('min-diff-sentence', v['min-diff-sentence']));
  set('minDifferenceParagraph', fraction('min-diff-paragraph', v['min-diff-paragraph']));
  set('minNegativeDifference', fraction('min-neg-diff', v['min-neg-diff']));
  set('minOutputDifference', fraction('min-output-diff', v['min-output-diff']));
  if (v['any-language']) constraints.checkLanguage = false;
  if (v.cache && v['no-cache']) throw new UsageError('--cache and --no-cache exclude each other');

  return {
    generator,
    input: requireFlag('input', v.input),
    output: requireFlag('output', v.output),
    llm: {
      baseUrl,
      apiKey,
      model,
      concurrency: intFlag('concurrency', v.concurrency, 8),
      requestsPerMinute: v.rpm === undefined ? undefined : positive('rpm', v.rpm, 0),
      tokensPerMinute: v.tpm === undefined ? undefined : positive('tpm', v.tpm, 0),
      timeoutMs: positive('timeout', v.timeout, 120) * 1000,
      maxRetries: intFlag('max-retries', v['max-retries'], 8, 0),
      onRetry: v.quiet ? undefined : (r) => process.stderr.write(`synth: retry ${r.retry} in ${(r.delayMs / 1000).toFixed(1)} s (${r.cause}: ${r.message})\n`),
    },
    cachePath: v['no-cache'] ? null : v.cache,
    pricing,
    n: v.n === undefined ? undefined : intFlag('n', v.n, 1),
    maxTries: intFlag('max-tries', v['max-tries'], 20),
    params: {
      temperature: numberFlag('temperature', v.temperature, 0.9),
      ...(v['top-p'] !== undefined ? { top_p: numberFlag('top-p', v['top-p'], 1) } : {}),
    },
    maxTokens,
    jsonMode: rf === 'json',
    constraints,
    measure,
    promptsDir: v.prompts,
    limit: v.limit === undefined ? undefined : intFlag('limit', v.limit, 1),
    skipInvalid: v['skip-invalid'] ?? false,
    show: intFlag('show', v.show, 3, 0),
  };
}

const fmt = (n: number) => n.toLocaleString('en-US');
const usd = (n: number) => `$${n < 1 ? n.toFixed(4) : n.toFixed(2)}`;

function progressLine(p: SynthProgress): string {
  const c = p.client;
  const i = p.items;
  const done = i.ok + i.partial + i.exhausted + i.rejected + i.skipped;
  const rows = p.rowsTotal === null ? `${fmt(p.rowsRead)} rows` : `${fmt(p.rowsRead)}/${fmt(p.rowsTotal)} rows`;
  const retries = Object.values(c.retries).reduce((a, b) => a + b, 0);
  return `synth: ${rows} · ${fmt(done)} done (ok ${i.ok}, partial ${i.partial}, exhausted ${i.exhausted}, rejected ${i.rejected}, skipped ${i.skipped}), ` +
    `${p.resumed ? `${fmt(p.resumed)} from earlier runs, ` : ''}${p.inFlight} in flight · ${fmt(p.outputs)} outputs · ` +
    `${fmt(c.requests)} requests, ${fmt(c.cachedAnswers)} cached · ${fmt(c.promptTokens)}+${fmt(c.completionTokens)} tokens ${usd(p.costUsd)} · ` +
    `${retries} retries · ${(p.elapsedMs / 1000).toFixed(0)} s`;
}

function summaryText(s: SynthesisSummary, summaryPath: string): string {
  const rej = Object.entries(s.rejections).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0)).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const r = s.this_run;
  return [
    `synth: ${s.complete ? 'complete' : s.limited ? `stopped at --limit` : s.interrupted ? 'interrupted' : 'incomplete'} — ${s.generator} with ${s.model}`,
    `  items: ${s.items.finished} finished (ok ${s.items.ok}, partial ${s.items.partial}, exhausted ${s.items.exhausted}, rejected ${s.items.rejected}, skipped ${s.items.skipped})` +
      `${s.unfinished ? `, ${s.unfinished} unfinished` : ''}${s.duplicate_inputs ? `, ${s.duplicate_inputs} duplicate inputs` : ''}`,
    `  outputs: ${fmt(s.outputs)} records from ${fmt(s.tries)} tries; rejections: ${rej}`,
    `  this run: ${fmt(r.requests)} requests, ${fmt(r.cached_answers)} cached answers, ${fmt(r.prompt_tokens)} prompt + ${fmt(r.completion_tokens)} completion tokens, ${usd(r.cost_usd)}, ${r.elapsed_s} s`,
    `  all runs: ${fmt(s.tokens.prompt)} prompt + ${fmt(s.tokens.completion)} completion tokens paid, ${usd(s.cost_usd)} (cache saved ${usd(s.saved_by_cache_usd)})`,
    `  summary: ${summaryPath}`,
  ].join('\n');
}

export const command: Command = {
  name: 'synth',
  summary: 'LLM data synthesis: paraphrase, augment, hard negatives (resumable, cached, rate-limited)',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, flags);
    const opts = await buildOptions(values);
    // Paths last, so that a bad flag value is reported first.
    inputFileFlag('input', opts.input);
    checkOutputPath('--output', opts.output, { inputs: [opts.input] });
    const synth = await import('../../synth/synthesize.js');
    if (values['dry-run']) {
      const plan = await synth.planSynthesis(opts);
      const lines: string[] = [];
      plan.samples.forEach((s, k) => {
        lines.push(`── request ${k + 1} (source ${s.sourceId}, ~${fmt(s.promptTokens)} prompt tokens) ──`);
        for (const m of s.messages) lines.push(`[${m.role}]`, m.content, '');
        lines.push(`params: ${JSON.stringify(s.params)}`, '');
      });
      lines.push(
        `dry run: ${fmt(plan.items)} records to synthesise with ${plan.generator} (${fmt(plan.alreadyDone)} already done, ${fmt(plan.unsupported)} unsupported, ${fmt(plan.duplicates)} duplicates)`,
        `  first tries: ${fmt(plan.items)} requests, ${fmt(plan.cachedRequests)} already cached`,
        `  estimated tokens: ${fmt(plan.promptTokens)} prompt + ${fmt(plan.completionTokens)} completion (retries add to this)`,
        `  estimated cost: ${opts.pricing ? usd(plan.costUsd) : 'give --price-in/--price-out'}`,
      );
      console.log(lines.join('\n'));
      return 0;
    }
    const abort = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      interrupts++;
      if (interrupts === 1) {
        process.stderr.write('synth: stopping after the requests in flight (Ctrl-C again to quit now; rerun to resume)\n');
        abort.abort();
      } else {
        process.exit(130);
      }
    };
    process.on('SIGINT', onSigint);
    const tty = process.stderr.isTTY;
    try {
      const summary = await synth.synthesize({
        ...opts,
        signal: abort.signal,
        progressIntervalMs: tty ? 1000 : 10_000,
        onProgress: values.quiet ? undefined : (p) => process.stderr.write(tty ? `\r\x1b[K${progressLine(p)}` : `${progressLine(p)}\n`),
        log: (line) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}synth: ${line}\n`),
      });
      if (tty && !values.quiet) process.stderr.write('\n');
      process.stderr.write(`${summaryText(summary, synth.synthPaths(opts.output).summary)}\n`);
      if (summary.interrupted) return 130;
      if (summary.unfinished > 0) {
        process.stderr.write(`synth: ${summary.unfinished} record(s) failed for transient reasons; rerun the same command to retry them\n`);
        return 3;
      }
      return 0;
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  },
};
