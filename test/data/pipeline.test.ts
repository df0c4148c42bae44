import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ContaminationIndex, DataError, transformFiles, type TransformJob } from '../../src/data/index.js';
import { readJsonl, tempDir, writeText } from './helpers.js';

const dir = tempDir();
const words = (t: string) => t.split(/\s+/).filter(Boolean).length;

test('skip mode: bad lines are counted by reason with file:line examples; good ones are written', async () => {
  const input = writeText(
    dir,
    'mixed.jsonl',
    [
      '{"sentence1":"A man is cooking.","sentence2":"A man cooks.","score":4.6}',
      '{"sentence1":"A man is cooking.","sentence2":"","score":1}',
      '{"sentence1":"x","sentence2":"y","score":"high"}',
      'not json at all',
      '[1,2,3]',
      '{"sentence1":"Two dogs play.","sentence2":"Dogs are playing.","score":"3.5"}',
    ].join('\n'),
  );
  const output = join(dir, 'mixed-out.jsonl');
  const report = await transformFiles({ inputs: [input], output, transform: { type: 'sts', dataset: 'demo' }, onError: 'skip' });
  assert.equal(report.read, 6);
  assert.equal(report.written, 4);
  assert.deepEqual(report.byType, { retrieval: 0, pair: 4, cls: 0 });
  assert.deepEqual(report.skipped, { 'empty-text': 1, 'bad-score': 1, 'bad-json': 1, 'not-an-object': 1 });
  assert.ok(report.examples.includes(`${input}:2: sentence2: empty text`), report.examples.join('\n'));
  assert.ok(report.examples.includes(`${input}:3: score: expected a number, got "high"`));
  assert.deepEqual(readJsonl(output).map((r) => r.score), [4.6, 4.6, 3.5, 3.5]);
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('mixed-out')), ['mixed-out.jsonl'], 'no partial or checkpoint files left');
});

test('mixed encodings: a UTF-16 CSV and a UTF-8 file with a Windows-1252 line, counted as warnings', async () => {
  const u16 = Buffer.from('\ufefftext,label\r\n"Où est ma carte ?",card_arrival\r\n', 'utf16le');
  const a = writeText(dir, 'fr-utf16.csv', u16);
  const b = writeText(dir, 'fr-mixed.csv', Buffer.concat([Buffer.from('text,label\nTaux de change,exchange_rate\n'), Buffer.from('Ma carte a été avalée', 'latin1'), Buffer.from(',card_swallowed\n')]));
  const output = join(dir, 'fr.jsonl');
  const report = await transformFiles({ inputs: [a, b], output, transform: { type: 'cls', dataset: 'fr' }, read: { invalidText: 'latin1' } });
  assert.deepEqual(report.warnings, { 'invalid-text': 1 });
  assert.deepEqual(readJsonl(output).map((r) => r.text), ['Où est ma carte ?', 'Taux de change', 'Ma carte a été avalée']);
  const strict = await transformFiles({ inputs: [b], output: join(dir, 'fr2.jsonl'), transform: { type: 'cls' }, read: { invalidText: 'error' }, onError: 'skip' });
  assert.deepEqual(strict.skipped, { 'invalid-text': 1 });
  assert.ok(strict.examples[0]!.endsWith('fr-mixed.csv:3: invalid UTF-8 bytes'));
});

test('fail mode: the first bad record stops the job with file:line and leaves nothing on disk', async () => {
  const input = writeText(dir, 'bad.csv', 'text,label\nok,a\n"never closed,b\n');
  const output = join(dir, 'bad-out.jsonl');
  await assert.rejects(transformFiles({ inputs: [input], output, transform: { type: 'cls' } }), (e: unknown) => e instanceof DataError && e.message.startsWith(`${input}:3: unterminated quoted field`));
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('bad-out')), []);
});

