// Step 2, synth: LLM data synthesis (src/synth) on configured subsets of the transformed sources, when an
// OpenAI-compatible endpoint is configured; otherwise the step is skipped with a notice saying how to
// enable it. Resumes through the synthesis journal and answer cache.
import { join } from 'node:path';
import type { SynthesisSummary } from '../../synth/synthesize.js';
import type { PipelineConfig, SynthSpec } from '../config.js';
import { sampleRecordFile } from '../derive.js';
import { recordSetsOf, type RecordSet } from '../record-sets.js';
import type { PipelineStep } from '../runner.js';

export interface ResolvedEndpoint {
  baseUrl: string;
  model: string;
  apiKey?: string;
  apiKeyEnv: string | null;
}

/** The endpoint from the config, else the environment; null when no endpoint is configured. */
export function resolveEndpoint(spec: SynthSpec | null, env: NodeJS.ProcessEnv = process.env): ResolvedEndpoint | null {
  if (!spec) return null;
  const baseUrl = spec.baseUrl ?? env.QZHOU_LLM_BASE_URL;
  const model = spec.model ?? env.QZHOU_LLM_MODEL;
  if (!baseUrl || !model) return null;
  const keyEnvs = spec.apiKeyEnv ? [spec.apiKeyEnv] : ['QZHOU_LLM_API_KEY', 'OPENAI_API_KEY'];
  const keyEnv = keyEnvs.find((k) => env[k]) ?? null;
  return { baseUrl, model, ...(keyEnv ? { apiKey: env[keyEnv] } : {}), apiKeyEnv: keyEnv };
}

export function synthNotice(config: PipelineConfig): string | null {
  if (!config.synth) return 'no LLM endpoint configured (the config has no "synth" section)';
  if (config.synth.jobs.length === 0) return 'no synthesis jobs configured (synth.jobs is empty)';
  if (!resolveEndpoint(config.synth)) {
    return 'no LLM endpoint configured: set synth.baseUrl and synth.model in the config, or the environment variables QZHOU_LLM_BASE_URL and QZHOU_LLM_MODEL (API key: QZHOU_LLM_API_KEY or OPENAI_API_KEY)';
  }
  return null;
}

type SynthRunSummary = Pick<SynthesisSummary, 'generator' | 'model' | 'items' | 'outputs' | 'tries' | 'rejections' | 'skip_reasons' | 'tokens' | 'cost_usd' | 'complete' | 'limited'>;

export const synthStep: PipelineStep = {
  name: 'synth',
  title: 'LLM data synthesis (src/synth), when an endpoint is configured',
  after: ['transform'],
  version: 1,
  async identity(config) {
    const ep = resolveEndpoint(config.synth);
    if (!ep || !config.synth || config.synth.jobs.length === 0) return { configured: false };
    // The seed picks each job's subset of records.
    return { configured: true, baseUrl: ep.baseUrl, model: ep.model, jobs: config.synth.jobs, seed: config.seed };
  },
  async run(ctx) {
    const notice = synthNotice(ctx.config);
    if (notice) return { status: 'skipped', notice, outputs: [], summary: { sets: [], jobs: [] } };
    const spec = ctx.config.synth!;
    const ep = resolveEndpoint(spec)!;
    const { synthesize } = await import('../../synth/synthesize.js');
    const sources = recordSetsOf(ctx.upstream('transform').summary);
    const sets: RecordSet[] = [];
    const jobs: (SynthRunSummary & { source: string; output: string })[] = [];
    for (const job of spec.jobs) {
      const source = sources.find((s) => s.name === job.source);
      if (!source) throw new Error(`synth: job ${job.generator}/${job.source}: the transform step produced no set named "${job.source}"`);
      const name = `${job.generator}-${job.source}`;
      const output = join(ctx.dir, `${name}.jsonl`);
      // The subset is a file of its own (a seeded sample), so a resumed run continues the same items.
      let input = join(ctx.config.output, source.file);
      if (job.limit && job.limit < source.records) {
        const subset = join(ctx.dir, `${name}.input.jsonl`);
        await ctx.part(`subset-${name}`, () => sampleRecordFile(input, subset, job.limit!, `${ctx.config.seed}:synth:${name}`));
        input = subset;
      }
      ctx.log(`${name}: ${job.generator} on ${job.limit && job.limit < source.records ? `a sample of ${job.limit}` : 'all'} record(s) of ${source.name} with ${ep.model} at ${ep.baseUrl}`);
      let last = 0;
      const summary = await synthesize({
        generator: job.generator,
        input,
        output,
        llm: {
          baseUrl: ep.baseUrl,
          model: ep.model,
          ...(ep.apiKey ? { apiKey: ep.apiKey } : {}),
          ...(spec.concurrency ? { concurrency: spec.concurrency } : {}),
          ...(spec.requestsPerMinute ? { requestsPerMinute: spec.requestsPerMinute } : {}),
          ...(spec.tokensPerMinute ? { tokensPerMinute: spec.tokensPerMinute } : {}),
        },
        ...(spec.pricing ? { pricing: spec.pricing } : {}),
        ...(job.n ? { n: job.n } : {}),
        ...(job.maxTries ? { maxTries: job.maxTries } : {}),
        skipInvalid: true,
        signal: ctx.signal,
        log: (line) => ctx.log(`${name}: ${line}`),
        onProgress: (p) => {
          if (Date.now() - last < 5000) return;
          last = Date.now();
          const i = p.items;
          ctx.log(`${name}: ${i.ok + i.partial + i.exhausted + i.rejected + i.skipped} done, ${p.outputs} outputs, ${p.client.requests} requests`);
        },
      });
      if (ctx.signal.aborted) return { outputs: [], summary: {} };
      if (summary.unfinished > 0 || !summary.complete) {
        throw new Error(`synth: ${name}: ${summary.unfinished} record(s) failed for transient reasons (endpoint errors); run the pipeline again to retry them`);
      }
      const family = job.generator === 'paraphrase' ? source.family : 'retrieval';
      sets.push({
        name, file: `synth/${name}.jsonl`, family, dataset: source.dataset, records: summary.outputs, origin: 'synthetic', from: source.name, generator: job.generator,
        ...(source.instruction ? { instruction: source.instruction } : {}), ...(source.task ? { task: source.task } : {}), ...(source.sides ? { sides: source.sides } : {}),
      });
      jobs.push({
        source: source.name, output: `${name}.jsonl`, generator: summary.generator, model: summary.model, items: summary.items, outputs: summary.outputs,
        tries: summary.tries, rejections: summary.rejections, skip_reasons: summary.skip_reasons, tokens: summary.tokens, cost_usd: summary.cost_usd,
        complete: summary.complete, limited: summary.limited,
      });
      const rej = Object.entries(summary.rejections).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
      ctx.log(`${name}: ${summary.outputs} records from ${summary.items.finished} source records (${summary.tries} tries; rejections: ${rej})`);
    }
    return { outputs: sets.map((s) => s.file.slice('synth/'.length)), summary: { sets, jobs, endpoint: { baseUrl: ep.baseUrl, model: ep.model } }, exports: { sets } };
  },
};
