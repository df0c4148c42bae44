// A results folder reuses a result file only for the model that wrote it: the folder's qzhou/identity.json
// records each task's model identity (the embedder id = embedding-cache key, plus the instruction setting).
// Another model under the same output folder and model name is refused (naming the folder and both
// identities) unless `overwrite`, which recomputes and replaces; the same model reuses without embedding;
// files without a record (older qzhou, mteb) are reused with a warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs, { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { basename } from 'node:path';
import { join } from 'node:path';
import { evaluate, type EvaluationOptions } from '../../src/eval/run.js';
import { ResultIdentityError } from '../../src/eval/identity.js';
import { readTaskResult } from '../../src/eval/results.js';
import { TfidfEmbedder } from '../../src/eval/tfidf-embedder.js';
import { loadEmbedder } from '../../src/model/index.js';
import { HashingEmbedder, tempDir, tinyQwenCheckpoint } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A small STS task folder with validation and test splits. */
function stsTask(parent: string): string {
  const task = join(parent, 'pairs');
  mkdirSync(task, { recursive: true });
  const rows = (k: number) =>
    Array.from({ length: 12 }, (_, i) => JSON.stringify({ sentence1: `a cat sat on mat ${i}`, sentence2: `a ${i % (2 + k) ? 'dog' : 'cat'} sat ${i % 3 ? 'on' : 'by'} mat ${i}`, score: (i * 7 + k) % 5 })).join('\n');
  writeFileSync(join(task, 'validation.jsonl'), rows(1));
  writeFileSync(join(task, 'test.jsonl'), rows(2));
  writeFileSync(join(task, 'task.json'), JSON.stringify({ type: 'STS', evalSplits: ['validation', 'test'] }));
  return task;
}

const identities = (folder: string) => JSON.parse(readFileSync(join(folder, 'qzhou', 'identity.json'), 'utf8')).tasks;

test('another model under the same folder and model name is refused; the same model reuses; overwrite recomputes', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const task = stsTask(dir);
    const a = new HashingEmbedder(64);
    const b = new HashingEmbedder(32);
    const base: Omit<EvaluationOptions, 'model'> = { tasks: [task], outputDir: join(dir, 'out'), modelName: 'same-name', cacheDir: false };
    const first = await evaluate({ ...base, model: a });
    const file = first.outcomes[0]!.path!;
    const folder = first.folder!;
    const written = readFileSync(file, 'utf8');
    assert.deepEqual(identities(folder), { pairs: { model: a.id, instructions: true } });
    assert.equal(JSON.parse(readFileSync(join(folder, 'qzhou', 'run.json'), 'utf8')).identity.model, a.id);

    // Model B, same output folder and name: refused before anything is embedded, naming the folder and both models.
    await assert.rejects(evaluate({ ...base, model: b }), (e: unknown) => {
      assert.ok(e instanceof ResultIdentityError);
      assert.ok(e.message.includes(folder), e.message);
      assert.match(e.message, /pairs\.json: "test-hash-ngrams-64" \(with task instructions\)/);
      assert.match(e.message, /this run's model is "test-hash-ngrams-32"/);
      assert.match(e.message, /--model-name/);
      assert.match(e.message, /--overwrite/);
      return true;
    });
    assert.equal(b.calls, 0, 'model B embedded nothing');
    assert.equal(readFileSync(file, 'utf8'), written, 'the result file is untouched');
    // Also when only a new split would be added (it would be merged with A's entries).
    await assert.rejects(evaluate({ ...base, model: b, splits: ['validation'] }), ResultIdentityError);
    // Even with continueOnError, the conflict stops the run instead of becoming a task failure.
    await assert.rejects(evaluate({ ...base, model: b, continueOnError: true }), ResultIdentityError);

    // Model A again: reused, nothing embedded, the file (and its evaluation_time) unchanged.
    const callsA = a.calls;
    const again = await evaluate({ ...base, model: a });
    assert.equal(again.outcomes[0]!.skipped, true);
    assert.equal(a.calls, callsA, 'nothing re-embedded');
    assert.deepEqual(again.warnings, []);
    assert.equal(readFileSync(file, 'utf8'), written);

    // Instructions off is another identity (the vectors differ).
    await assert.rejects(evaluate({ ...base, model: a, instructions: false }), /this run's model is "test-hash-ngrams-64" \(without task instructions\)/);

    // overwrite: B recomputes and replaces A's results; the record now names B.
    const replaced = await evaluate({ ...base, model: b, overwrite: true });
    assert.equal(replaced.outcomes[0]!.skipped, false);
    assert.ok(b.calls > 0, 'model B embedded');
    assert.ok(replaced.warnings.some((w) => w.includes('replacing the results of pairs')), replaced.warnings.join('\n'));
    const alone = await evaluate({ ...base, model: new HashingEmbedder(32), outputDir: join(dir, 'b-alone') });
    assert.deepEqual(readTaskResult(file).scores, alone.outcomes[0]!.result.scores, "the file holds B's scores");
    assert.notDeepEqual(readTaskResult(file).scores, first.outcomes[0]!.result.scores);
    assert.deepEqual(identities(folder), { pairs: { model: b.id, instructions: true } });
    // …and now A is the other model.
    await assert.rejects(evaluate({ ...base, model: a }), /pairs\.json: "test-hash-ngrams-32"[\s\S]*this run's model is "test-hash-ngrams-64"/);
  } finally {
    cleanup();
  }
});

test("overwrite by another model drops the replaced model's other splits instead of merging them", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const task = stsTask(dir);
    const base = { tasks: [task], outputDir: join(dir, 'out'), modelName: 'm', cacheDir: false as const };
    const r = await evaluate({ ...base, model: new HashingEmbedder(64) });
    assert.deepEqual(Object.keys(readTaskResult(r.outcomes[0]!.path!).scores), ['validation', 'test']);
    await evaluate({ ...base, model: new HashingEmbedder(32), splits: ['test'], overwrite: true });
    assert.deepEqual(Object.keys(readTaskResult(r.outcomes[0]!.path!).scores), ['test']);
  } finally {
    cleanup();
  }
});

