// The package entry (src/index.ts → dist/src/index.js, package.json "main"): every area loads together
// and the documented entry points are there.
import { test } from 'node:test';
import assert from 'node:assert/strict';

test('the package entry exposes each area as a namespace and the main entry points by name', async () => {
  const q = await import('../../src/index.js');
  for (const ns of ['graph', 'model', 'data', 'synth', 'train', 'evaluation', 'serve', 'pipeline', 'report'] as const) {
    assert.equal(typeof q[ns], 'object', ns);
    assert.ok(Object.keys(q[ns]).length > 3, `${ns} exports its API`);
  }
  for (const fn of ['loadEmbedder', 'readRecords', 'transformFiles', 'synthesize', 'mineFile', 'runTraining', 'evaluate', 'createEmbeddingServer', 'loadPipelineConfig', 'runPipeline', 'writeReport'] as const) {
    assert.equal(typeof q[fn], 'function', fn);
  }
  assert.equal(q.Embedder.fromPretrained, q.loadEmbedder);
  assert.equal(q.pipeline.runPipeline, q.runPipeline);
  assert.equal(q.evaluation.evaluate, q.evaluate);
});
