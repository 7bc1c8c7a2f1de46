import { timingSafeEqual } from 'node:crypto';

/**
 * Constant-time token check: the time taken does not depend on how much of
 * the presented token is right. (Only its length can be told apart, and token
 * lengths are not secret: generated ones are always 43 characters.)
 */
export function createTokenCheck(expected: string): (presented: string | undefined) => boolean {
  const want = Buffer.from(expected, 'utf8');
  return (presented) => {
    if (presented === undefined) return false;
    const got = Buffer.from(presented, 'utf8');
    if (got.length !== want.length) {
      // Same work as a real comparison, then no.
      timingSafeEqual(want, want);
      return false;
    }
    return timingSafeEqual(got, want);
  };
}

/** The token of an `Authorization: Bearer <token>` header, if that is what it is. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return m?.[1];
}
