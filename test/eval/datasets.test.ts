// Task data from local folders: HF datasets layouts (jsonl, csv with quoted newlines, parquet, subsets),
// BEIR and C-MTEB retrieval layouts, the original STS Benchmark release, user task folders, mteb's
// deterministic transforms, and errors that name files, lines and fields or list what was expected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import {
  loadClassificationData,
  loadClusteringData,
  loadPairData,
  loadRetrievalData,
  loadStsData,
  loadTaskFolder,
  locateTask,
  TaskDataError,
} from '../../src/eval/datasets.js';
import { getTask } from '../../src/eval/tasks.js';
import { stratifiedTrainTestSplitTestRows, trainTestSplitTestRows } from '../../src/eval/hf-split.js';
import type { FastClusteringData } from '../../src/eval/evaluators/clustering.js';
import { tempDir } from './helpers.js';

function put(path: string, content: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

test('classification: HF jsonl under the task name, csv with quoted newlines under the dataset name, parquet shards', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const task = getTask('Banking77Classification');
    // 1. <data>/banking77/{train,test}.csv with header text,category (the PolyAI release layout).
    put(join(dir, 'banking77', 'train.csv'), 'text,category\n"first line\nsecond line",card_arrival\nplain,change_pin\n');
    put(join(dir, 'banking77', 'test.csv'), 'text,category\n"a, b",card_arrival\n');
    let src = locateTask(dir, task);
    let d = await loadClassificationData(task, src, 'test', 'default');
    assert.deepEqual(d.train, { texts: ['first line\nsecond line', 'plain'], labels: ['card_arrival', 'change_pin'] });
    assert.deepEqual(d.test, { texts: ['a, b'], labels: ['card_arrival'] });
    // 2. The task name wins over the dataset name; parquet shards in data/ are read in order.
    const shard = (rows: { text: string; label: number }[]) =>
      new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'text', data: rows.map((r) => r.text), type: 'STRING' }, { name: 'label', data: rows.map((r) => r.label), type: 'INT32' }] }));
    put(join(dir, 'Banking77Classification', 'data', 'train-00000-of-00002.parquet'), shard([{ text: 'p1', label: 3 }]));
    put(join(dir, 'Banking77Classification', 'data', 'train-00001-of-00002.parquet'), shard([{ text: 'p2', label: 4 }]));
    put(join(dir, 'Banking77Classification', 'data', 'test-00000-of-00001.parquet'), shard([{ text: 'p3', label: 3 }]));
    src = locateTask(dir, task);
    assert.equal(src.dir, join(dir, 'Banking77Classification'));
    d = await loadClassificationData(task, src, 'test', 'default');
    assert.deepEqual(d.train, { texts: ['p1', 'p2'], labels: [3, 4] });
  } finally {
    cleanup();
  }
});

test('errors list what was expected: missing folder, missing split, bad or missing fields with file:line', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const task = getTask('STS12');
    assert.throws(() => locateTask(dir, task), (e: unknown) => e instanceof TaskDataError && /STS12: no data folder found\. Looked for .*STS12\/.*mteb\/sts12-sts\/.*huggingface-cli download --repo-type dataset mteb\/sts12-sts --revision a0d554a64d88156834ff5ae9920b964011b16384/.test((e as Error).message));
    put(join(dir, 'STS12', 'train.jsonl'), jsonl([{ sentence1: 'a', sentence2: 'b', score: 1 }]));
    const src = locateTask(dir, task);
    await assert.rejects(loadStsData(src, 'test', 'default'), /no data files for split "test" in .*STS12\. Expected e\.g\. test\.jsonl.*Data files present: train\.jsonl/);
    put(join(dir, 'STS12', 'test.jsonl'), jsonl([{ sentence1: 'a', sentence2: 'b', score: 4 }, { sentence1: 'c', sentence2: 'd', score: 'high' }]));
    await assert.rejects(loadStsData(src, 'test', 'default'), /test\.jsonl:2: field "score": expected a number, got "high"/);
    put(join(dir, 'STS12', 'test.jsonl'), jsonl([{ text1: 'a', sentence2: 'b', score: 4 }, { s1: 'x' }]));
    await assert.rejects(loadStsData(src, 'test', 'default'), /test\.jsonl:2: missing field "sentence2" \(or sent2, text2, s2\); the record has s1/);
  } finally {
    cleanup();
  }
});

