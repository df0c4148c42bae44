import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRecord, sourceIdOf } from '../../src/synth/records.js';

const where = { file: 'in.jsonl', line: 7 };

test('source ids: explicit ids (per dataset) or a content hash that ignores field order', () => {
  const a = parseRecord({ type: 'retrieval', query: 'q', pos: ['p'], dataset: 'x' }, where);
  const b = parseRecord({ dataset: 'x', pos: ['p'], query: 'q', type: 'retrieval', extra: 1 }, where);
  const c = parseRecord({ type: 'retrieval', query: 'q', pos: ['p'], dataset: 'y' }, where);
  assert.match(sourceIdOf(a), /^sha256:[0-9a-f]{32}$/);
  assert.equal(sourceIdOf(a), sourceIdOf(b), 'extra fields and key order do not matter');
  assert.notEqual(sourceIdOf(a), sourceIdOf(c), 'the dataset does');
  assert.notEqual(sourceIdOf(a), sourceIdOf(parseRecord({ type: 'retrieval', query: 'q', pos: ['p'], neg: ['n'], dataset: 'x' }, where)));
  assert.equal(sourceIdOf(parseRecord({ type: 'cls', text: 't', label: 'l', id: 17 }, where)), '17');
  assert.equal(sourceIdOf(parseRecord({ type: 'cls', text: 't', label: 'l', id: 'r1', dataset: 'b77' }, where)), 'b77:r1');
});

test('parseRecord applies the canonical rules of src/data with file:line: field messages', () => {
  assert.throws(() => parseRecord([1], where), /^Error: in\.jsonl:7: expected a JSON object, got an array$|in\.jsonl:7: expected a JSON object, got an array/);
  assert.throws(() => parseRecord({ type: 'retrieval', query: 'q', pos: [] }, where), /in\.jsonl:7: pos: empty list/);
  assert.throws(() => parseRecord({ type: 'pair', text1: 'a', text2: 'b', score: 'high' }, where), /in\.jsonl:7: score: expected a finite number/);
  assert.throws(() => parseRecord({ query: 'q', pos: ['p'] }, where), /in\.jsonl:7: type: missing/);
  assert.deepEqual(parseRecord({ type: 'retrieval', query: 'q', pos: ['p'] }, where).neg, []);
});
