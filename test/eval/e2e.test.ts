// End to end on the repository's real data: MTEB's Banking77Classification (test split, PolyAI CSV
// release) and STS Benchmark dev (original TSV release), scored by a deterministic hashed-n-gram
// Embedder through the whole pipeline — task registry, loaders, instruction rule, cache, evaluators,
// result JSON — then a rerun that embeds nothing and a resumed run that skips finished tasks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluate } from '../../src/eval/run.js';
import { pearson, spearman } from '../../src/eval/numeric.js';
import { pairedCosine } from '../../src/eval/paired.js';
import { loadStsData, locateTask } from '../../src/eval/datasets.js';
import { getTask } from '../../src/eval/tasks.js';
import { HashingEmbedder, tempDir } from './helpers.js';

const DATA = new URL('../../data/', import.meta.url).pathname;

test('Banking77 test + STS-B dev through the full pipeline, result JSON written; rerun hits the cache only', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const embedder = new HashingEmbedder(256);
    const opts = {
      model: embedder,
      tasks: ['Banking77Classification', 'STSBenchmark'],
      dataDir: DATA,
      outputDir: join(dir, 'results'),
      modelName: 'test/hash-ngrams',
      cacheDir: join(dir, 'cache'),
    };
    // STS-B's test split is not shipped: evaluate Banking77 on test and STS-B on validation (dev).
    const bank = await evaluate({ ...opts, tasks: ['Banking77Classification'] });
    await evaluate({ ...opts, tasks: ['STSBenchmark'], splits: ['validation'] });
    const folder = join(dir, 'results', 'test__hash-ngrams', 'no_revision_available');
    assert.equal(bank.folder, folder);

    const b = JSON.parse(readFileSync(join(folder, 'Banking77Classification.json'), 'utf8'));
    assert.equal(b.task_name, 'Banking77Classification');
    assert.equal(b.dataset_revision, '0fd18e25b25c072e09e0d92ab615fda904d66300');
    const entry = b.scores.test[0];
    assert.deepEqual(Object.keys(entry), ['accuracy', 'f1', 'f1_weighted', 'scores_per_experiment', 'main_score', 'hf_subset', 'languages']);
    assert.equal(entry.scores_per_experiment.length, 10);
    const meanAcc = entry.scores_per_experiment.reduce((s: number, e: { accuracy: number }) => s + e.accuracy, 0) / 10;
    assert.ok(Math.abs(entry.accuracy - meanAcc) < 2e-6, 'accuracy is the mean over the 10 experiments');
    // 77 intents, 8 examples each: a character n-gram model is far above chance (1/77) on real data.
    assert.ok(entry.accuracy > 0.25 && entry.accuracy < 1, `accuracy ${entry.accuracy}`);
    // 3,080 test texts: every experiment's accuracy is a multiple of 1/3080.
    for (const e of entry.scores_per_experiment) assert.ok(Math.abs(e.accuracy * 3080 - Math.round(e.accuracy * 3080)) < 0.01, 'accuracy = k/3080');
    // Banking77 puts its instruction on every text (both sides).
    assert.ok(embedder.prefixes.every((p) => p === 'Instruct: Given a online banking query, find the corresponding intents\nQuery: ' || p.startsWith('Instruct: Retrieve semantically similar text')), 'instruction rule');

    const s = JSON.parse(readFileSync(join(folder, 'STSBenchmark.json'), 'utf8'));
    const se = s.scores.validation[0];
    assert.equal(se.main_score, se.cosine_spearman);
    // Independent check of the STS number: re-embed the 1,500 dev pairs and correlate.
    const data = await loadStsData(locateTask(DATA, getTask('STSBenchmark')), 'validation', 'default');
    assert.equal(data.scores.length, 1500);
    const p = 'Instruct: Retrieve semantically similar text\nQuery: ';
    const cos = pairedCosine(
      data.sentence1.map((t) => embedder.vector(p + t)),
      data.sentence2.map((t) => embedder.vector(p + t)),
    );
    assert.ok(Math.abs(se.cosine_spearman - spearman(data.scores, cos)) < 1e-6, 'spearman recomputed');
    assert.ok(Math.abs(se.cosine_pearson - pearson(data.scores, cos)) < 1e-6, 'pearson recomputed');
    assert.ok(se.cosine_spearman > 0.3, `STS-B dev spearman ${se.cosine_spearman}`);

    // Rerun with overwrite: every text comes from the cache and the scores are identical.
    const textsBefore = embedder.texts;
    const again = await evaluate({ ...opts, tasks: ['Banking77Classification'], overwrite: true });
    assert.equal(embedder.texts, textsBefore, 'no text re-embedded');
    assert.equal(again.outcomes[0]!.embedded, 0);
    assert.ok(again.outcomes[0]!.cached > 7000, `cache hits ${again.outcomes[0]!.cached}`);
    assert.deepEqual(again.outcomes[0]!.result.scores, b.scores);
    // Without overwrite a finished task is skipped (resume).
    const resumed = await evaluate({ ...opts, tasks: ['Banking77Classification'] });
    assert.ok(resumed.outcomes[0]!.skipped, 'finished task skipped');
    assert.equal(resumed.rows[0]!.score, entry.main_score);
    const run = JSON.parse(readFileSync(join(folder, 'qzhou', 'run.json'), 'utf8'));
    assert.equal(run.semantics, 'mteb 1.38.30');
    const meta = JSON.parse(readFileSync(join(folder, 'model_meta.json'), 'utf8'));
    assert.equal(meta.embed_dim, 256);
  } finally {
    cleanup();
  }
});
