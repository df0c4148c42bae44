import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNotAnInput, canonicalPath, outputPathProblem, samePath, tryStat } from '../../src/util/paths.js';

test('tryStat: undefined for a missing path and for a path below a file (ENOTDIR), Stats otherwise', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-paths-'));
  try {
    const file = join(dir, 'a.jsonl');
    writeFileSync(file, '{}\n');
    assert.equal(tryStat(join(dir, 'nope')), undefined);
    assert.equal(tryStat(join(file, 'below')), undefined);
    assert.ok(tryStat(file)?.isFile());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('samePath sees through relative spellings and symbolic links, also for paths that do not exist yet', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-paths-'));
  try {
    const file = join(dir, 'in.jsonl');
    writeFileSync(file, '{}\n');
    symlinkSync(dir, join(dir, 'link'));
    assert.ok(samePath(file, join(dir, 'sub', '..', 'in.jsonl')));
    assert.ok(samePath(file, join(dir, 'link', 'in.jsonl')));
    assert.ok(samePath(join(dir, 'link', 'new', 'x.jsonl'), join(dir, 'new', 'x.jsonl')));
    assert.ok(!samePath(file, join(dir, 'out.jsonl')));
    assert.equal(canonicalPath(join(dir, 'link', 'in.jsonl')), canonicalPath(file));
    assert.throws(() => assertNotAnInput(join(dir, 'link', 'in.jsonl'), [undefined, file]), /in\.jsonl: the output would overwrite an input/);
    assert.doesNotThrow(() => assertNotAnInput(join(dir, 'out.jsonl'), [file, undefined]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('outputPathProblem: a folder given as a file, a file given as a folder, a parent that is a file; missing parents are fine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-paths-'));
  try {
    const file = join(dir, 'a.jsonl');
    writeFileSync(file, '{}\n');
    mkdirSync(join(dir, 'sub'));
    assert.equal(outputPathProblem(join(dir, 'out.jsonl'), 'file'), undefined);
    assert.equal(outputPathProblem(file, 'file'), undefined); // replacing a file is allowed
    assert.equal(outputPathProblem(join(dir, 'new', 'deeper', 'out.jsonl'), 'file'), undefined);
    assert.equal(outputPathProblem(join(dir, 'sub'), 'folder'), undefined);
    assert.equal(outputPathProblem(join(dir, 'new-run'), 'folder'), undefined);
    assert.equal(outputPathProblem(join(dir, 'sub'), 'file'), 'is a folder; give a file path');
    assert.equal(outputPathProblem(file, 'folder'), 'is a file, not a folder');
    assert.equal(outputPathProblem(join(file, 'out.jsonl'), 'file'), `${file} is a file, not a folder`);
    assert.equal(outputPathProblem(join(file, 'x', 'run'), 'folder'), `${file} is a file, not a folder`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
