// The stage runner on a tiny from-scratch model: two stages (stage 2 from stage 1's final weights),
// checkpoints in Hugging Face layout with optimizer/sampler state, metrics, evaluation through src/eval,
// the final model folder; N steps straight = k steps + crash + resume + N − k steps, bit for bit (inside a
// stage, across the stage boundary, with LoRA); a few steps reduce the loss; clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEmbedder } from '../../src/model/index.js';
import { resolveTrainConfig, runTraining, readMetrics, readTrainerState, stageHash, type TrainConfig } from '../../src/train/index.js';
import { saveTrainedTokenizer, trainTokenizer } from '../../src/model/tokenizer-trainer.js';
import { removeDir, tempDir, tinyConfig } from './model-helpers.js';

const TOPICS: Record<string, string[]> = {
  card: ['my card has not arrived', 'where is my new card', 'card delivery is late', 'I still wait for the card', 'when does the card come', 'the card never came'],
  refund: ['I want my money back', 'please refund the purchase', 'how do I get a refund', 'refund has not shown up', 'return the payment to me', 'the refund is missing'],
  pin: ['I forgot my PIN', 'reset the PIN code', 'PIN is blocked now', 'change my PIN please', 'wrong PIN too many times', 'unlock the PIN'],
};

/** A folder with tiny retrieval, pair and cls JSONL files, a trained tokenizer and an STS task folder. */
async function fixture(): Promise<string> {
  const dir = tempDir('runner');
  const labels = Object.keys(TOPICS);
  const cls = labels.flatMap((l) => TOPICS[l]!.map((t) => ({ type: 'cls', text: t, label: l, dataset: 'intents' })));
  const retrieval = labels.flatMap((l) => TOPICS[l]!.slice(0, 5).map((t, i) => ({ type: 'retrieval', query: t, pos: [TOPICS[l]![i + 1]!], neg: [TOPICS[labels[(labels.indexOf(l) + 1) % 3]!]![i]!], dataset: 'faq' })));
  const pair = labels.flatMap((l, li) => TOPICS[l]!.slice(0, 4).flatMap((t, i) => [
    { type: 'pair', text1: t, text2: TOPICS[l]![i + 1]!, score: 4 + (i % 2), dataset: 'sts' },
    { type: 'pair', text1: t, text2: TOPICS[labels[(li + 1) % 3]!]![i]!, score: i % 2, dataset: 'sts' },
  ]));
  const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  writeFileSync(join(dir, 'cls.jsonl'), jsonl(cls));
  writeFileSync(join(dir, 'retrieval.jsonl'), jsonl(retrieval));
  writeFileSync(join(dir, 'pair.jsonl'), jsonl(pair));
  const texts = [...cls.map((r) => r.text), 'Instruct: Retrieve semantically similar text\nQuery: '];
  await saveTrainedTokenizer(join(dir, 'tokenizer'), await trainTokenizer(texts, { kind: 'bpe', vocabSize: 350, minFrequency: 1 }));
  const sts = join(dir, 'tasks', 'TinySTS');
  mkdirSync(sts, { recursive: true });
  writeFileSync(join(sts, 'task.json'), JSON.stringify({ name: 'TinySTS', type: 'STS', evalSplits: ['test'] }));
  writeFileSync(join(sts, 'test.jsonl'), jsonl(pair.slice(0, 12).map((p) => ({ sentence1: p.text1, sentence2: p.text2, score: p.score }))));
  return dir;
}

function config(dir: string, output: string, over: Record<string, unknown> = {}, stages?: Record<string, unknown>[]): TrainConfig {
  return resolveTrainConfig({
    model: { init: { config: tinyConfig('qwen2'), tokenizer: 'tokenizer', seed: 1 } },
    output,
    seed: 3,
    preset: 'small',
    stages: stages ?? [
      { name: 'stage1', steps: 4, batchSize: { retrieval: 4 }, data: ['retrieval.jsonl'], checkpointEvery: 2, gradCacheChunk: 3, lr: 1e-3, warmup: 1, maxLength: { query: 24, passage: 24 } },
      {
        name: 'stage2', steps: 6, batchSize: { retrieval: 4, pair: 6, cls: 4 }, negatives: { cls: 2 }, retrievalShare: 0.4, gradCacheChunk: 5, lr: 1e-3, warmup: 1,
        data: ['retrieval.jsonl', { path: 'pair.jsonl', instruction: 'Retrieve semantically similar text' }, 'cls.jsonl'], checkpointEvery: 3, maxLength: { query: 24, passage: 24 },
      },
    ],
    ...over,
  }, { baseDir: dir });
}

