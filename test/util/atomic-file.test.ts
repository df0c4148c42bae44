import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { removeStaleTemporaries, replaceDir, tempPathFor, writeAtomicWith, writeAtomicWithSync, writeFileAtomic, writeFileAtomicSync } from '../../src/util/atomic-file.js';

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'qz-atomic-'));
}

test('atomic file writes: the new contents or the old, never a temporary file left behind', async () => {
  const dir = scratch();
  try {
    const f = join(dir, 'sub', 'a.txt');
    await writeFileAtomic(f, 'one');
    writeFileAtomicSync(f, new Uint8Array([116, 119, 111]));
    assert.equal(readFileSync(f, 'utf8'), 'two');
    await assert.rejects(writeAtomicWith(f, async (fh) => {
      await fh.writeFile('half');
      throw new Error('disk full');
    }), /disk full/);
    assert.throws(() => writeAtomicWithSync(f, () => {
      throw new Error('boom');
    }), /boom/);
    assert.equal(readFileSync(f, 'utf8'), 'two', 'a failed write leaves the old file');
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['a.txt'], 'no temporary files remain');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('replaceDir puts a folder in place, replacing a folder or a file there, and leaves nothing aside', async () => {
  const dir = scratch();
  try {
    const make = (name: string, content: string) => {
      const p = join(dir, name);
      mkdirSync(p);
      writeFileSync(join(p, 'x'), content);
      return p;
    };
    const final = join(dir, 'model');
    await replaceDir(make('.t1', 'first'), final); // nothing there
    await replaceDir(make('.t2', 'second'), final); // a non-empty folder there
    assert.equal(readFileSync(join(final, 'x'), 'utf8'), 'second');
    rmSync(final, { recursive: true });
    writeFileSync(final, 'a file in the way');
    await replaceDir(make('.t3', 'third'), final);
    assert.equal(readFileSync(join(final, 'x'), 'utf8'), 'third');
    assert.deepEqual(readdirSync(dir), ['model'], 'no temporary or set-aside folders remain');
    await assert.rejects(replaceDir(join(dir, '.missing'), final), /ENOENT/);
    assert.equal(readFileSync(join(final, 'x'), 'utf8'), 'third', 'a failed replace keeps the old folder');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('removeStaleTemporaries removes what killed writers left, keeps running writers\' and everything else', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qz-stale-'));
  try {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // a process that has exited
    const stale = (name: string) => tempPathFor(join(dir, name)).replace(`.tmp-${process.pid}-`, `.tmp-${dead}-`);
    const staleFile = stale('data.jsonl');
    writeFileSync(staleFile, 'half');
    const staleDir = stale('model');
    mkdirSync(staleDir);
    writeFileSync(join(staleDir, 'model.safetensors'), 'x');
    const mine = tempPathFor(join(dir, 'being-written.json')); // this process: may be in progress
    writeFileSync(mine, '{');
    mkdirSync(join(dir, 'sub'));
    const nested = stale('sub/part.jsonl');
    writeFileSync(nested, 'x');
    writeFileSync(join(dir, '.hidden.tmp-notes'), 'kept: not a temporary name');
    writeFileSync(join(dir, 'data.jsonl'), 'done');

    assert.deepEqual(removeStaleTemporaries(dir).sort(), [staleDir, staleFile].sort());
    assert.ok(existsSync(nested), 'not recursive by default');
    assert.deepEqual(removeStaleTemporaries(dir, { recursive: true }), [nested]);
    assert.deepEqual(readdirSync(dir).sort(), ['.hidden.tmp-notes', mine.slice(dir.length + 1), 'data.jsonl', 'sub'].sort());
    assert.deepEqual(removeStaleTemporaries(join(dir, 'missing')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
