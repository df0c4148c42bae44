// `qzhou eval --model <checkpoint folder>` on the real data: a tiny random-weight Qwen2 checkpoint (golden
// fixture weights + the real Qwen BPE cut to 384 ids) loaded by the model runtime scores MTEB's
// Banking77 test split and STS-B dev through the CLI; result JSON written; a rerun embeds nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, tinyQwenCheckpoint } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;

test('a Hugging Face checkpoint scores Banking77 (test) and STS-B (dev) through qzhou eval', () => {
  const { dir, cleanup } = tempDir();
  try {
    const ckpt = tinyQwenCheckpoint(dir);
    const env = { ...process.env, QZHOU_CACHE: join(dir, 'qzhou-cache') };
    const run = (task: string, split: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'eval', '--model', ckpt, '--tasks', task, '--splits', split, '--data-dir', 'data', '--output', join(dir, 'out'), '--model-name', 'tiny/qwen2'], {
        cwd: ROOT,
        env,
        encoding: 'utf8',
        timeout: 300_000,
      });
    const b = run('Banking77Classification', 'test');
    assert.equal(b.status, 0, b.stderr);
    const s = run('STSBenchmark', 'validation');
    assert.equal(s.status, 0, s.stderr);
    const folder = join(dir, 'out', 'tiny__qwen2', 'no_revision_available');
    const bank = JSON.parse(readFileSync(join(folder, 'Banking77Classification.json'), 'utf8'));
    const acc = bank.scores.test[0].accuracy;
    // Random weights, but real features: well above the 1/77 chance level, far below a trained model.
    assert.ok(acc > 3 / 77 && acc < 0.6, `accuracy ${acc}`);
    const sts = JSON.parse(readFileSync(join(folder, 'STSBenchmark.json'), 'utf8'));
    assert.equal(sts.scores.validation[0].main_score, sts.scores.validation[0].cosine_spearman);
    assert.ok(Number.isFinite(sts.scores.validation[0].cosine_spearman), 'spearman is a number');
    assert.match(b.stderr, /\[Banking77Classification\] test: accuracy = 0\.\d{6} \(.* texts embedded, 0 from cache\)/);
    // Rerun with --overwrite: everything comes from the embedding cache.
    const again = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'eval', '--model', ckpt, '--tasks', 'STSBenchmark', '--splits', 'validation', '--data-dir', 'data', '--output', join(dir, 'out'), '--model-name', 'tiny/qwen2', '--overwrite'], { cwd: ROOT, env, encoding: 'utf8', timeout: 300_000 });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /0 texts embedded, 2941 from cache/);
    const sts2 = JSON.parse(readFileSync(join(folder, 'STSBenchmark.json'), 'utf8'));
    assert.deepEqual(sts2.scores, sts.scores);
  } finally {
    cleanup();
  }
});
