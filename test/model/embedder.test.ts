import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadEmbedder, Embedder } from '../../src/model/index.js';
import { CheckpointError } from '../../src/model/errors.js';
import { writeSafetensors, SafetensorsCheckpoint } from '../../src/model/safetensors.js';
import { formatPrompt } from '../../src/model/instructions.js';
import {
  tempDir, removeDir, fixtureCheckpoint, loadCases, wordPieceTokenizer, indexVocab, tinyQwenTokenizer, dot, maxAbsDiff,
  checkFixtureBatch, fixtureTexts, padRows, type Cases,
} from './helpers.js';

test('qwen2-tiny: causal and bidirectional hidden states ≤ 1e-4 and mean embeddings (cos ≥ 0.99999), either padding side, both attention kernels', async () => {
  const cases = loadCases('qwen2-tiny') as Cases;
  const dir = fixtureCheckpoint('qwen2-tiny', wordPieceTokenizer(indexVocab(384), { specials: false }));
  const cache = tempDir('cache');
  try {
    for (const attentionKernel of ['fused', 'matmul'] as const) {
      for (const attention of ['causal', 'bidirectional'] as const) {
        const e = await loadEmbedder(dir, { attention, attentionKernel, withHiddenStates: true, cacheDir: cache, maxLength: 64 });
        try {
          assert.equal(e.config.attention, attention);
          await checkFixtureBatch(e, cases, `${attention}_last_hidden_state`, `${attention}_mean_embedding`);
          await checkFixtureBatch(e, cases, `${attention}_last_hidden_state`, `${attention}_mean_embedding`, true);
        } finally {
          await e.close();
        }
      }
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});

test('bert-tiny: hidden states ≤ 1e-4, CLS and mean embeddings (cos ≥ 0.99999), both attention kernels', async () => {
  const cases = loadCases('bert-tiny') as Cases;
  const dir = fixtureCheckpoint('bert-tiny', wordPieceTokenizer(indexVocab(300), { specials: false }));
  const cache = tempDir('cache');
  try {
    for (const attentionKernel of ['fused', 'matmul'] as const) {
      for (const pooling of ['cls', 'mean'] as const) {
        const e = await loadEmbedder(dir, { pooling, attentionKernel, withHiddenStates: true, cacheDir: cache });
        try {
          await checkFixtureBatch(e, cases, 'last_hidden_state', `${pooling}_embedding`, true);
        } finally {
          await e.close();
        }
      }
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});


test('text in, vectors out: QZhou pipeline (left padding, length-sorted token-budget batches) matches the fixture in input order', async () => {
  const cases = loadCases('qwen2-tiny') as Cases;
  const texts = fixtureTexts(cases);
  // QZhou's config names QZhouModel → bidirectional without any option
  const dir = fixtureCheckpoint('qwen2-tiny', wordPieceTokenizer(indexVocab(384), { specials: false }), {}, { architectures: ['QZhouModel'] });
  const cache = tempDir('cache');
  try {
    for (const batchTokens of [1, 16, 100000]) {
      const e = await Embedder.fromPretrained(dir, { cacheDir: cache, batchTokens, maxLength: 64 });
      try {
        assert.equal(e.dim, 64);
        assert.equal(e.tokenizer.paddingSide, 'left');
        const progress: number[] = [];
        // repeat the texts in a shuffled order: the output must follow the input order
        const order = [2, 0, 3, 1, 1, 2];
        const vecs = await e.embed(order.map((i) => texts[i]!), { onProgress: (d) => progress.push(d) });
        order.forEach((i, k) => {
          const cos = dot(vecs[k]!, (cases.bidirectional_mean_embedding as number[][])[i]!);
          assert.ok(cos >= 0.99999, `batchTokens ${batchTokens}, text ${i}: cos ${cos}`);
          assert.ok(Math.abs(dot(vecs[k]!, vecs[k]!) - 1) < 1e-5, 'unit length');
        });
        assert.equal(progress.at(-1), order.length);
        assert.deepEqual(e.countTokens(texts), [9, 5, 1, 9]);
      } finally {
        await e.close();
      }
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});

test('count then embed (what the server does) tokenises each text once and gives the same vectors', async () => {
  const texts = ['card lost', 'what is a bond', '', 'a much longer text about a bank transfer that did not arrive'];
  const dir = fixtureCheckpoint('qwen2-tiny', tinyQwenTokenizer(384), { pad_token: '<|endoftext|>' }, { is_causal: false });
  const cache = tempDir('cache');
  try {
    const e = await loadEmbedder(dir, { cacheDir: cache, maxLength: 40 });
    try {
      const request = { instruction: 'Find the intent' };
      const plain = await e.embed(texts, request);
      const expectedCounts = texts.map((t) => e.tokenizer.encode(`${formatPrompt('Find the intent')}${t || 'Null'}`).length);
      const tok = e.tokenizer as unknown as { encodeText(t: string): number[] };
      const original = tok.encodeText.bind(tok);
      let calls = 0;
      tok.encodeText = (t: string) => {
        calls++;
        return original(t);
      };
      const counts = e.countTokens(texts, request);
      assert.equal(calls, texts.length);
      const again = await e.embed(texts, request);
      assert.equal(calls, texts.length, 'embed() reused the ids countTokens() made');
      assert.deepEqual(again, plain);
      assert.deepEqual(counts, expectedCounts);
      // Ids are handed over once: a second embed tokenises again, and a different prompt never reuses them.
      await e.embed(texts, request);
      assert.equal(calls, 2 * texts.length);
      e.countTokens(texts, request);
      assert.deepEqual(await e.embed(texts), await e.embed(texts, {}));
    } finally {
      await e.close();
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});

test('text in, vectors out: BERT with [CLS]/[SEP] from the tokenizer, right padding, CLS pooling', async () => {
  const cases = loadCases('bert-tiny') as Cases;
  // vocabulary: index words, with [CLS]/[SEP] at the ids the fixture rows start and end with (row 0)
  const vocab = indexVocab(300);
  const row0 = cases.input_ids[0]!;
  const first = row0[0]!;
  const last = row0[row0.length - 1]!;
  delete vocab[`w${first}`];
  delete vocab[`w${last}`];
  vocab['[CLS]'] = first;
  vocab['[SEP]'] = last;
  const dir = fixtureCheckpoint('bert-tiny', wordPieceTokenizer(vocab));
  const cache = tempDir('cache');
  try {
    const e = await loadEmbedder(dir, { pooling: 'cls', cacheDir: cache });
    try {
      const text = row0.slice(1, -1).map((id) => `w${id}`).join(' ');
      const [v] = await e.embed([text]);
      assert.ok(dot(v!, (cases.cls_embedding as number[][])[0]!) >= 0.99999);
      assert.deepEqual(e.countTokens([text, '']), [row0.length, 2]);
      const [empty] = await e.embed(['']); // BERT keeps "" ([CLS][SEP])
      const [cls] = await e.embedTokenIds([[first, last]]);
      assert.ok(maxAbsDiff(empty!, cls!) < 1e-6);
    } finally {
      await e.close();
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});

test('include_prompt false: mean pooling leaves out [CLS] and the prompt tokens, counted as the model tokenises them (lowercased)', async () => {
  // [CLS]=298, [SEP]=299; "w5w7" is two pieces (w5 ##w7) once lowercased, one [UNK] before.
  const vocab: Record<string, number> = { ...indexVocab(296), '[UNK]': 296, '##w7': 297, '[CLS]': 298, '[SEP]': 299 };
  const tok = wordPieceTokenizer(vocab, { lowercase: false });
  const st = fixtureCheckpoint('bert-tiny', tok);
  const plain = fixtureCheckpoint('bert-tiny', tok);
  const cache = tempDir('cache');
  try {
    writeFileSync(join(st, 'modules.json'), JSON.stringify([
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    ]));
    mkdirSync(join(st, '1_Pooling'));
    writeFileSync(join(st, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 32, pooling_mode_mean_tokens: true, include_prompt: false }));
    writeFileSync(join(st, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: 64, do_lower_case: true }));
    writeFileSync(join(st, 'config_sentence_transformers.json'), JSON.stringify({ prompts: { query: 'W5W7 w9 ' } }));
    const e = await loadEmbedder(st, { cacheDir: cache });
    const ref = await loadEmbedder(plain, { cacheDir: cache, withHiddenStates: true });
    try {
      const H = e.dim;
      const text = 'w11 w12 w13';
      const [got] = await e.embed([text], { kind: 'query' });
      const ids = e.tokenizer.encode('w5w7 w9 w11 w12 w13');
      assert.deepEqual(ids, [298, 5, 297, 9, 11, 12, 13, 299]);
      const S = ids.length;
      const res = await ref.runBatch(BigInt64Array.from(ids, BigInt), new BigInt64Array(S).fill(1n), [1, S]);
      // [CLS] + 3 prompt tokens are left out: the mean runs over w11 w12 w13 [SEP].
      const diffFrom = (from: number) => {
        const m = new Float64Array(H);
        for (let j = from; j < S; j++) for (let k = 0; k < H; k++) m[k] += res.lastHiddenState![j * H + k]!;
        const n = Math.sqrt(dot(m, m));
        return maxAbsDiff(got!, m.map((x) => x / n));
      };
      assert.ok(diffFrom(4) < 1e-6, `max |Δ| ${diffFrom(4)}`);
      // Counting the prompt as 2 tokens (its [UNK] form before lowercasing) or 4 would pool other positions.
      for (const from of [3, 5]) assert.ok(diffFrom(from) > 1e-4, `pooling from position ${from} differs: max |Δ| ${diffFrom(from)}`);
    } finally {
      await e.close();
      await ref.close();
    }
  } finally {
    removeDir(st);
    removeDir(plain);
    removeDir(cache);
  }
});

test('instructions: task table per side, explicit instruction, "" → "Null", truncation, query vs document', async () => {
  const dir = fixtureCheckpoint('qwen2-tiny', tinyQwenTokenizer(384), { pad_token: '<|endoftext|>' }, { is_causal: false });
  const cache = tempDir('cache');
  try {
    const e = await loadEmbedder(dir, { cacheDir: cache, maxLength: 40 });
    try {
      const tok = e.tokenizer;
      const same = async (got: Float32Array, text: string) => {
        const [want] = await e.embedTokenIds([tok.encodeTruncated(text, e.maxLength).ids]);
        assert.ok(maxAbsDiff(got, want!) < 1e-6, JSON.stringify(text));
      };
      const bank = 'Given a online banking query, find the corresponding intents';
      const fiqa = 'Given a financial question, retrieve user replies that best answer the question';
      const [q, d] = await e.embed(['card lost', 'card lost'], { task: 'Banking77Classification', kind: 'query' });
      await same(q!, `Instruct: ${bank}\nQuery: card lost`);
      const [bd] = await e.embed(['card lost'], { task: 'Banking77Classification', kind: 'document' });
      assert.ok(maxAbsDiff(bd!, d!) < 1e-6, 'B task: documents get the instruction too');
      const [fq] = await e.embed(['what is a bond'], { task: 'FiQA2018' });
      await same(fq!, `Instruct: ${fiqa}\nQuery: what is a bond`);
      const [fd] = await e.embed(['a bond is debt'], { task: 'FiQA2018', kind: 'document' });
      await same(fd!, 'a bond is debt');
      const [ex] = await e.embed(['x'], { instruction: 'Do it', kind: 'document' });
      await same(ex!, formatPrompt('Do it') + 'x');
      const [nul] = await e.embed(['']);
      await same(nul!, 'Null');
      assert.deepEqual(e.countTokens(['']), [tok.encode('Null').length]);
      // longer than max length: cut from the right (instruction kept), or an error when truncate is false
      const long = 'word '.repeat(60);
      assert.ok(e.countTokens([long], { task: 'FiQA2018' })[0]! > 40);
      const [cut] = await e.embed([long], { task: 'FiQA2018' });
      await same(cut!, `Instruct: ${fiqa}\nQuery: ${long}`);
      await assert.rejects(e.embed(['ok', long], { truncate: false }), /text 1 has \d+ tokens.*max length 40/);
      await assert.rejects(e.embedTokenIds([[1, 2, 999]]), /outside the vocabulary/);
    } finally {
      await e.close();
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});

test('pooling modes inside the graph: last token (either padding side), max, CLS vs hidden states', async () => {
  const cases = loadCases('qwen2-tiny') as Cases;
  const dir = fixtureCheckpoint('qwen2-tiny', wordPieceTokenizer(indexVocab(384), { specials: false }));
  const cache = tempDir('cache');
  try {
    const B = cases.input_ids.length;
    const S = cases.input_ids[0]!.length;
    const H = 64;
    const ref = cases.causal_last_hidden_state as number[][][];
    const rows = cases.input_ids.map((r, b) => r.filter((_, j) => cases.attention_mask[b]![j] === 1));
    const norm = (v: number[]) => {
      const n = Math.sqrt(dot(v, v));
      return v.map((x) => x / n);
    };
    for (const pooling of ['lasttoken', 'max', 'cls'] as const) {
      const e = await loadEmbedder(dir, { attention: 'causal', pooling, cacheDir: cache });
      try {
        for (const padRight of [false, true]) {
          const { ids, mask } = padRows(rows, S, padRight);
          const { embedding } = await e.runBatch(ids, mask, [B, S]);
          rows.forEach((r, b) => {
            const real = r.map((_, j) => ref[b]![S - r.length + j]!); // fixture rows are left-padded
            const want = norm(pooling === 'lasttoken' ? real.at(-1)! : pooling === 'cls' ? real[0]! : Array.from({ length: H }, (_, k) => Math.max(...real.map((h) => h[k]!))));
            assert.ok(maxAbsDiff(embedding.subarray(b * H, (b + 1) * H), want) < 1e-4, `${pooling} row ${b} padRight ${padRight}`);
          });
        }
      } finally {
        await e.close();
      }
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});

test('save → load: Hugging Face layout, identical vectors; f16 copy close; sharded copy identical', async () => {
  const src = fixtureCheckpoint('qwen2-tiny', tinyQwenTokenizer(384), { pad_token: '<|endoftext|>' });
  writeFileSync(join(src, 'modeling_qzhou.py'), '# remote code named by auto_map\n');
  const cache = tempDir('cache');
  const out = tempDir('saved');
  const texts = ['hello world', 'the quick brown fox', '', 'a'];
  try {
    const e = await loadEmbedder(src, { cacheDir: cache, attention: 'bidirectional', pooling: 'lasttoken', maxLength: 32 });
    const before = await e.embed(texts, { task: 'STS12' });
    await e.save(join(out, 'm'));
    await e.save(join(out, 'half'), { dtype: 'F16' });
    await e.save(join(out, 'sharded'), { maxShardBytes: 100_000 });
    await assert.rejects(e.save(join(out, 'm')), /already exists and is not empty/);
    await e.close();
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modeling_qzhou.py', 'modules.json', '1_Pooling/config.json', 'config_sentence_transformers.json', 'sentence_bert_config.json']) {
      assert.ok(existsSync(join(out, 'm', f)), f);
    }
    const cfg = JSON.parse(readFileSync(join(out, 'm', 'config.json'), 'utf8'));
    assert.equal(cfg.is_causal, false, 'the attention override is kept');
    assert.equal(JSON.parse(readFileSync(join(out, 'm', '1_Pooling', 'config.json'), 'utf8')).pooling_mode_lasttoken, true);
    assert.equal(JSON.parse(readFileSync(join(out, 'm', 'sentence_bert_config.json'), 'utf8')).max_seq_length, 32);
    assert.ok(existsSync(join(out, 'sharded', 'model.safetensors.index.json')));
    // What transformers reads: the same tensor names, shapes and dtypes as the checkpoint transformers wrote
    // (the fixture), "format": "pt" metadata (transformers refuses other formats), and the source config's
    // keys and values apart from the attention override.
    const layout = async (dir: string) => {
      const ck = await SafetensorsCheckpoint.open(dir);
      const rows = ck.names().sort().map((n) => `${n} ${ck.get(n)!.dtype} ${ck.get(n)!.shape.join('x')}`);
      const meta = ck.metadata;
      await ck.close();
      return { rows, meta };
    };
    const original = await layout(src);
    const saved = await layout(join(out, 'm'));
    assert.deepEqual(saved.rows, original.rows);
    assert.equal(saved.meta.format, 'pt');
    assert.equal((await layout(join(out, 'sharded'))).meta.format, 'pt');
    const srcCfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
    for (const [k, v] of Object.entries(srcCfg)) if (k !== 'is_causal' && k !== 'torch_dtype' && k !== 'dtype') assert.deepEqual(cfg[k], v, `config.json ${k}`);

    const again = await loadEmbedder(join(out, 'm'), { cacheDir: cache });
    assert.equal(again.config.attention, 'bidirectional');
    assert.equal(again.pooling, 'lasttoken');
    assert.equal(again.maxLength, 32);
    const after = await again.embed(texts, { task: 'STS12' });
    after.forEach((v, i) => assert.deepEqual([...v], [...before[i]!], `text ${i} identical`));
    await again.close();
    const sharded = await loadEmbedder(join(out, 'sharded'), { cacheDir: cache });
    (await sharded.embed(texts, { task: 'STS12' })).forEach((v, i) => assert.deepEqual([...v], [...before[i]!]));
    await sharded.close();
    const half = await loadEmbedder(join(out, 'half'), { cacheDir: cache });
    (await half.embed(texts, { task: 'STS12' })).forEach((v, i) => assert.ok(dot(v, before[i]!) > 0.9999, `f16 copy text ${i}`));
    await half.close();
  } finally {
    removeDir(src);
    removeDir(cache);
    removeDir(out);
  }
});

test('weight dtypes: f16 and int8 stay close to f32; int4 is a coarse approximation on random weights', async () => {
  const dir = fixtureCheckpoint('qwen2-tiny', tinyQwenTokenizer(384), {}, { is_causal: false });
  const cache = tempDir('cache');
  const texts = ['hello world', 'the quick brown fox jumps over the lazy dog', 'x'];
  try {
    const ref = await loadEmbedder(dir, { cacheDir: cache });
    const want = await ref.embed(texts);
    await ref.close();
    const min: Record<string, number> = { f16: 0.9999, int8: 0.999, int4: 0.85 };
    for (const dtype of ['f16', 'int8', 'int4'] as const) {
      const e = await loadEmbedder(dir, { cacheDir: cache, dtype });
      const got = await e.embed(texts);
      got.forEach((v, i) => assert.ok(dot(v, want[i]!) >= min[dtype]!, `${dtype} text ${i}: cos ${dot(v, want[i]!)}`));
      assert.ok(e.weights.storeFile, `${dtype} converts into the cache`);
      await e.close();
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});

test('checkpoint errors: missing tensor, wrong shape, unsupported architecture — one message naming file and field', async () => {
  const cache = tempDir('cache');
  const tok = wordPieceTokenizer(indexVocab(300), { specials: false });
  const dir = fixtureCheckpoint('bert-tiny', tok);
  try {
    // drop one tensor
    const ck = await SafetensorsCheckpoint.open(dir);
    const keep = ck.names().filter((n) => n !== 'encoder.layer.1.output.dense.weight');
    const tensors = await Promise.all(keep.map(async (n) => ({ name: n, dtype: ck.get(n)!.dtype, shape: ck.get(n)!.shape, data: await ck.readBytes(n) })));
    await ck.close();
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    await assert.rejects(loadEmbedder(dir, { cacheDir: cache }), (e: unknown) =>
      e instanceof CheckpointError && e.file.endsWith('model.safetensors') && /tensor "encoder\.layer\.1\.output\.dense\.weight": missing/.test(e.message));
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 97 }));
    await assert.rejects(loadEmbedder(dir, { cacheDir: cache }), /tensor "encoder\.layer\.0\.intermediate\.dense\.weight"\.shape: is \[96,48\], config\.json implies \[97,48\]/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'mistral' }));
    await assert.rejects(loadEmbedder(dir, { cacheDir: cache }), /config\.json: model_type: "mistral" is not supported/);
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});
