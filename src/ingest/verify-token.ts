import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Constant-time token check. Both sides are hashed first so that the comparison
 * takes the same time whatever the length of what was presented.
 */
export function createTokenCheck(expected: string): (presented: string | undefined) => boolean {
  const want = digest(expected);
  return (presented) => {
    const ok = timingSafeEqual(digest(presented ?? ''), want);
    return ok && presented !== undefined;
  };
}

/** The token of an `Authorization: Bearer <token>` header, if that is what it is. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return m?.[1];
}
