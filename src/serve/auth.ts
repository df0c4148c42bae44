// Bearer API-key check. Both sides are hashed first so that the comparison is constant-time whatever
// the presented key's length (timingSafeEqual needs equal lengths, and comparing lengths would leak).
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class ApiKeyCheck {
  private readonly expected: Buffer;
  constructor(apiKey: string) {
    if (apiKey.length === 0) throw new Error('the API key must not be empty');
    this.expected = digest(apiKey);
  }

  /** True when the Authorization header is `Bearer <the key>` (scheme case-insensitive, as RFC 7235). */
  accepts(authorization: string | undefined): boolean {
    const m = /^Bearer[ \t]+(.*?)[ \t]*$/i.exec(authorization ?? '');
    const presented = digest(m ? m[1]! : '');
    // Always compare, so a missing header costs the same as a wrong key.
    return timingSafeEqual(presented, this.expected) && m !== null;
  }
}
