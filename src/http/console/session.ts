import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import type { ConsoleStore } from '../../store/store.js';

export interface ConsoleAuthOptions {
  sessions: ConsoleStore['sessions'];
  /** Derived from ADMIN_TOKEN: a new admin token ends every session and changes every CSRF token. */
  sessionKey: Buffer;
  /** PUBLIC_URL: its origin is where the console's forms come from, and https makes the cookie Secure. */
  publicUrl: string;
  /** How long a sign-in lasts. */
  ttlMs?: number;
  now?: () => Date;
}

export interface ConsoleSession {
  /** The database key of the session (an HMAC of the cookie's id). */
  key: string;
  /** The token every console form carries (derived from the session id). */
  csrf: string;
}

const TWELVE_HOURS = 12 * 3600 * 1000;
/** Browsers keep a cookie at most 400 days (RFC 6265bis); the known-browser mark lasts that long. */
const KNOWN_MAX_AGE_S = 400 * 86_400;

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function sameSecret(a: string, b: string | undefined): boolean {
  if (b === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Console sign-in: a random session id in a cookie that is HttpOnly,
 * SameSite=Strict and (with an https PUBLIC_URL) Secure under the `__Host-`
 * prefix; the database keeps only an HMAC of it. POSTs are accepted only from
 * the console's own origin (Sec-Fetch-Site / Origin) and with the session's
 * CSRF token, so a page on another site can neither ride the cookie nor
 * sign the browser in to a session of its choosing.
 */
export function createConsoleAuth(o: ConsoleAuthOptions) {
  const now = o.now ?? (() => new Date());
  const ttlMs = o.ttlMs ?? TWELVE_HOURS;
  const publicOrigin = new URL(o.publicUrl).origin;
  const secure = publicOrigin.startsWith('https:');
  // The __Host- prefix makes browsers refuse the cookie unless it is Secure, for path / and this host only.
  const name = secure ? '__Host-ember_console' : 'ember_console';
  const mac = (label: string, id: string) => createHmac('sha256', o.sessionKey).update(`${label}:${id}`).digest('base64url');
  const sessionOf = (id: string): ConsoleSession => ({ key: mac('session', id), csrf: mac('csrf', id) });
  // A browser that signed in before: its sign-in attempts go first (pace.ts), so a flood of guesses cannot lock the operator out.
  const knownName = secure ? '__Host-ember_console_known' : 'ember_console_known';
  const attributes = (maxAgeSeconds: number) => `Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;

  return {
    cookieName: name,
    /** Starts a session and sets its cookie. */
    async signIn(ctx: Context): Promise<ConsoleSession> {
      const id = randomBytes(32).toString('base64url');
      const session = sessionOf(id);
      const at = now();
      await o.sessions.create(session.key, new Date(at.getTime() + ttlMs), at);
      ctx.append('Set-Cookie', `${name}=${id}; ${attributes(Math.floor(ttlMs / 1000))}`);
      // Only the admin token gets this mark (an HMAC keyed by it): it opens nothing, it only goes first in the sign-in queue.
      const mark = randomBytes(16).toString('base64url');
      ctx.append('Set-Cookie', `${knownName}=${mark}.${mac('known', mark)}; ${attributes(KNOWN_MAX_AGE_S)}`);
      return session;
    },
    /** The request's live session, if its cookie names one. */
    async current(ctx: Context): Promise<ConsoleSession | undefined> {
      const id = cookieValue(ctx.get('cookie') || undefined, name);
      if (id === undefined || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
      const session = sessionOf(id);
      return (await o.sessions.find(session.key, now())) ? session : undefined;
    },
    /** True when the request carries the mark of a browser that signed in before with this admin token. */
    knownBrowser(ctx: Context): boolean {
      const value = cookieValue(ctx.get('cookie') || undefined, knownName);
      const m = value === undefined ? null : /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/.exec(value);
      return m !== null && sameSecret(mac('known', m[1]!), m[2]);
    },
    /** Ends the session (if any) and clears the cookie. */
    async signOut(ctx: Context, session: ConsoleSession | undefined): Promise<void> {
      if (session) await o.sessions.delete(session.key);
      ctx.append('Set-Cookie', `${name}=; ${attributes(0)}`);
    },
    csrfMatches: (session: ConsoleSession, presented: string | undefined): boolean => sameSecret(session.csrf, presented),
    /**
     * With an https PUBLIC_URL the cookie is Secure: a browser on a plain-http page keeps it only on a
     * loopback address (which browsers count as secure). Elsewhere the sign-in would "work" and the
     * next page would ask again, with no word why: the address to use instead, or undefined when fine.
     */
    insecureOrigin(ctx: Context): string | undefined {
      if (!secure) return undefined;
      let origin: URL;
      try {
        origin = new URL(ctx.get('origin'));
      } catch {
        return undefined;
      }
      const host = origin.hostname.replace(/^\[|\]$/g, '');
      const loopback = host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1';
      return origin.protocol === 'http:' && !loopback ? `${o.publicUrl.replace(/\/+$/, '')}/` : undefined;
    },
    /**
     * True unless the browser says the request comes from another origin.
     * Browsers send Sec-Fetch-Site and Origin on POSTs; a client that sends
     * neither (curl) still needs the session cookie and the CSRF token.
     */
    sameOrigin(ctx: Context): boolean {
      const site = ctx.get('sec-fetch-site');
      if (site !== '' && site !== 'same-origin' && site !== 'none') return false;
      const origin = ctx.get('origin');
      if (origin === '') return true;
      // Direct access (http://127.0.0.1:3000) or through the proxy that PUBLIC_URL names.
      return origin === publicOrigin || origin === `${ctx.protocol}://${ctx.host}`;
    },
  };
}
export type ConsoleAuth = ReturnType<typeof createConsoleAuth>;
