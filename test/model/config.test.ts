import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelConfig, loadModelConfig, configForSave, type DecoderConfig } from '../../src/model/config.js';
import { loadSentenceTransformersConfig } from '../../src/model/sentence-transformers.js';
import { resolvePrompt, DEFAULT_PROMPT_SETTINGS } from '../../src/model/prompts.js';
import { CheckpointError } from '../../src/model/errors.js';
import { FIXTURES, tempDir, removeDir } from './helpers.js';

const qwen = JSON.parse(readFileSync(join(FIXTURES, 'qwen2-tiny', 'config.json'), 'utf8'));
const bert = JSON.parse(readFileSync(join(FIXTURES, 'bert-tiny', 'config.json'), 'utf8'));

/** QZhou-Embedding's config.json shape (transformers 4.51: top-level rope_theta, QZhouModel architecture). */
const qzhou = {
  architectures: ['QZhouModel'], auto_map: { AutoModel: 'modeling_qzhou.QZhouModel' }, model_type: 'qwen2',
  hidden_size: 3584, intermediate_size: 18944, num_attention_heads: 28, num_hidden_layers: 28, num_key_value_heads: 4,
  max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1000000.0, rope_scaling: null, vocab_size: 152064,
  tie_word_embeddings: false, use_sliding_window: false, sliding_window: 131072, hidden_act: 'silu',
};

test('qwen2: every field the graph needs, rope theta in either layout', async () => {
  const c = (await loadModelConfig(join(FIXTURES, 'qwen2-tiny'))) as DecoderConfig;
  assert.equal(c.family, 'decoder');
  assert.deepEqual(
    [c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize, c.vocabSize, c.rmsNormEps, c.ropeTheta],
    [64, 2, 4, 2, 16, 160, 384, 1e-6, 10000],
  );
  assert.equal(c.qkvBias, true);
  assert.equal(c.oBias, false);
  assert.equal(c.qkNorm, false);
  assert.equal(c.attention, 'causal');
  const q = parseModelConfig(qzhou, 'config.json') as DecoderConfig;
  assert.equal(q.ropeTheta, 1e6);
  assert.equal(q.headDim, 128);
  assert.equal(q.attention, 'bidirectional');
  assert.match(q.attentionReason, /QZhouModel/);
  assert.equal(q.slidingWindow, undefined);
  const linear = parseModelConfig({ ...qwen, rope_parameters: { rope_type: 'linear', rope_theta: 5e5, factor: 2 } }, 'c') as DecoderConfig;
  assert.deepEqual([linear.ropeTheta, linear.ropeScaling], [5e5, { type: 'linear', factor: 2 }]);
});

test('the bidirectional rule: QZhou in architectures or auto_map, or is_causal false; an override wins', () => {
  const att = (raw: Record<string, unknown>, o?: 'causal' | 'bidirectional') => (parseModelConfig(raw, 'c', { attention: o }) as DecoderConfig).attention;
  assert.equal(att(qwen), 'causal');
  assert.equal(att({ ...qwen, architectures: ['QZhouModel'] }), 'bidirectional');
  assert.equal(att({ ...qwen, auto_map: { AutoModel: 'modeling_qzhou.QZhouModel' } }), 'bidirectional');
  assert.equal(att({ ...qwen, is_causal: false }), 'bidirectional');
  assert.equal(att({ ...qwen, is_causal: true }), 'causal');
  // A QZhou name wins over whatever is_causal the config carries (DEVELOPERS: QZhou → bidirectional).
  assert.equal(att({ ...qwen, architectures: ['QZhouModel'], is_causal: true }), 'bidirectional');
  assert.equal(att({ ...qwen, architectures: ['QZhouModel'], is_causal: false }), 'bidirectional');
  assert.equal(att({ ...qwen, architectures: ['Qwen2ForCausalLM'] }), 'causal');
  assert.equal(att(qzhou, 'causal'), 'causal');
  assert.equal(att(qwen, 'bidirectional'), 'bidirectional');
  assert.equal(att({ ...qwen, model_type: 'qwen3', head_dim: 16 }), 'causal', 'Qwen3-Embedding is causal');
});

