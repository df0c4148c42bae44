// Retry timing: exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff
// and Jitter"), and the server's own Retry-After / retry-after-ms when it sends one.

/**
 * Delay before retry number `retry` (0 for the first retry): uniform in [0, min(cap, base·2^retry)).
 * Full jitter spreads simultaneous clients apart better than equal or decorrelated jitter.
 */
export function backoffDelay(retry: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/**
 * The wait a response asks for, in milliseconds, or null when it gives none:
 * `retry-after-ms` (OpenAI), else `Retry-After` as delta-seconds (decimals accepted) or an HTTP-date.
 */
export function parseRetryAfter(headers: { get(name: string): string | null }, now: number = Date.now()): number | null {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Math.ceil(Number(ms));
  const value = headers.get('retry-after');
  if (value === null || value.trim() === '') return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v) * 1000);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}
