// `qzhou eval` as a real process: the TF-IDF baseline on a task folder writes its result and table;
// --summarize aggregates result files; --list-tasks; usage errors exit with 2 and a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;

function qzhou(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'eval', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('qzhou eval --model tfidf on a classification task folder', () => {
  const { dir, cleanup } = tempDir();
  try {
    const task = join(dir, 'fruit-or-tool');
    mkdirSync(task);
    const rows = (n: number, offset: number) =>
      Array.from({ length: n }, (_, i) => {
        const fruit = (i + offset) % 2 === 0;
        const w = fruit ? ['apple', 'pear', 'banana', 'cherry'][i % 4] : ['hammer', 'wrench', 'drill', 'saw'][i % 4];
        return `${JSON.stringify({ text: `a ${w} ${fruit ? 'tastes sweet' : 'fixes things'}`, label: fruit ? 'fruit' : 'tool' })}`;
      }).join('\n');
    writeFileSync(join(task, 'train.jsonl'), rows(40, 0));
    writeFileSync(join(task, 'test.jsonl'), rows(10, 1));
    writeFileSync(join(task, 'task.json'), JSON.stringify({ type: 'Classification', classification: { samplesPerLabel: 4, nExperiments: 2 } }));
    const out = join(dir, 'out');
    const r = qzhou(['--model', 'tfidf', '--tasks', task, '--output', out, '--no-cache']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /fruit-or-tool\s+Classification\s+test\s+default\s+accuracy\s+100\.00/);
    assert.match(r.stderr, /\[1\/1\] fruit-or-tool \(Classification, test\)/);
    const json = JSON.parse(readFileSync(join(out, 'tfidf', 'no_revision_available', 'fruit-or-tool.json'), 'utf8'));
    assert.equal(json.scores.test[0].main_score, 1);
    assert.equal(json.scores.test[0].scores_per_experiment.length, 2);
    assert.deepEqual(json.scores.test[0].languages, ['und']);
  } finally {
    cleanup();
  }
});

test('qzhou eval --summarize prints a benchmark summary of existing result files; --list-tasks', () => {
  const fixtures = join(ROOT, 'test', 'eval', 'fixtures', 'qzhou-results');
  const r = qzhou(['--summarize', fixtures, '--benchmark', 'MTEB(eng, v2)', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.benchmark, 'MTEB(eng, v2)');
  assert.equal(s.tasks.find((t: { task: string }) => t.task === 'Banking77Classification').score, 0.853669);
  assert.equal(s.completed, 7);
  const list = qzhou(['--list-tasks']);
  assert.equal(list.code, 0);
  assert.equal(list.stdout.trim().split('\n').length, 72);
  assert.match(list.stdout, /^ArguAna\s+Retrieval\s+ndcg_at_10\s+test$/m);
});

test('usage errors exit with code 2 and say what is missing', () => {
  const noModel = qzhou(['--tasks', 'Banking77Classification']);
  assert.equal(noModel.code, 2);
  assert.match(noModel.stderr, /--model is required/);
  const unknownTask = qzhou(['--model', 'tfidf', '--tasks', 'Bankng77', '--data-dir', 'data', '--no-cache', '--output', '/nonexistent-qzhou-out']);
  assert.equal(unknownTask.code, 1);
  assert.match(unknownTask.stderr, /unknown task "Bankng77"/);
  // Several tasks: a failing one (no data) is reported, the others still run; exit code 1.
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(join(dir, 'data', 'STS12'), { recursive: true });
    writeFileSync(join(dir, 'data', 'STS12', 'test.jsonl'), ['{"sentence1":"a cat","sentence2":"a cat","score":5}', '{"sentence1":"a dog","sentence2":"the sky","score":0}', '{"sentence1":"red car","sentence2":"red cars","score":4}'].join('\n'));
    const partial = qzhou(['--model', 'tfidf', '--tasks', 'STS12,STS13', '--data-dir', join(dir, 'data'), '--output', join(dir, 'out'), '--no-cache']);
    assert.equal(partial.code, 1);
    assert.match(partial.stdout, /STS12\s+STS\s+test/);
    assert.match(partial.stderr, /1 task\(s\) failed:\n  STS13: STS13: no data folder found/);
  } finally {
    cleanup();
  }
  const badConvention = qzhou(['--model', 'tfidf', '--benchmark', 'MTEB(cmn, v1)', '--cmn-convention', '3.x']);
  assert.equal(badConvention.code, 2);
  assert.match(badConvention.stderr, /--cmn-convention: expected published or 2\.x/);
});
