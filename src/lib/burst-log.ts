/**
 * Logs the first of a burst of identical failures at once, then counts the
 * rest and logs one summary line when the burst is over. A full disk makes
 * every webhook fail: one line per failure would fill what is left of it.
 */
export function createBurstLog(write: (fields: Record<string, unknown>, message: string) => void, options: { windowMs?: number } = {}) {
  const windowMs = options.windowMs ?? 10_000;
  const open = new Map<string, { count: number; fields: Record<string, unknown>; message: string; timer: NodeJS.Timeout }>();

  function close(key: string): void {
    const burst = open.get(key);
    if (!burst) return;
    clearTimeout(burst.timer);
    open.delete(key);
    if (burst.count > 0) write({ ...burst.fields, repeated: burst.count, window_ms: windowMs }, `${burst.message} (${burst.count} more times in the last ${Math.round(windowMs / 1000)} s)`);
  }

  return {
    /** One failure of kind `key`: logged now if it starts a burst, else counted. */
    report(key: string, fields: Record<string, unknown>, message: string): void {
      const burst = open.get(key);
      if (burst) {
        burst.count++;
        burst.fields = fields;
        return;
      }
      write(fields, message);
      const timer = setTimeout(() => close(key), windowMs);
      timer.unref();
      open.set(key, { count: 0, fields, message, timer });
    },
    /** Writes the pending summaries (shutdown). */
    flush(): void {
      for (const key of [...open.keys()]) close(key);
    },
  };
}
export type BurstLog = ReturnType<typeof createBurstLog>;
