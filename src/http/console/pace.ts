export interface PaceOptions {
  /** Time between two answers. */
  intervalMs: number;
  /** Attempts that may wait for their turn; more are refused at once. */
  maxWaiting: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sign-in attempts answered at a fixed rate, one per `intervalMs`, in arrival
 * order, whatever they hold: a right, wrong, empty or malformed token waits
 * for its turn the same way, so neither the time of an answer nor how many
 * come per second says anything about the input, and guessing is capped at
 * the pace. Past `maxWaiting` an attempt is refused at once (429): a flood
 * cannot queue work without bound.
 */
export function createPace(o: PaceOptions) {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? wait;
  let nextSlot = 0;
  let waiting = 0;
  return {
    /** Resolves at the attempt's turn with true; false when too many are waiting already. */
    async turn(): Promise<boolean> {
      if (waiting >= o.maxWaiting) return false;
      const t = now();
      const slot = Math.max(t, nextSlot);
      nextSlot = slot + o.intervalMs;
      waiting++;
      try {
        await sleep(slot - t);
      } finally {
        waiting--;
      }
      return true;
    },
    /** Seconds until a new attempt would get its turn (for Retry-After). */
    retryAfterSeconds(): number {
      return Math.max(1, Math.ceil((nextSlot - now()) / 1000));
    },
  };
}
export type Pace = ReturnType<typeof createPace>;
