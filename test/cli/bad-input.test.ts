// Bad input as a user meets it: one line naming the flag or file, exit 2 for usage errors, 1 for runtime
// errors, and nothing written over (or renamed away from) an input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutputPath, inputFileFlag, outputFlag, parseFlags, UsageError } from '../../src/cli/command.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

function qzhou(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The error line: exactly one line, "qzhou: …", no stack trace. */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /);
  return lines[0]!;
}

const usage = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof UsageError && re.test((e as Error).message));

test('parseFlags: a value that starts with "-" gets a one-line message naming the flag and the way to pass it', () => {
  const opts = { threads: { type: 'string' }, quiet: { type: 'boolean' } } as const;
  usage(() => parseFlags(['--threads', '-1'], opts), /^--threads: missing value \("-1" reads as an option; for a value that starts with "-", write --threads=-1\)$/);
  assert.equal(parseFlags(['--threads=-1'], opts).values.threads, '-1');
  usage(() => parseFlags(['--threads'], opts), /^Option '--threads <value>' argument missing$/);
});

test('inputFileFlag and outputFlag check paths before any work and name the flag', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-badin-'));
  try {
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, '{"text":"a"}\n');
    assert.equal(inputFileFlag('input', input), input);
    usage(() => inputFileFlag('input', join(dir, 'nope.jsonl')), /^--input .*nope\.jsonl: no such file$/);
    usage(() => inputFileFlag('input', dir), /^--input .*: is a folder; give a file$/);
    usage(() => inputFileFlag('input', undefined), /^--input is required$/);

    assert.equal(outputFlag('output', join(dir, 'new', 'out.jsonl'), { inputs: [input] }), join(dir, 'new', 'out.jsonl'));
    usage(() => outputFlag('output', input, { inputs: [input] }), /^--output .*in\.jsonl: is also an input \(.*in\.jsonl\); writing it would destroy the input/);
    usage(() => outputFlag('output', join(dir, '.', 'in.jsonl'), { inputs: [undefined, input] }), /is also an input/);
    usage(() => outputFlag('output', join(input, 'out.jsonl')), /^--output .*: .*in\.jsonl is a file, not a folder$/);
    usage(() => outputFlag('output', dir), /^--output .*: is a folder; give a file path$/);
    usage(() => outputFlag('output', input, { kind: 'folder' }), /^--output .*in\.jsonl: is a file, not a folder$/);
    usage(() => checkOutputPath('cfg.yaml: output', input, { kind: 'folder' }), /^cfg\.yaml: output .*in\.jsonl: is a file, not a folder$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: output = input is refused (exit 2) and the input is left as it was', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-badin-'));
  try {
    const records = '{"type":"retrieval","query":"hello","pos":["hello world"]}\n{"type":"retrieval","query":"bye","pos":["bye now"]}\n';
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, records);
    // embed used to overwrite its input; mine and synth renamed it to in.jsonl.partial (to "extend" it).
    const runs = [
      ['embed', '--model', join(dir, 'no-model'), '--input', input, '--output', input],
      ['mine', '--model', 'hashing', '--input', input, '--output', input],
      ['mine', '--model', 'hashing', '--input', input, '--output', join(dir, 'in.jsonl'), '--corpus', join(dir, 'in.jsonl')],
      ['synth', '--generator', 'paraphrase', '--model', 'm', '--api-key', 'k', '--base-url', 'http://127.0.0.1:9/v1', '--input', input, '--output', input],
      ['data', 'transform', '--type', 'canonical', '--input', input, '--output', input],
    ];
    for (const args of runs) {
      const r = qzhou(...args);
      assert.equal(r.status, 2, `${args.join(' ')}\n${r.stderr}`);
      assert.match(oneLine(r.stderr), /^qzhou: --output .*in\.jsonl: is also an input/);
      assert.equal(readFileSync(input, 'utf8'), records);
      assert.deepEqual(readdirSync(dir), ['in.jsonl']);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: unusable output paths and missing inputs fail at once with the flag named, leaving nothing behind', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-badin-'));
  try {
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, '{"type":"retrieval","query":"hello","pos":["hello world"]}\n');
    const config = join(dir, 'train.yaml');
    writeFileSync(config, 'model: { path: nowhere }\nstages: []\n');
    const cases: [string[], RegExp][] = [
      [['mine', '--model', 'hashing', '--input', input, '--output', join(input, 'out.jsonl')], /^qzhou: --output .*in\.jsonl\/out\.jsonl: .*in\.jsonl is a file, not a folder$/],
      [['mine', '--model', 'hashing', '--input', join(dir, 'nope.jsonl'), '--output', join(dir, 'o.jsonl')], /^qzhou: --input .*nope\.jsonl: no such file$/],
      [['mine', '--model', 'hashing:abc', '--input', input, '--output', join(dir, 'o.jsonl')], /^qzhou: --model hashing:abc: expected hashing or hashing:DIM/],
      [['embed', '--model', 'm', '--input', dir, '--output', join(dir, 'o.jsonl')], /^qzhou: --input .*: is a folder; give a file$/],
      [['data', 'transform', '--type', 'canonical', '--input', input, '--output', join(dir, 'o.jsonl'), '--decontaminate', join(dir, 'nope')], /^qzhou: --decontaminate .*nope: no such file or folder$/],
      [['data', 'inspect', dir], /^qzhou: inspect: .*: is a folder; give a file$/],
      [['train', 'tokenizer', '--input', join(dir, 'nope.jsonl'), '--output', join(dir, 'tok')], /^qzhou: --input .*nope\.jsonl: no such file$/],
      [['train', 'tokenizer', '--input', input, '--output', input], /^qzhou: --output .*in\.jsonl: is a file, not a folder$/],
      [['train', 'init', '--config', config, '--output', input], /^qzhou: --output .*in\.jsonl: is a file, not a folder$/],
      [['eval', '--model', 'tfidf', '--tasks', 'Banking77Classification', '--output', input], /^qzhou: --output .*in\.jsonl: is a file, not a folder$/],
      [['eval', '--summarize', join(dir, 'nope'), '--benchmark', 'MTEB(eng, v2)'], /^qzhou: --summarize .*nope: no such folder$/],
      [['embed', '--model', 'm', '--input', input, '--output', join(dir, 'o.jsonl'), '--threads', '-1'], /^qzhou: --threads: missing value \("-1" reads as an option/],
    ];
    for (const [args, re] of cases) {
      const r = qzhou(...args);
      assert.equal(r.status, 2, `${args.join(' ')}\n${r.stderr}`);
      assert.match(oneLine(r.stderr), re, args.join(' '));
    }
    assert.deepEqual(readdirSync(dir).sort(), ['in.jsonl', 'train.yaml']);
    // A checkpoint "folder" that is a file: a runtime error (exit 1) that says so.
    const r = qzhou('embed', '--model', input, '--input', input, '--output', join(dir, 'o.jsonl'));
    assert.equal(r.status, 1, r.stderr);
    assert.match(oneLine(r.stderr), /^qzhou: .*in\.jsonl: is a file, not a checkpoint folder/);
    assert.ok(!existsSync(join(dir, 'o.jsonl')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
