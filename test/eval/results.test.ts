// Result files and aggregation: the writer reproduces Python mteb 1.38.30's bytes on QZhou's real result
// files; the benchmark means reproduce QZhou's published numbers from its per-task scores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bordaRanks, summarizeBenchmark } from '../../src/eval/aggregate.js';
import { getBenchmark } from '../../src/eval/benchmarks.js';
import { formatBenchmarkSummary } from '../../src/eval/table.js';
import { parsePythonJson, pythonJson, readResultsFolder, readTaskResult, taskResult, writeTaskResult, type TaskResultJson } from '../../src/eval/results.js';
import { evaluate } from '../../src/eval/run.js';
import { getTask, listTasks } from '../../src/eval/tasks.js';
import { HashingEmbedder, tempDir } from './helpers.js';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

test('re-serialising QZhou’s mteb result files gives back the same bytes', () => {
  const dir = join(FIXTURES, 'qzhou-results');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 9, 'fixture files present');
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    assert.equal(pythonJson(parsePythonJson(text)), text, f);
  }
});

test('taskResult builds mteb’s layout: rounded scores, main_score, hf_subset, languages', () => {
  const task = getTask('STS17');
  const r = taskResult(task, { test: { 'en-en': { cosine_spearman: 0.95153312345, pearson: 1 / 3 } } }, 12.5);
  assert.deepEqual(Object.keys(r), ['dataset_revision', 'task_name', 'mteb_version', 'scores', 'evaluation_time', 'kg_co2_emissions']);
  assert.equal(r.dataset_revision, 'faeb762787bd10488a50c8b5be4a3b82e411949c');
  assert.equal(r.mteb_version, '1.38.30');
  assert.deepEqual(r.scores.test![0], { cosine_spearman: 0.951533, pearson: 0.333333, main_score: 0.951533, hf_subset: 'en-en', languages: ['eng-Latn'] });
  const { dir, cleanup } = tempDir();
  try {
    const path = writeTaskResult(dir, r);
    assert.ok(path.endsWith('STS17.json'), 'path.endsWith(\'STS17.json\')');
    assert.deepEqual(readResultsFolder(dir).get('STS17'), r);
  } finally {
    cleanup();
  }
});

function qzhouResults(): Map<string, TaskResultJson> {
  const scores = JSON.parse(readFileSync(join(FIXTURES, 'qzhou-1.38.30-main-scores.json'), 'utf8')) as Record<string, Record<string, Record<string, number>>>;
  const out = new Map<string, TaskResultJson>();
  for (const [task, splits] of Object.entries(scores)) {
    const meta = getTask(task);
    out.set(task, {
      dataset_revision: meta.dataset.revision,
      task_name: task,
      mteb_version: '1.38.30',
      evaluation_time: null,
      kg_co2_emissions: null,
      scores: Object.fromEntries(
        Object.entries(splits).map(([split, subsets]) => [split, Object.entries(subsets).map(([hf_subset, main_score]) => ({ main_score, hf_subset, languages: meta.subsets[hf_subset] ?? [] }))]),
      ),
    });
  }
  return out;
}

test('MTEB(eng, v2) from QZhou’s 1.38.30 files: 75.97 / 69.52 and the published type means', () => {
  const s = summarizeBenchmark(getBenchmark('MTEB(eng, v2)'), qzhouResults());
  assert.equal(s.tasks.length, 41);
  assert.equal(s.completed, 41);
  assert.equal(s.display.meanTask, 75.97);
  assert.equal(s.display.meanType, 69.52);
  const expectTypes: Record<string, number> = {
    Classification: 88.9665, Clustering: 61.647, PairClassification: 92.4309, Reranking: 51.7683, Retrieval: 67.1228, STS: 91.6482, Summarization: 33.0498,
  };
  for (const [t, v] of Object.entries(expectTypes)) assert.ok(Math.abs(s.typeMeans[t as keyof typeof s.typeMeans]! * 100 - v) < 1e-4, t);
  assert.ok(Math.abs(s.meanTask * 100 - 75.9719) < 1e-4, `Mean(Task) ${s.meanTask * 100}`);
  assert.ok(Math.abs(s.meanType * 100 - 69.5191) < 1e-4, `Mean(TaskType) ${s.meanType * 100}`);
  // The English subsets were selected from the multilingual files (MTOP has six languages there).
  assert.equal(s.tasks.find((t) => t.task === 'MTOPDomainClassification')!.score, 0.987164);
  assert.equal(s.tasks.find((t) => t.task === 'STS17')!.score, 0.951533);
  assert.match(formatBenchmarkSummary(s), /Mean\(Task\)\s+75\.97/);
});

test('MTEB(cmn, v1): 76.99 / 78.58 (published convention) and 77.02 / 78.60 (2.x definition)', () => {
  const results = qzhouResults();
  const pub = summarizeBenchmark(getBenchmark('MTEB(cmn, v1)'), results);
  assert.equal(pub.tasks.length, 31);
  assert.equal(pub.display.meanTask, 76.99);
  assert.equal(pub.display.meanType, 78.58);
  assert.ok(Math.abs(pub.typeMeans.Classification! * 100 - 79.9871) < 1e-4, `Classification ${pub.typeMeans.Classification! * 100}`);
  assert.equal(pub.tasks.find((t) => t.task === 'ATEC')!.score, 0.544666, 'ATEC on test only');
  const v2 = summarizeBenchmark(getBenchmark('MTEB(cmn, v1)', '2.x'), results);
  assert.equal(v2.display.meanTask, 77.02);
  assert.equal(v2.display.meanType, 78.6);
  assert.ok(Math.abs(v2.typeMeans.Classification! * 100 - 80.1105) < 1e-4, `Classification ${v2.typeMeans.Classification! * 100}`);
  assert.equal(v2.tasks.find((t) => t.task === 'MultilingualSentiment')!.score, (0.8462 + 0.861) / 2);
  const other: Record<string, number> = { Retrieval: 78.804, Reranking: 74.8473, PairClassification: 95.0681, Clustering: 70.9069, STS: 71.8931 };
  for (const [t, v] of Object.entries(other)) assert.ok(Math.abs(pub.typeMeans[t as keyof typeof pub.typeMeans]! * 100 - v) < 1e-4, t);
});

