// mineFile and synthesize rename an existing output to OUTPUT.partial to extend it; called with an input
// as the output, they used to move the input away. They now refuse before touching anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mineFile } from '../../src/synth/mine.js';
import { synthesize } from '../../src/synth/synthesize.js';
import { HashingEmbedder } from '../../src/synth/hashing-embedder.js';

const RECORDS = '{"type":"retrieval","query":"hello","pos":["hello world"]}\n{"type":"retrieval","query":"bye","pos":["bye now"]}\n';

test('mineFile refuses an output that is its input or its corpus, and leaves them in place', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-mine-same-'));
  try {
    const input = join(dir, 'in.jsonl');
    const corpus = join(dir, 'corpus.jsonl');
    writeFileSync(input, RECORDS);
    writeFileSync(corpus, '{"text":"hello world"}\n');
    await assert.rejects(mineFile({ input, output: input, embedder: new HashingEmbedder(64) }), /in\.jsonl: the output would overwrite an input/);
    await assert.rejects(mineFile({ input, corpus, output: join(dir, '.', 'corpus.jsonl'), embedder: new HashingEmbedder(64) }), /the output would overwrite an input/);
    assert.deepEqual(readdirSync(dir).sort(), ['corpus.jsonl', 'in.jsonl']);
    assert.equal(readFileSync(input, 'utf8'), RECORDS);
    // and an output in a folder that does not exist yet is created
    const s = await mineFile({ input, output: join(dir, 'new', 'mined.jsonl'), embedder: new HashingEmbedder(64) });
    assert.equal(s.stats.records, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('synthesize refuses an output that is its input, and leaves it in place', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-synth-same-'));
  try {
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, RECORDS);
    await assert.rejects(
      synthesize({ generator: 'paraphrase', input, output: input, llm: { baseUrl: 'http://127.0.0.1:9/v1', model: 'm', maxRetries: 0 } }),
      /in\.jsonl: the output would overwrite an input/,
    );
    assert.deepEqual(readdirSync(dir), ['in.jsonl']);
    assert.equal(readFileSync(input, 'utf8'), RECORDS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
