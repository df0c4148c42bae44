import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket, Semaphore, type Clock } from '../../src/synth/rate-limiter.js';
import { backoffDelay, parseRetryAfter } from '../../src/util/backoff.js';

/** A manual clock: sleeps resolve only when the test advances time. */
class FakeClock implements Clock {
  t = 0;
  private timers: { at: number; resolve: () => void }[] = [];
  now = () => this.t;
  sleep = (ms: number) => new Promise<void>((resolve) => this.timers.push({ at: this.t + ms, resolve }));
  async advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      await flush();
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.t = next.at;
      this.timers.shift()!.resolve();
    }
    this.t = end;
    await flush();
  }
}
async function flush() {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

test('TokenBucket: burst up to capacity, then the refill rate; FIFO order', async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket(60, 3, clock); // 1 token per second, burst 3
  const granted: [number, number][] = [];
  for (let i = 0; i < 6; i++) void bucket.take(1).then(() => granted.push([i, clock.t]));
  await clock.advance(0);
  assert.deepEqual(granted, [[0, 0], [1, 0], [2, 0]]);
  await clock.advance(5000);
  assert.deepEqual(granted, [[0, 0], [1, 0], [2, 0], [3, 1000], [4, 2000], [5, 3000]]);
});

test('TokenBucket: an oversized request passes when the bucket is full; usage corrections move the balance', async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket(600, 100, clock); // 10 tokens/s
  let big = -1;
  void bucket.take(250).then(() => (big = clock.t));
  await clock.advance(0);
  assert.equal(big, 0);
  assert.equal(bucket.available(), -150);
  let small = -1;
  void bucket.take(10).then(() => (small = clock.t));
  await clock.advance(15_999);
  assert.equal(small, -1);
  await clock.advance(1);
  assert.equal(small, 16_000);
  assert.equal(bucket.available(), 0);
  bucket.adjust(50); // the answer used 50 tokens fewer than estimated
  assert.equal(bucket.available(), 50);
  bucket.adjust(-80); // …or 80 more
  assert.equal(bucket.available(), -30);
  bucket.adjust(1000);
  assert.equal(bucket.available(), 100);
});

test('Semaphore caps concurrency and hands slots over in order', async () => {
  const sem = new Semaphore(2);
  const order: string[] = [];
  const r1 = await sem.acquire();
  const r2 = await sem.acquire();
  const p3 = sem.acquire().then((r) => (order.push('3'), r));
  const p4 = sem.acquire().then((r) => (order.push('4'), r));
  await flush();
  assert.equal(sem.inUse, 2);
  assert.deepEqual(order, []);
  r1();
  r1(); // releasing twice is harmless
  await flush();
  assert.deepEqual(order, ['3']);
  r2();
  await flush();
  assert.deepEqual(order, ['3', '4']);
  (await p3)();
  (await p4)();
  assert.equal(sem.inUse, 0);
});

test('parseRetryAfter: seconds, HTTP date, retry-after-ms, garbage', () => {
  const h = (o: Record<string, string>) => new Headers(o);
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(parseRetryAfter(h({ 'retry-after': '3' }), now), 3000);
  assert.equal(parseRetryAfter(h({ 'retry-after': '0.5' }), now), 500);
  assert.equal(parseRetryAfter(h({ 'retry-after': 'Wed, 01 Jan 2025 00:00:07 GMT' }), now), 7000);
  assert.equal(parseRetryAfter(h({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }), now), 0);
  assert.equal(parseRetryAfter(h({ 'retry-after-ms': '250', 'retry-after': '9' }), now), 250);
  assert.equal(parseRetryAfter(h({ 'retry-after': 'soon' }), now), null);
  assert.equal(parseRetryAfter(h({}), now), null);
});

test('backoffDelay: full jitter under min(cap, base·2^retry)', () => {
  assert.equal(backoffDelay(0, 1000, 60_000, () => 0), 0);
  assert.equal(backoffDelay(0, 1000, 60_000, () => 0.5), 500);
  assert.equal(backoffDelay(3, 1000, 60_000, () => 0.5), 4000);
  assert.equal(backoffDelay(20, 1000, 60_000, () => 0.999999), 59_999);
});
