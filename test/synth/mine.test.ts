import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mineHardNegatives, mineFile, type MiningInfo } from '../../src/synth/mine.js';
import { HashingEmbedder } from '../../src/synth/hashing-embedder.js';
import type { CanonicalRecord, RetrievalRecord } from '../../src/synth/records.js';
import { command } from '../../src/cli/commands/mine.js';
import { TableEmbedder, RecordingEmbedder, scoreVector } from './helpers/test-embedders.js';

type Mined = RetrievalRecord & { mining: MiningInfo };
const ret = (query: string, pos: string[], extra: Partial<RetrievalRecord> = {}): RetrievalRecord => ({ type: 'retrieval', query, pos, neg: [], ...extra });
const f32 = (x: number) => Math.round(Math.fround(x) * 1e6) / 1e6;

/** Query "q" at (1, 0); document d<i> scores 0.99 − 0.02·i; "q" itself and "pos" are in the corpus too. */
function windowFixture() {
  const table = new Map<string, Float32Array>([['q', scoreVector(1)]]);
  const corpus = [{ text: 'q' }];
  for (let i = 0; i < 40; i++) {
    table.set(`d${i}`, scoreVector(0.99 - 0.02 * i));
    corpus.push({ text: `d${i}`, ...(i === 7 ? { id: 'ID7' } : {}) } as { text: string; id?: string });
  }
  return { embedder: new TableEmbedder(table), corpus };
}

test('mining takes negatives from the rank window, never a positive (by text or id) or the query itself', async () => {
  const { embedder, corpus } = windowFixture();
  const rec = ret('q', ['d4'], { pos_ids: ['ID7'] } as Partial<RetrievalRecord>);
  const { records, stats } = await mineHardNegatives(embedder, [rec], corpus, { numNegatives: 20, sampling: 'top', relativeMargin: null });
  const out = records[0] as Mined;
  // Without q, d4 and d7 the ranking is d0 d1 d2 d3 d5 d6 d8 d9 d10 d11 | d12 … d31 (ranks 11–30) | d32 …
  assert.deepEqual(out.neg, Array.from({ length: 20 }, (_, i) => `d${i + 12}`));
  assert.deepEqual(out.mining.ranks, Array.from({ length: 20 }, (_, i) => i + 11));
  assert.deepEqual(out.mining.scores, Array.from({ length: 20 }, (_, i) => f32(0.99 - 0.02 * (i + 12))));
  assert.equal(out.mining.positive_score, f32(0.91));
  assert.equal(out.mining.model, 'table');
  assert.deepEqual(stats, {
    records: 1, mined: 1, passthrough: 0, short: 0, negatives: 20,
    dropped: { existing: 0, relative_margin: 0, absolute_margin: 0, max_score: 0, min_score: 0 },
    meanRank: 20.5, meanNegativeScore: stats.meanNegativeScore, meanPositiveScore: f32(0.91),
  });

  // A custom window, and a window that runs past the corpus end (short).
  const w = (await mineHardNegatives(embedder, [rec], corpus, { rangeMin: 2, rangeMax: 5, numNegatives: 9, sampling: 'top', relativeMargin: null })).records[0] as Mined;
  assert.deepEqual(w.neg, ['d2', 'd3', 'd5']);
  assert.deepEqual(w.mining.ranks, [3, 4, 5]);
  const tail = await mineHardNegatives(embedder, [rec], corpus, { rangeMin: 30, rangeMax: 60, numNegatives: 20, sampling: 'top', relativeMargin: null });
  assert.deepEqual((tail.records[0] as Mined).mining.ranks, [31, 32, 33, 34, 35, 36, 37, 38]); // 40 − d4 − d7
  assert.equal(tail.stats.short, 1);
});

