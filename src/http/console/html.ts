/**
 * HTML built from templates that escape every interpolated value unless it is
 * already Html: page text comes from payloads (errors, webhook ids), so
 * escaping is the default and only this module writes raw markup.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type HtmlPart = Html | string | number | null | undefined | false | readonly HtmlPart[];

// U+0000 is a parse error in HTML (browsers show U+FFFD): written as the replacement character it would become.
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '\u0000': '\ufffd' };
export const escapeHtml = (text: string): string => text.replace(/[&<>"'\u0000]/g, (c) => ESCAPES[c]!);

function render(part: HtmlPart): string {
  if (part instanceof Html) return part.text;
  if (part === null || part === undefined || part === false) return '';
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
}

export function html(strings: TemplateStringsArray, ...values: HtmlPart[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/**
 * JSON for a `<script type="application/json">` block: `<`, `>`, `&` and the
 * line separators are escaped, so no value can close the block (`</script>`).
 */
export function jsonBlock(value: unknown): Html {
  const json = JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return new Html(json);
}
