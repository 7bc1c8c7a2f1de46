import cliProgress from 'cli-progress';
import type { SimulateProgress } from './send.js';

/** Where progress goes (stderr): a terminal gets a bar, anything else (a pipe, a file, a log shipper) lines. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export interface SimulateProgressView {
  update(p: SimulateProgress): void;
  /** A line above the bar, or in the stream of lines. */
  notice(line: string): void;
  stop(): void;
}

export interface ProgressViewOptions {
  /** Bar or lines (default: a bar when the stream is a terminal). */
  tty?: boolean;
  /** Without a terminal: a line at least this often while the run lasts (default 5 s)… */
  everyMs?: number;
  /** …and one at every tenth of the run. */
  steps?: number;
}

const line = (p: SimulateProgress) =>
  `simulate: ${p.done}/${p.total} webhooks (${p.total > 0 ? Math.floor((p.done / p.total) * 100) : 100}%): ${p.accepted} accepted, ${p.failed} failed, ${p.retries} retries\n`;

/** The progress of a simulate run, counted in webhooks. */
export function createSimulateProgress(stream: ProgressStream, total: number, o: ProgressViewOptions = {}): SimulateProgressView {
  let last: SimulateProgress = { done: 0, total, accepted: 0, duplicates: 0, failed: 0, retries: 0 };
  if (o.tty ?? stream.isTTY === true) {
    const bars = new cliProgress.MultiBar(
      {
        format: 'simulate [{bar}] {percentage}% {value}/{total} webhooks | {accepted} accepted, {failed} failed, {retries} retries',
        stream: stream as NodeJS.WritableStream,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    const bar = bars.create(Math.max(total, 1), 0, { accepted: 0, failed: 0, retries: 0 });
    return {
      update(p) {
        bar.update(p.done, { accepted: p.accepted, failed: p.failed, retries: p.retries });
      },
      notice(text) {
        bars.log(`${text}\n`);
      },
      stop() {
        // Notices wait for the next redraw: flush them before the bar goes.
        bars.update();
        bars.stop();
      },
    };
  }

  const everyMs = o.everyMs ?? 5_000;
  const step = Math.max(1, Math.ceil(total / (o.steps ?? 10)));
  let nextStep = step;
  let printedAt = Date.now();
  let printedDone = -1;
  const print = (p: SimulateProgress) => {
    stream.write(line(p));
    printedAt = Date.now();
    printedDone = p.done;
  };
  // While retries wait or a slow server answers, a line still comes every few seconds.
  const timer = setInterval(() => {
    if (Date.now() - printedAt >= everyMs) print(last);
  }, Math.max(10, Math.min(everyMs, 1_000)));
  timer.unref();
  return {
    update(p) {
      last = p;
      if (p.done >= nextStep || (p.done === total && printedDone !== p.done)) {
        while (nextStep <= p.done) nextStep += step;
        print(p);
      } else if (Date.now() - printedAt >= everyMs) print(p);
    },
    notice(text) {
      stream.write(`simulate: ${text}\n`);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
