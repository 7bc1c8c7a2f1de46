import cliProgress from 'cli-progress';

/** A progress bar on a terminal (stderr), nothing in pipes or files. */
export function createProgress(label: string, enabled = process.stderr.isTTY === true, unit = 'rows') {
  const stream = process.stderr;
  if (!enabled) return { update: (_done: number, _total: number) => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% {value}/{total} ${unit}`, stream, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done: number, total: number) {
      if (!started) {
        bar.start(Math.max(total, 1), 0);
        started = true;
      }
      bar.setTotal(Math.max(total, done, 1));
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
