import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags, UsageError, numberFlag } from '../../src/cli/command.js';

test('parseFlags returns typed values and rejects unknown flags by name', () => {
  const { values } = parseFlags(['--model', 'm', '--batch-size', '8'], {
    model: { type: 'string' },
    'batch-size': { type: 'string' },
  });
  assert.equal(values.model, 'm');
  assert.equal(numberFlag('batch-size', values['batch-size'], 1), 8);
  assert.throws(() => parseFlags(['--nope'], { model: { type: 'string' } }), (e: unknown) => e instanceof UsageError && /--nope/.test((e as Error).message));
  assert.throws(() => numberFlag('batch-size', 'x', 1), /--batch-size: expected a number, got "x"/);
});
