import { test } from 'node:test';
import assert from 'node:assert/strict';
import { levenshtein, editDifference } from '../../src/synth/edit-distance.js';
import { mulberry32 } from '../../src/util/random.js';

// Independent reference: the textbook O(m·n) dynamic programme over code points.
function reference(a: string, b: string): number {
  const A = Array.from(a);
  const B = Array.from(b);
  let prev = Array.from({ length: B.length + 1 }, (_, j) => j);
  for (let i = 1; i <= A.length; i++) {
    const cur = [i];
    for (let j = 1; j <= B.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (A[i - 1] === B[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[B.length]!;
}

test('levenshtein: textbook values', () => {
  assert.equal(levenshtein('kitten', 'sitting'), 3);
  assert.equal(levenshtein('', ''), 0);
  assert.equal(levenshtein('', 'abc'), 3);
  assert.equal(levenshtein('abc', ''), 3);
  assert.equal(levenshtein('flaw', 'lawn'), 2);
  assert.equal(levenshtein('我想重置密码', '我要重设密码'), 2);
  // An astral character (surrogate pair) is one edit, not two.
  assert.equal(levenshtein('a😀b', 'a😃b'), 1);
  assert.equal(levenshtein('👍', ''), 1);
});

test('levenshtein: equals the DP reference on random strings across 32-row block boundaries', () => {
  const r = mulberry32(7);
  const alphabets = ['ab', 'abcd', 'abcdefghij', 'aé中😀 '];
  for (let t = 0; t < 1500; t++) {
    const alpha = Array.from(alphabets[t % alphabets.length]!);
    const gen = () => {
      const len = Math.floor(r() * (t % 5 === 0 ? 200 : 70));
      return Array.from({ length: len }, () => alpha[Math.floor(r() * alpha.length)]).join('');
    };
    const a = gen();
    const b = r() < 0.3 ? a.slice(0, Math.floor(r() * a.length)) + gen().slice(0, 5) : gen();
    assert.equal(levenshtein(a, b), reference(a, b), `a=${JSON.stringify(a)} b=${JSON.stringify(b)}`);
    assert.equal(levenshtein(b, a), levenshtein(a, b));
  }
});

test('editDifference is distance over the longer length', () => {
  assert.equal(editDifference('kitten', 'sitting'), 3 / 7);
  assert.equal(editDifference('', ''), 0);
  assert.equal(editDifference('abc', 'abc'), 0);
  assert.equal(editDifference('abc', 'xyz'), 1);
});
