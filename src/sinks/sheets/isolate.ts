
/**
 * Sends the parts of several views in one request. When it is refused for its
 * content (`isRefusal`: Sheets applies a batch whole or not at all, so one bad
 * view fails them all), sends the parts again view by view: the good views go
 * through and only the refused ones are reported to `refuse`. Any other
 * failure (quota, server, permission, a stopped sync) is thrown: it is not
 * about one view.
 */
/** Parts are keyed by `view`: a tab's title (or any name one failure is reported under). */
export async function sendIsolating<T extends { view: string }>(
  parts: readonly T[],
  send: (parts: readonly T[], views: readonly string[]) => Promise<void>,
  isRefusal: (err: unknown) => boolean,
  refuse: (view: string, err: unknown) => void,
): Promise<void> {
  const views = [...new Set(parts.map((p) => p.view))];
  if (views.length === 0) return;
  try {
    await send(parts, views);
    return;
  } catch (err) {
    if (!isRefusal(err)) throw err;
    if (views.length === 1) {
      refuse(views[0]!, err);
      return;
    }
  }
  for (const view of views) {
    try {
      await send(
        parts.filter((p) => p.view === view),
        [view],
      );
    } catch (err) {
      if (!isRefusal(err)) throw err;
      refuse(view, err);
    }
  }
}

/** How a request is named in errors: for one view, the tab (`one` ends with "tab"); for several, `many`. */
export function whatFor(views: readonly string[], many: string, one: string): string {
  return views.length === 1 ? `${one} "${views[0]}"` : many;
}