test('random sampling stays in the window, is seeded, and does not depend on batching', async () => {
  const { embedder, corpus } = windowFixture();
  const recs = Array.from({ length: 6 }, () => ret('q', ['d4']));
  const run = (seed: number, queryBatch: number) => mineHardNegatives(embedder, recs, corpus, { seed, queryBatch, relativeMargin: null });
  const a = (await run(7, 100)).records as Mined[];
  const b = (await run(7, 1)).records as Mined[];
  assert.deepEqual(a, b, 'same seed, other batch size: same sample');
  const window = new Set(Array.from({ length: 20 }, (_, i) => `d${i + 12}`));
  for (const r of a) {
    assert.equal(r.neg.length, 4);
    assert.ok(r.neg.every((n) => window.has(n)));
    assert.equal(new Set(r.neg).size, 4);
    assert.deepEqual([...r.mining.ranks].sort((x, y) => x - y), r.mining.ranks, 'reported best first');
  }
  assert.ok(new Set(a.map((r) => r.neg.join())).size > 1, 'each record draws its own sample');
  const others = await Promise.all([1, 2, 3].map(async (s) => ((await run(s, 100)).records as Mined[]).map((r) => r.neg.join()).join('|')));
  assert.ok(others.some((o) => o !== a.map((r) => r.neg.join()).join('|')), 'another seed, another sample');
});

test('the positive-aware margin and score bounds drop likely false negatives', async () => {
  const scores: Record<string, number> = { a: 0.95, b: 0.89, c: 0.86, e: 0.85, f: 0.5, g: 0.3 };
  const table = new Map<string, Float32Array>([['q', scoreVector(1)], ['P', scoreVector(0.9)]]);
  for (const [t, s] of Object.entries(scores)) table.set(t, scoreVector(s));
  const embedder = new TableEmbedder(table);
  const corpus = Object.keys(scores).map((text) => ({ text }));
  const rec = ret('q', ['P']); // the positive is not in the corpus: it is embedded as a document
  const mine = async (o: object) => ((await mineHardNegatives(embedder, [rec], corpus, { rangeMin: 0, rangeMax: 10, numNegatives: 10, sampling: 'top', ...o })).records[0] as Mined);

  const rel = await mine({}); // default: drop above 0.95 × 0.9 = 0.855
  assert.deepEqual(rel.neg, ['e', 'f', 'g']);
  assert.deepEqual(rel.mining.ranks, [4, 5, 6]);
  assert.deepEqual(rel.mining.dropped, { relative_margin: 3 });
  assert.equal(rel.mining.positive_score, f32(0.9));
  assert.ok(embedder.calls.some((c) => c.texts.includes('P') && c.request?.kind === 'document'));

  assert.deepEqual((await mine({ relativeMargin: null, absoluteMargin: 0.1 })).neg, ['f', 'g']);
  const bounded = await mine({ relativeMargin: null, maxScore: 0.6, minScore: 0.4 });
  assert.deepEqual(bounded.neg, ['f']);
  assert.deepEqual(bounded.mining.dropped, { max_score: 4, min_score: 1 });
  assert.deepEqual((await mine({ relativeMargin: null })).neg, ['a', 'b', 'c', 'e', 'f', 'g']);
});

test('existing negatives are kept (and never mined again) or replaced', async () => {
  const { embedder, corpus } = windowFixture();
  const rec = ret('q', ['d4'], { neg: ['d13', 'an old negative'] });
  const keep = (await mineHardNegatives(embedder, [rec], corpus, { rangeMin: 11, rangeMax: 14, numNegatives: 5, sampling: 'top', relativeMargin: null })).records[0] as Mined;
  // Without q and d4, ranks 12–14 are d12 d13 d14; d13 is already a negative.
  assert.deepEqual(keep.neg, ['d13', 'an old negative', 'd12', 'd14']);
  assert.deepEqual(keep.mining.dropped, { existing: 1 });
  const replace = (await mineHardNegatives(embedder, [rec], corpus, { rangeMin: 11, rangeMax: 14, numNegatives: 5, sampling: 'top', relativeMargin: null, existingNegatives: 'replace' })).records[0] as Mined;
  assert.deepEqual(replace.neg, ['d12', 'd13', 'd14']);
});