test('the original STS Benchmark release: tab-separated, no quoting, fields 4, 5, 6, extra fields ignored', async () => {
  const { dir, cleanup } = tempDir();
  try {
    put(
      join(dir, 'stsbenchmark', 'sts-dev.csv'),
      'main-captions\tMSRvid\t2012test\t0000\t5.000\tA man with a "hard hat" is dancing.\tA man wearing a hard hat is dancing.\n' +
        'main-news\theadlines\t2013\t0001\t1.250\tFirst\tSecond\tsource-a\tsource-b\n',
    );
    const task = getTask('STSBenchmark');
    const src = locateTask(dir, task);
    assert.equal(src.layout, 'stsb-original');
    const d = await loadStsData(src, 'validation', 'default');
    assert.deepEqual(d, { sentence1: ['A man with a "hard hat" is dancing.', 'First'], sentence2: ['A man wearing a hard hat is dancing.', 'Second'], scores: [5, 1.25] });
    await assert.rejects(loadStsData(src, 'test', 'default'), /no file for split "test" \(expected sts-test\.csv\); available: validation/);
  } finally {
    cleanup();
  }
});

test('BEIR retrieval layout: title + " " + text unstripped (1.38), qrels scores cast to int, unjudged queries dropped', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const base = join(dir, 'SCIDOCS');
    put(join(base, 'corpus.jsonl'), jsonl([{ _id: 'd1', title: 'T', text: 'body' }, { _id: 'd2', title: '', text: 'only text' }, { _id: 3, text: 'numeric id, no title' }]));
    put(join(base, 'queries.jsonl'), jsonl([{ _id: 'q1', text: 'first' }, { _id: 'q2', text: 'never judged' }, { _id: 'q3', text: 'third' }]));
    put(join(base, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\nq1\td1\t1.0\nq3\t3\t2\nq3\td2\t0\n');
    const task = getTask('SCIDOCS');
    const d = await loadRetrievalData(task, locateTask(dir, task), 'test', 'default');
    assert.deepEqual(d.corpus, { ids: ['d1', 'd2', '3'], texts: ['T body', ' only text', ' numeric id, no title'] });
    assert.deepEqual(d.queries, { ids: ['q1', 'q3'], texts: ['first', 'third'] });
    assert.deepEqual([...d.qrels.get('q3')!], [['3', 2], ['d2', 0]]);
  } finally {
    cleanup();
  }
});

test('C-MTEB retrieval layout: corpus/queries in data/, qrels in the sibling -qrels dataset, texts stripped', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const base = join(dir, 'C-MTEB', 'T2Retrieval');
    put(join(base, 'data', 'corpus-00000-of-00001.jsonl'), jsonl([{ id: 'p1', text: '  文本一 \n' }, { id: 'q1', text: '自己' }]));
    put(join(base, 'data', 'queries-00000-of-00001.jsonl'), jsonl([{ id: 'q1', text: '查询' }]));
    put(join(dir, 'C-MTEB', 'T2Retrieval-qrels', 'data', 'dev-00000-of-00001.jsonl'), jsonl([{ qid: 'q1', pid: 'p1', score: 1 }]));
    const task = getTask('T2Retrieval');
    const src = locateTask(dir, task);
    assert.equal(src.qrelsDir, join(dir, 'C-MTEB', 'T2Retrieval-qrels'));
    const d = await loadRetrievalData(task, src, 'dev', 'default');
    assert.deepEqual(d.corpus.texts, ['文本一', '自己']);
    assert.deepEqual(d.queries.ids, ['q1']);
  } finally {
    cleanup();
  }
});

