import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer, bertNormalize } from '../../src/model/tokenizer.js';
import { CheckpointError } from '../../src/model/errors.js';
import { FIXTURES, QWEN_TOKENIZER_DIR, tempDir, removeDir, wordPieceTokenizer, indexVocab, loadCases } from './helpers.js';

test('Qwen byte-level BPE: ids identical to the Python tokenizers on all 20 probe texts', async () => {
  const fx = JSON.parse(readFileSync(join(FIXTURES, 'tokenizer-qwen.json'), 'utf8')) as { texts: string[]; ids: number[][] };
  assert.equal(fx.texts.length, 20);
  const dir = tempDir('qtok');
  try {
    copyFileSync(join(QWEN_TOKENIZER_DIR, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    copyFileSync(join(QWEN_TOKENIZER_DIR, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    copyFileSync(join(FIXTURES, 'qwen2-tiny', 'config.json'), join(dir, 'config.json'));
    const tok = await loadTokenizer(dir);
    fx.texts.forEach((t, i) => assert.deepEqual(tok.encode(t), fx.ids[i], `probe ${i}: ${JSON.stringify(t).slice(0, 60)}`));
    // Qwen adds no special tokens; pad = <|endoftext|>; no padding_side in its config → left for Qwen models
    assert.deepEqual([tok.prefixIds, tok.suffixIds], [[], []]);
    assert.equal(tok.padId, 151643);
    assert.equal(tok.paddingSide, 'left');
    assert.equal(tok.vocabSize, 151669);
    assert.equal(tok.decode(tok.encode('Hello 世界')), 'Hello 世界');
    // truncation cuts from the right
    const long = tok.encodeTruncated(fx.texts[0]!, 3);
    assert.deepEqual(long.ids, fx.ids[0]!.slice(0, 3));
    assert.equal(long.truncated, fx.ids[0]!.length > 3);
    // an explicit padding side wins
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ padding_side: 'right', pad_token: '<|im_end|>' }));
    const right = await loadTokenizer(dir);
    assert.equal(right.paddingSide, 'right');
    assert.equal(right.padId, 151645);
  } finally {
    removeDir(dir);
  }
});

/** A small WordPiece vocabulary; expected ids below are worked out by hand from the HF WordPiece rules. */
const WORDS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', ',', 'world', '!', 'un', '##aff', '##able', 'cafe', 'naive',
  '中', '文', 'x', 'οδοσ', '𠀀', '𠀁', 'abc', 'the', 'a', '##b', '##c', 'cat'];
const V = Object.fromEntries(WORDS.map((w, i) => [w, i]));
const ids = (...ws: string[]) => ws.map((w) => V[w]!);

