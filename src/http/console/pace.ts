export interface PaceOptions {
  /** Time between two answers (for the whole server). */
  intervalMs: number;
  /** Attempts from unknown browsers that may wait for their turn; more are refused at once. */
  maxWaiting: number;
  /** Of those, how many one client address may hold (a flood from one address leaves the rest to others). */
  perClient?: number;
  /** Attempts from browsers that signed in before (see session.ts: knownBrowser) that may wait. */
  maxKnownWaiting?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface TurnOptions {
  /** Who asks (the peer address, IPv6 by its /64): waiting attempts are served in turn per client. */
  client?: string;
  /** A browser that signed in with the admin token before: served before the others. */
  known?: boolean;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sign-in attempts answered at a fixed rate, one per `intervalMs` for the
 * whole server, whatever they hold: a right, wrong, empty or malformed token
 * waits for its turn the same way, so neither the time of an answer nor how
 * many come per second says anything about the input, and guessing is capped
 * at the pace. Waiting is bounded (past it an attempt is refused at once with
 * 429), and fair, so that a flood cannot lock the operator out:
 * - a browser that signed in before (a cookie only the admin token gets) goes
 *   first, in its own small queue;
 * - the other attempts are served one client address after another, each
 *   address holding at most `perClient` places: a flood from one address
 *   fills its own places, not everybody's.
 */
export function createPace(o: PaceOptions) {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? wait;
  const perClient = o.perClient ?? 2;
  const maxKnown = o.maxKnownWaiting ?? 4;
  const known: Array<() => void> = [];
  /** Waiting attempts per client; Map order is the round-robin order. */
  const clients = new Map<string, Array<() => void>>();
  let waiting = 0;
  let lastServed = Number.NEGATIVE_INFINITY;
  let pumping = false;

  function take(): (() => void) | undefined {
    const first = known.shift();
    if (first) return first;
    const next = clients.entries().next();
    if (next.done) return undefined;
    const [client, queue] = next.value;
    const w = queue.shift();
    clients.delete(client);
    // The client goes to the back of the line when it has more waiting.
    if (queue.length > 0) clients.set(client, queue);
    waiting--;
    return w;
  }

  function pump(): void {
    if (pumping || (known.length === 0 && waiting === 0)) return;
    pumping = true;
    const delay = Math.max(0, lastServed + o.intervalMs - now());
    void sleep(delay).then(() => {
      pumping = false;
      const w = take();
      if (w) {
        lastServed = now();
        w();
      }
      pump();
    });
  }

  return {
    /** Resolves at the attempt's turn with true; false (at once) when its queue is full. */
    turn(options: TurnOptions = {}): Promise<boolean> {
      return new Promise<boolean>((resolve) => {
        const go = () => resolve(true);
        if (options.known) {
          if (known.length >= maxKnown) return resolve(false);
          known.push(go);
        } else {
          const client = options.client ?? '';
          const queue = clients.get(client) ?? [];
          if (waiting >= o.maxWaiting || queue.length >= perClient) return resolve(false);
          queue.push(go);
          clients.set(client, queue);
          waiting++;
        }
        pump();
      });
    },
    /** Seconds until a new attempt would get its turn (for Retry-After). */
    retryAfterSeconds(): number {
      const ahead = known.length + waiting;
      const at = Math.max(now(), lastServed + o.intervalMs) + ahead * o.intervalMs;
      return Math.max(1, Math.ceil((at - now()) / 1000));
    },
    /** Attempts waiting now (tests, metrics). */
    waiting: (): number => known.length + waiting,
  };
}
export type Pace = ReturnType<typeof createPace>;

/**
 * The client an attempt is counted for: its peer address, an IPv6 address by
 * its /64 (one host usually holds a whole /64). Behind a proxy every attempt
 * comes from the proxy: then only the known-browser lane tells the operator
 * apart from a flood.
 */
export function clientOf(address: string | undefined): string {
  const ip = (address ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (!ip.includes(':')) return ip;
  const [head = '', tail] = ip.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
