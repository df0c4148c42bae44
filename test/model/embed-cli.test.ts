// `qzhou embed` end to end, as a user runs it: a real process, JSONL in, JSONL out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadEmbedder } from '../../src/model/index.js';
import { formatFloat32 } from '../../src/cli/commands/embed.js';
import { tempDir, removeDir, fixtureCheckpoint, tinyQwenTokenizer, maxAbsDiff } from './helpers.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

function qzhou(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

test('formatFloat32 writes the shortest decimal that reads back as the same float32', () => {
  for (const x of [0.1, -0.333333343267, 1, 1e-8, 3.4028234663852886e38, 0, 0.123456789, -2.5e-40]) {
    const f = Math.fround(x);
    const s = formatFloat32(f);
    assert.equal(Math.fround(Number(s)), f, s);
    assert.ok(s.replace(/^-/, '').replace('.', '').replace(/e.*$/, '').replace(/^0+/, '').length <= 9, s);
  }
  assert.equal(formatFloat32(Math.fround(0.1)), '0.1');
  assert.throws(() => formatFloat32(NaN), /non-finite/);
});

test('qzhou embed: JSONL in, vectors out in order, same as the library; ids kept; resume; clear input errors', async () => {
  const model = fixtureCheckpoint('qwen2-tiny', tinyQwenTokenizer(384), { pad_token: '<|endoftext|>' }, { architectures: ['QZhouModel'] });
  const work = tempDir('cli');
  const cache = join(work, 'cache');
  try {
    const texts = ['card lost', 'where is my refund', '', 'ok', 'exchange rate "today"\nplease'];
    const input = join(work, 'texts.jsonl');
    writeFileSync(input, texts.map((t, i) => JSON.stringify({ id: `t${i}`, text: t })).join('\n') + '\n');
    const output = join(work, 'out.jsonl');
    const args = ['embed', '--model', model, '--input', input, '--output', output, '--task', 'Banking77Classification', '--cache', cache, '--id-field', 'id', '--chunk', '2', '--batch-tokens', '32'];
    const r = qzhou(args);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /bidirectional: config names QZhouModel/);
    assert.match(r.stderr, /prompt: "Instruct: Given a online banking query, find the corresponding intents\\nQuery: "/);
    assert.match(r.stderr, /wrote 5 embeddings/);
    const lines = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, texts.length);
    assert.deepEqual(lines.map((l) => l.id), texts.map((_, i) => `t${i}`));
    assert.ok(!existsSync(`${output}.partial`) && !existsSync(`${output}.partial.json`));

    const e = await loadEmbedder(model, { cacheDir: cache });
    const want = await e.embed(texts, { task: 'Banking77Classification' });
    await e.close();
    lines.forEach((l, i) => {
      assert.equal(l.embedding.length, 64);
      // other batch shapes than the library call → float rounding differences only
      assert.ok(maxAbsDiff(l.embedding, want[i]!) < 1e-5, `line ${i}: ${maxAbsDiff(l.embedding, want[i]!)}`);
    });

    // a second run gives byte-identical output (deterministic), quietly
    const first = readFileSync(output, 'utf8');
    const r2 = qzhou([...args, '--quiet']);
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(r2.stderr, '');
    assert.equal(readFileSync(output, 'utf8'), first);

    // errors: missing field names file and line; bad flag values name the flag
    writeFileSync(input, '{"text": "a"}\n{"body": "b"}\n');
    const bad = qzhou(['embed', '--model', model, '--input', input, '--output', output, '--cache', cache, '--quiet']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /texts\.jsonl:2: field "text": missing \(choose the field with --field\)/);
    const flag = qzhou(['embed', '--model', model, '--input', input, '--output', output, '--dtype', 'int3']);
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /--dtype: expected f32 \| f16 \| int8 \| int4, got "int3"/);
    const nomodel = qzhou(['embed', '--model', join(work, 'nope'), '--input', input, '--output', output, '--cache', cache]);
    assert.equal(nomodel.status, 1);
    assert.match(nomodel.stderr, /nope\/config\.json: missing/);
  } finally {
    removeDir(model);
    removeDir(work);
  }
});

