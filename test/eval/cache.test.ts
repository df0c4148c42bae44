// The embedding cache: persistence across opens, keys by (embedder, instruction, text), repair of a torn
// tail or of an index that lags the vectors (a crash between the two writes), refusal of a mismatched dim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddingCache } from '../../src/eval/cache.js';
import { tempDir, vec } from './helpers.js';

test('vectors survive reopening; lookups are keyed by instruction and text', () => {
  const { dir, cleanup } = tempDir();
  try {
    const c = EmbeddingCache.open(dir, 'model-a', 3);
    c.append('', ['hello', 'world'], [vec(1, 2, 3), vec(4, 5, 6)]);
    c.append('Instruct: x', ['hello'], [vec(7, 8, 9)]);
    c.append('', ['hello'], [vec(0, 0, 0)]); // already cached: not written again
    assert.equal(c.size, 3);
    c.close();
    const d = EmbeddingCache.open(dir, 'model-a', 3);
    const got = d.lookup('', ['world', 'hello', 'missing']);
    assert.deepEqual(got.map((v) => v && [...v]), [[4, 5, 6], [1, 2, 3], undefined]);
    assert.deepEqual([...d.lookup('Instruct: x', ['hello'])[0]!], [7, 8, 9]);
    assert.deepEqual(d.statistics(), { entries: 3, hits: 3, misses: 1 });
    d.close();
    // Another embedder id gets another folder.
    const other = EmbeddingCache.open(dir, 'model-b', 3);
    assert.equal(other.size, 0);
    other.close();
    assert.equal(readdirSync(dir).length, 2);
  } finally {
    cleanup();
  }
});

test('a torn record at the end (crash mid-write) is trimmed on open', () => {
  const { dir, cleanup } = tempDir();
  try {
    const c = EmbeddingCache.open(dir, 'm', 2);
    c.append('', ['a', 'b'], [vec(1, 1), vec(2, 2)]);
    c.close();
    const folder = EmbeddingCache.folderFor(dir, 'm');
    appendFileSync(join(folder, 'vectors.bin'), Buffer.alloc(10, 7)); // half a record
    const d = EmbeddingCache.open(dir, 'm', 2);
    assert.equal(d.size, 2);
    assert.equal(statSync(join(folder, 'vectors.bin')).size, 2 * (16 + 8));
    d.append('', ['c'], [vec(3, 3)]);
    d.close();
    const e = EmbeddingCache.open(dir, 'm', 2);
    assert.deepEqual([...e.lookup('', ['c'])[0]!], [3, 3]);
    e.close();
  } finally {
    cleanup();
  }
});

test('an index that lags the vectors file is trimmed on open and re-synchronised on append', () => {
  const { dir, cleanup } = tempDir();
  try {
    const c = EmbeddingCache.open(dir, 'm', 2);
    c.append('', ['a', 'b', 'c'], [vec(1, 1), vec(2, 2), vec(3, 3)]);
    c.close();
    const folder = EmbeddingCache.folderFor(dir, 'm');
    truncateSync(join(folder, 'keys.bin'), 16 * 2); // the last key never reached the index
    const d = EmbeddingCache.open(dir, 'm', 2);
    assert.equal(d.size, 2, 'records without a key are dropped');
    assert.deepEqual(d.lookup('', ['a', 'b', 'c']).map((v) => v && [...v]), [[1, 1], [2, 2], undefined]);
    d.append('', ['c', 'd'], [vec(3, 3), vec(4, 4)]);
    d.close();
    const e = EmbeddingCache.open(dir, 'm', 2);
    assert.deepEqual(e.lookup('', ['a', 'b', 'c', 'd']).map((v) => v && [...v]), [[1, 1], [2, 2], [3, 3], [4, 4]]);
    e.close();
  } finally {
    cleanup();
  }
});

test('a cache written for another dimension is refused with the folder to delete', () => {
  const { dir, cleanup } = tempDir();
  try {
    EmbeddingCache.open(dir, 'm', 2).close();
    assert.throws(() => EmbeddingCache.open(dir, 'm', 3), /cache was written for .*"dim":2.*delete/);
  } finally {
    cleanup();
  }
});

test('appending takes over a lock left behind by a crash: a dead holder, or a file that stayed empty', () => {
  const { dir, cleanup } = tempDir();
  try {
    const c = EmbeddingCache.open(dir, 'm', 2);
    const lock = join(EmbeddingCache.folderFor(dir, 'm'), 'append.lock');
    writeFileSync(lock, String(2 ** 22 + 12345)); // no such process
    c.append('', ['a'], [vec(1, 1)]);
    assert.ok(!existsSync(lock));
    writeFileSync(lock, ''); // created, never written: stale once it is old
    const past = new Date(Date.now() - 60_000);
    utimesSync(lock, past, past);
    const t0 = Date.now();
    c.append('', ['b'], [vec(2, 2)]);
    assert.ok(Date.now() - t0 < 5_000, 'taken over at once, not after the 30 s wait');
    assert.deepEqual(c.lookup('', ['a', 'b']).map((v) => v && [...v]), [[1, 1], [2, 2]]);
    c.close();
  } finally {
    cleanup();
  }
});