test('result files without an identity record (older qzhou, mteb) are reused with a warning', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const task = stsTask(dir);
    const base = { tasks: [task], outputDir: join(dir, 'out'), modelName: 'm', cacheDir: false as const };
    const r = await evaluate({ ...base, model: new HashingEmbedder(64) });
    rmSync(join(r.folder!, 'qzhou'), { recursive: true });
    const other = new HashingEmbedder(32);
    const again = await evaluate({ ...base, model: other });
    assert.equal(again.outcomes[0]!.skipped, true);
    assert.equal(other.calls, 0);
    assert.match(again.warnings.join('\n'), /pairs\.json has no model identity record \(written by an older qzhou or by mteb\); reused as results of this model without verification/);
    // Adding a split records the identity from then on.
    await evaluate({ ...base, model: other, splits: ['validation', 'test'], overwrite: true });
    assert.deepEqual(identities(r.folder!), { pairs: { model: other.id, instructions: true } });
  } finally {
    cleanup();
  }
});

test('TF-IDF fitted per task: its options are its identity, the fitted corpus identities are recorded', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const task = stsTask(dir);
    const base = { tasks: [task], outputDir: join(dir, 'out'), modelName: 'tfidf' };
    let fits = 0;
    const counted = (opts: Parameters<typeof TfidfEmbedder.perTask>[0]) => {
      const f = TfidfEmbedder.perTask(opts);
      return Object.assign(async (ctx: Parameters<typeof f>[0]) => (fits++, f(ctx)), { id: f.id });
    };
    const r = await evaluate({ ...base, model: counted({}) });
    const rec = identities(r.folder!).pairs;
    assert.equal(rec.model, 'tfidf-per-task:{"maxFeatures":8192,"ngramRange":[1,1],"charNgramRange":null,"minDf":1,"sublinearTf":false}');
    assert.deepEqual(Object.keys(rec.fitted), ['validation/default', 'test/default']);
    assert.match(rec.fitted['test/default'], /^tfidf:[0-9a-f]{16}$/);
    assert.notEqual(rec.fitted['test/default'], rec.fitted['validation/default'], 'fitted on different texts');
    assert.equal(fits, 2);
    // Same options: reused without fitting.
    assert.equal((await evaluate({ ...base, model: counted({ maxFeatures: 8192 }) })).outcomes[0]!.skipped, true);
    assert.equal(fits, 2);
    // Other options: refused.
    await assert.rejects(evaluate({ ...base, model: counted({ maxFeatures: 5 }) }), /"tfidf-per-task:\{"maxFeatures":8192[\s\S]*this run's model is "tfidf-per-task:\{"maxFeatures":5/);
    assert.equal(fits, 2);
    // A factory without an id cannot be checked: reused with a warning.
    const anon = await evaluate({ ...base, model: async ({ texts }) => TfidfEmbedder.fit(texts, { maxFeatures: 5 }) });
    assert.equal(anon.outcomes[0]!.skipped, true);
    assert.match(anon.warnings.join('\n'), /the model factory declares no id, so pairs\.json cannot be checked against it/);
  } finally {
    cleanup();
  }
});

