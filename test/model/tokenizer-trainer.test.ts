// The tokenizer trainer: hand-checkable merges (frequency order, the smaller-ids tie rule, min frequency,
// vocabulary cap), ids that round-trip through the project's tokenizer loader (byte-level BPE exactly;
// WordPiece up to its normaliser), determinism (same bytes, whatever the input order), and files that are
// standard Hugging Face tokenizer files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HfTokenizer, bertNormalize } from '../../src/model/tokenizer.js';
import { byteLevelAlphabet, saveTrainedTokenizer, trainTokenizer, type TrainedTokenizer } from '../../src/model/tokenizer-trainer.js';
import { removeDir, tempDir } from './helpers.js';

const TEXTS = [
  'I am still waiting on my card?', 'What can I do if my card still hasn\'t arrived after 2 weeks?',
  'I have been waiting over a week. Is the card still coming?', 'Can I track my card while it is in the process of delivery?',
  'How do I know if I will get my card, or if it is lost?', 'When will my card arrive?', 'My top-up failed: why?',
  'Ich möchte meine Karte sperren.', 'Où est ma carte ?', '我的卡丢了', 'card 💳 arrived 👍', 'Tabs\tand\nnewlines  here',
];

async function load(t: TrainedTokenizer, modelType: string): Promise<{ tok: HfTokenizer; dir: string }> {
  const dir = tempDir('tok-train');
  await saveTrainedTokenizer(join(dir, 'tok'), t);
  return { tok: await HfTokenizer.load(join(dir, 'tok'), { modelType }), dir };
}

test('BPE merges: most frequent pair first, ties to the smaller ids, stop at min frequency or the vocabulary cap', async () => {
  // Words: "ab" ×5, "abc" ×3, "bc" ×2, "d" ×1 (byte-level: letters are their own byte symbols).
  const corpus = ['ab ab ab ab ab', 'abc abc abc', 'bc bc', 'd'];
  const t = await trainTokenizer(corpus, { kind: 'bpe', vocabSize: 1000, minFrequency: 2 });
  const merges = (t.tokenizer.model as { merges: [string, string][] }).merges;
  // Pre-tokenised words keep their leading space (Ġ = byte 0x20): "ab", "Ġab", "abc", "Ġabc", "bc", "Ġbc", "d".
  // Pair counts: a b: 1+4+1+2 = 8 … the first merge is (a, b).
  assert.deepEqual(merges[0], ['a', 'b']);
  // After it: Ġ+ab = 4+2 = 6 → second.
  assert.deepEqual(merges[1], ['Ġ', 'ab']);
  // Every merge occurs at least twice; "d" never merges.
  assert.ok(merges.every(([x, y]) => !`${x}${y}`.includes('d')));
  const capped = await trainTokenizer(corpus, { kind: 'bpe', vocabSize: 256 + 2 + 1, minFrequency: 1 });
  assert.equal(capped.merges, 2);
  assert.equal(capped.vocabSize, 259);
  // Ties: pairs with equal counts merge in the order of their symbols' ids (x=120 < z=122), whatever the input order.
  for (const texts of [['xy', 'xy', 'zw', 'zw'], ['zw', 'zw', 'xy', 'xy']]) {
    const tie = await trainTokenizer(texts, { kind: 'bpe', vocabSize: 1000, minFrequency: 2 });
    assert.deepEqual((tie.tokenizer.model as { merges: [string, string][] }).merges, [['x', 'y'], ['z', 'w']]);
  }
  // With leading spaces, " zw" ×2 pairs (Ġ=32, z) ties with (x, y) and goes first: 32 < 120.
  const spaced = await trainTokenizer(['xy xy zw zw'], { kind: 'bpe', vocabSize: 1000, minFrequency: 2 });
  assert.deepEqual((spaced.tokenizer.model as { merges: [string, string][] }).merges.slice(0, 2), [['Ġ', 'z'], ['x', 'y']]);
});

