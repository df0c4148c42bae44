import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInputs, prepareInputs, searchLeftCut, truncateLeft, type RawInput } from '../../src/serve/inputs.js';
import { ServeError } from '../../src/serve/errors.js';
import { resolvePrompt } from '../../src/serve/prompts.js';
import { SyntheticEmbedder } from '../../src/serve/synthetic-embedder.js';
import { formatPrompt, instructionForSide } from '../../src/model/instructions.js';

const opts = { field: 'input', maxItems: 4, allowEmptyText: false };

function rejects(fn: () => unknown, status: number, param: string | null, msg: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ServeError, `expected a ServeError, got ${String(e)}`);
    assert.equal(e.status, status);
    assert.equal(e.param, param);
    assert.match(e.message, msg);
    return true;
  });
}

async function rejectsAsync(p: Promise<unknown>, status: number, param: string | null, msg: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ServeError, `expected a ServeError, got ${String(e)}`);
    assert.equal(e.status, status);
    assert.equal(e.param, param);
    assert.match(e.message, msg);
    return true;
  });
}

test('parseInputs accepts the four OpenAI input shapes and names each input', () => {
  assert.deepEqual(parseInputs('hi', opts), [{ type: 'text', text: 'hi', path: 'input' }]);
  assert.deepEqual(parseInputs(['a', 'b'], opts), [
    { type: 'text', text: 'a', path: 'input[0]' },
    { type: 'text', text: 'b', path: 'input[1]' },
  ]);
  assert.deepEqual(parseInputs([5, 0, 7], opts), [{ type: 'ids', ids: [5, 0, 7], path: 'input' }]);
  assert.deepEqual(parseInputs([[1, 2], [3]], opts), [
    { type: 'ids', ids: [1, 2], path: 'input[0]' },
    { type: 'ids', ids: [3], path: 'input[1]' },
  ]);
});

