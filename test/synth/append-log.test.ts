import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, appendFileSync, existsSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppendLog, readLines, repairTornTail } from '../../src/synth/append-log.js';
import { ResponseCache, requestKey, readCacheKeys } from '../../src/synth/response-cache.js';
import { acquireLock } from '../../src/synth/file-lock.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'qzhou-applog-'));

test('repairTornTail cuts bytes after the last newline; readLines gives lines with byte offsets', async () => {
  const dir = tmp();
  try {
    const p = join(dir, 'f.jsonl');
    writeFileSync(p, '{"a":1}\n{"b":"é"}\n{"c":');
    assert.equal(await repairTornTail(p), 5);
    assert.equal(readFileSync(p, 'utf8'), '{"a":1}\n{"b":"é"}\n');
    assert.equal(await repairTornTail(p), 0);
    writeFileSync(join(dir, 'g'), 'no newline at all');
    assert.equal(await repairTornTail(join(dir, 'g')), 17);
    assert.equal(readFileSync(join(dir, 'g'), 'utf8'), '');
    assert.equal(await repairTornTail(join(dir, 'missing')), 0);
    const lines = [];
    for await (const l of readLines(p)) lines.push(l);
    assert.deepEqual(lines, [{ line: 1, offset: 0, text: '{"a":1}' }, { line: 2, offset: 8, text: '{"b":"é"}' }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('AppendLog: concurrent appends land whole and in call order; offsets are byte positions; reopening repairs the tail', async () => {
  const dir = tmp();
  try {
    const p = join(dir, 'log.jsonl');
    const log = await AppendLog.open(p, { fsyncEvery: 3 });
    const offsets = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(`${JSON.stringify({ i, pad: 'x'.repeat(i * 7), u: 'ü' })}\n`)));
    await assert.rejects(log.append('no newline'), /complete lines/);
    await log.close();
    const text = readFileSync(p);
    offsets.forEach((o, i) => assert.equal(JSON.parse(text.subarray(o, text.indexOf(10, o)).toString()).i, i));
    appendFileSync(p, '{"torn":');
    const again = await AppendLog.open(p);
    assert.equal(again.size, text.length);
    await again.append('{"i":50}\n');
    await again.close();
    const all = readFileSync(p, 'utf8').trim().split('\n').map((l) => JSON.parse(l).i);
    assert.deepEqual(all, Array.from({ length: 51 }, (_, i) => i));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ResponseCache holds thousands of answers across reopen, skips damaged lines, and is single-writer', async () => {
  const dir = tmp();
  try {
    const p = join(dir, 'cache.jsonl');
    const key = (i: number) => requestKey({ model: 'm', messages: [{ role: 'user', content: `q${i}` }], params: {} });
    let cache = await ResponseCache.open(p);
    for (let i = 0; i < 3000; i++) await cache.put(key(i), { content: `a${i}`, finishReason: 'stop', model: 'm', usage: { promptTokens: i, completionTokens: 1 } });
    await cache.put(key(7), { content: 'overwrite?', finishReason: 'stop', model: 'm' });
    await cache.close();
    appendFileSync(p, 'garbage line\n{"key":"');
    cache = await ResponseCache.open(p);
    try {
      assert.equal(cache.size, 3000);
      assert.equal(cache.skippedLines, 1);
      for (const i of [0, 7, 1234, 2999]) assert.deepEqual(await cache.get(key(i)), { content: `a${i}`, finishReason: 'stop', model: 'm', usage: { promptTokens: i, completionTokens: 1 } });
      assert.equal(await cache.get(key(3000)), undefined);
      assert.equal(cache.has(key(3000)), false);
      assert.throws(() => acquireLock(`${p}.lock`, 'the cache'), /in use by process/);
    } finally {
      await cache.close();
    }
    assert.equal((await readCacheKeys(p)).size, 3000);
    // A lock left by a process that no longer exists is taken over.
    writeFileSync(`${p}.lock`, JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname() }));
    const release = acquireLock(`${p}.lock`, 'the cache');
    release();
    // An empty lock file is another taker between its create and its write: not stale while fresh…
    writeFileSync(`${p}.lock`, '');
    assert.throws(() => acquireLock(`${p}.lock`, 'the cache'), /being locked by another process/);
    // …but one that stayed empty (a crash right after creating it) is taken over.
    const past = new Date(Date.now() - 60_000);
    utimesSync(`${p}.lock`, past, past);
    acquireLock(`${p}.lock`, 'the cache')();
    assert.ok(!existsSync(`${p}.lock`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
