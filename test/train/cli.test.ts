// `qzhou train` as a real process: tokenizer → init → train → resume, with --set overrides, and the
// errors a user sees (bad config with file:line, usage, resuming nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMetrics } from '../../src/train/index.js';
import { removeDir, tempDir } from './model-helpers.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
/** tsx's loader by absolute URL: the commands run with the temporary folder as working directory. */
const TSX = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

function qzhou(args: string[], cwd: string) {
  return spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, QZHOU_CACHE: join(cwd, 'cache') } });
}

const LABELS = ['card_arrival', 'pin_blocked', 'refund'];
const TEXTS = ['when will my card arrive', 'my card is late', 'card still not here', 'my PIN is blocked', 'unblock my PIN', 'PIN locked after tries', 'I want a refund', 'refund my purchase', 'where is my refund'];

const YAML = `# a tiny from-scratch run
model:
  init:
    config: { model_type: bert, hidden_size: 16, intermediate_size: 32, num_attention_heads: 2, num_hidden_layers: 1, max_position_embeddings: 64 }
    tokenizer: tok
    seed: 1
output: run
preset: small
stages:
  - name: intents
    families: [cls]
    steps: 4
    batchSize: { cls: 3 }
    negatives: { cls: 1 }
    checkpointEvery: 2
    maxLength: { query: 16, passage: 16 }
    data:
      - { path: cls.jsonl, instruction: Find the intent }
`;

test('qzhou train tokenizer / init / train / --resume, end to end', () => {
  const dir = tempDir('cli');
  try {
    writeFileSync(join(dir, 'cls.jsonl'), TEXTS.map((t, i) => JSON.stringify({ type: 'cls', text: t, label: LABELS[Math.floor(i / 3)] })).join('\n') + '\n');
    const tok = qzhou(['train', 'tokenizer', '--input', 'cls.jsonl', '--kind', 'wordpiece', '--vocab-size', '200', '--min-frequency', '1', '--output', 'tok'], dir);
    assert.equal(tok.status, 0, tok.stderr);
    assert.match(tok.stderr, /wordpiece tokenizer: \d+ tokens \(\d+ merges\) from 9 texts/);
    assert.equal(tok.stdout.trim(), join(dir, 'tok'));
    assert.ok(existsSync(join(dir, 'tok', 'tokenizer.json')));
    writeFileSync(join(dir, 'train.yaml'), YAML);

    const init = qzhou(['train', 'init', '--config', 'train.yaml', '--output', 'untrained'], dir);
    assert.equal(init.status, 0, init.stderr);
    assert.ok(existsSync(join(dir, 'untrained', 'model.safetensors')));

    const r = qzhou(['train', '--config', 'train.yaml', '--set', 'stages[0].steps=3', '--threads', '1'], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), join(dir, 'run', 'model'));
    assert.match(r.stderr, /intents: bert 1×16 \(bidirectional, mean pooling\), [\d.]+k parameters; 3 steps/);
    assert.match(r.stderr, /\[intents\] step 3\/3 100\.0% \| loss cls [\d.]+/);
    assert.match(r.stderr, /intents: 3 steps, mean loss cls [\d.]+ → .*checkpoint-3/);
    assert.deepEqual(readMetrics(join(dir, 'run', 'metrics.jsonl')).filter((m) => m.type === 'step').map((m) => m.step), [1, 2, 3]);
    // The untrained model is the run's starting point: same config, tokenizer and shapes.
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'untrained', 'config.json'), 'utf8')), JSON.parse(readFileSync(join(dir, 'run', 'model', 'config.json'), 'utf8')));

    // Running again without --resume would overwrite a run: refused. With --resume on a finished run: nothing to do.
    const again = qzhou(['train', '--config', 'train.yaml', '--set', 'stages[0].steps=3'], dir);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already holds checkpoints of a run .*pass --resume/);
    const resumed = qzhou(['train', '--config', 'train.yaml', '--set', 'stages[0].steps=3', '--resume', '--quiet'], dir);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.equal(resumed.stderr, '');
  } finally {
    removeDir(dir);
  }
});

test('qzhou train: config errors with file:line, usage errors, exit codes', () => {
  const dir = tempDir('cli-err');
  try {
    writeFileSync(join(dir, 'bad.yaml'), YAML.replace('steps: 4', 'steps: many').replace('batchSize:', 'batch_size:'));
    const r = qzhou(['train', '--config', 'bad.yaml'], dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /invalid config:/);
    assert.match(r.stderr, /bad\.yaml:12:12: stages\[0\]\.steps: expected an integer, got the string "many"/);
    assert.match(r.stderr, /bad\.yaml:13:5: stages\[0\]\.batch_size: unknown field \(did you mean "batchSize"\?\)/);
    assert.match(r.stderr, /stages\[0\]\.data\[0\]\.path: .*cls\.jsonl does not exist/);
    const missing = qzhou(['train'], dir);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /--config is required/);
    const typo = qzhou(['train', 'tokenize', '--config', 'x'], dir);
    assert.equal(typo.status, 2);
    assert.match(typo.stderr, /unexpected argument "tokenize" \(did you mean `qzhou train tokenizer`\?\)/);
    const kind = qzhou(['train', 'tokenizer', '--input', 'x.jsonl', '--output', 'o', '--kind', 'unigram'], dir);
    assert.equal(kind.status, 2);
    assert.match(kind.stderr, /--kind: expected bpe or wordpiece, got "unigram"/);
    // A size below the alphabet and special tokens is refused, and nothing is written.
    writeFileSync(join(dir, 'few.jsonl'), '{"text":"hello world"}\n');
    const small = qzhou(['train', 'tokenizer', '--input', 'few.jsonl', '--output', 'tok', '--kind', 'bpe', '--vocab-size', '3'], dir);
    assert.equal(small.status, 2);
    assert.match(small.stderr, /--vocab-size 3: the alphabet and special tokens alone take 257 tokens for this bpe tokenizer; give at least that/);
    assert.ok(!existsSync(join(dir, 'tok')));
    const help = qzhou(['train', '--help'], dir);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /qzhou train tokenizer --input FILE/);
  } finally {
    removeDir(dir);
  }
});
