import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lrMultiplier, makeSchedule, type ScheduleOptions } from '../../src/train/schedule.js';

// Expected values are worked by hand from transformers' lr_lambda formulas (optimization.py):
// warmup: step / max(1, warmup); linear: max(0, (total − step) / max(1, total − warmup));
// cosine: max(0, 0.5·(1 + cos(π·cycles·2·progress))), progress = (step − warmup) / max(1, total − warmup),
// with min_lr_rate r: factor·(1 − r) + r.

const at = (o: Omit<ScheduleOptions, 'lr'>, steps: number[]): number[] => steps.map((s) => lrMultiplier(s, { lr: 1, ...o }));

function near(actual: number[], expected: number[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]!) < 1e-12, `index ${i}: ${a} vs ${expected[i]}`));
}

test('linear warmup then linear decay (get_linear_schedule_with_warmup)', () => {
  near(at({ kind: 'linear', warmup: 10, total: 110 }, [0, 1, 5, 9, 10, 11, 60, 109, 110, 200]), [0, 0.1, 0.5, 0.9, 1, 0.99, 0.5, 0.01, 0, 0]);
  // No warmup: full lr at the first update.
  near(at({ kind: 'linear', warmup: 0, total: 4 }, [0, 1, 2, 3, 4]), [1, 0.75, 0.5, 0.25, 0]);
});

test('cosine decay (get_cosine_schedule_with_warmup) and the min-lr variant', () => {
  near(at({ kind: 'cosine', warmup: 10, total: 110 }, [0, 5, 10, 35, 60, 85, 110]), [0, 0.5, 1, 0.5 + Math.SQRT2 / 4, 0.5, 0.5 - Math.SQRT2 / 4, 0]);
  // One full cycle: back at the peak at the end.
  near(at({ kind: 'cosine', warmup: 0, total: 100, cycles: 1 }, [0, 50, 100]), [1, 0, 1]);
  // min_lr_rate 0.1: the floor at the end, 0.1 + 0.9·0.5 halfway.
  near(at({ kind: 'cosine', warmup: 10, total: 110, minLrRatio: 0.1 }, [5, 10, 60, 110]), [0.5, 1, 0.55, 0.1]);
});

test('constant with warmup (get_constant_schedule_with_warmup)', () => {
  near(at({ kind: 'constant', warmup: 300, total: 32000 }, [0, 150, 299, 300, 31999]), [0, 0.5, 299 / 300, 1, 1]);
});

test('makeSchedule scales by the peak lr (paper stage 1: 3e-5, warmup 300, 32k steps) and validates', () => {
  const lr = makeSchedule({ kind: 'linear', lr: 3e-5, warmup: 300, total: 32000 });
  assert.equal(lr(0), 0);
  assert.ok(Math.abs(lr(150) - 1.5e-5) < 1e-18);
  assert.equal(lr(300), 3e-5);
  assert.ok(Math.abs(lr(16150) - 1.5e-5) < 1e-18);
  assert.equal(lr(32000), 0);
  assert.throws(() => makeSchedule({ kind: 'step' as never, lr: 1, warmup: 0, total: 1 }), /kind must be one of constant, linear, cosine/);
  assert.throws(() => makeSchedule({ kind: 'linear', lr: 1, warmup: 1.5, total: 1 }), /warmup must be an integer/);
  assert.throws(() => makeSchedule({ kind: 'linear', lr: 1, warmup: 0, total: 10, minLrRatio: 0.1 }), /cosine schedule only/);
});