test('configForSave records an attention override so that the saved copy loads with the same attention', () => {
  for (const [raw, override] of [[qzhou, 'causal'], [qwen, 'bidirectional'], [{ ...qwen, is_causal: false }, 'causal'], [qzhou, undefined], [qwen, undefined]] as const) {
    const loaded = parseModelConfig(raw, 'c', { attention: override }) as DecoderConfig;
    const saved = configForSave(loaded);
    assert.equal((parseModelConfig(saved, 'c') as DecoderConfig).attention, loaded.attention, `${String(raw.architectures)} with ${override ?? 'no'} override`);
    if (override === undefined) assert.deepEqual(saved, raw, 'no override: config.json is written back unchanged');
  }
  // A causal copy of QZhou drops the QZhou names (which the rule reads as bidirectional) and keeps the rest.
  const causalCopy = configForSave(parseModelConfig(qzhou, 'c', { attention: 'causal' }));
  assert.deepEqual([causalCopy.architectures, causalCopy.auto_map, causalCopy.is_causal], [['Qwen2Model'], undefined, true]);
  assert.equal(causalCopy.hidden_size, qzhou.hidden_size);
  assert.deepEqual(configForSave(parseModelConfig(bert, 'c')), bert);
});

test('qwen3: explicit head_dim, q/k norm, attention_bias', () => {
  const c = parseModelConfig({ ...qwen, model_type: 'qwen3', head_dim: 32, attention_bias: false }, 'c') as DecoderConfig;
  assert.deepEqual([c.headDim, c.qkNorm, c.qkvBias, c.oBias], [32, true, false, false]);
});

test('bert: encoder fields', async () => {
  const c = await loadModelConfig(join(FIXTURES, 'bert-tiny'));
  assert.equal(c.family, 'encoder');
  if (c.family !== 'encoder') return;
  assert.deepEqual([c.hiddenSize, c.numLayers, c.numHeads, c.intermediateSize, c.vocabSize, c.typeVocabSize, c.layerNormEps, c.hiddenAct, c.maxPositionEmbeddings],
    [48, 2, 3, 96, 300, 2, 1e-12, 'gelu', 64]);
  assert.equal(c.attention, 'bidirectional');
});

test('config errors name the file and the field', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ ...qwen, model_type: 'llama' }, /c\.json: model_type: "llama" is not supported \(supported: qwen2, qwen3, bert\)/],
    [{ ...qwen, model_type: undefined }, /model_type: missing/],
    [{ ...qwen, hidden_size: undefined }, /hidden_size: missing/],
    [{ ...qwen, num_hidden_layers: 2.5 }, /num_hidden_layers: must be an integer/],
    [{ ...qwen, num_key_value_heads: 3 }, /num_key_value_heads: 3 does not divide num_attention_heads 4/],
    [{ ...qwen, hidden_act: 'gelu' }, /hidden_act: "gelu" is not supported for qwen2/],
    [{ ...qwen, rope_parameters: { rope_type: 'yarn', rope_theta: 1e4, factor: 4 } }, /rope_parameters\.rope_type: RoPE type "yarn" is not supported/],
    [{ ...qwen, rope_parameters: { rope_type: 'default' } }, /rope_parameters\.rope_theta: missing/],
    [{ ...bert, position_embedding_type: 'relative_key' }, /position_embedding_type: "relative_key" is not supported/],
    [{ ...bert, hidden_act: 'swish' }, /hidden_act: "swish" is not supported/],
  ];
  for (const [raw, re] of bad) assert.throws(() => parseModelConfig(raw, 'c.json'), (e: unknown) => e instanceof CheckpointError && re.test((e as Error).message), String(re));
  assert.throws(() => parseModelConfig(bert, 'c.json', { attention: 'causal' }), /causal attention override does not apply/);
  const dir = tempDir('cfg');
  try {
    await assert.rejects(loadModelConfig(dir), (e: unknown) => e instanceof CheckpointError && /config\.json: missing/.test((e as Error).message));
    writeFileSync(join(dir, 'config.json'), '{"model_type": "qwen2",');
    await assert.rejects(loadModelConfig(dir), /config\.json: is not valid JSON/);
  } finally {
    removeDir(dir);
  }
});

