import { fail, oneLine, pass, type CheckResult } from './check.js';

/** Why a fetch failed, from its cause (connection refused, DNS, TLS). */
function cause(err: unknown): string {
  const c = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (c && typeof c.code === 'string') return typeof c.message === 'string' && c.message.includes(c.code) ? oneLine(c.message, 160) : `${c.code}${typeof c.message === 'string' ? ` (${oneLine(c.message, 120)})` : ''}`;
  if (c && typeof c.message === 'string') return oneLine(c.message, 160);
  return oneLine(err);
}

/**
 * The public base answers as ember-sync from this host: GET <base>/healthz
 * through whatever proxy PUBLIC_URL names. (From this host only: EmberQA's
 * side of a firewall is not seen from here.) No token is sent or printed.
 */
export async function checkPublicUrl(base: string, note: string, timeoutMs = 5000): Promise<CheckResult> {
  const name = 'public URL';
  const url = `${base}/healthz`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual', headers: { 'user-agent': 'ember-sync-doctor' } });
  } catch (err) {
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : cause(err);
    return fail(name, `GET ${url} failed: ${why}${note}`, 'start ember-sync serve (or check that it runs), and that PUBLIC_URL is the address the proxy serves and forwards to it');
  }
  const text = await res.text().catch(() => '');
  if (res.status === 200 && /"status"\s*:\s*"ok"/.test(text)) return pass(name, `${url} answers as ember-sync (200)${note}`);
  if (res.status === 503 && /"status"/.test(text)) return fail(name, `${url} reached ember-sync, but it cannot commit webhooks now (503)${note}`, 'see the server log (a full disk or a locked database) and the database and disk checks here');
  if (res.status >= 300 && res.status < 400) return fail(name, `${url} redirects (${res.status}) to ${res.headers.get('location') ?? '?'}${note}`, 'set PUBLIC_URL to the final address (EmberQA does not follow redirects for a POST), e.g. https:// instead of http://');
  return fail(name, `${url} answered ${res.status}, not ember-sync's health check${note}`, 'check that the proxy forwards every path under PUBLIC_URL to ember-sync (HOST and PORT)');
}
