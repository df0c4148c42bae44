// A pipeline that starts from a pretrained checkpoint (`model.path`): the checkpoint is identified by its
// content, and the training steps read its current path from the config, so after the checkpoint moves a
// rerun reuses what it can and a stage that must run again loads the checkpoint from where it is now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadPipelineConfig, runPipeline } from '../../src/pipeline/index.js';

const data = join(resolve(import.meta.dirname, '../..'), 'data');

function configText(model: string): string {
  return `
name: pre
seed: 3
sources:
  stsb:
    type: sts
    input: ${data}/stsbenchmark/sts-train.csv
    format: tsv
    quote: false
    columns: [genre, file, year, id, score, sentence1, sentence2]
    task: STSBenchmark
    sample: 200
    retrieval: { minScore: 3.5, task: STSBenchmark }
mine: { retriever: hashing, range: [2, 8], negatives: 1 }
model:
${model}
train:
  stage1: { steps: 2, batchSize: { retrieval: 8 }, maxLength: { query: 24, passage: 24 } }
  stage2: { steps: 2, batchSize: { retrieval: 8, pair: 8 }, maxLength: { query: 24, passage: 24 } }
eval:
  dataDir: ${data}
  tasks: [{ task: STSBenchmark, splits: [validation] }]
  baselines: []
`;
}

test('a moved pretrained checkpoint: steps are reused, and a stage that reruns loads it from its new place', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-pretrained-'));
  const quiet = { log: () => {} };
  try {
    // A small random checkpoint to start from, made by the pipeline's own init step.
    const seedCfg = join(dir, 'seed.yaml');
    writeFileSync(seedCfg, configText('  init: { architecture: bert, hiddenSize: 32, layers: 1, heads: 2, intermediateSize: 64, maxPositions: 64, tokenizer: { vocabSize: 400 } }'));
    const seeded = await runPipeline(loadPipelineConfig(seedCfg, { output: join(dir, 'seed-run') }), { ...quiet, until: 'init' });
    const initDir = join(seeded.folder, String(JSON.parse(readFileSync(join(seeded.folder, 'init', '_DONE.json'), 'utf8')).summary.model));
    const a = join(dir, 'a');
    cpSync(initDir, a, { recursive: true });

    const cfgFile = join(dir, 'pipeline.yaml');
    const out = join(dir, 'run');
    writeFileSync(cfgFile, configText(`  path: ${a}`));
    const first = await runPipeline(loadPipelineConfig(cfgFile, { output: out }), { ...quiet, until: 'stage1' });
    assert.deepEqual(first.steps.filter((s) => s.status === 'ran').map((s) => s.step), ['transform', 'mine', 'init', 'stage1']);
    assert.ok(!readFileSync(join(out, 'init', 'model.json'), 'utf8').includes(a), 'the path is not recorded');

    // The checkpoint moves; the config follows it.
    const b = join(dir, 'b');
    renameSync(a, b);
    writeFileSync(cfgFile, configText(`  path: ${b}`));
    const again = await runPipeline(loadPipelineConfig(cfgFile, { output: out }), { ...quiet, until: 'stage1' });
    assert.deepEqual(again.steps.filter((s) => s.step !== 'synth').map((s) => [s.step, s.status]).slice(0, 4), [['transform', 'reused'], ['mine', 'reused'], ['init', 'reused'], ['stage1', 'reused']]);
    // A changed stage-1 setting reruns stage 1, which must load the checkpoint from b (a is gone).
    const changed = await runPipeline(loadPipelineConfig(cfgFile, { output: out, overrides: ['train.stage1.steps=3'] }), { ...quiet, until: 'stage1' });
    assert.deepEqual(changed.steps.filter((s) => s.status === 'ran').map((s) => s.step), ['stage1']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
