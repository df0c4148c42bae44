import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { latestCheckpoint, listStageCheckpoints, readTrainerState, removeStaleCheckpointTemps, saveCheckpoint } from '../../src/train/checkpoint.js';
import { AdamW } from '../../src/train/optimizer.js';
import { GradientBuffers } from '../../src/train/parameters.js';
import { readTensorFile, writeTensorFile } from '../../src/train/tensor-file.js';

function setup() {
  const output = mkdtempSync(join(tmpdir(), 'qzhou-ckpt-'));
  const w = { name: 'w', shape: [3], data: Float32Array.from([1, 2, 3]) };
  const optimizer = new AdamW([w]);
  const g = new GradientBuffers([w]);
  g.get('w').set([0.1, -0.2, 0.3]);
  optimizer.step(g, 0.01);
  const writeModel = async (dir: string) => {
    writeFileSync(join(dir, 'config.json'), '{"model_type":"test"}\n');
    await writeTensorFile(join(dir, 'weights'), [w]);
  };
  return { output, w, optimizer, writeModel };
}

const state = (stage: string, stageIndex: number, step: number) => ({ stage, stageIndex, step, stageSteps: 100, sampler: { cursor: step * 7 } });

test('a checkpoint holds the model, the optimizer and the trainer state, and is found for resume', async () => {
  const { output, w, optimizer, writeModel } = setup();
  try {
    const dir = await saveCheckpoint({ output, state: state('stage1', 0, 10), writeModel, optimizer });
    assert.equal(dir, join(output, 'stage1', 'checkpoint-10'));
    assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'optimizer.bin', 'optimizer.json', 'trainer_state.json', 'weights.bin', 'weights.json']);
    assert.deepEqual(readdirSync(join(output, 'stage1')), ['checkpoint-10'], 'no temporary folder left');
    const latest = await latestCheckpoint(output);
    assert.equal(latest?.dir, dir);
    assert.deepEqual(latest?.state.sampler, { cursor: 70 });
    assert.equal(latest?.state.format, 'qzhou-trainer-state');
    // Everything needed to continue is restorable.
    const w2 = { ...w, data: new Float32Array(3) };
    await readTensorFile(join(dir, 'weights'), () => w2.data);
    assert.deepEqual(w2.data, w.data);
    const o2 = new AdamW([w2]);
    await o2.load(dir);
    assert.equal(o2.stepCount, 1);
  } finally {
    rmSync(output, { recursive: true, force: true });
  }
});

test('a failing save leaves no partial checkpoint and keeps the previous one; re-saving a step replaces it', async () => {
  const { output, optimizer, writeModel } = setup();
  try {
    await saveCheckpoint({ output, state: state('stage1', 0, 10), writeModel, optimizer });
    await assert.rejects(
      saveCheckpoint({
        output,
        state: state('stage1', 0, 20),
        optimizer,
        writeModel: async (d) => {
          writeFileSync(join(d, 'config.json'), '{}');
          throw new Error('disk full');
        },
      }),
      /disk full/,
    );
    assert.deepEqual(readdirSync(join(output, 'stage1')), ['checkpoint-10']);
    assert.equal((await latestCheckpoint(output))?.state.step, 10);

    await saveCheckpoint({ output, state: { ...state('stage1', 0, 10), sampler: 'second' }, writeModel, optimizer });
    assert.deepEqual(readdirSync(join(output, 'stage1')), ['checkpoint-10']);
    assert.equal((await readTrainerState(join(output, 'stage1', 'checkpoint-10'))).sampler, 'second');
  } finally {
    rmSync(output, { recursive: true, force: true });
  }
});

test('keepLast prunes old checkpoints; the latest is chosen by stage index, then step; stale temporaries are cleaned', async () => {
  const { output, optimizer, writeModel } = setup();
  try {
    for (const step of [100, 200, 300, 1000]) await saveCheckpoint({ output, state: state('stage1', 0, step), writeModel, optimizer, keepLast: 2 });
    assert.deepEqual((await listStageCheckpoints(join(output, 'stage1'))).map((c) => c.state.step), [300, 1000]);
    await saveCheckpoint({ output, state: state('stage2', 1, 50), writeModel, optimizer });
    assert.equal((await latestCheckpoint(output))?.dir, join(output, 'stage2', 'checkpoint-50'));

    // Leftovers of a crash mid-save, and a folder that only looks like a checkpoint.
    mkdirSync(join(output, 'stage2', '.checkpoint-60.tmp-123-abcd'));
    mkdirSync(join(output, 'stage2', 'checkpoint-99'));
    writeFileSync(join(output, 'stage2', 'checkpoint-99', 'trainer_state.json'), '{"format":"other"}');
    assert.equal((await latestCheckpoint(output))?.state.step, 50);
    assert.equal(await removeStaleCheckpointTemps(output), 1);
    assert.ok(!readdirSync(join(output, 'stage2')).some((n) => n.startsWith('.')));
    await assert.rejects(readTrainerState(join(output, 'stage2', 'checkpoint-99')), /trainer_state\.json: format: expected "qzhou-trainer-state", got "other"/);
    assert.match(readFileSync(join(output, 'stage2', 'checkpoint-50', 'trainer_state.json'), 'utf8'), /"stageIndex": 1/);
    assert.equal(await latestCheckpoint(join(output, 'none')), undefined);
    await assert.rejects(saveCheckpoint({ output, state: state('../x', 0, 1), writeModel }), /not a safe folder name/);
  } finally {
    rmSync(output, { recursive: true, force: true });
  }
});