test('WordPiece (BERT): normalisation, pre-tokenisation, sub-words and special tokens as the Rust crate', async () => {
  const dir = tempDir('wp');
  try {
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(wordPieceTokenizer(V)));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '[PAD]', model_max_length: 512 }));
    const tok = await loadTokenizer(dir);
    const cases: [string, number[]][] = [
      ['Hello, World!', ids('[CLS]', 'hello', ',', 'world', '!', '[SEP]')],
      ['unaffable', ids('[CLS]', 'un', '##aff', '##able', '[SEP]')],
      ['Café NAÏVE', ids('[CLS]', 'cafe', 'naive', '[SEP]')], // accents stripped with lowercase
      ['中文x', ids('[CLS]', '中', '文', 'x', '[SEP]')], // CJK characters become words
      ['𠀀𠀁', ids('[CLS]', '𠀀', '𠀁', '[SEP]')], // astral CJK (Extension B) too
      ['ΟΔΟΣ', ids('[CLS]', 'οδοσ', '[SEP]')], // per-character lowercasing: no final sigma
      ['a\u0000b\u200bc\ufffd', ids('[CLS]', 'abc', '[SEP]')], // NUL, format chars and U+FFFD removed
      ['the\tcat\nthe\u00a0cat', ids('[CLS]', 'the', 'cat', 'the', 'cat', '[SEP]')],
      ['zebra', ids('[CLS]', '[UNK]', '[SEP]')],
      ['a' + 'b'.repeat(100), ids('[CLS]', '[UNK]', '[SEP]')], // longer than max_input_chars_per_word
      ['ab' + 'c'.repeat(98), [V['[CLS]']!, V['abc']!, ...Array(97).fill(V['##c']), V['[SEP]']!]], // longest match first, 100 chars
      ['ac' + 'b'.repeat(3), ids('[CLS]', 'a', '##c', '##b', '##b', '##b', '[SEP]')],
      ['the [SEP] cat', ids('[CLS]', 'the', '[SEP]', 'cat', '[SEP]')],
      ['', ids('[CLS]', '[SEP]')],
    ];
    for (const [text, want] of cases) assert.deepEqual(tok.encode(text), want, JSON.stringify(text));
    assert.deepEqual([tok.prefixIds, tok.suffixIds], [[V['[CLS]']], [V['[SEP]']]]);
    assert.equal(tok.padId, 0);
    assert.equal(tok.paddingSide, 'right');
    assert.equal(tok.modelMaxLength, 512);
    // truncation keeps [CLS] … [SEP], as transformers with truncation=True
    const t = tok.encodeTruncated('the cat the cat the cat', 5);
    assert.deepEqual(t.ids, ids('[CLS]', 'the', 'cat', 'the', '[SEP]'));
    assert.equal(t.fullLength, 8);
    assert.ok(t.truncated);
    assert.equal(tok.decode(ids('the', 'cat')), 'the cat');
  } finally {
    removeDir(dir);
  }
});

test('bertNormalize follows the Rust crate where the JS library differs', () => {
  const cfg = { clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true };
  assert.equal(bertNormalize('ΟΔΟΣ', cfg), 'οδοσ');
  assert.equal(bertNormalize('x𠀀y', cfg), 'x 𠀀 y');
  assert.equal(bertNormalize('İ', cfg), 'i');
  assert.equal(bertNormalize('a\u0378b', cfg), 'ab', 'unassigned code points are removed (Cn)');
  assert.equal(bertNormalize('Ça Va', { ...cfg, lowercase: false }), 'Ça Va', 'no lowercasing → no accent stripping by default');
  assert.equal(bertNormalize('Ça Va', { ...cfg, lowercase: false, strip_accents: true }), 'Ca Va');
});

test('the bert-tiny fixture input_ids come out of a WordPiece tokenizer over a 300-token vocabulary', async () => {
  const cases = loadCases('bert-tiny');
  const dir = tempDir('wp300');
  try {
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(wordPieceTokenizer(indexVocab(300), { specials: false })));
    const tok = await loadTokenizer(dir);
    cases.input_ids.forEach((row, r) => {
      const real = row.filter((_, j) => cases.attention_mask[r]![j] === 1);
      const text = real.map((id) => `W${id}`).join(' ');
      assert.deepEqual(tok.encode(text), real);
    });
  } finally {
    removeDir(dir);
  }
});

test('tokenizer errors name the file and the field', async () => {
  const dir = tempDir('tokerr');
  try {
    await assert.rejects(loadTokenizer(dir), (e: unknown) => e instanceof CheckpointError && /tokenizer\.json: missing/.test((e as Error).message));
    writeFileSync(join(dir, 'tokenizer.json'), '{"model": ');
    await assert.rejects(loadTokenizer(dir), /tokenizer\.json: is not valid JSON/);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(wordPieceTokenizer(V)));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ padding_side: 'middle' }));
    await assert.rejects(loadTokenizer(dir), /tokenizer_config\.json: padding_side: must be "left" or "right"/);
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '<nope>' }));
    await assert.rejects(loadTokenizer(dir), /tokenizer_config\.json: pad_token: "<nope>" is not in the vocabulary/);
  } finally {
    removeDir(dir);
  }
});