const quiet = { quiet: true, threads: 1 } as const;

function stepRecords(file: string): Record<string, unknown>[] {
  return readMetrics(file).filter((r) => r.type === 'step').map(({ seconds: _s, ...r }) => r);
}

test('two stages: checkpoints in HF layout with optimizer and sampler state, metrics, evaluation, final model', async () => {
  const dir = await fixture();
  try {
    const c = config(dir, join(dir, 'run'));
    c.stages[1]!.eval = { every: 3, tasks: [join(dir, 'tasks', 'TinySTS')] };
    const seen: string[] = [];
    const r = await runTraining(c, { ...quiet, cacheDir: join(dir, 'cache'), onStep: (s) => seen.push(`${s.stage}:${s.step}:${s.family}`) });
    assert.equal(r.interrupted, false);
    assert.equal(r.stepsRun, 10);
    assert.equal(r.modelDir, join(dir, 'run', 'model'));
    assert.deepEqual(seen.slice(0, 4).map((s) => s.replace(/:[a-z]+$/, '')), ['stage1:1', 'stage1:2', 'stage1:3', 'stage1:4']);
    assert.ok(seen.slice(0, 4).every((s) => s.endsWith(':retrieval')), 'stage 1 trains retrieval only');
    assert.ok(new Set(seen.slice(4).map((s) => s.split(':')[2])).size >= 2, `stage 2 mixes families: ${seen.slice(4).join(' ')}`);
    assert.deepEqual(readdirSync(join(dir, 'run', 'stage1')).sort(), ['checkpoint-2', 'checkpoint-4']);
    assert.deepEqual(readdirSync(join(dir, 'run', 'stage2')).sort(), ['checkpoint-3', 'checkpoint-6']);
    const ck = join(dir, 'run', 'stage2', 'checkpoint-3');
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', '1_Pooling/config.json', 'optimizer.bin', 'optimizer.json', 'trainer_state.json']) {
      assert.ok(existsSync(join(ck, f)), f);
    }
    const state = await readTrainerState(ck);
    assert.equal(state.stage, 'stage2');
    assert.equal(state.stageIndex, 1);
    assert.equal(state.step, 3);
    assert.equal((state.sampler as { step: number }).step, 3);
    assert.equal(state.extra?.globalStep, 7);
    // The checkpoint is a loadable model in its own right.
    const mid = await loadEmbedder(ck, { cacheDir: join(dir, 'cache'), threads: 1 });
    assert.equal((await mid.embed(['where is my card']))[0]!.length, 32);
    await mid.close();
    // Metrics: one record per step with global numbering, checkpoints, evaluation scores.
    const m = readMetrics(r.metricsFile);
    const steps = m.filter((x) => x.type === 'step');
    assert.deepEqual(steps.map((x) => x.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(steps.map((x) => x.stageStep), [1, 2, 3, 4, 1, 2, 3, 4, 5, 6]);
    for (const s of steps) for (const k of ['loss', 'lr', 'gradNorm', 'tokens', 'family', 'dataset']) assert.ok(s[k] !== undefined, k);
    const evals = m.filter((x) => x.type === 'eval');
    assert.deepEqual(evals.map((x) => x.step), [7, 10]);
    assert.ok(evals.every((x) => x.task === 'TinySTS' && x.metric === 'cosine_spearman' && typeof x.score === 'number'));
    assert.ok(existsSync(join(dir, 'run', 'eval', 'stage2', 'step-6')));
    // The final model equals stage 2's final checkpoint and loads with the inference runtime.
    assert.deepEqual(readFileSync(join(dir, 'run', 'model', 'model.safetensors')), readFileSync(join(dir, 'run', 'stage2', 'checkpoint-6', 'model.safetensors')));
    const final = await loadEmbedder(r.modelDir!, { cacheDir: join(dir, 'cache'), threads: 1 });
    const [a, b] = await final.embed(['where is my new card', 'I forgot my PIN'], { instruction: 'Retrieve semantically similar text' });
    assert.ok(Math.abs(Math.hypot(...a!) - 1) < 1e-5 && Math.abs(Math.hypot(...b!) - 1) < 1e-5);
    await final.close();
    // Stage 2 started from stage 1's final weights: rerunning stage 2 alone from that checkpoint gives the same model.
    const alone = config(dir, join(dir, 'alone'), { model: { path: join(dir, 'run', 'stage1', 'checkpoint-4') } }, [{ ...c.stages[1]!, eval: null, data: c.stages[1]!.data.map((d) => ({ ...d })) }]);
    await runTraining(alone, { ...quiet, cacheDir: join(dir, 'cache') });
    assert.deepEqual(readFileSync(join(dir, 'alone', 'model', 'model.safetensors')), readFileSync(join(dir, 'run', 'model', 'model.safetensors')));
  } finally {
    removeDir(dir);
  }
});

test('resume: N steps straight = k steps + crash + resume, bit for bit (inside a stage and across stages)', async () => {
  const dir = await fixture();
  try {
    const straight = config(dir, join(dir, 'straight'));
    await runTraining(straight, { ...quiet, cacheDir: join(dir, 'cache') });
    const want = readFileSync(join(dir, 'straight', 'model', 'model.safetensors'));
    const wantSteps = stepRecords(join(dir, 'straight', 'metrics.jsonl'));
    // Crash after 3 steps (last checkpoint: stage1 step 2), and after 8 (stage2 step 3).
    for (const crashAfter of [3, 8]) {
      const out = join(dir, `crash-${crashAfter}`);
      const c = config(dir, out);
      const first = await runTraining(c, { ...quiet, cacheDir: join(dir, 'cache'), stopAfterSteps: crashAfter });
      assert.equal(first.interrupted, true);
      assert.equal(first.stepsRun, crashAfter);
      assert.equal(existsSync(join(out, 'model')), false);
      await assert.rejects(runTraining(c, { ...quiet, cacheDir: join(dir, 'cache') }), /already holds checkpoints of a run .*pass --resume/);
      const second = await runTraining(c, { ...quiet, cacheDir: join(dir, 'cache'), resume: true });
      assert.equal(second.stepsRun, crashAfter === 3 ? 8 : 3, 'continues after the last checkpoint');
      assert.deepEqual(readFileSync(join(out, 'model', 'model.safetensors')), want, `crash after ${crashAfter}: final weights differ`);
      // The metrics file reads like the uninterrupted run (records past the checkpoint were dropped).
      assert.deepEqual(stepRecords(join(out, 'metrics.jsonl')), wantSteps);
      // Resuming a finished run only confirms the final model.
      const again = await runTraining(c, { ...quiet, cacheDir: join(dir, 'cache'), resume: true });
      assert.equal(again.stepsRun, 0);
    }
    // A changed stage setting refuses to resume.
    await runTraining(config(dir, join(dir, 'crash-x')), { ...quiet, cacheDir: join(dir, 'cache'), stopAfterSteps: 7 });
    const changedX = config(dir, join(dir, 'crash-x'));
    changedX.stages[1]!.lr = 5e-4;
    await assert.rejects(runTraining(changedX, { ...quiet, cacheDir: join(dir, 'cache'), resume: true }), /stage "stage2" of the config changed since this checkpoint was written/);
    await assert.rejects(runTraining(config(dir, join(dir, 'empty')), { ...quiet, resume: true }), /--resume: .*empty has no checkpoint to resume from/);
  } finally {
    removeDir(dir);
  }
});

test('resume in a moved (copied) folder: data and model identified by content, not path; a changed data file or model is refused', async () => {
  const dir = await fixture();
  const moved = `${dir}-moved`;
  try {
    const straight = config(dir, join(dir, 'straight'));
    await runTraining(straight, { ...quiet, cacheDir: join(dir, 'cache') });
    const want = readFileSync(join(dir, 'straight', 'model', 'model.safetensors'));
    // Interrupted inside stage 2 (last checkpoint: stage2 step 3); a second one for the refusals.
    await runTraining(config(dir, join(dir, 'crash')), { ...quiet, cacheDir: join(dir, 'cache'), stopAfterSteps: 8 });
    await runTraining(config(dir, join(dir, 'crash-y')), { ...quiet, cacheDir: join(dir, 'cache'), stopAfterSteps: 8 });
    // The whole folder (data, tokenizer, output) is copied elsewhere (new modification times too) and the
    // original deleted: every path in the config changes.
    cpSync(dir, moved, { recursive: true });
    removeDir(dir);
    const resumed = await runTraining(config(moved, join(moved, 'crash')), { ...quiet, cacheDir: join(moved, 'cache'), resume: true });
    assert.equal(resumed.stepsRun, 3, 'continues after the checkpoint at stage2 step 3');
    assert.deepEqual(readFileSync(join(moved, 'crash', 'model', 'model.safetensors')), want, 'same final weights as the uninterrupted run');

    // Same paths, other content: refused.
    const pair = join(moved, 'pair.jsonl');
    const pairText = readFileSync(pair, 'utf8');
    writeFileSync(pair, pairText.replace('"score":4', '"score":3'));
    const changed = /stage "stage2" of the config changed since this checkpoint was written/;
    await assert.rejects(runTraining(config(moved, join(moved, 'crash-y')), { ...quiet, cacheDir: join(moved, 'cache'), resume: true }), changed);
    // The message names the data among the causes (only a data file changed here).
    await assert.rejects(runTraining(config(moved, join(moved, 'crash-y')), { ...quiet, cacheDir: join(moved, 'cache'), resume: true }), /training data; model and data files are compared by content/);
    writeFileSync(pair, pairText);
    const tokenizer = join(moved, 'tokenizer', 'tokenizer.json');
    const tokText = readFileSync(tokenizer, 'utf8');
    writeFileSync(tokenizer, `${tokText}\n`);
    await assert.rejects(runTraining(config(moved, join(moved, 'crash-y')), { ...quiet, cacheDir: join(moved, 'cache'), resume: true }), changed);
    writeFileSync(tokenizer, tokText);
    const y = await runTraining(config(moved, join(moved, 'crash-y')), { ...quiet, cacheDir: join(moved, 'cache'), resume: true });
    assert.equal(y.stepsRun, 3);

    // A checkpoint written with the earlier (path-based) hash still resumes in place.
    const legacy = config(moved, join(moved, 'crash-legacy'));
    await runTraining(legacy, { ...quiet, cacheDir: join(moved, 'cache'), stopAfterSteps: 8 });
    const stateFile = join(moved, 'crash-legacy', 'stage2', 'checkpoint-3', 'trainer_state.json');
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { configHash: string };
    assert.notEqual(state.configHash, stageHash(legacy, legacy.stages[1]!));
    writeFileSync(stateFile, JSON.stringify({ ...state, configHash: stageHash(legacy, legacy.stages[1]!) }));
    const l = await runTraining(legacy, { ...quiet, cacheDir: join(moved, 'cache'), resume: true });
    assert.deepEqual(readFileSync(join(moved, 'crash-legacy', 'model', 'model.safetensors')), want);
    assert.equal(l.stepsRun, 3);
  } finally {
    removeDir(dir);
    removeDir(moved);
  }
});

test('resume with LoRA: adapters, optimizer and sampler continue exactly; the saved model is merged', async () => {
  const dir = await fixture();
  try {
    const stages = [{ name: 'lora', steps: 5, families: ['cls'], batchSize: { cls: 4 }, negatives: { cls: 2 }, data: ['cls.jsonl'], checkpointEvery: 2, lr: 5e-3, warmup: 0, gradCacheChunk: 4, lora: { rank: 2, targets: ['q_proj', 'v_proj', 'down_proj'], dropout: 0.1 } }];
    await runTraining(config(dir, join(dir, 'a'), {}, stages), { ...quiet, cacheDir: join(dir, 'cache') });
    const c = config(dir, join(dir, 'b'), {}, stages);
    await runTraining(c, { ...quiet, cacheDir: join(dir, 'cache'), stopAfterSteps: 3 });
    await runTraining(c, { ...quiet, cacheDir: join(dir, 'cache'), resume: true });
    assert.deepEqual(readFileSync(join(dir, 'b', 'model', 'model.safetensors')), readFileSync(join(dir, 'a', 'model', 'model.safetensors')));
    assert.deepEqual(readFileSync(join(dir, 'b', 'model', 'adapter_model.safetensors')), readFileSync(join(dir, 'a', 'model', 'adapter_model.safetensors')));
    const cfg = JSON.parse(readFileSync(join(dir, 'a', 'model', 'adapter_config.json'), 'utf8'));
    assert.deepEqual(cfg.target_modules.length, 6);
  } finally {
    removeDir(dir);
  }
});

test('LoRA over a checkpoint: the frozen base stays in its files (f32) or is quantised (int8, QLoRA); merged save, resume', async () => {
  const dir = await fixture();
  try {
    const { writeRandomCheckpoint } = await import('../../src/model/random-init.js');
    const base = join(dir, 'base');
    await writeRandomCheckpoint(base, { config: tinyConfig('qwen2'), tokenizerDir: join(dir, 'tokenizer'), seed: 4 });
    const stages = [{ name: 'lora', steps: 4, families: ['cls'], batchSize: { cls: 4 }, negatives: { cls: 1 }, data: ['cls.jsonl'], checkpointEvery: 2, lr: 5e-3, warmup: 0, lora: { rank: 2, targets: ['q_proj', 'up_proj'] } }];
    for (const dtype of ['f32', 'int8'] as const) {
      const c = config(dir, join(dir, `run-${dtype}`), { model: { path: base, dtype } }, stages);
      const r = await runTraining(c, { ...quiet, cacheDir: join(dir, 'cache') });
      const model = await loadEmbedder(r.modelDir!, { cacheDir: join(dir, 'cache'), threads: 1 });
      const before = await loadEmbedder(base, { cacheDir: join(dir, 'cache'), threads: 1 });
      const [a] = await model.embed(['I forgot my PIN']);
      const [b] = await before.embed(['I forgot my PIN']);
      await model.close();
      await before.close();
      let d = 0;
      for (let i = 0; i < a!.length; i++) d = Math.max(d, Math.abs(a![i]! - b![i]!));
      assert.ok(d > 1e-4, `${dtype}: the merged adapters change the model`);
      // Crash after 3 steps, resume: the same merged weights as the straight run.
      const c2 = config(dir, join(dir, `crash-${dtype}`), { model: { path: base, dtype } }, stages);
      await runTraining(c2, { ...quiet, cacheDir: join(dir, 'cache'), stopAfterSteps: 3 });
      await runTraining(c2, { ...quiet, cacheDir: join(dir, 'cache'), resume: true });
      assert.deepEqual(readFileSync(join(dir, `crash-${dtype}`, 'model', 'model.safetensors')), readFileSync(join(r.modelDir!, 'model.safetensors')), dtype);
    }
    const full = config(dir, join(dir, 'bad'), { model: { path: base, dtype: 'int8' } }, [{ ...stages[0]!, lora: null }]);
    await assert.rejects(runTraining(full, { ...quiet, cacheDir: join(dir, 'cache') }), /model\.dtype int8 applies to LoRA stages only/);
  } finally {
    removeDir(dir);
  }
});

test('a few steps on a tiny model reduce the classification loss', async () => {
  const dir = await fixture();
  try {
    const stages = [{ name: 'cls', steps: 24, families: ['cls'], batchSize: { cls: 6 }, negatives: { cls: 2 }, data: ['cls.jsonl'], checkpointEvery: 0, lr: 3e-3, warmup: 2, gradCacheChunk: 12, temperature: 0.1 }];
    const losses: number[] = [];
    await runTraining(config(dir, join(dir, 'run'), {}, stages), { ...quiet, cacheDir: join(dir, 'cache'), onStep: (s) => losses.push(s.loss) });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const early = mean(losses.slice(0, 4));
    const late = mean(losses.slice(-4));
    assert.ok(late < 0.6 * early, `loss ${early.toFixed(3)} → ${late.toFixed(3)}`);
  } finally {
    removeDir(dir);
  }
});

test('data errors name the stage and the files', async () => {
  const dir = await fixture();
  try {
    const onlyPairs = config(dir, join(dir, 'x'), {}, [{ name: 's', steps: 2, families: ['cls'], data: ['pair.jsonl'] }]);
    await assert.rejects(runTraining(onlyPairs, quiet), /s: no training data of the stage's families \(cls\) in .*pair\.jsonl/);
    const twice = config(dir, join(dir, 'y'), {}, [{ name: 's', steps: 2, families: ['cls'], data: ['cls.jsonl', { path: 'cls.jsonl' }] }]);
    await assert.rejects(runTraining(twice, quiet), /dataset "intents" comes from both .*cls\.jsonl and .*cls\.jsonl/);
    writeFileSync(join(dir, 'bad.jsonl'), '{"type":"cls","text":"a","label":"x"}\n{"type":"cls","text":"b"}\n');
    const bad = config(dir, join(dir, 'z'), {}, [{ name: 's', steps: 2, families: ['cls'], data: ['bad.jsonl'] }]);
    await assert.rejects(runTraining(bad, quiet), /bad\.jsonl:2: label/);
    // Evaluation tasks are checked before any training step.
    const evalOf = (ev: Record<string, unknown>) => config(dir, join(dir, 'e'), {}, [{ name: 's', steps: 2, families: ['cls'], data: ['cls.jsonl'], eval: { every: 1, ...ev } }]);
    await assert.rejects(runTraining(evalOf({ tasks: ['NoSuchTask'] }), quiet), /stage "s": eval task "NoSuchTask" is not a registry task/);
    await assert.rejects(runTraining(evalOf({ tasks: ['Banking77Classification'] }), quiet), /eval task "Banking77Classification" needs eval\.dataDir/);
    await assert.rejects(runTraining(evalOf({ tasks: ['Banking77Classification'], dataDir: 'tasks' }), quiet), /Banking77Classification/);
    await assert.rejects(runTraining(evalOf({ tasks: ['./nowhere'] }), quiet), /eval task folder .*nowhere does not exist/);
  } finally {
    removeDir(dir);
  }
});