test('qzhou embed resumes an interrupted run from OUTPUT.partial', async () => {
  const model = fixtureCheckpoint('qwen2-tiny', tinyQwenTokenizer(384), { pad_token: '<|endoftext|>' });
  const work = tempDir('cli-resume');
  const cache = join(work, 'cache');
  try {
    const input = join(work, 'in.jsonl');
    writeFileSync(input, ['a', 'b', 'c', 'd'].map((t) => JSON.stringify({ text: t })).join('\n') + '\n');
    const output = join(work, 'out.jsonl');
    const args = ['embed', '--model', model, '--input', input, '--output', output, '--cache', cache, '--chunk', '1'];
    assert.equal(qzhou(args).status, 0);
    const complete = readFileSync(output, 'utf8');
    // recreate the state of a run killed after two texts (plus half a line), then run again
    const lines = complete.split('\n');
    const e = await loadEmbedder(model, { cacheDir: cache });
    const id = e.id;
    await e.close();
    writeFileSync(`${output}.partial.json`, JSON.stringify({ input, model: id, field: 'text', request: { truncate: true } }));
    writeFileSync(`${output}.partial`, `${lines[0]}\n${lines[1]}\n${lines[2]!.slice(0, 10)}`);
    const r = qzhou(args);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /resuming after 2 texts/);
    assert.equal(readFileSync(output, 'utf8'), complete);
  } finally {
    removeDir(model);
    removeDir(work);
  }
});

test('qzhou embed: ragged CSV rows are reported on stderr with file and line', () => {
  const model = fixtureCheckpoint('qwen2-tiny', tinyQwenTokenizer(384), { pad_token: '<|endoftext|>' });
  const work = tempDir('cli-ragged');
  try {
    const input = join(work, 'texts.csv');
    writeFileSync(input, 'text,label\na,1\nb,2,3\nc\n');
    const output = join(work, 'out.jsonl');
    const r = qzhou(['embed', '--model', model, '--input', input, '--output', output, '--cache', join(work, 'cache'), '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, `warning: ${input}:3: 3 fields where the header has 2\nwarning: ${input}:4: 1 fields where the header has 2\n`);
    assert.equal(readFileSync(output, 'utf8').trimEnd().split('\n').length, 3);
  } finally {
    removeDir(model);
    removeDir(work);
  }
});

test('qzhou embed: a --task that adds no instruction is reported (a typo gets a suggestion); a known one is not', () => {
  const model = fixtureCheckpoint('qwen2-tiny', tinyQwenTokenizer(384), { pad_token: '<|endoftext|>' }, { architectures: ['QZhouModel'] });
  const work = tempDir('cli-task');
  try {
    const input = join(work, 'texts.jsonl');
    writeFileSync(input, '{"text":"card lost"}\n');
    const run = (task: string) => qzhou(['embed', '--model', model, '--input', input, '--output', join(work, 'out.jsonl'), '--task', task, '--cache', join(work, 'cache'), '--quiet']);
    const typo = run('Banking77Clasification');
    assert.equal(typo.status, 0, typo.stderr);
    assert.equal(typo.stderr, 'warning: --task Banking77Clasification: neither the instruction tables this model uses nor its prompts name it, so it adds no instruction (did you mean Banking77Classification?); give --instruction TEXT for your own task\n');
    assert.match(run('MyPrivateTask').stderr, /--task MyPrivateTask: .* adds no instruction; give --instruction TEXT/);
    const known = run('Banking77Classification');
    assert.equal(known.status, 0, known.stderr);
    assert.equal(known.stderr, '');
  } finally {
    removeDir(model);
    removeDir(work);
  }
});
