import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { defaultCheckpointName } from '../../src/cli/commands/eval.js';

test('a checkpoint\'s default result name keeps the trainer\'s generic folders apart', () => {
  // Two models of one pipeline run must not share a result folder: the second would reuse the first's scores.
  assert.equal(defaultCheckpointName('runs/banking77/stage2/model'), 'stage2-model');
  assert.equal(defaultCheckpointName('runs/banking77/stage1/model/'), 'stage1-model');
  assert.equal(defaultCheckpointName('runs/b77/run/stage/checkpoint-100'), 'stage-checkpoint-100');
  assert.equal(defaultCheckpointName('runs/b77/untrained'), 'untrained');
  assert.equal(defaultCheckpointName('/models/QZhou-Embedding'), 'QZhou-Embedding');
  assert.equal(defaultCheckpointName('.'), resolve('.').split(/[\\/]/).pop());
  assert.equal(defaultCheckpointName(join('x', 'model')), 'x-model');
});
