// The TF-IDF baseline: sklearn TfidfVectorizer defaults worked by hand (tokens of ≥ 2 word characters,
// smooth idf, L2 norm), the max_features cut, character n-grams, identity by vocabulary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TfidfEmbedder } from '../../src/eval/tfidf-embedder.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);

test('vocabulary, smooth idf and L2-normalised tf·idf match the hand computation', async () => {
  const m = TfidfEmbedder.fit(['The cat sat', 'the dog sat', 'a cat']);
  assert.deepEqual(m.terms, ['cat', 'dog', 'sat', 'the']); // "a" is one character: not a token
  assert.equal(m.dim, 4);
  // df: cat 2, dog 1, sat 2, the 2 of n = 3 → idf = ln((1+3)/(1+df)) + 1.
  const idf2 = Math.log(4 / 3) + 1;
  const idf1 = Math.log(4 / 2) + 1;
  const [v] = await m.embed(['dog dog cat unknownword']);
  const raw = [idf2, 2 * idf1, 0, 0];
  const n = Math.hypot(...raw);
  raw.forEach((x, i) => close(v![i]!, x / n));
  const [u] = await m.embed(['THE CAT SAT']);
  [1, 0, 1, 1].forEach((x, i) => close(u![i]!, x / Math.sqrt(3)));
  const [empty] = await m.embed(['nothing known here']);
  assert.ok(empty!.every((x) => x === 0), 'no known term → zero vector');
  assert.equal(m.cacheable, false);
});

test('max_features keeps the most frequent terms (ties by term order); ids differ by vocabulary', () => {
  const texts = ['the cat sat', 'the dog sat', 'a cat'];
  const capped = TfidfEmbedder.fit(texts, { maxFeatures: 2 });
  assert.deepEqual(capped.terms, ['cat', 'sat']); // counts: cat 2, sat 2, the 2, dog 1 → first two in term order
  assert.notEqual(capped.id, TfidfEmbedder.fit(texts).id);
  assert.equal(TfidfEmbedder.fit(texts).id, TfidfEmbedder.fit([...texts]).id);
  assert.match(capped.id, /^tfidf:[0-9a-f]{16}$/);
});

test('character n-grams and word n-grams', () => {
  assert.deepEqual(TfidfEmbedder.analyze('银行卡', { charNgramRange: [1, 2] }), ['银', '行', '卡', '银行', '行卡']);
  assert.deepEqual(TfidfEmbedder.analyze('new card please', { ngramRange: [1, 2] }), ['new', 'card', 'please', 'new card', 'card please']);
  assert.deepEqual(TfidfEmbedder.analyze("Can't top-up my card_1 €5"), ['can', 'top', 'up', 'my', 'card_1']);
  assert.throws(() => TfidfEmbedder.fit(['a b c']), /no terms/);
});
