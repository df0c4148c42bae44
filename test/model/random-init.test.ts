// Random initialisation from a config (transformers' _init_weights rules) and the from-scratch checkpoint
// folder it writes, which the model runtime loads like any other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelConfig } from '../../src/model/config.js';
import { loadEmbedder } from '../../src/model/index.js';
import { initRule, modelWeightRequests, randomWeights, writeRandomCheckpoint } from '../../src/model/random-init.js';
import { SafetensorsCheckpoint } from '../../src/model/safetensors.js';
import { saveTrainedTokenizer, trainTokenizer } from '../../src/model/tokenizer-trainer.js';
import { removeDir, tempDir } from './helpers.js';

const BERT = { model_type: 'bert', hidden_size: 64, intermediate_size: 128, num_attention_heads: 4, num_hidden_layers: 2, vocab_size: 500, max_position_embeddings: 64, pad_token_id: 0, initializer_range: 0.05 };
const QWEN = { model_type: 'qwen2', hidden_size: 64, intermediate_size: 96, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, vocab_size: 300, max_position_embeddings: 64, pad_token_id: 7 };

test('init rules by tensor name: norms 1 (LayerNorm bias 0), biases 0, everything else normal', () => {
  assert.equal(initRule('embeddings.LayerNorm.weight'), 'ones');
  assert.equal(initRule('embeddings.LayerNorm.bias'), 'zeros');
  assert.equal(initRule('encoder.layer.1.output.LayerNorm.gamma'), 'ones');
  assert.equal(initRule('layers.0.input_layernorm.weight'), 'ones');
  assert.equal(initRule('layers.0.self_attn.q_norm.weight'), 'ones');
  assert.equal(initRule('norm.weight'), 'ones');
  assert.equal(initRule('layers.0.self_attn.q_proj.bias'), 'zeros');
  assert.equal(initRule('layers.0.self_attn.q_proj.weight'), 'normal');
  assert.equal(initRule('embeddings.token_type_embeddings.weight'), 'normal');
  assert.equal(initRule('embed_tokens.weight'), 'normal');
});

for (const raw of [BERT, QWEN]) {
  test(`${raw.model_type}: N(0, initializer_range²) weights, zero pad row, seeded and order-independent`, () => {
    const config = parseModelConfig(raw, 'config.json');
    const w = randomWeights(config, { seed: 11 });
    const std = raw.model_type === 'bert' ? 0.05 : 0.02;
    const reqs = modelWeightRequests(config);
    assert.deepEqual([...w.keys()], reqs.map((r) => r.name));
    let n = 0;
    let s = 0;
    let s2 = 0;
    for (const r of reqs) {
      const v = w.get(r.name)!;
      assert.equal(v.length, r.shape.reduce((a, b) => a * b, 1));
      const rule = initRule(r.name);
      if (rule === 'ones') assert.ok(v.every((x) => x === 1), r.name);
      else if (rule === 'zeros') assert.ok(v.every((x) => x === 0), r.name);
      else for (const x of v) {
        n++;
        s += x;
        s2 += x * x;
      }
    }
    const mean = s / n;
    const sd = Math.sqrt(s2 / n - mean * mean);
    assert.ok(Math.abs(mean) < 4 * std / Math.sqrt(n), `mean ${mean}`);
    assert.ok(Math.abs(sd - std) < 0.01 * std, `std ${sd} vs ${std}`);
    // The pad token's embedding row is zero (nn.Embedding padding_idx), the others are not.
    const emb = w.get(raw.model_type === 'bert' ? 'embeddings.word_embeddings.weight' : 'embed_tokens.weight')!;
    const H = raw.hidden_size;
    const pad = raw.pad_token_id;
    assert.ok(emb.subarray(pad * H, (pad + 1) * H).every((x) => x === 0));
    assert.ok(emb.subarray((pad + 1) * H, (pad + 2) * H).some((x) => x !== 0));
    // Same seed → same bits; another seed → other values; a tensor does not depend on the others.
    const again = randomWeights(config, { seed: 11 });
    for (const [k, v] of w) assert.deepEqual(again.get(k), v);
    assert.notDeepEqual(randomWeights(config, { seed: 12 }).get(reqs[0]!.name), w.get(reqs[0]!.name));
    const deeper = randomWeights(parseModelConfig({ ...raw, num_hidden_layers: 3 }, 'config.json'), { seed: 11 });
    for (const [k, v] of w) assert.deepEqual(deeper.get(k), v, `${k} depends on the number of layers`);
  });
}

test('writeRandomCheckpoint: a Hugging Face folder (vocab size from the tokenizer) that loadEmbedder loads', async () => {
  const dir = tempDir('random-init');
  try {
    const tok = join(dir, 'tok');
    await saveTrainedTokenizer(tok, await trainTokenizer(['the cat sat on the mat', 'a dog ate the bone', 'cats and dogs'], { kind: 'wordpiece', vocabSize: 120, minFrequency: 1 }));
    const { vocab_size: _v, ...noVocab } = BERT;
    const out = join(dir, 'model');
    const config = await writeRandomCheckpoint(out, { config: noVocab, tokenizerDir: tok, seed: 5, maxSeqLength: 32 });
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    const tokJson = JSON.parse(readFileSync(join(tok, 'tokenizer.json'), 'utf8'));
    assert.equal(saved.vocab_size, Object.keys(tokJson.model.vocab).length);
    assert.equal(config.vocabSize, saved.vocab_size);
    for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', '1_Pooling/config.json', 'sentence_bert_config.json']) assert.ok(existsSync(join(out, f)), f);
    const ck = await SafetensorsCheckpoint.open(out);
    const want = randomWeights(config, { seed: 5 });
    for (const [k, v] of want) assert.deepEqual(await ck.readFloat32(k), v);
    await ck.close();
    const model = await loadEmbedder(out, { cacheDir: join(dir, 'cache'), threads: 1 });
    const [a, b] = await model.embed(['the cat sat', 'a dog']);
    assert.equal(a!.length, 64);
    assert.ok(Math.abs(Math.hypot(...a!) - 1) < 1e-5 && Math.abs(Math.hypot(...b!) - 1) < 1e-5);
    assert.equal(model.maxLength, 32);
    await model.close();
    await assert.rejects(writeRandomCheckpoint(out, { config: noVocab, tokenizerDir: tok }), /already exists and is not empty/);
  } finally {
    removeDir(dir);
  }
});