test('a missing task makes the means NaN (no NaN skipping) and is reported', () => {
  const results = qzhouResults();
  results.delete('BIOSSES');
  const s = summarizeBenchmark(getBenchmark('MTEB(eng, v2)'), results);
  assert.ok(Number.isNaN(s.meanTask), 'Mean(Task) is NaN');
  assert.equal(s.completed, 40);
  assert.equal(s.tasks.find((t) => t.task === 'BIOSSES')!.missing, 'no result file');
  assert.match(formatBenchmarkSummary(s), /tasks missing/);
});

test('the registry ships all 72 tasks with instructions from the model area', () => {
  const tasks = listTasks();
  assert.equal(tasks.length, 72);
  const eng = getBenchmark('MTEB(eng, v2)').tasks.map((t) => t.task);
  const cmn = getBenchmark('MTEB(cmn, v1)').tasks.map((t) => t.task);
  assert.equal(new Set([...eng, ...cmn]).size, 72);
  const counts = (names: string[]) => names.reduce<Record<string, number>>((acc, n) => ((acc[getTask(n).type] = (acc[getTask(n).type] ?? 0) + 1), acc), {});
  assert.deepEqual(counts(eng), { Retrieval: 10, Reranking: 2, Clustering: 8, Classification: 8, PairClassification: 3, STS: 9, Summarization: 1 });
  assert.deepEqual(counts(cmn), { Retrieval: 8, Reranking: 4, PairClassification: 2, Clustering: 4, STS: 7, Classification: 6 });
  assert.equal(getTask('Banking77Classification').instruction, 'Given a online banking query, find the corresponding intents');
  assert.equal(getTask('FiQA2018').instructionSides, 'query');
  assert.equal(getTask('ArguAna').instructionSides, 'both');
  assert.ok(tasks.every((t) => t.instruction && /^[0-9a-f]{40}$/.test(t.dataset.revision)), 'every task has an instruction and a full revision');
  assert.equal(getTask('IFlyTek').classification!.nExperiments, 5);
  assert.equal(getTask('ToxicConversationsClassification').classification!.samplesPerLabel, 16);
  assert.ok(getTask('T2Retrieval').retrieval!.ignoreIdenticalIds, 'T2Retrieval ignores identical ids');
  assert.throws(() => getTask('Banking77'), /unknown task "Banking77"; did you mean Banking77Classification/);
});

test('Borda rank: n − rank per task with averaged ties, summed; tied totals share the best rank', () => {
  const r = bordaRanks(
    new Map([
      ['A', new Map([['t1', 0.9], ['t2', 0.5]])],
      ['B', new Map([['t1', 0.9], ['t2', 0.7]])],
      ['C', new Map([['t1', 0.1], ['t2', 0.6]])],
    ]),
  );
  // t1: A and B tie for ranks 1–2 (1.5 each) → 1.5 points; C rank 3 → 0. t2: B 2, C 1, A 0.
  assert.deepEqual(Object.fromEntries(r), { A: { points: 1.5, rank: 2 }, B: { points: 3.5, rank: 1 }, C: { points: 1, rank: 3 } });
});

test('evaluating a task split by split keeps the splits scored before; a rerun only scores what is missing', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const task = join(dir, 'pairs');
    mkdirSync(task);
    writeFileSync(join(task, 'task.json'), JSON.stringify({ type: 'STS', evalSplits: ['validation', 'test'] }));
    const rows = (k: number) => Array.from({ length: 12 }, (_, i) => JSON.stringify({ sentence1: `a cat sat ${i}`, sentence2: `a ${i % (2 + k) ? 'dog' : 'cat'} sat ${i}`, score: (i * 7 + k) % 5 })).join('\n');
    writeFileSync(join(task, 'validation.jsonl'), rows(1));
    writeFileSync(join(task, 'test.jsonl'), rows(2));
    const embedder = new HashingEmbedder(64);
    const opts = { model: embedder, tasks: [task], outputDir: join(dir, 'out'), modelName: 'm', cacheDir: false as const };
    const val = await evaluate({ ...opts, splits: ['validation'] });
    const file = val.outcomes[0]!.path!;
    const first = readTaskResult(file).scores.validation!;
    const before = embedder.texts;
    const test = await evaluate({ ...opts, splits: ['test'] });
    const merged = readTaskResult(file);
    assert.deepEqual(Object.keys(merged.scores), ['validation', 'test']);
    assert.deepEqual(merged.scores.validation, first, 'the earlier split is kept as written');
    assert.deepEqual(test.outcomes[0]!.result.scores, merged.scores);
    assert.equal(embedder.texts - before, 24, 'only the test split was embedded');
    // Both splits requested, both in the file: nothing left to do.
    const texts = embedder.texts;
    const again = await evaluate(opts);
    assert.equal(again.outcomes[0]!.skipped, true);
    assert.equal(embedder.texts, texts, 'nothing re-embedded');
    assert.deepEqual(again.rows.map((r) => [r.split, r.score]), [['validation', first[0]!.main_score], ['test', merged.scores.test![0]!.main_score]]);
  } finally {
    cleanup();
  }
});