test('parseInputs errors name the exact element at fault', () => {
  rejects(() => parseInputs(42, opts), 400, 'input', /must be a string or an array, got number/);
  rejects(() => parseInputs([], opts), 400, 'input', /must not be empty/);
  rejects(() => parseInputs(['a', ''], opts), 400, 'input[1]', /empty string/);
  rejects(() => parseInputs(['a', { t: 1 }], opts), 400, 'input[1]', /string or an array of token ids, got object/);
  rejects(() => parseInputs([[1, 2], [3, -1]], opts), 400, 'input[1][1]', /non-negative integer token id, got -1/);
  rejects(() => parseInputs([1, 2.5], opts), 400, 'input[1]', /got 2.5/);
  rejects(() => parseInputs([[1], []], opts), 400, 'input[1]', /empty array of token ids/);
  rejects(() => parseInputs(['a', 'b', 'c', 'd', 'e'], opts), 400, 'input', /5 inputs, more than the maximum of 4/);
  rejects(() => parseInputs([[3, 99]], { ...opts, vocabSize: 50 }), 400, 'input[0][1]', /outside the model's vocabulary \(size 50\)/);
  assert.deepEqual(parseInputs([''], { ...opts, field: 'inputs', allowEmptyText: true }), [{ type: 'text', text: '', path: 'inputs[0]' }]);
});

test('prepareInputs counts tokens with the prompt and refuses over-long inputs unless truncation is on', async () => {
  const e = new SyntheticEmbedder({ dim: 4, maxLength: 6 });
  const raw = parseInputs(['a b c', 'a b c d e f g h'], opts);
  const none = resolvePrompt({}, { prompts: {} });
  await rejectsAsync(prepareInputs(raw, e, { prompt: none, truncate: false, direction: 'right', tooLongStatus: 413 }), 413, 'input[1]', /8 tokens, more than the model's maximum of 6/);
  const right = await prepareInputs(raw, e, { prompt: none, truncate: true, direction: 'right', tooLongStatus: 400 });
  assert.deepEqual(right.inputs.map((i) => [i.text, i.tokens]), [['a b c', 3], ['a b c d e f g h', 6]]);
  assert.equal(right.tokens, 9);
  // A sentence-transformers prompt is put verbatim in front and counts toward the limit.
  const st = resolvePrompt({ promptName: 'q' }, { prompts: { q: 'query: ' } });
  const p = await prepareInputs(parseInputs('a b c d', opts), e, { prompt: st, truncate: false, direction: 'right', tooLongStatus: 400 });
  assert.deepEqual(p.inputs.map((i) => [i.text, i.tokens, i.key]), [['query: a b c d', 5, '']]);
  await rejectsAsync(
    prepareInputs(parseInputs('a b c d e f', opts), e, { prompt: st, truncate: false, direction: 'right', tooLongStatus: 400 }),
    400,
    'input',
    /7 tokens \(prompt included\)/,
  );
});

test('left truncation keeps the end of the text and the whole prompt, as many tokens as fit', async () => {
  const e = new SyntheticEmbedder({ dim: 4, maxLength: 5 });
  const st = resolvePrompt({ promptName: 'q' }, { prompts: { q: 'query: ' } });
  const words = Array.from({ length: 12 }, (_, i) => `w${i}`).join(' ');
  const p = await prepareInputs(parseInputs(words, opts), e, { prompt: st, truncate: true, direction: 'left', tooLongStatus: 400 });
  // The smallest cut that fits: the suffix starts right after "w7" (its leading space is kept, as a
  // byte-level BPE token would keep it); one character more would not fit.
  assert.equal(p.inputs[0]!.text, 'query:  w8 w9 w10 w11');
  assert.equal(p.inputs[0]!.tokens, 5);
  const start = words.length - ' w8 w9 w10 w11'.length;
  assert.equal(e.countTokens(['query: ' + words.slice(start - 1)])[0], 6);
  // With an instruction in the model's template: the cut is on the text only.
  const task = resolvePrompt({ promptName: 'STSBenchmark' }, { prompts: {} });
  const e2 = new SyntheticEmbedder({ dim: 4, maxLength: 10 });
  const instrTokens = e2.countTokens([''], task.request)[0]!;
  const kept = await truncateLeft(e2, task, words);
  assert.equal(e2.countTokens([kept], task.request)[0], 10);
  assert.ok(words.endsWith(kept));
  assert.equal(kept.trim().split(' ').length, 10 - instrTokens);
});

test('left truncation never splits a surrogate pair', async () => {
  // One "token" per whitespace word: a long word of emoji (surrogate pairs) must be kept whole or dropped.
  const e = new SyntheticEmbedder({ dim: 4, maxLength: 2 });
  const none = resolvePrompt({}, { prompts: {} });
  const t = 'x 😀😀😀 y z';
  const kept = await truncateLeft(e, none, t);
  assert.equal(kept.trimStart(), 'y z');
  assert.ok(!/[\udc00-\udfff]/.test(kept.charAt(0)), 'starts on a code point');
});

test('token-id inputs: length rule, truncation directions, and refusal when the model has no embedTokenIds', async () => {
  const e = new SyntheticEmbedder({ dim: 4, maxLength: 3 });
  const none = resolvePrompt({}, { prompts: {} });
  const raw: RawInput[] = parseInputs([[1, 2, 3, 4, 5]], opts);
  await rejectsAsync(prepareInputs(raw, e, { prompt: none, truncate: false, direction: 'right', tooLongStatus: 400 }), 400, 'input[0]', /5 tokens, more than the model's maximum of 3/);
  assert.deepEqual((await prepareInputs(raw, e, { prompt: none, truncate: true, direction: 'right', tooLongStatus: 400 })).inputs[0]!.ids, [1, 2, 3]);
  assert.deepEqual((await prepareInputs(raw, e, { prompt: none, truncate: true, direction: 'left', tooLongStatus: 400 })).inputs[0]!.ids, [3, 4, 5]);
  const noIds = new SyntheticEmbedder({ dim: 4, tokenIds: false });
  await rejectsAsync(prepareInputs(parseInputs([7, 8], opts), noIds, { prompt: none, truncate: false, direction: 'right', tooLongStatus: 400 }), 400, 'input', /does not accept token-id inputs/);
  const explicit = resolvePrompt({ instruction: 'Do it' }, { prompts: {} });
  await rejectsAsync(prepareInputs(parseInputs([7, 8], opts), e, { prompt: explicit, truncate: false, direction: 'right', tooLongStatus: 400 }), 400, 'instruction', /cannot be applied to token-id inputs/);
  // A server-wide default prompt does not block token-id inputs.
  const dflt = resolvePrompt({}, { prompts: { q: 'query: ' }, defaultPromptName: 'q' });
  assert.equal((await prepareInputs(parseInputs([7, 8], opts), e, { prompt: dflt, truncate: false, direction: 'right', tooLongStatus: 400 })).tokens, 2);
});

test('resolvePrompt: sentence-transformers prompts, QZhou task names by side, input_type, instructions, and errors', () => {
  const cat = { prompts: { query: 'query: ', passage: 'passage: ', Banking77Classification: 'custom: ' } };
  // Verbatim prompts are applied by the server; the model is told to add nothing (empty instruction).
  assert.deepEqual(resolvePrompt({ promptName: 'query' }, cat), { key: '', prefix: 'query: ', request: { instruction: '' }, field: 'prompt_name' });
  assert.deepEqual(resolvePrompt({}, cat), { key: '', prefix: '', request: { instruction: '' }, field: undefined });
  // The model's own prompts win over a task of the same name.
  assert.equal(resolvePrompt({ promptName: 'Banking77Classification' }, cat).prefix, 'custom: ');
  // Task names go to the model as {task, kind}: exactly what embed(texts, {task, kind}) does.
  const fiqaQ = resolvePrompt({ promptName: 'FiQA2018', inputType: 'query' }, cat);
  assert.deepEqual(fiqaQ.request, { task: 'FiQA2018', kind: 'query' });
  assert.deepEqual(resolvePrompt({ promptName: 'FiQA2018' }, cat).request, { task: 'FiQA2018', kind: 'query' });
  const fiqaD = resolvePrompt({ promptName: 'FiQA2018', inputType: 'document' }, cat);
  assert.deepEqual(fiqaD.request, { task: 'FiQA2018', kind: 'document' });
  assert.notEqual(fiqaQ.key, fiqaD.key);
  // input_type alone picks the model's prompt for that side (document side: document, passage or corpus).
  assert.equal(resolvePrompt({ inputType: 'query' }, cat).prefix, 'query: ');
  assert.equal(resolvePrompt({ inputType: 'document' }, cat).prefix, 'passage: ');
  assert.equal(resolvePrompt({ inputType: 'document' }, { prompts: {} }).prefix, '');
  // A task as server default follows input_type's side.
  assert.deepEqual(resolvePrompt({ inputType: 'document' }, { prompts: {}, defaultPromptName: 'SCIDOCS' }).request, { task: 'SCIDOCS', kind: 'document' });
  assert.deepEqual(resolvePrompt({ instruction: 'Find it' }, cat).request, { instruction: 'Find it' });
  assert.deepEqual(resolvePrompt({ instruction: '' }, cat), { key: '', prefix: '', request: { instruction: '' }, field: 'instruction' });
  assert.equal(resolvePrompt({}, { ...cat, defaultPromptName: 'query' }).prefix, 'query: ');
  assert.equal(resolvePrompt({}, { ...cat, defaultPromptName: 'query' }).field, undefined);
  rejects(() => resolvePrompt({ promptName: 'nope' }, cat), 400, 'prompt_name', /unknown prompt "nope": expected the model's prompts \("query", "passage", "Banking77Classification"\) or a QZhou task name/);
  rejects(() => resolvePrompt({ promptName: 'query', instruction: 'x' }, cat), 400, 'prompt_name', /either prompt_name or instruction/);
  // What the (synthetic) model then puts in front: the task's instruction for queries, none for FiQA documents.
  const e = new SyntheticEmbedder();
  assert.equal(e.prompted('hi', fiqaQ.request), formatPrompt(instructionForSide('FiQA2018', 'query')) + 'hi');
  assert.equal(e.prompted('hi', fiqaD.request), 'hi');
  assert.equal(e.prompted('hi', resolvePrompt({ promptName: 'query' }, cat).request), 'hi');
});

test('left truncation of a very long text only tokenizes a bounded suffix', async () => {
  const e = new SyntheticEmbedder({ dim: 4, maxLength: 8 });
  const lengths: number[] = [];
  const count = (texts: readonly string[], r: object) => {
    lengths.push(texts[0]!.length);
    return e.countTokens(texts, r);
  };
  const words = Array.from({ length: 200_000 }, (_, i) => `w${i}`).join(' ');
  const kept = await searchLeftCut(count, 8, '', {}, words);
  assert.equal(kept.trim(), Array.from({ length: 8 }, (_, i) => `w${199_992 + i}`).join(' '));
  assert.ok(Math.max(...lengths) < 1000, `longest probe ${Math.max(...lengths)} chars of ${words.length}`);
  assert.ok(lengths.length < 40, `${lengths.length} probes`);
  // A text that fits whole is returned whole.
  assert.equal(await searchLeftCut(count, 8, '', {}, 'a b c'), 'a b c');
});