test('queries are embedded with their instruction; documents as documents; other records pass through', async () => {
  const embedder = new RecordingEmbedder(new HashingEmbedder(64));
  const recs: CanonicalRecord[] = [
    ret('card lost', ['freeze the card'], { instruction: 'Given a banking query, find the answer' }),
    ret('rate of savings', ['savings rates']),
    { type: 'pair', text1: 'a', text2: 'b', score: 1 },
  ];
  const { records, stats } = await mineHardNegatives(embedder, recs, null, { task: 'Banking77Classification', rangeMin: 0, rangeMax: 3 });
  assert.deepEqual(records[2], recs[2]);
  assert.equal(stats.passthrough, 1);
  assert.equal(stats.mined, 2);
  const reqs = embedder.calls.map((c) => ({ texts: c.texts, request: c.request }));
  assert.deepEqual(reqs[0], { texts: ['freeze the card', 'savings rates'], request: { kind: 'document', task: 'Banking77Classification' } });
  assert.ok(reqs.some((r) => r.texts.join() === 'card lost' && r.request?.instruction === 'Given a banking query, find the answer' && r.request.kind === 'query'));
  assert.ok(reqs.some((r) => r.texts.join() === 'rate of savings' && r.request?.task === 'Banking77Classification' && r.request.kind === 'query' && r.request.instruction === undefined));
  // One instruction for all queries overrides the records'.
  const e2 = new RecordingEmbedder(new HashingEmbedder(64));
  await mineHardNegatives(e2, recs, null, { instruction: 'X' });
  assert.ok(e2.calls.filter((c) => c.request?.kind === 'query').every((c) => c.request?.instruction === 'X'));
});

// A small hand-made corpus with graded lexical overlap.
const SUBJECTS = ['my card', 'the transfer', 'my savings account', 'the mobile app', 'a cash withdrawal', 'the loan'];
const PROBLEMS = ['was declined', 'is delayed', 'shows a wrong balance', 'was charged twice', 'is blocked'];
const PLACES = ['abroad', 'at the shop', 'online', 'this morning'];
function bankCorpus(): string[] {
  const docs: string[] = [];
  for (const s of SUBJECTS) for (const p of PROBLEMS) for (const w of PLACES.slice(0, 2)) docs.push(`Why ${s} ${p} ${w}: here is what to check.`);
  return docs;
}

test('with a lexical retriever on a hand-made corpus, every negative has the brute-force rank and score it reports', async () => {
  const embedder = new HashingEmbedder(512);
  const corpus = bankCorpus();
  const queries = [
    ret('my card was declined abroad', [corpus[0]!]),
    ret('the transfer is delayed', [corpus[12]!, corpus[13]!]),
    ret('loan charged twice online', [corpus[56]!]),
    ret('mobile app blocked', [corpus[38]!]),
  ];
  const { records } = await mineHardNegatives(embedder, queries, corpus.map((text) => ({ text })), { numNegatives: 6 });
  const docVecs = await embedder.embed(corpus);
  for (const [i, r] of (records as Mined[]).entries()) {
    const q = (await embedder.embed([queries[i]!.query]))[0]!;
    const scored = docVecs.map((d, j) => ({ j, s: Math.fround(d.reduce((acc, x, t) => acc + x * q[t]!, 0)) }));
    const positives = new Set(queries[i]!.pos);
    const ranked = scored.filter((x) => !positives.has(corpus[x.j]!)).sort((a, b) => b.s - a.s || a.j - b.j);
    const posScore = Math.min(...queries[i]!.pos.map((p) => scored[corpus.indexOf(p)]!.s));
    assert.equal(r.neg.length, 6);
    assert.ok(r.neg.every((n) => !positives.has(n)), 'never a positive');
    r.neg.forEach((n, t) => {
      // ORT's Gemm sums in another order than this loop: ranks agree up to float32 near-ties.
      const s = r.mining.scores[t]!;
      const own = ranked.find((x) => corpus[x.j] === n)!;
      assert.ok(Math.abs(own.s - s) < 1e-5, `score of ${n}`);
      const above = ranked.filter((x) => x.s > s + 1e-5).length;
      const atOrAbove = ranked.filter((x) => x.s >= s - 1e-5).length;
      const rank = r.mining.ranks[t]!;
      assert.ok(rank > above && rank <= atOrAbove, `rank ${rank} of ${n}: ${above} score higher, ${atOrAbove} at least as high`);
      assert.ok(rank >= 11 && rank <= 30);
      assert.ok(s <= 0.95 * posScore + 1e-6, 'margin respected');
    });
    // Everything the margin let through in the window was a candidate; what it dropped scored above it.
    const window = ranked.slice(10, 30);
    const threshold = 0.95 * posScore;
    const dropped = r.mining.dropped?.relative_margin ?? 0;
    assert.ok(dropped >= window.filter((x) => x.s > threshold + 1e-5).length && dropped <= window.filter((x) => x.s > threshold - 1e-5).length);
  }
});

