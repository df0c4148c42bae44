import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeRandomCheckpoint } from '../../src/model/random-init.js';
import { openModelSource } from '../../src/train/model-source.js';
import { removeDir, tinyModel } from './model-helpers.js';

test('model.path: the checkpoint\'s pooling is trained; Dense modules and include_prompt: false are refused, naming modules.json', async () => {
  const m = await tinyModel('bert');
  try {
    const dir = join(m.dir, 'ckpt');
    await writeRandomCheckpoint(dir, { config: m.raw, tokenizerDir: m.tokenizerDir, pooling: 'cls' });
    const src = await openModelSource({ path: dir });
    assert.equal(src.pooling, 'cls');
    assert.equal(src.checkpointDir, dir);
    const pooling = join(dir, '1_Pooling', 'config.json');
    writeFileSync(pooling, JSON.stringify({ word_embedding_dimension: 24, pooling_mode_mean_tokens: true, include_prompt: false }));
    await assert.rejects(openModelSource({ path: dir }), (e: Error) => e.message.startsWith(join(dir, 'modules.json')) && /include_prompt: false/.test(e.message));
    writeFileSync(pooling, JSON.stringify({ word_embedding_dimension: 24, pooling_mode_mean_tokens: true }));
    mkdirSync(join(dir, '2_Dense'));
    writeFileSync(join(dir, '2_Dense', 'config.json'), JSON.stringify({ in_features: 24, out_features: 8, bias: true, activation_function: 'torch.nn.modules.linear.Identity' }));
    writeFileSync(join(dir, 'modules.json'), JSON.stringify([
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
      { idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' },
    ]));
    await assert.rejects(openModelSource({ path: dir }), /modules\.json: Dense modules after pooling \(2_Dense\)/);
  } finally {
    removeDir(m.dir);
  }
});
