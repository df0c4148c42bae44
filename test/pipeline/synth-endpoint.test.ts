import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { PIPELINE_STEPS, loadPipelineConfig, resolveEndpoint, synthNotice } from '../../src/pipeline/index.js';

const demo = join(resolve(import.meta.dirname, '../..'), 'examples/banking77/pipeline.yaml');

test('synthesis runs only with an endpoint: from the config, else from the environment', async () => {
  const jobs = [{ generator: 'paraphrase' as const, source: 'b' }];
  assert.equal(resolveEndpoint(null, {}), null);
  assert.equal(resolveEndpoint({ jobs }, {}), null, 'no base URL and no model');
  assert.equal(resolveEndpoint({ jobs, model: 'm' }, {}), null, 'a model alone is not an endpoint');
  assert.deepEqual(resolveEndpoint({ jobs }, { QZHOU_LLM_BASE_URL: 'http://h/v1', QZHOU_LLM_MODEL: 'm', OPENAI_API_KEY: 'k' }), { baseUrl: 'http://h/v1', model: 'm', apiKey: 'k', apiKeyEnv: 'OPENAI_API_KEY' });
  assert.deepEqual(
    resolveEndpoint({ jobs, baseUrl: 'http://cfg/v1', model: 'cm', apiKeyEnv: 'MY_KEY' }, { QZHOU_LLM_BASE_URL: 'http://env/v1', MY_KEY: 's', QZHOU_LLM_API_KEY: 'other' }),
    { baseUrl: 'http://cfg/v1', model: 'cm', apiKey: 's', apiKeyEnv: 'MY_KEY' },
  );

  const saved = { url: process.env.QZHOU_LLM_BASE_URL, model: process.env.QZHOU_LLM_MODEL };
  try {
    delete process.env.QZHOU_LLM_BASE_URL;
    delete process.env.QZHOU_LLM_MODEL;
    const config = loadPipelineConfig(demo);
    assert.match(synthNotice(config)!, /^no LLM endpoint configured: set synth\.baseUrl and synth\.model in the config, or the environment variables QZHOU_LLM_BASE_URL and QZHOU_LLM_MODEL/);
    process.env.QZHOU_LLM_BASE_URL = 'http://localhost:8000/v1';
    process.env.QZHOU_LLM_MODEL = 'qwen2.5-7b-instruct';
    assert.equal(synthNotice(config), null, 'the demo synthesises once the environment names an endpoint');
    assert.match(synthNotice({ ...config, synth: null })!, /no "synth" section/);
    // The seed picks each job's subset, so it is part of a configured synth step's identity (not of a skipped one).
    const synth = PIPELINE_STEPS.find((s) => s.name === 'synth')!;
    assert.notDeepEqual(await synth.identity(config), await synth.identity({ ...config, seed: config.seed + 1 }));
    delete process.env.QZHOU_LLM_BASE_URL;
    assert.deepEqual(await synth.identity(config), await synth.identity({ ...config, seed: config.seed + 1 }));
  } finally {
    if (saved.url === undefined) delete process.env.QZHOU_LLM_BASE_URL;
    else process.env.QZHOU_LLM_BASE_URL = saved.url;
    if (saved.model === undefined) delete process.env.QZHOU_LLM_MODEL;
    else process.env.QZHOU_LLM_MODEL = saved.model;
  }
});
