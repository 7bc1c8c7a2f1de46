/** One line of `ember-sync doctor`: what was checked, whether it passed, and (when not) what to do. */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** Passed, but with a risk worth knowing (shown with ⚠; doctor's exit status is unchanged). */
  warning?: true;
  /** What was found; for a failure or a warning, the problem and then what to do. */
  detail: string;
}

export const pass = (name: string, detail: string): CheckResult => ({ name, ok: true, detail });

/** A failed check always says what to do about it. */
export const fail = (name: string, problem: string, todo: string): CheckResult => ({ name, ok: false, detail: `${problem}. To fix: ${todo}` });

/** Works now, but a setting makes it fragile: passes (exit 0), shown with ⚠ and what to do. */
export const warn = (name: string, risk: string, todo: string): CheckResult => ({ name, ok: true, warning: true, detail: `${risk}. To avoid: ${todo}` });

export function formatCheck(r: CheckResult): string {
  return `${r.ok ? (r.warning ? '⚠' : '✔') : '✘'} ${r.name}: ${r.detail}`;
}

/** An error's message, on one line and bounded (a check line is one line). */
export function oneLine(err: unknown, max = 300): string {
  const text = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export const modeText = (mode: number): string => `0${(mode & 0o777).toString(8)}`;