test('two tiny checkpoints under one model name: refused, then --overwrite recomputes (library + CLI)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const task = stsTask(dir);
    const ckptA = tinyQwenCheckpoint(join(dir, 'a'));
    const ckptB = tinyQwenCheckpoint(join(dir, 'b'));
    // B: same architecture, different weights (one byte of the last tensor's data changed).
    const weights = readFileSync(join(ckptB, 'model.safetensors'));
    weights[weights.length - 2] ^= 0x01;
    writeFileSync(join(ckptB, 'model.safetensors'), weights);
    const cacheDir = join(dir, 'cache');
    const base = { tasks: [task], outputDir: join(dir, 'out'), modelName: 'tiny', cacheDir: false as const, splits: ['test'] };
    const a = await loadEmbedder(ckptA, { cacheDir });
    const b = await loadEmbedder(ckptB, { cacheDir });
    const idB = b.id;
    try {
      assert.notEqual(a.id, b.id);
      const first = await evaluate({ ...base, model: a });
      await assert.rejects(evaluate({ ...base, model: b }), (e: unknown) => e instanceof ResultIdentityError && e.message.includes(a.id) && e.message.includes(b.id));
      assert.equal((await evaluate({ ...base, model: a })).outcomes[0]!.skipped, true);
      assert.deepEqual(identities(first.folder!).pairs, { model: a.id, instructions: true });
    } finally {
      await a.close();
      await b.close();
    }
    // The CLI: the same refusal as an error exit naming --overwrite; --overwrite recomputes with B.
    const env = { ...process.env, QZHOU_CACHE: join(dir, 'qzhou-cache') };
    const cli = (...extra: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'eval', '--model', ckptB, '--tasks', task, '--splits', 'test', '--output', join(dir, 'out'), '--model-name', 'tiny', '--no-cache', ...extra], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
    const refused = cli();
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, /holds results of another model:\n {2}pairs\.json: "qwen2-tiny-checkpoint@[0-9a-f]{12}" \(with task instructions\)\nthis run's model is "qwen2-tiny-checkpoint@[0-9a-f]{12}"/);
    assert.match(refused.stderr, /--overwrite/);
    const over = cli('--overwrite');
    assert.equal(over.status, 0, over.stderr);
    assert.match(over.stderr, /\[pairs\] test: cosine_spearman = .*24 texts embedded/);
    assert.ok(existsSync(join(dir, 'out', 'tiny', 'no_revision_available', 'pairs.json')));
    assert.equal(identities(join(dir, 'out', 'tiny', 'no_revision_available')).pairs.model, idB, 'the record now names B');
    const resumed = cli();
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /already evaluated .*skipping/);
  } finally {
    cleanup();
  }
});