test('sentence-transformers metadata: modules, pooling, prompts, max length, dense, normalize', async () => {
  const dir = tempDir('st');
  try {
    assert.equal(await loadSentenceTransformersConfig(dir), undefined);
    writeFileSync(join(dir, 'modules.json'), JSON.stringify([
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
      { idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' },
      { idx: 3, name: '3', path: '3_Normalize', type: 'sentence_transformers.models.Normalize' },
    ]));
    mkdirSync(join(dir, '1_Pooling'));
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({
      word_embedding_dimension: 64, pooling_mode_cls_token: false, pooling_mode_mean_tokens: false, pooling_mode_max_tokens: false,
      pooling_mode_mean_sqrt_len_tokens: false, pooling_mode_weightedmean_tokens: false, pooling_mode_lasttoken: true, include_prompt: false,
    }));
    mkdirSync(join(dir, '2_Dense'));
    writeFileSync(join(dir, '2_Dense', 'config.json'), JSON.stringify({ in_features: 64, out_features: 16, bias: true, activation_function: 'torch.nn.modules.activation.Tanh' }));
    writeFileSync(join(dir, 'config_sentence_transformers.json'), JSON.stringify({ prompts: { query: 'q: ', document: 'd: ', STS12: 'sts: ' }, default_prompt_name: 'query', similarity_fn_name: 'cosine' }));
    writeFileSync(join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: 128, do_lower_case: true }));
    const st = (await loadSentenceTransformersConfig(dir))!;
    assert.equal(st.pooling, 'lasttoken');
    assert.equal(st.includePrompt, false);
    assert.deepEqual(st.dense, [{ path: '2_Dense', inFeatures: 64, outFeatures: 16, bias: true, activation: 'tanh' }]);
    assert.equal(st.normalize, true);
    assert.equal(st.maxSeqLength, 128);
    assert.equal(st.doLowerCase, true);
    assert.equal(st.defaultPromptName, 'query');

    // prompt resolution
    const s = { ...DEFAULT_PROMPT_SETTINGS, prompts: st.prompts, defaultPromptName: st.defaultPromptName, instructionTable: false };
    assert.equal(resolvePrompt(undefined, s), 'q: ', 'default prompt');
    assert.equal(resolvePrompt({ kind: 'document' }, s), 'd: ');
    assert.equal(resolvePrompt({ task: 'STS12', kind: 'document' }, s), 'sts: ', 'task-named prompt');
    assert.equal(resolvePrompt({ task: 'Banking77Classification' }, s), 'q: ', 'no table: kind prompt');
    assert.equal(resolvePrompt({ instruction: 'Find it', kind: 'document' }, s), 'Instruct: Find it\nQuery: ');
    const t = { ...DEFAULT_PROMPT_SETTINGS };
    assert.equal(resolvePrompt({ task: 'Banking77Classification', kind: 'document' }, t), 'Instruct: Given a online banking query, find the corresponding intents\nQuery: ');
    assert.equal(resolvePrompt({ task: 'FiQA2018', kind: 'document' }, t), '', 'Q tasks: documents get nothing');
    assert.equal(resolvePrompt({ task: 'FiQA2018' }, t), 'Instruct: Given a financial question, retrieve user replies that best answer the question\nQuery: ');
    assert.equal(resolvePrompt({}, t), '');

    // errors name the file and field
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ pooling_mode_cls_token: true, pooling_mode_mean_tokens: true }));
    await assert.rejects(loadSentenceTransformersConfig(dir), /1_Pooling\/config\.json: pooling_mode_cls_token, pooling_mode_mean_tokens: several pooling modes/);
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ pooling_mode: 'mean' }));
    writeFileSync(join(dir, 'config_sentence_transformers.json'), JSON.stringify({ prompts: { query: 1 } }));
    await assert.rejects(loadSentenceTransformersConfig(dir), /config_sentence_transformers\.json: prompts\.query: must be a string/);
    writeFileSync(join(dir, 'config_sentence_transformers.json'), JSON.stringify({ prompts: {}, default_prompt_name: 'x' }));
    await assert.rejects(loadSentenceTransformersConfig(dir), /default_prompt_name: "x" is not a key of prompts/);
    writeFileSync(join(dir, 'config_sentence_transformers.json'), '{}');
    writeFileSync(join(dir, 'modules.json'), JSON.stringify([{ type: 'sentence_transformers.models.Transformer', path: '' }, { type: 'sentence_transformers.models.WeightedLayerPooling', path: 'x' }]));
    await assert.rejects(loadSentenceTransformersConfig(dir), /modules\.json: \[1\]\.type: module "sentence_transformers\.models\.WeightedLayerPooling" is not supported/);
  } finally {
    removeDir(dir);
  }
});

test('loadModelConfig on a file instead of a checkpoint folder names the file', async () => {
  const dir = tempDir('cfg-file');
  try {
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, 'not a folder');
    await assert.rejects(loadModelConfig(file), (e: unknown) => e instanceof CheckpointError && e.message === `${file}: is a file, not a checkpoint folder (config.json, tokenizer.json, model.safetensors)`);
  } finally {
    removeDir(dir);
  }
});
