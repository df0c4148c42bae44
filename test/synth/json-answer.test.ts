import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonAnswer } from '../../src/synth/json-answer.js';
import { validateJson, type JsonSchema } from '../../src/synth/json-schema.js';

test('parseJsonAnswer accepts bare, fenced and embedded JSON and rejects the rest', () => {
  assert.deepEqual(parseJsonAnswer('{"a": 1}'), { ok: true, value: { a: 1 } });
  assert.deepEqual(parseJsonAnswer('```json\n{"a": [1, 2]}\n```'), { ok: true, value: { a: [1, 2] } });
  assert.deepEqual(parseJsonAnswer('Sure! Here it is: {"a": "x } y"} Hope it helps.'), { ok: true, value: { a: 'x } y' } });
  assert.equal(parseJsonAnswer('').ok, false);
  assert.equal(parseJsonAnswer('no json here').ok, false);
  assert.equal(parseJsonAnswer('{"a": 1').ok, false);
  assert.equal(parseJsonAnswer("{'a': 1}").ok, false);
});

test('validateJson reports paths of violations', () => {
  const schema: JsonSchema = {
    type: 'object',
    required: ['items'],
    properties: {
      items: { type: 'array', minItems: 1, items: { type: 'object', required: ['q'], properties: { q: { type: 'string' }, kind: { type: 'string', enum: ['a', 'b'] } } } },
    },
  };
  assert.deepEqual(validateJson({ items: [{ q: 'x', kind: 'a' }] }, schema), []);
  assert.deepEqual(validateJson({ items: [] }, schema), ['$.items: expected at least 1 items, got 0']);
  assert.deepEqual(validateJson({ items: [{ q: 5 }, { kind: 'c', q: 'y' }] }, schema), [
    '$.items[0].q: expected string, got integer',
    '$.items[1].kind: expected one of "a", "b", got "c"',
  ]);
  assert.deepEqual(validateJson([], schema), ['$: expected object, got array']);
  assert.deepEqual(validateJson({}, schema), ['$: missing required property "items"']);
  assert.deepEqual(validateJson(1.5, { type: 'integer' }), ['$: expected integer, got number']);
  assert.deepEqual(validateJson(2, { type: 'number' }), []);
});