test('pair classification: mteb’s one-row-of-lists layout (sent1/sent2 aliases) and one pair per row', async () => {
  const { dir, cleanup } = tempDir();
  try {
    put(join(dir, 'Ocnli', 'validation.jsonl'), jsonl([{ sent1: ['a', 'b'], sent2: ['c', 'd'], labels: [1, 0] }]));
    const d = await loadPairData(locateTask(dir, getTask('Ocnli')), 'validation', 'default');
    assert.deepEqual(d, { sentence1: ['a', 'b'], sentence2: ['c', 'd'], labels: [1, 0] });
    put(join(dir, 'Cmnli', 'validation.jsonl'), jsonl([{ sentence1: 'a', sentence2: 'c', label: 1 }, { sentence1: 'b', sentence2: 'd', label: 0 }]));
    assert.deepEqual(await loadPairData(locateTask(dir, getTask('Cmnli')), 'validation', 'default'), { sentence1: ['a', 'b'], sentence2: ['c', 'd'], labels: [1, 0] });
  } finally {
    cleanup();
  }
});

test('clustering transforms: list rows flattened, hierarchical labels split on ".", solo labels removed', async () => {
  const { dir, cleanup } = tempDir();
  try {
    put(join(dir, 'StackExchangeClusteringP2P.v2', 'test.jsonl'), jsonl([{ sentences: ['s1', 's2', 's3'], labels: ['a', 'b', 'a'] }, { sentences: ['s4', 's5'], labels: ['c', 'b'] }]));
    const p2p = (await loadClusteringData(getTask('StackExchangeClusteringP2P.v2'), locateTask(dir, getTask('StackExchangeClusteringP2P.v2')), 'test', 'default')) as FastClusteringData;
    assert.deepEqual(p2p, { sentences: ['s1', 's2', 's3', 's5'], labels: [['a'], ['b'], ['a'], ['b']] });
    const arxiv = getTask('ArXivHierarchicalClusteringS2S');
    put(join(dir, 'ArXivHierarchicalClusteringS2S', 'test.jsonl'), jsonl([{ sentences: ['x', 'y'], labels: ['cs.AI', 'math.CO'] }]));
    const ax = (await loadClusteringData(arxiv, locateTask(dir, arxiv), 'test', 'default')) as FastClusteringData;
    assert.deepEqual(ax.labels, [['cs', 'AI'], ['math', 'CO']]);
    const legacy = getTask('CLSClusteringS2S');
    put(join(dir, 'CLSClusteringS2S', 'test.jsonl'), jsonl([{ sentences: ['a', 'b'], labels: ['x', 'y'] }, { sentences: ['c'], labels: ['z'] }]));
    assert.deepEqual(await loadClusteringData(legacy, locateTask(dir, legacy), 'test', 'default'), [
      { sentences: ['a', 'b'], labels: ['x', 'y'] },
      { sentences: ['c'], labels: ['z'] },
    ]);
  } finally {
    cleanup();
  }
});

