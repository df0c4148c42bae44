import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pairsToRetrieval, sampleRecordFile } from '../../src/pipeline/index.js';

const lines = (p: string) => readFileSync(p, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

test('pairsToRetrieval: pairs at or above the threshold, one record per pair whatever the order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-derive-'));
  try {
    const input = join(dir, 'pairs.jsonl');
    const recs = [
      { type: 'pair', text1: 'A plane is taking off.', text2: 'An air plane is taking off.', score: 5 },
      { type: 'pair', text1: 'An air plane is taking off.', text2: 'A plane is taking off.', score: 5 },
      { type: 'pair', text1: 'A man plays a flute.', text2: 'A man plays a large flute.', score: 4 },
      { type: 'pair', text1: 'A cat sleeps.', text2: 'A dog runs.', score: 0.4 },
      { type: 'cls', text: 'where is my card', label: 'card_arrival' },
    ];
    writeFileSync(input, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = join(dir, 'ret.jsonl');
    const r = await pairsToRetrieval(input, out, { minScore: 4, dataset: 'sts-ret' });
    assert.deepEqual(r, { pairs: 4, selected: 2, written: 2, otherRecords: 1 });
    assert.deepEqual(lines(out), [
      { type: 'retrieval', query: 'A plane is taking off.', pos: ['An air plane is taking off.'], neg: [], dataset: 'sts-ret', score: 5 },
      { type: 'retrieval', query: 'A man plays a flute.', pos: ['A man plays a large flute.'], neg: [], dataset: 'sts-ret', score: 4 },
    ]);
    assert.deepEqual(readdirSync(dir).sort(), ['pairs.jsonl', 'ret.jsonl'], 'no temporary file left behind');
    // A bad record names its file and line.
    writeFileSync(input, `${JSON.stringify(recs[0])}\n{"type":"pair","text1":"x"}\n`);
    await assert.rejects(pairsToRetrieval(input, join(dir, 'bad.jsonl'), { minScore: 1, dataset: 'd' }), (e: Error) => e.message.includes(`${input}:2`));
    assert.deepEqual(readdirSync(dir).sort(), ['pairs.jsonl', 'ret.jsonl'], 'nothing half-written, no temporary file left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sampleRecordFile: a seeded uniform sample of k records in input order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-sample-'));
  try {
    const input = join(dir, 'cls.jsonl');
    const n = 1000;
    writeFileSync(input, Array.from({ length: n }, (_, i) => JSON.stringify({ type: 'cls', text: `text ${i}`, label: `l${i % 7}` })).join('\n') + '\n');
    const a = await sampleRecordFile(input, join(dir, 'a.jsonl'), 100, 1);
    assert.deepEqual(a, { input: n, kept: 100 });
    const idx = lines(join(dir, 'a.jsonl')).map((r) => Number(String(r.text).slice(5)));
    assert.equal(new Set(idx).size, 100);
    assert.deepEqual(idx, [...idx].sort((x, y) => x - y), 'input order kept');
    await sampleRecordFile(input, join(dir, 'b.jsonl'), 100, 1);
    assert.equal(readFileSync(join(dir, 'b.jsonl'), 'utf8'), readFileSync(join(dir, 'a.jsonl'), 'utf8'), 'same seed, same sample');
    await sampleRecordFile(input, join(dir, 'c.jsonl'), 100, 2);
    assert.notEqual(readFileSync(join(dir, 'c.jsonl'), 'utf8'), readFileSync(join(dir, 'a.jsonl'), 'utf8'));
    // Uniform: over many seeds each tenth of the file gets about a tenth of the sample.
    const deciles = new Array<number>(10).fill(0);
    for (let seed = 0; seed < 40; seed++) {
      await sampleRecordFile(input, join(dir, 'u.jsonl'), 50, `u${seed}`);
      for (const r of lines(join(dir, 'u.jsonl'))) deciles[Math.floor(Number(String(r.text).slice(5)) / 100)]!++;
    }
    for (const d of deciles) assert.ok(d > 140 && d < 260, `decile count ${d} of 2000 draws (expected ≈ 200)`);
    const all = await sampleRecordFile(input, join(dir, 'all.jsonl'), 5000, 1);
    assert.deepEqual(all, { input: n, kept: n });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mergeSynthetic: synthetic records in a canonical order; LLM hard negatives replace their source record', async () => {
  const { mergeSynthetic } = await import('../../src/pipeline/index.js');
  const { sourceIdOf } = await import('../../src/synth/records.js');
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-merge-'));
  try {
    const src = [
      { type: 'retrieval', query: 'q1', pos: ['p1'], neg: [], dataset: 'd' },
      { type: 'retrieval', query: 'q2', pos: ['p2'], neg: [], dataset: 'd' },
    ];
    writeFileSync(join(dir, 'set.jsonl'), src.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const para = Array.from({ length: 20 }, (_, i) => ({ type: 'retrieval', query: `para ${i}`, pos: ['p1'], neg: [], dataset: 'd', id: `${sourceIdOf(src[0] as never)}#paraphrase-${i}` }));
    writeFileSync(join(dir, 'para-a.jsonl'), para.map((r) => JSON.stringify(r)).join('\n') + '\n');
    writeFileSync(join(dir, 'para-b.jsonl'), [...para].reverse().map((r) => JSON.stringify(r)).join('\n') + '\n');
    const hn = { ...src[1], neg: ['llm negative'], id: 'x#hard-negative-1', provenance: { generator: 'hard-negative', source_id: sourceIdOf(src[1] as never) } };
    writeFileSync(join(dir, 'hn.jsonl'), `${JSON.stringify(hn)}\n`);
    const set = { name: 'set', file: 'set.jsonl', family: 'retrieval' as const, dataset: 'd', records: 2, origin: 'source' as const };
    const extra = (file: string, generator: string) => ({ name: file, file, family: 'retrieval' as const, dataset: 'd', records: 1, origin: 'synthetic' as const, from: 'set', generator });
    const a = await mergeSynthetic(dir, set, [extra('para-a.jsonl', 'paraphrase'), extra('hn.jsonl', 'hard-negative')], join(dir, 'a.jsonl'));
    await mergeSynthetic(dir, set, [extra('para-b.jsonl', 'paraphrase'), extra('hn.jsonl', 'hard-negative')], join(dir, 'b.jsonl'));
    assert.deepEqual(a, { records: 22, synthetic: 20, replaced: 1 });
    assert.equal(readFileSync(join(dir, 'b.jsonl'), 'utf8'), readFileSync(join(dir, 'a.jsonl'), 'utf8'), 'the order synthesis finished in does not matter');
    const merged = lines(join(dir, 'a.jsonl'));
    assert.deepEqual(merged[0], src[0]);
    assert.deepEqual(merged[1]!.neg, ['llm negative'], 'the record with LLM negatives replaced its source record in place');
    assert.deepEqual(new Set(merged.slice(2).map((r) => r.query)), new Set(para.map((r) => r.query)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