test('byte-level BPE: every byte in the vocabulary, ids round-trip exactly (unseen scripts and emoji too)', async () => {
  const t = await trainTokenizer(TEXTS, { kind: 'bpe', vocabSize: 600, minFrequency: 1 });
  const { tok, dir } = await load(t, 'qwen2');
  try {
    const vocab = (t.tokenizer.model as { vocab: Record<string, number> }).vocab;
    for (const c of byteLevelAlphabet()) assert.ok(c in vocab, `byte symbol ${c}`);
    assert.equal(tok.vocabSize, t.vocabSize, 'vocabulary + the special token');
    assert.equal(Object.keys(vocab).length, t.vocabSize - 1);
    assert.equal(tok.paddingSide, 'left');
    assert.equal(tok.padId, t.vocabSize - 1, '<|endoftext|> comes last and pads');
    const probes = [...TEXTS, 'Ünïcödé never seen: Ωμέγα Ж 한국어 ✓', '', '   ', 'a\r\nb'];
    for (const s of probes) assert.equal(tok.decode(tok.encode(s)), s.normalize('NFC'), JSON.stringify(s));
    // A frequent training word is a single token.
    assert.equal(tok.encode(' card').length, 1);
    assert.ok(tok.encode('I am still waiting on my card?').length < 'I am still waiting on my card?'.length / 2);
  } finally {
    removeDir(dir);
  }
});

test('WordPiece: BERT layout, pieces rebuild the normalised words, unknown characters become [UNK]', async () => {
  const t = await trainTokenizer(TEXTS, { kind: 'wordpiece', vocabSize: 500, minFrequency: 1 });
  const { tok, dir } = await load(t, 'bert');
  try {
    const vocab = (t.tokenizer.model as { vocab: Record<string, number> }).vocab;
    assert.deepEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((x) => vocab[x]), [0, 1, 2, 3, 4]);
    assert.equal(tok.padId, 0);
    assert.equal(tok.paddingSide, 'right');
    for (const s of TEXTS) {
      const ids = tok.encode(s);
      assert.equal(ids[0], 2);
      assert.equal(ids.at(-1), 3);
      // Joining the pieces ("##" continues a word) gives the normalised text without its spaces.
      const pieces = ids.slice(1, -1).map((i) => tok.idToToken(i)!);
      assert.ok(!pieces.includes('[UNK]'), `${s}: ${pieces.join(' ')}`);
      const joined = pieces.map((p) => (p.startsWith('##') ? p.slice(2) : p)).join('');
      assert.equal(joined, bertNormalize(s, { lowercase: true }).replace(/\s+/g, ''), s);
    }
    assert.deepEqual(tok.encode('Ω').slice(1, -1), [1], 'a character never seen is [UNK]');
  } finally {
    removeDir(dir);
  }
});

test('training is deterministic: same files for the same texts in any order', async () => {
  for (const kind of ['bpe', 'wordpiece'] as const) {
    const a = await trainTokenizer(TEXTS, { kind, vocabSize: 400, minFrequency: 1 });
    const b = await trainTokenizer([...TEXTS].reverse(), { kind, vocabSize: 400, minFrequency: 1 });
    async function* stream() {
      for (const s of TEXTS) yield s;
    }
    const c = await trainTokenizer(stream(), { kind, vocabSize: 400, minFrequency: 1 });
    assert.equal(JSON.stringify(a.tokenizer), JSON.stringify(b.tokenizer), kind);
    assert.equal(JSON.stringify(a.tokenizer), JSON.stringify(c.tokenizer), kind);
    const dirs = [tempDir('tok-a'), tempDir('tok-b')];
    try {
      await saveTrainedTokenizer(join(dirs[0]!, 't'), a);
      await saveTrainedTokenizer(join(dirs[1]!, 't'), b);
      for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
        assert.equal(readFileSync(join(dirs[0]!, 't', f), 'utf8'), readFileSync(join(dirs[1]!, 't', f), 'utf8'), f);
      }
    } finally {
      dirs.forEach(removeDir);
    }
  }
});

test('bad options and empty input are errors', async () => {
  await assert.rejects(trainTokenizer(TEXTS, { kind: 'unigram' as 'bpe' }), /kind must be "bpe" or "wordpiece"/);
  await assert.rejects(trainTokenizer(TEXTS, { kind: 'bpe', vocabSize: 0 }), /vocab size must be a positive integer/);
  await assert.rejects(trainTokenizer(TEXTS, { kind: 'wordpiece', specialTokens: ['[PAD]'] }), /needs "\[UNK\]"/);
  await assert.rejects(trainTokenizer([], { kind: 'bpe' }), /no text to train a tokenizer on/);
  await assert.rejects(trainTokenizer([1 as unknown as string], { kind: 'bpe' }), /texts must be strings, got number \(text 0\)/);
});