test('subsets live in sub-folders; mteb\'s HF train_test_split subsamples are drawn as mteb draws them', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const mtop = getTask('MTOPDomainClassification');
    put(join(dir, 'mtop_domain', 'en', 'train.jsonl'), jsonl([{ text: 'en train', label: 1 }]));
    put(join(dir, 'mtop_domain', 'en', 'test.jsonl'), jsonl([{ text: 'en test', label: 1 }]));
    const d = await loadClassificationData(mtop, locateTask(dir, mtop), 'test', 'en');
    assert.deepEqual(d.test.texts, ['en test']);
    await assert.rejects(loadClassificationData(mtop, locateTask(dir, mtop), 'test', 'de'), /subset "de": no folder .*mtop_domain\/de/);

    // ToxicConversations: a 2048-row subsample stratified by label, rows in the order HF's select returns them.
    const tox = getTask('ToxicConversationsClassification');
    const rows = Array.from({ length: 3000 }, (_, i) => ({ text: `t${i}`, label: i % 10 === 0 ? 1 : 0 }));
    put(join(dir, 'ToxicConversationsClassification', 'train.jsonl'), jsonl(rows.slice(0, 20)));
    put(join(dir, 'ToxicConversationsClassification', 'test.jsonl'), jsonl(rows));
    const src = locateTask(dir, tox);
    const sub = await loadClassificationData(tox, src, 'test', 'default');
    const expected = stratifiedTrainTestSplitTestRows(rows.map((r) => String(r.label)), 2048, 42);
    assert.deepEqual(sub.test.texts, expected.map((i) => `t${i}`));
    assert.deepEqual(sub.test.labels, expected.map((i) => rows[i]!.label));
    assert.equal(sub.test.labels.filter((l) => l === 1).length, 205, 'approximate mode of 300 positives in 952 train + 2048 test draws');
    // A split that is already no larger than the subsample is used as it is (mteb skips the split too).
    put(join(dir, 'ToxicConversationsClassification', 'test.jsonl'), jsonl(rows.slice(0, 2048)));
    assert.deepEqual((await loadClassificationData(tox, src, 'test', 'default')).test.texts, rows.slice(0, 2048).map((r) => r.text));
    // A class with a single member cannot be stratified: HF datasets refuses, and so do we, naming the task.
    put(join(dir, 'ToxicConversationsClassification', 'test.jsonl'), jsonl([...rows.map((r) => ({ ...r, label: 0 })), { text: 'lone', label: 7 }]));
    await assert.rejects(loadClassificationData(tox, src, 'test', 'default'), /ToxicConversationsClassification: test split: .*least populated class \("7"\) has only 1 member/);

    // ArXivHierarchical: a plain train_test_split of the flattened documents (the first 2048 of a PCG64 permutation).
    const arxiv = getTask('ArXivHierarchicalClusteringP2P');
    const docs = Array.from({ length: 2100 }, (_, i) => ({ sentences: `d${i}`, labels: i % 2 ? 'cs.AI' : 'math.CO' }));
    put(join(dir, 'ArXivHierarchicalClusteringP2P', 'test.jsonl'), jsonl(docs));
    const fast = (await loadClusteringData(arxiv, locateTask(dir, arxiv), 'test', 'default')) as FastClusteringData;
    const perm = trainTestSplitTestRows(2100, 2048, 42);
    assert.deepEqual(fast.sentences, perm.map((i) => `d${i}`));
    assert.deepEqual(fast.labels[0], docs[perm[0]!]!.labels.split('.'));
  } finally {
    cleanup();
  }
});

test('user task folders: task.json describes the task; the retrieval layout is recognised without one', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const a = join(dir, 'my-intents');
    put(join(a, 'task.json'), JSON.stringify({ type: 'Classification', instruction: 'Find the intent', fields: { text: 'utterance', label: 'intent' }, classification: { samplesPerLabel: 2, nExperiments: 1 } }));
    put(join(a, 'train.jsonl'), jsonl([{ utterance: 'u1', intent: 'x' }]));
    put(join(a, 'test.jsonl'), jsonl([{ utterance: 'u2', intent: 'x' }]));
    const { task, source } = loadTaskFolder(a);
    assert.equal(task.name, 'my-intents');
    assert.equal(task.mainScore, 'accuracy');
    assert.equal(task.instructionSides, 'both');
    assert.deepEqual(task.classification, { samplesPerLabel: 2, nExperiments: 1 });
    assert.deepEqual((await loadClassificationData(task, source, 'test', 'default')).test, { texts: ['u2'], labels: ['x'] });
    const r = join(dir, 'my-search');
    put(join(r, 'corpus.jsonl'), jsonl([{ _id: 'd', text: 't' }]));
    put(join(r, 'queries.jsonl'), jsonl([{ _id: 'q', text: 't' }]));
    assert.equal(loadTaskFolder(r).task.type, 'Retrieval');
    assert.equal(loadTaskFolder(r).task.instruction, undefined);
    const bad = join(dir, 'unknown');
    put(join(bad, 'test.jsonl'), jsonl([{ a: 1 }]));
    assert.throws(() => loadTaskFolder(bad), /cannot tell the task type\. Add a task\.json such as \{"type": "Classification"\}/);
    put(join(bad, 'task.json'), '{"type": "Ranking"}');
    assert.throws(() => loadTaskFolder(bad), /task\.json: field "type": "Ranking" is not one of Retrieval, Reranking/);
  } finally {
    cleanup();
  }
});
