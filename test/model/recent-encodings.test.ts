import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentEncodings } from '../../src/model/recent-encodings.js';

test('recent encodings: taken once; bounded by entries and by ids, oldest dropped first', () => {
  const r = new RecentEncodings(3, 10);
  r.put('a', [1, 2]);
  r.put('b', [3]);
  assert.deepEqual(r.take('a'), [1, 2]);
  assert.equal(r.take('a'), undefined, 'taken once');
  r.put('c', [4]);
  r.put('d', [5]);
  r.put('e', [6]); // 4 entries > 3: 'b' goes
  assert.equal(r.take('b'), undefined);
  assert.equal(r.size, 3);
  r.put('big', [0, 0, 0, 0, 0, 0, 0, 0]); // 3 + 8 ids > 10: the oldest go until it fits
  assert.equal(r.take('c'), undefined);
  assert.deepEqual(r.take('e'), [6]);
  assert.deepEqual(r.take('big')?.length, 8);
  r.put('huge', new Array(11).fill(0)); // larger than the whole store: not kept
  assert.equal(r.take('huge'), undefined);
  r.put('x', [1]);
  r.put('x', [1, 2, 3]); // a repeat replaces, and its ids are counted once
  r.put('y', new Array(7).fill(0));
  assert.deepEqual(r.take('x'), [1, 2, 3]);
});
