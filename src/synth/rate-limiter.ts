// Client-side admission control for LLM requests: a concurrency limit and token buckets for
// requests/min and tokens/min. Waiters are served first-in first-out so a large request is not
// starved by a stream of small ones.

/** Time source, injectable so tests can drive the limiters without real waiting. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

/**
 * A token bucket refilled continuously at `perMinute / 60000` tokens per millisecond, holding at most
 * `capacity` tokens. `take(n)` waits until n tokens are available; a request larger than the
 * capacity is let through when the bucket is full (the balance then goes negative and later
 * requests wait for it to recover), so it cannot deadlock.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;
  private readonly queue: { n: number; resolve: () => void }[] = [];
  private pumping = false;

  constructor(readonly perMinute: number, readonly capacity: number, private readonly clock: Clock = systemClock) {
    if (!(perMinute > 0)) throw new RangeError(`rate must be positive, got ${perMinute}`);
    if (!(capacity > 0)) throw new RangeError(`capacity must be positive, got ${capacity}`);
    this.perMs = perMinute / 60_000;
    this.tokens = capacity;
    this.last = clock.now();
  }

  /** Tokens available now (may be negative after an oversized request or a usage correction). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  take(n: number): Promise<void> {
    return new Promise((resolve) => {
      this.queue.push({ n, resolve });
      void this.pump();
    });
  }

  /** Returns (positive) or charges (negative) tokens after the fact, e.g. estimate − actual usage. */
  adjust(delta: number): void {
    this.refill();
    this.tokens = Math.min(this.capacity, this.tokens + delta);
  }

  private refill(): void {
    const now = this.clock.now();
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.perMs);
      this.last = now;
    }
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        this.refill();
        const head = this.queue[0]!;
        const need = Math.min(head.n, this.capacity);
        if (this.tokens >= need) {
          this.tokens -= head.n;
          this.queue.shift();
          head.resolve();
          continue;
        }
        await this.clock.sleep(Math.max(1, Math.ceil((need - this.tokens) / this.perMs)));
      }
    } finally {
      this.pumping = false;
    }
  }
}

/** Limits how many operations run at once. */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`concurrency must be at least 1, got ${limit}`);
  }

  get inUse(): number {
    return this.active;
  }

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
    else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next(); // hand the slot over without decrementing
      else this.active--;
    };
  }
}