test('dedup: exact keeps the first copy; normalized also drops case/punctuation/width variants; swapped pairs are distinct', async () => {
  const input = writeText(
    dir,
    'dups.jsonl',
    [
      { text: 'Where is my card?', label: 'card_arrival' },
      { text: 'Where is my card?', label: 'lost_card' },
      { text: 'where is my card', label: 'card_arrival' },
      { text: 'ＷＨＥＲＥ  is my card？', label: 'card_arrival' },
      { text: 'Strasse', label: 'x' },
      { text: 'STRAßE!', label: 'x' },
      { text: 'Something else', label: 'card_arrival' },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
  const exact = await transformFiles({ inputs: [input], output: join(dir, 'd1.jsonl'), transform: { type: 'cls' }, dedup: { mode: 'exact' } });
  assert.deepEqual(exact.skipped, { duplicate: 1 });
  assert.equal(readJsonl(join(dir, 'd1.jsonl'))[0]!.label, 'card_arrival', 'first copy wins');
  const norm = await transformFiles({ inputs: [input], output: join(dir, 'd2.jsonl'), transform: { type: 'cls' }, dedup: { mode: 'normalized' } });
  assert.deepEqual(norm.skipped, { duplicate: 1, 'near-duplicate': 3 });
  assert.deepEqual(readJsonl(join(dir, 'd2.jsonl')).map((r) => r.text), ['Where is my card?', 'Strasse', 'Something else']);

  const pairs = writeText(dir, 'pairs.jsonl', '{"sentence1":"a b","sentence2":"c d","score":1}\n{"sentence1":"c d","sentence2":"a b","score":1}\n');
  const p = await transformFiles({ inputs: [pairs], output: join(dir, 'd3.jsonl'), transform: { type: 'sts' }, dedup: { mode: 'exact' } });
  assert.equal(p.written, 2, 'the second line repeats both orders of the first');
  assert.deepEqual(p.skipped, { duplicate: 2 });
});

test('length filter in tokens: query side drops the record, long negatives are removed one by one', async () => {
  const input = writeText(
    dir,
    'len.jsonl',
    [
      { query: 'short query', pos: ['a fine positive passage'], neg: ['ok neg', 'this negative is far too long for the limit'] },
      { query: 'this query has way too many words in it', pos: ['p'] },
      { query: 'q', pos: ['this positive is far too long for the limit'] },
      { query: 'q2', pos: ['fine'], neg: [] },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
  const output = join(dir, 'len-out.jsonl');
  const report = await transformFiles({
    inputs: [input],
    output,
    transform: { type: 'triples' },
    length: { countTokens: words, maxQuery: 4, maxDoc: 6 },
  });
  assert.deepEqual(report.skipped, { 'too-long': 2 });
  assert.equal(report.textsRemoved, 1);
  assert.deepEqual(readJsonl(output).map((r) => [r.query, r.neg]), [
    ['short query', ['ok neg']],
    ['q2', []],
  ]);
  const min = await transformFiles({ inputs: [input], output: join(dir, 'len2.jsonl'), transform: { type: 'triples' }, length: { countTokens: words, min: 2 } });
  assert.deepEqual(min.skipped, { 'too-short': 3 });
});

test('contamination: exact normalised matches and shared 13-grams (words, and CJK characters) are dropped', async () => {
  const evalFile = writeText(
    dir,
    'eval.jsonl',
    [
      { _id: 'q1', text: 'How do I activate my new card?' },
      { _id: 'd1', title: 'Rates', text: 'The quick brown fox jumps over the lazy dog while the farmer watches from the old wooden barn door.' },
      { _id: 'd2', text: '中华人民共和国成立于一九四九年十月一日，首都是北京。' },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
  const index = await ContaminationIndex.fromFiles([evalFile], { fields: ['text', 'title'] });
  assert.equal(index.texts, 4);
  assert.equal(index.check('how do I activate my NEW card'), 'contaminated-exact');
  assert.equal(index.check('Yesterday the quick brown fox jumps over the lazy dog while the farmer watches from far away.'), 'contaminated-ngram');
  assert.equal(index.check('The quick brown fox jumps over the lazy dog while the farmer sleeps.'), null, 'only 12 shared words');
  assert.equal(index.check('据记载，中华人民共和国成立于一九四九年，定都北京。'), 'contaminated-ngram');
  assert.equal(index.check('Rates'), 'contaminated-exact');
  assert.equal(index.check('q1'), null, 'only the named fields are indexed');

  const input = writeText(
    dir,
    'train.jsonl',
    [
      { text: 'How do I activate my new card?', label: 'activate' },
      { text: 'Please activate my card', label: 'activate' },
      { text: '中华人民共和国成立于一九四九年十月一日。', label: 'history' },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
  const report = await transformFiles({ inputs: [input], output: join(dir, 'clean.jsonl'), transform: { type: 'cls' }, contamination: index });
  assert.deepEqual(report.skipped, { 'contaminated-exact': 1, 'contaminated-ngram': 1 });
  assert.deepEqual(readJsonl(join(dir, 'clean.jsonl')).map((r) => r.text), ['Please activate my card']);
});

function bigInput(name: string, n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    // Every 97th record repeats an earlier one, so dedup state matters across the checkpoint.
    const k = i % 97 === 96 ? i - 50 : i;
    lines.push(JSON.stringify({ question: `question number ${k} about topic ${k % 13}`, answer: `answer text ${k} `.repeat(1 + (k % 5)), neg: k % 3 ? [`neg ${k}`] : [] }));
    if (i % 400 === 399) lines.push('{"broken": ');
  }
  return writeText(dir, name, lines.join('\n') + '\n');
}

for (const ext of ['jsonl', 'jsonl.gz']) {
  test(`resume (${ext}): an interrupted job continues from its checkpoint and ends identical to a straight run`, async () => {
    const inputA = bigInput(`big-a.jsonl`, 3000);
    const inputB = bigInput(`big-b.jsonl`, 1200);
    const base = (output: string, countTokens: (t: string) => number, signal?: AbortSignal): TransformJob => ({
      inputs: [inputA, inputB],
      output,
      transform: { type: 'qa', dataset: 'big' },
      onError: 'skip',
      dedup: { mode: 'exact' },
      length: { countTokens, maxDoc: 20 },
      checkpoint: { records: 500 },
      signal,
    });
    const straightOut = join(dir, `straight.${ext}`);
    const straight = await transformFiles({ ...base(straightOut, words), checkpoint: false });

    const out = join(dir, `resumed.${ext}`);
    const controller = new AbortController();
    let calls = 0;
    const abortingCounter = (t: string) => {
      if (++calls === 2 * 2345) controller.abort();
      return words(t);
    };
    await assert.rejects(transformFiles(base(out, abortingCounter, controller.signal)), (e: unknown) => (e as Error).name === 'AbortError');
    assert.ok(!existsSync(out), 'no output before the job completes');
    assert.ok(existsSync(`${out}.partial`) && existsSync(`${out}.partial.json`), 'checkpoint kept');

    const resumed = await transformFiles(base(out, words));
    assert.ok(resumed.resumedAt >= 1000 && resumed.resumedAt < 3000, `resumed mid-file at ${resumed.resumedAt}`);
    const text = (p: string) => (ext.endsWith('.gz') ? gunzipSync(readFileSync(p)).toString('utf8') : readFileSync(p, 'utf8'));
    assert.equal(text(out), text(straightOut));
    for (const k of ['read', 'written', 'byType', 'skipped', 'textsRemoved'] as const) assert.deepEqual(resumed[k], straight[k], k);
    assert.ok((straight.skipped.duplicate ?? 0) > 30 && (straight.skipped['bad-json'] ?? 0) === 10);
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith(`resumed.${ext}.`)), [], 'checkpoint files removed');
  });
}

test('a checkpoint of a different job (changed input) is not resumed', async () => {
  const input = bigInput('change.jsonl', 1500);
  const output = join(dir, 'change-out.jsonl');
  const controller = new AbortController();
  let calls = 0;
  const job = (countTokens: (t: string) => number, signal?: AbortSignal): TransformJob => ({
    inputs: [input],
    output,
    transform: { type: 'qa' },
    onError: 'skip',
    length: { countTokens, max: 1000 },
    checkpoint: { records: 200 },
    signal,
  });
  await assert.rejects(transformFiles(job((t) => (++calls === 1000 && controller.abort(), words(t)), controller.signal)));
  bigInput('change.jsonl', 1400);
  const r = await transformFiles(job(words));
  assert.equal(r.resumedAt, 0);
  assert.equal(r.read, 1400 + 3);
});
