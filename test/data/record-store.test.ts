import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readlinkSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { GroupedBatchSampler, RecordStore, transformFiles, type ClsExample } from '../../src/data/index.js';
import { repoRoot, tempDir, writeText } from './helpers.js';

const dir = tempDir();
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

function fixtureFolder(): string {
  const folder = join(dir, 'records');
  mkdirSync(folder, { recursive: true });
  const ret = [];
  for (let i = 0; i < 40; i++) ret.push({ type: 'retrieval', query: `q${i}`, pos: [`p${i}a`, `p${i}b`], neg: Array.from({ length: i % 9 }, (_, k) => `n${i}-${k}`), dataset: 'ret', instruction: 'Given a web search query, retrieve relevant passages that answer the query' });
  writeText(folder, 'a-ret.jsonl', '\ufeff' + jsonl(ret).replace(/\n/g, '\r\n'));
  const cls = [];
  const labels = ['card_arrival', 'exchange_rate', 'top_up', '退款'];
  for (let i = 0; i < 60; i++) cls.push({ type: 'cls', text: `text ${i} 文本`, label: labels[i % 4], id: i });
  cls.push({ type: 'cls', text: 'lonely', label: 'only_one' });
  writeText(folder, 'b-cls.jsonl', jsonl(cls));
  const pairs = [];
  for (let i = 0; i < 30; i++) pairs.push({ type: 'pair', text1: `s${i}`, text2: `t${i}`, score: i / 6 });
  writeText(folder, 'stsb.jsonl.gz', gzipSync(jsonl(pairs)));
  writeText(folder, 'notes.txt', 'ignored');
  return folder;
}

test('open: indexes a folder by dataset (dataset field, else the file name); get() reads records back', async () => {
  const store = await RecordStore.open(fixtureFolder(), { seed: 3 });
  try {
    assert.deepEqual(
      store.datasets().sort((a, b) => a.name.localeCompare(b.name)),
      [
        { name: 'b-cls', family: 'cls', size: 60 },
        { name: 'ret', family: 'retrieval', size: 40 },
        { name: 'stsb', family: 'pair', size: 30 },
      ],
    );
    assert.equal(store.report.singletonLabels, 1);
    assert.equal((store.get('ret', 7) as { query: string }).query, 'q7');
    assert.equal((store.get('stsb', 29) as { score: number }).score, 29 / 6);
    assert.equal((store.get('b-cls', 59) as unknown as { id: number }).id, 59);
    assert.deepEqual(store.labels('b-cls'), ['card_arrival', 'exchange_rate', 'top_up', '退款']);
    assert.throws(() => store.get('ret', 40), /has 40 records; no index 40/);
    assert.throws(() => store.get('nope', 0), /no dataset "nope"/);
  } finally {
    store.close();
  }
});

test('cls expansion: same-label positive (never itself), N distinct other-label negatives, seeded by step', async () => {
  const store = await RecordStore.open(fixtureFolder(), { seed: 3, clsNegatives: 7 });
  try {
    const sample = { step: 5, dataset: 'b-cls', family: 'cls' as const, indices: [0, 1, 2, 3, 10, 59], epoch: 0 };
    const b = store.batch(sample);
    assert.equal(b.family, 'cls');
    const ex = b.examples as ClsExample[];
    ex.forEach((e, k) => {
      const rec = store.get('b-cls', sample.indices[k]!) as { text: string; label: string };
      assert.equal(e.query, rec.text);
      assert.equal(e.label, rec.label);
      assert.notEqual(e.pos, e.query);
      const posId = Number(/text (\d+)/.exec(e.pos)![1]);
      assert.equal(['card_arrival', 'exchange_rate', 'top_up', '退款'][posId % 4], e.label, 'positive has the same label');
      assert.equal(e.negs.length, 7);
      assert.equal(new Set(e.negs).size, 7);
      e.negs.forEach((n, j) => {
        const id = Number(/text (\d+)/.exec(n)![1]);
        assert.equal(['card_arrival', 'exchange_rate', 'top_up', '退款'][id % 4], e.negLabels[j]);
        assert.notEqual(e.negLabels[j], e.label);
      });
    });
    assert.deepEqual(store.batch(sample), b, 'same (seed, step) → same expansion');
    assert.notDeepEqual(store.batch({ ...sample, step: 6 }), b);
  } finally {
    store.close();
  }
  const few = await RecordStore.open(fixtureFolder(), { clsNegatives: 100 });
  const e = few.batch({ step: 0, dataset: 'b-cls', family: 'cls', indices: [0], epoch: 0 }).examples[0] as ClsExample;
  assert.equal(e.negs.length, 45, 'capped at the number of other-label records');
  few.close();
});

