/**
 * The webhook URL holds the secret token: what simulate prints shows where it
 * sends (scheme, host, port, path) but never the secret parts. Whatever follows
 * an `emberqa` path segment, any other segment that looks like a token,
 * credentials and the query are shown as `…`, and the same secrets are cut out
 * of any other text printed about the run (error messages, answers).
 */

/** A path segment that could be a token (16+ characters of WEBHOOK_TOKEN's alphabet). */
const TOKEN_LIKE = /^[A-Za-z0-9._~%-]{16,}$/;
const HIDDEN = '…';

export interface RedactedUrl {
  /** The URL as it may be printed. */
  shown: string;
  /** Removes every secret of the URL from a text. */
  scrub(text: string): string;
}

function decoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function redactUrl(raw: string): RedactedUrl {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { shown: '[an invalid URL]', scrub: (text) => text.split(raw).join('[the URL]') };
  }
  const secrets = new Set<string>();
  const keep = (s: string) => {
    if (s.length >= 4) {
      secrets.add(s);
      secrets.add(decoded(s));
    }
  };
  if (url.username) keep(url.username);
  if (url.password) keep(url.password);
  let afterEmberqa = false;
  const path = url.pathname
    .split('/')
    .map((segment) => {
      if (segment === '') return segment;
      if (afterEmberqa || TOKEN_LIKE.test(segment)) {
        keep(segment);
        return HIDDEN;
      }
      if (segment.toLowerCase() === 'emberqa') afterEmberqa = true;
      return segment;
    })
    .join('/');
  for (const [, value] of url.searchParams) keep(value);
  if (url.hash.length > 1) keep(url.hash.slice(1));
  const shown = `${url.protocol}//${url.host}${path}${url.search ? `?${HIDDEN}` : ''}`;
  const ordered = [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  return {
    shown,
    scrub(text: string): string {
      let out = text;
      for (const s of ordered) if (out.includes(s)) out = out.split(s).join(HIDDEN);
      return out;
    },
  };
}