test('mineFile: one line per record in input order, resumable after an interruption in either phase, identical output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-mine-'));
  try {
    const corpus = bankCorpus();
    writeFileSync(join(dir, 'corpus.jsonl'), [
      ...corpus.map((text, i) => JSON.stringify({ _id: `doc${i}`, title: '', text })),
      JSON.stringify({ id: 'dup', text: corpus[0] }),
    ].join('\n') + '\n');
    const rows: CanonicalRecord[] = [];
    for (let i = 0; i < 12; i++) rows.push(ret(`${SUBJECTS[i % 6]} ${PROBLEMS[i % 5]}`, [corpus[(i * 7) % corpus.length]!]));
    rows.splice(5, 0, { type: 'cls', text: 'hello', label: 'greeting' });
    writeFileSync(join(dir, 'in.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const base = { input: join(dir, 'in.jsonl'), corpus: join(dir, 'corpus.jsonl'), queryBatch: 4, corpusBatch: 16, numNegatives: 3 };

    const full = await mineFile({ ...base, embedder: new HashingEmbedder(256), output: join(dir, 'full.jsonl') });
    assert.equal(full.stats.records, 13);
    assert.equal(full.stats.passthrough, 1);
    assert.equal(full.corpus.documents, corpus.length);
    assert.equal(full.corpus.duplicates, 1);
    const expected = readFileSync(join(dir, 'full.jsonl'), 'utf8');
    const lines = expected.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.query ?? l.text), rows.map((r) => (r.type === 'retrieval' ? r.query : (r as { text: string }).text)));
    assert.ok(!existsSync(join(dir, 'full.jsonl.work')) && !existsSync(join(dir, 'full.jsonl.partial')));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'full.jsonl.summary.json'), 'utf8')).stats, full.stats);

    // Interrupted while embedding the corpus, then while mining; each rerun continues.
    const out = join(dir, 'resumed.jsonl');
    const stop = new AbortController();
    await assert.rejects(mineFile({ ...base, embedder: new HashingEmbedder(256), output: out, signal: stop.signal, onProgress: (p) => p.stage === 'corpus' && p.done >= 16 && stop.abort() }));
    const e1 = new RecordingEmbedder(new HashingEmbedder(256));
    const stop2 = new AbortController();
    await assert.rejects(mineFile({ ...base, embedder: e1, output: out, signal: stop2.signal, onProgress: (p) => p.stage === 'queries' && p.done >= 4 && stop2.abort() }));
    assert.deepEqual(e1.calls[0]!.texts[0], corpus[16], 'corpus embedding resumed at row 16');
    assert.equal(readFileSync(`${out}.partial`, 'utf8').trim().split('\n').length, 4);
    const e2 = new RecordingEmbedder(new HashingEmbedder(256));
    const resumed = await mineFile({ ...base, embedder: e2, output: out });
    assert.equal(resumed.resumed_records, 4);
    assert.ok(!e2.calls.some((c) => c.texts.length === 16), 'the corpus was not embedded again');
    assert.equal(readFileSync(out, 'utf8'), expected);
    assert.deepEqual(resumed.stats, full.stats);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('qzhou mine (CLI) with the hashing retriever; flag errors name the flag', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-mine-cli-'));
  try {
    const corpus = bankCorpus();
    writeFileSync(join(dir, 'docs.txt'), corpus.join('\n') + '\n');
    writeFileSync(join(dir, 'in.jsonl'), `${JSON.stringify(ret('my card was declined', [corpus[1]!]))}\n`);
    const code = await command.run(['--model', 'hashing:256', '--input', join(dir, 'in.jsonl'), '--corpus', join(dir, 'docs.txt'), '--output', join(dir, 'o.jsonl'), '--range', '0-5', '--negatives', '2', '--sampling', 'top', '--relative-margin', 'none', '--quiet']);
    assert.equal(code, 0);
    const [r] = readFileSync(join(dir, 'o.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Mined);
    assert.equal(r!.neg.length, 2);
    assert.deepEqual(r!.mining.ranks, [1, 2]);
    assert.equal(r!.mining.model, 'hashing-bow-256');
    await assert.rejects(command.run(['--model', 'hashing', '--input', 'a', '--output', 'b', '--range', '30-10']), /--range: expected A-B with 0 ≤ A < B/);
    await assert.rejects(command.run(['--model', 'hashing', '--input', 'a', '--output', 'b', '--sampling', 'best']), /--sampling: expected random or top/);
    await assert.rejects(command.run(['--input', 'a', '--output', 'b']), /--model is required/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('qzhou mine --model DIR: a real (tiny, random) Qwen2 checkpoint through the model runtime, ranks match a brute-force search', async () => {
  const { fixtureCheckpoint, tinyQwenTokenizer, tempDir, removeDir } = await import('../model/helpers.js');
  const { loadEmbedder } = await import('../../src/model/index.js');
  const model = fixtureCheckpoint('qwen2-tiny', tinyQwenTokenizer(384), { pad_token: '<|endoftext|>' }, { architectures: ['QZhouModel'] });
  const work = tempDir('mine-model');
  try {
    const corpus = bankCorpus();
    writeFileSync(join(work, 'docs.jsonl'), corpus.map((text, i) => JSON.stringify({ id: `d${i}`, text })).join('\n') + '\n');
    const recs = [ret('my card was declined abroad', [corpus[0]!]), ret('the loan is blocked', [corpus[58]!])];
    writeFileSync(join(work, 'in.jsonl'), recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const output = join(work, 'out.jsonl');
    const cache = join(work, 'cache');
    const code = await command.run(['--model', model, '--cache-dir', cache, '--input', join(work, 'in.jsonl'), '--corpus', join(work, 'docs.jsonl'), '--output', output,
      '--task', 'MMarcoRetrieval', '--negatives', '5', '--relative-margin', 'none', '--quiet']);
    assert.equal(code, 0);
    const mined = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Mined);
    const e = await loadEmbedder(model, { cacheDir: cache });
    try {
      const docs = await e.embed(corpus, { kind: 'document', task: 'MMarcoRetrieval' });
      for (const [i, r] of mined.entries()) {
        assert.equal(r.mining.model, e.id);
        const [q] = await e.embed([recs[i]!.query], { kind: 'query', task: 'MMarcoRetrieval' });
        const ranked = docs.map((d, j) => ({ j, s: d.reduce((acc, x, t) => acc + x * q![t]!, 0) })).filter((x) => x.j !== corpus.indexOf(recs[i]!.pos[0]!)).sort((a, b) => b.s - a.s);
        assert.equal(r.neg.length, 5);
        r.neg.forEach((n, t) => {
          const s = r.mining.scores[t]!;
          const rank = r.mining.ranks[t]!;
          assert.ok(rank >= 11 && rank <= 30);
          assert.ok(rank > ranked.filter((x) => x.s > s + 1e-4).length && rank <= ranked.filter((x) => x.s >= s - 1e-4).length, `rank ${rank} of ${n}`);
          assert.notEqual(n, recs[i]!.pos[0]);
        });
      }
    } finally {
      await e.close();
    }
  } finally {
    removeDir(model);
    removeDir(work);
  }
});