test('retrieval and pair batches: a positive from pos, at most hardNegatives negatives from neg, instruction carried', async () => {
  const store = await RecordStore.open(fixtureFolder(), { seed: 9, hardNegatives: 4 });
  try {
    const b = store.batch({ step: 0, dataset: 'ret', family: 'retrieval', indices: [0, 3, 8], epoch: 0 });
    assert.equal(b.family, 'retrieval');
    b.examples.forEach((e, k) => {
      const i = [0, 3, 8][k]!;
      const ex = e as { query: string; pos: string; negs: string[]; instruction?: string };
      assert.equal(ex.query, `q${i}`);
      assert.ok([`p${i}a`, `p${i}b`].includes(ex.pos));
      assert.equal(ex.negs.length, Math.min(4, i % 9));
      assert.equal(new Set(ex.negs).size, ex.negs.length);
      assert.ok(ex.negs.every((n) => n.startsWith(`n${i}-`)));
      assert.match(ex.instruction!, /^Given a web search query/);
    });
    const p = store.batch({ step: 1, dataset: 'stsb', family: 'pair', indices: [2, 1], epoch: 0 });
    assert.deepEqual(p.examples, [
      { text1: 's2', text2: 't2', score: 2 / 6 },
      { text1: 's1', text2: 't1', score: 1 / 6 },
    ]);
  } finally {
    store.close();
  }
});

test('bad input: a dataset mixing types and a malformed line are errors with file:line; skip mode counts them', async () => {
  const mixed = writeText(dir, 'mixed.jsonl', jsonl([{ type: 'cls', text: 'a', label: 'x', dataset: 'd' }, { type: 'pair', text1: 'a', text2: 'b', score: 1, dataset: 'd' }]));
  await assert.rejects(RecordStore.open(mixed), /mixed\.jsonl:2: type: dataset "d" mixes cls \(.*mixed\.jsonl:1\) and pair records/);
  const broken = writeText(dir, 'broken.jsonl', '{"type":"cls","text":"a","label":"x"}\n{"type":"cls","text":"b"}\n{"type":"cls","text":"c","label":"x"}\n{"type":"cls","text":"d","label":"y"}\n{"type":"cls","text":"e","label":"y"}\n');
  await assert.rejects(RecordStore.open(broken), /broken\.jsonl:2: label: missing/);
  const s = await RecordStore.open(broken, { onError: 'skip' });
  assert.equal(s.report.skipped, 1);
  assert.deepEqual(s.datasets(), [{ name: 'broken', family: 'cls', size: 4 }]);
  s.close();
});

/** How many of this process's file descriptors are open on `path` (Linux /proc). */
function openDescriptors(path: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false; // closed while listing
    }
  }).length;
}

test('a failed open closes the files it had already opened', async (t) => {
  if (!existsSync('/proc/self/fd')) return t.skip('needs /proc/self/fd to list open files');
  const folder = join(dir, 'leak');
  mkdirSync(folder, { recursive: true });
  const good = writeText(folder, 'a-good.jsonl', jsonl([{ type: 'pair', text1: 'a', text2: 'b', score: 1 }]));
  writeText(folder, 'b-bad.jsonl', '{"type":"pair","text1":"a"}\n');
  await assert.rejects(RecordStore.open(folder), /b-bad\.jsonl:1: text2: missing/);
  assert.equal(openDescriptors(good), 0);
  // Also when indexing fails after the scan (a cls dataset with a single usable label).
  const one = join(dir, 'one-label');
  mkdirSync(one, { recursive: true });
  const single = writeText(one, 'a-good.jsonl', jsonl([{ type: 'cls', text: 'x', label: 'l' }, { type: 'cls', text: 'y', label: 'l' }]));
  await assert.rejects(RecordStore.open(one), /has only one label/);
  assert.equal(openDescriptors(single), 0);
});

test('trainer loop: sampler + store resume mid-epoch gives the same materialised batches', async () => {
  const folder = fixtureFolder();
  const opts = { alpha: 0.5, batchSize: { retrieval: 8, pair: 12, cls: 10 }, seed: 11 };
  const store = await RecordStore.open(folder, { seed: 5 });
  const straightSampler = new GroupedBatchSampler({ datasets: store.datasets(), ...opts });
  const straight = Array.from({ length: 60 }, () => store.batch(straightSampler.next()));
  const a = new GroupedBatchSampler({ datasets: store.datasets(), ...opts });
  const firstPart = Array.from({ length: 23 }, () => store.batch(a.next()));
  const state = JSON.stringify(a.state());
  store.close();
  const store2 = await RecordStore.open(folder, { seed: 5 });
  const b = GroupedBatchSampler.fromState(JSON.parse(state), store2.datasets());
  const rest = Array.from({ length: 37 }, () => store2.batch(b.next()));
  assert.deepEqual([...firstPart, ...rest], straight);
  store2.close();
});

test('Banking77 train → cls records → store and sampler: 77 labels, single-dataset batches of 256', async () => {
  const out = join(dir, 'banking77-train.jsonl');
  const report = await transformFiles({ inputs: [join(repoRoot, 'data/banking77/train.csv')], output: out, transform: { type: 'cls', map: { label: 'category' }, dataset: 'banking77' } });
  assert.equal(report.written, 10003);
  const store = await RecordStore.open(out, { seed: 1 });
  assert.deepEqual(store.datasets(), [{ name: 'banking77', family: 'cls', size: 10003 }]);
  assert.equal(store.labels('banking77').length, 77);
  const sampler = new GroupedBatchSampler({ datasets: store.datasets(), seed: 1 });
  const b = store.batch(sampler.next());
  assert.equal(b.examples.length, 256);
  for (const e of b.examples as ClsExample[]) {
    assert.equal(e.negs.length, 7);
    assert.ok(e.negLabels.every((l) => l !== e.label));
  }
  store.close();
});
