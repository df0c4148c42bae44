import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsLog, TrainingProgress, formatCount, formatDuration, formatLr, formatStepTime, readMetrics } from '../../src/train/metrics-log.js';

test('MetricsLog appends JSON lines, survives reopen, drops a torn last line, trims to the checkpoint on resume', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-metrics-'));
  try {
    const path = join(dir, 'metrics.jsonl');
    const log = MetricsLog.open(path);
    for (let s = 1; s <= 5; s++) log.write({ step: s, family: 'retrieval', loss: 1 / s, nan: NaN });
    log.write({ event: 'eval', tasks: ['Banking77Classification'] });
    log.flush();
    log.close();
    assert.throws(() => log.write({ step: 6 }), /is closed/);
    const recs = readMetrics(path);
    assert.equal(recs.length, 6);
    assert.deepEqual(recs[1], { step: 2, family: 'retrieval', loss: 0.5, nan: null });

    // A crash in the middle of a write leaves a partial line: it is dropped on the next open.
    appendFileSync(path, '{"step": 6, "lo');
    MetricsLog.open(path).close();
    assert.equal(readMetrics(path).length, 6);

    // Resume from the checkpoint at step 3: records of steps 4–5 go; the step-less record stays.
    const resumed = MetricsLog.open(path, { keepThroughStep: 3 });
    resumed.write({ step: 4, family: 'pair', loss: 2 });
    resumed.close();
    assert.deepEqual(readMetrics(path).map((r) => r.step ?? r.event), [1, 2, 3, 'eval', 4]);
    assert.deepEqual(readdirSync(dir), ['metrics.jsonl'], 'no temporary files left');

    writeFileSync(path, '{"step":1}\nnot json\n');
    assert.throws(() => readMetrics(path), /metrics\.jsonl:2: not a JSON record/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

class FakeStream {
  out = '';
  constructor(
    public isTTY: boolean,
    public columns = 120,
  ) {}
  write(s: string) {
    this.out += s;
    return true;
  }
}

test('progress without a terminal: plain lines at an interval, with loss, lr, tokens/s, s/step and ETA', () => {
  let t = 0;
  const stream = new FakeStream(false);
  const p = new TrainingProgress({ total: 10, label: 'stage1', stream, now: () => t, lineEveryMs: 3000 });
  for (let s = 1; s <= 10; s++) {
    t = s * 1000;
    p.update({ step: s, family: 'retrieval', loss: 0.5, lr: 1e-3, tokens: 100 });
  }
  p.finish();
  const lines = stream.out.trimEnd().split('\n');
  // Step 1 (first), then every 3 s: 4, 7, and the last step.
  assert.deepEqual(
    lines.map((l) => /step (\d+)\//.exec(l)?.[1]),
    ['1', '4', '7', '10'],
  );
  assert.equal(lines[1], '[stage1] step 4/10 40.0% | loss retrieval 0.5000 | lr 1.00e-3 | 100 tok/s | 1.00 s/step | ETA 6s | elapsed 4s');
  assert.ok(!stream.out.includes('\r') && !stream.out.includes('\x1b'), 'no terminal control codes in plain mode');
  const snap = p.snapshot();
  assert.equal(snap.etaSeconds, 0);
  assert.equal(snap.tokensPerSecond, 100);
});

test('progress: loss is smoothed per family; rates use a moving window (a slow start does not skew the ETA)', () => {
  let t = 0;
  const p = new TrainingProgress({ total: 100, stream: new FakeStream(false), now: () => t, window: 4, smoothing: 0.5 });
  // First step is slow (compilation, warm-up), then 2 s per step.
  t = 60_000;
  p.update({ step: 1, family: 'retrieval', loss: 4, lr: 0, tokens: 1000 });
  for (let s = 2; s <= 6; s++) {
    t += 2000;
    p.update({ step: s, family: s % 2 ? 'retrieval' : 'pair', loss: s % 2 ? 2 : 1, lr: 2e-5, tokens: 1000 });
  }
  const snap = p.snapshot();
  // pair saw 1,1,1 → exactly 1 (bias-corrected EMA); retrieval saw 4,2,2 → (0.5·(0.5·(0.5·4)+0.5·2)+0.5·2)/(1−0.125) = 2.2857…
  assert.equal(snap.losses.pair, 1);
  assert.ok(Math.abs(snap.losses.retrieval! - (0.125 * 4 + 0.25 * 2 + 0.5 * 2) / 0.875) < 1e-12);
  assert.equal(snap.secondsPerStep, 2);
  assert.equal(snap.tokensPerSecond, 500);
  assert.equal(snap.etaSeconds, 94 * 2);
  assert.equal(snap.lr, 2e-5);
});

test('progress on a terminal: redrawn bar (throttled, fits the width), log lines above it, newline at the end', () => {
  let t = 0;
  const stream = new FakeStream(true, 80);
  const p = new TrainingProgress({ total: 4, label: 's1', stream, now: () => t, redrawMs: 100 });
  t = 1000;
  p.update({ step: 1, family: 'cls', loss: 1, lr: 1e-4, tokens: 10 });
  t = 1050; // within 100 ms: no redraw
  p.update({ step: 2, family: 'cls', loss: 1, lr: 1e-4, tokens: 10 });
  const draws = stream.out.split('\r\x1b[2K').filter((x) => x !== '');
  assert.equal(draws.length, 1);
  assert.match(draws[0]!, /^s1 \[#{2,}\.+\] 1\/4 25\.0% │ loss cls 1\.0000 │ lr 1\.00e-4/);
  const before = stream.out.length;
  p.log('checkpoint saved: runs/x/stage1/step-2');
  // Clear the bar, print the message on its own line, redraw the bar (now showing step 2).
  assert.match(stream.out.slice(before), /^\r\x1b\[2Kcheckpoint saved: runs\/x\/stage1\/step-2\n\r\x1b\[2Ks1 \[#+\.+\] 2\/4 50\.0% │/);
  t = 3000;
  p.update({ step: 4, family: 'cls', loss: 1, lr: 1e-4, tokens: 10 });
  p.finish();
  assert.ok(stream.out.endsWith('\n'));
  for (const d of stream.out.split('\r\x1b[2K')) for (const line of d.split('\n')) assert.ok(line.length <= 79, `line longer than the terminal: ${line}`);
  assert.match(stream.out, /s1 \[#+\] 4\/4 100\.0%/);

  // A narrow terminal drops the rates first and still fits.
  const narrow = new FakeStream(true, 50);
  const q = new TrainingProgress({ total: 1000, label: 'stage2', stream: narrow, now: () => t });
  t += 500;
  q.update({ step: 1, family: 'retrieval', loss: 0.25, lr: 2e-5, tokens: 4096 });
  const shown = narrow.out.split('\r\x1b[2K').pop()!;
  assert.ok(shown.length <= 49, shown);
  assert.ok(!shown.includes('tok/s'), shown);
});

test('formatting helpers', () => {
  assert.deepEqual([5, 65, 3725, 90061, -1].map(formatDuration), ['5s', '1m05s', '1h02m', '1d01h', '?']);
  assert.deepEqual([950, 1234, 12345, 1234567, 98765432].map(formatCount), ['950', '1.23k', '12.3k', '1.23M', '98.8M']);
  assert.deepEqual([0, 3e-5, 0.0015].map(formatLr), ['0', '3.00e-5', '1.50e-3']);
  assert.deepEqual([0.25, 1, 12.4].map(formatStepTime), ['250 ms/step', '1.00 s/step', '12 s/step']);
});
