// The small shared helpers in src/util that several areas rely on for identical results: mulberry32's
// stream (synthetic vectors, generated test inputs), FNV-1a (hashed features, LoRA seeds), and the
// "did you mean" matcher of the config readers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../../src/util/random.js';
import { fnv1a32 } from '../../src/util/hash.js';
import { closestKey } from '../../src/util/suggest.js';

test('mulberry32: the reference stream for seed 1, values in [0, 1)', () => {
  const r = mulberry32(1);
  assert.deepEqual([r(), r(), r()], [0.6270739405881613, 0.002735721180215478, 0.5274470399599522]);
  const s = mulberry32(123);
  for (let i = 0; i < 1000; i++) {
    const v = s();
    assert.ok(v >= 0 && v < 1);
  }
});

test('fnv1a32: the published 32-bit FNV-1a test vectors', () => {
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
});

test('closestKey: ignores case, _ and -; allows ⌊len/4⌋ edits (at least 1); else undefined', () => {
  const allowed = ['batchSize', 'steps', 'gradClip'];
  assert.equal(closestKey('batch_size', allowed), 'batchSize');
  assert.equal(closestKey('step', allowed), 'steps');
  assert.equal(closestKey('stpes', allowed), undefined); // a transposition is 2 edits
  assert.equal(closestKey('grad-clipp', allowed), 'gradClip');
  assert.equal(closestKey('zzz', allowed), undefined);
});
