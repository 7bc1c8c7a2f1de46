/**
 * A short JSON rendering of an untrusted value for an error message: at most
 * `max` characters, built without recursion (JSON.stringify of a value nested
 * a few thousand deep throws RangeError) and without walking more of the
 * value than it prints.
 */
export function previewJson(value: unknown, max = 80): string {
  let out = '';
  // Work stack of what is left to print: values, or literal text (closing brackets, separators).
  const stack: Array<{ text: string } | { value: unknown }> = [{ value }];
  while (stack.length > 0 && out.length <= max) {
    const item = stack.pop()!;
    if ('text' in item) {
      out += item.text;
      continue;
    }
    const v = item.value;
    if (Array.isArray(v)) {
      out += '[';
      stack.push({ text: ']' });
      // Only as many items as could still fit (each takes at least one character).
      const n = Math.min(v.length, max - out.length + 1);
      for (let i = n - 1; i >= 0; i--) {
        stack.push({ value: v[i] });
        if (i > 0) stack.push({ text: ',' });
      }
    } else if (v !== null && typeof v === 'object') {
      out += '{';
      stack.push({ text: '}' });
      const entries: Array<[string, unknown]> = [];
      for (const k in v) {
        if (!Object.hasOwn(v, k)) continue;
        if (entries.length > max - out.length) break;
        entries.push([k, (v as Record<string, unknown>)[k]]);
      }
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, val] = entries[i]!;
        stack.push({ value: val });
        stack.push({ text: `${quote(k, max)}:` });
        if (i > 0) stack.push({ text: ',' });
      }
    } else if (typeof v === 'string') {
      out += quote(v, max);
    } else if (typeof v === 'number' || typeof v === 'boolean' || v === null) {
      out += String(v);
    } else {
      out += 'null';
    }
  }
  return out.length > max || stack.length > 0 ? `${out.slice(0, Math.max(0, max - 1))}…` : out;
}

/** JSON.stringify of a string, of at most about `max` characters of it. */
function quote(s: string, max: number): string {
  return JSON.stringify(s.length > max ? s.slice(0, max) : s);
}

/** A string cut to `max` characters with a marker saying how long it was. */
export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length} characters)`;
}
