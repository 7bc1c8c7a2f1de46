import { PUBLIC_URL_FIX, unreachableHost } from '../store/status.js';
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
  if (res.status === 200 && /"status"\s*:\s*"ok"/.test(text)) {
    // Many services answer {"status":"ok"} at /healthz: ember-sync is the one that also owns the webhook path, and EmberQA needs that one forwarded.
    const hook = await probeWebhookPath(base, timeoutMs);
    if (hook.ok) return pass(name, `${url} answers as ember-sync (200), and so does ${base}${WEBHOOK_PROBE_PATH}${note}`);
    return fail(name, `${url} answers 200, but ${base}${WEBHOOK_PROBE_PATH} ${hook.got}, not as ember-sync: another service answers there, or the proxy does not forward the webhook path${note}`, 'forward every path under PUBLIC_URL (at least /webhooks/emberqa/ and /healthz) to ember-sync (HOST and PORT)');
  }
  if (res.status === 503 && /store_unavailable/.test(text)) return fail(name, `${url} reached ember-sync, but it cannot commit webhooks now (503)${note}`, 'see the server log (a full disk or a locked database) and the database and disk checks here');
  if (res.status >= 300 && res.status < 400) return fail(name, `${url} redirects (${res.status}) to ${res.headers.get('location') ?? '?'}${note}`, 'set PUBLIC_URL to the final address (EmberQA does not follow redirects for a POST), e.g. https:// instead of http://');
  return fail(name, `${url} answered ${res.status}, not ember-sync's health check${note}`, 'check that the proxy forwards every path under PUBLIC_URL to ember-sync (HOST and PORT)');
}

/**
 * Answering from this host is not enough: EmberQA is a hosted service, and a
 * loopback or every-interface address (the default PUBLIC_URL of a fresh
 * install) never reaches this server. A passing probe of such a base fails;
 * a private address passes with a note (EmberQA may send from a VPN).
 */
export function reachableFromEmberQa(result: CheckResult, base: string): CheckResult {
  const away = unreachableHost(base);
  if (!result.ok || !away) return result;
  if (away.kind === 'private') return { ...result, detail: `${result.detail}; note: ${away.problem}, unless it sends from inside this network` };
  return fail(result.name, `${result.detail.replace(/ \(200\), and so does \S+/, ' from this host')}, but ${away.problem}`, PUBLIC_URL_FIX);
}

/**
 * Under the webhook path, as EmberQA's URL is (a proxy rule for `/webhooks/emberqa/` matches it), with a
 * made-up token: nothing is sent that could be stored or leaked. ember-sync answers a GET there with 405 and
 * its own JSON error (`allowed: POST`).
 */
const WEBHOOK_PROBE_PATH = '/webhooks/emberqa/doctor-probe';

async function probeWebhookPath(base: string, timeoutMs: number): Promise<{ ok: true } | { ok: false; got: string }> {
  try {
    const res = await fetch(`${base}${WEBHOOK_PROBE_PATH}`, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual', headers: { 'user-agent': 'ember-sync-doctor' } });
    const text = await res.text().catch(() => '');
    if (res.status === 405 && /"code"\s*:\s*"method_not_allowed"/.test(text)) return { ok: true };
    return { ok: false, got: `answered ${res.status}` };
  } catch (err) {
    return { ok: false, got: `failed (${(err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : cause(err)})` };
  }
}
