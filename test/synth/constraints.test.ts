import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitSentences, isParagraph } from '../../src/synth/sentences.js';
import {
  charLength, checkDifferent, checkLanguage, checkLength, describeOriginal, lengthBounds, normalizeForCompare, tooClose, tokenLength,
} from '../../src/synth/constraints.js';
import { editDifference } from '../../src/synth/edit-distance.js';

test('splitSentences handles Latin and CJK punctuation, quotes, abbreviations and numbers', () => {
  assert.deepEqual(splitSentences('Open the app. Tap "Reset." Then wait!'), ['Open the app.', 'Tap "Reset."', 'Then wait!']);
  assert.deepEqual(splitSentences('打开应用。点击重置！然后等待'), ['打开应用。', '点击重置！', '然后等待']);
  assert.deepEqual(splitSentences('Version 3.5 is out, e.g. for Linux. It works.'), ['Version 3.5 is out, e.g. for Linux.', 'It works.']);
  assert.deepEqual(splitSentences('First line\nSecond line'), ['First line', 'Second line']);
  assert.deepEqual(splitSentences('  '), []);
  assert.equal(isParagraph('One sentence only.'), false);
  assert.equal(isParagraph('One. Two.'), true);
});

test('length bounds and check, in characters and in tokens', () => {
  const orig = describeOriginal('x'.repeat(40), charLength);
  assert.deepEqual(lengthBounds(orig, 0.15), [34, 46]);
  assert.equal(checkLength('query', 'y'.repeat(34), orig, 0.15, charLength), null);
  assert.equal(checkLength('query', 'y'.repeat(46), orig, 0.15, charLength), null);
  assert.equal(checkLength('query', 'y'.repeat(33), orig, 0.15, charLength)?.reason, 'length');
  assert.equal(checkLength('query', 'y'.repeat(47), orig, 0.15, charLength)?.reason, 'length');
  // Whitespace runs are collapsed before counting.
  assert.equal(charLength.length('  a   b \n c '), 5);
  const words = tokenLength((t) => t.split(/\s+/).filter(Boolean).length);
  const o2 = describeOriginal('one two three four five six seven eight nine ten', words);
  assert.equal(o2.length, 10);
  assert.equal(checkLength('positive', 'a b c d e f g h', o2, 0.2, words), null);
  assert.match(checkLength('positive', 'a b c d e f g', o2, 0.2, words)!.message, /7 tokens; it must have 8–12/);
});

test('difference rule: 30 % for sentences, 20 % for paragraphs, copied adjacent sentences rejected', () => {
  const sentence = describeOriginal('How do I reset my online banking password?', charLength);
  assert.equal(checkDifferent('query', 'How do I reset my online bank password?', sentence, 0.3, 0.2)?.reason, 'too_similar');
  assert.equal(checkDifferent('query', 'What steps change the passcode for internet banking?', sentence, 0.3, 0.2), null);
  // Case and whitespace changes are not differences.
  assert.equal(checkDifferent('query', 'HOW DO I RESET MY ONLINE   BANKING PASSWORD?', sentence, 0.3, 0.2)?.reason, 'too_similar');

  const para = describeOriginal('Open the mobile app. Tap the settings icon. Choose reset password. Confirm with the code we send you.', charLength);
  assert.equal(para.sentences.length, 4);
  // Keeps sentences 1–2 verbatim but rewrites the rest heavily: different enough overall, yet copied.
  const copied = 'Open the mobile app. Tap the settings icon. A fresh passcode can be picked there, and the texted PIN finalises it.';
  assert.ok(editDifference(normalizeForCompare(copied), para.normalized) >= 0.2, 'fixture must pass the 20 % rule');
  assert.equal(checkDifferent('positive', copied, para, 0.3, 0.2)?.reason, 'copied_sentences');
  // One copied sentence alone is allowed.
  const one = 'Open the mobile app. In its settings, pick the password reset entry, then type the code that arrives by text.';
  assert.equal(checkDifferent('positive', one, para, 0.3, 0.2), null);
});

test('language check and near-duplicate test', () => {
  const orig = describeOriginal('如何重置我的网上银行密码？', charLength);
  assert.equal(checkLanguage('query', '网上银行的密码怎样才能重新设置？', orig), null);
  assert.equal(checkLanguage('query', 'How can I reset my online banking password?', orig)?.reason, 'language');
  assert.equal(tooClose('Reset the password', 'reset the  password', 0.1), true);
  assert.equal(tooClose('Reset the password now', 'Change the passcode later', 0.1), false);
});