test('modelIdentity: a caller that pins the model itself decides what results are checked against', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const task = stsTask(dir);
    const base: Omit<EvaluationOptions, 'model'> = { tasks: [task], outputDir: join(dir, 'out'), modelName: 'pinned', cacheDir: false };
    const first = await evaluate({ ...base, model: new HashingEmbedder(64), modelIdentity: 'pipeline:stage2@abc' });
    assert.deepEqual(identities(first.folder!), { pairs: { model: 'pipeline:stage2@abc', instructions: true } });
    // The same pin with an embedder whose own id differs (e.g. the checkpoint after the run folder moved): reused.
    const moved = new HashingEmbedder(64);
    Object.defineProperty(moved, 'id', { value: 'test-hash-ngrams-64@/elsewhere' });
    const again = await evaluate({ ...base, model: moved, modelIdentity: 'pipeline:stage2@abc' });
    assert.equal(again.outcomes[0]!.skipped, true);
    assert.equal(moved.calls, 0);
    // Another pin is another model.
    await assert.rejects(evaluate({ ...base, model: moved, modelIdentity: 'pipeline:stage2@def' }), ResultIdentityError);
  } finally {
    cleanup();
  }
});

/** Runs `f` with renames onto a file named `target` failing once `after` has been renamed into place (a kill then). */
async function crashAfter<T>(after: string, target: string, f: () => Promise<T>): Promise<void> {
  const real = fs.renameSync;
  let armed = false;
  fs.renameSync = ((from: fs.PathLike, to: fs.PathLike) => {
    if (armed && basename(String(to)) === target) throw new Error('simulated kill');
    real(from, to);
    if (basename(String(to)) === after) armed = true;
  }) as typeof fs.renameSync;
  syncBuiltinESMExports();
  try {
    await assert.rejects(f(), /simulated kill/);
  } finally {
    fs.renameSync = real;
    syncBuiltinESMExports();
  }
}

test("a kill between another model's result file and its record never leaves a record that names the wrong model", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const task = stsTask(dir);
    const a = new HashingEmbedder(64);
    const b = new HashingEmbedder(32);
    const base: Omit<EvaluationOptions, 'model'> = { tasks: [task], outputDir: join(dir, 'out'), modelName: 'same-name', cacheDir: false };
    const first = await evaluate({ ...base, model: a });
    const file = first.outcomes[0]!.path!;
    // B replaces A's results (--overwrite) and is killed after writing pairs.json, before its record.
    await crashAfter('pairs.json', 'identity.json', () => evaluate({ ...base, model: b, overwrite: true }));
    const scoresB = readTaskResult(file).scores;
    assert.notDeepEqual(scoresB, first.outcomes[0]!.result.scores, "the file holds B's scores");
    assert.equal(identities(first.folder!).pairs, undefined, "no record names A for B's scores");
    // A's rerun does not take B's scores as its own silently: it warns that they are unverified.
    const rerun = await evaluate({ ...base, model: a });
    assert.match(rerun.warnings.join('\n'), /pairs\.json has no model identity record/);
  } finally {
    cleanup();
  }
});

test('runs on different tasks of one results folder keep each other\'s identity records', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const one = stsTask(join(dir, 'one'));
    const two = stsTask(join(dir, 'two'));
    // Both task folders are named "pairs": give the second its own name.
    const named = join(dir, 'two', 'pairs2');
    fs.renameSync(two, named);
    const base = { outputDir: join(dir, 'out'), modelName: 'm', cacheDir: false as const };
    // A slow run on task "pairs2" (it read the folder's records before the other run wrote its own)…
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = new HashingEmbedder(64);
    const embed = slow.embed.bind(slow);
    slow.embed = async (texts, request) => {
      await gate;
      return embed(texts, request);
    };
    const pending = evaluate({ ...base, tasks: [named], model: slow });
    // …while a run on task "pairs" of the same model finishes.
    const fast = await evaluate({ ...base, tasks: [one], model: new HashingEmbedder(64) });
    assert.deepEqual(Object.keys(identities(fast.folder!)), ['pairs']);
    release();
    await pending;
    assert.deepEqual(Object.keys(identities(fast.folder!)).sort(), ['pairs', 'pairs2']);
  } finally {
    cleanup();
  }
});
