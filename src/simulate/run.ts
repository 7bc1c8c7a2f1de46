import { createSimulateProgress, type ProgressStream, type ProgressViewOptions } from './progress.js';
import { simulate, type SimulateOptions, type SimulateResult } from './send.js';

export interface RunSimulationOptions extends Omit<SimulateOptions, 'onProgress' | 'onNotice'> {
  /** The summary goes here. */
  stdout: { write(chunk: string): unknown };
  /** Progress (a bar on a terminal, lines otherwise) and notices go here. */
  stderr: ProgressStream;
  progress?: ProgressViewOptions;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The summary of a run, counted in webhooks; the token never appears. */
export function formatSummary(r: SimulateResult, seed: number | undefined): string {
  const head = r.sent === r.total ? `sent ${r.sent} webhooks` : `sent ${r.sent} of ${r.total} webhooks`;
  const lines = [`${head}: ${r.accepted} accepted (${r.duplicates} duplicates), ${r.failed} failed, ${r.retries} retries${r.stopped !== undefined ? `; stopped, ${r.total - r.sent} not sent` : ''}`];
  lines.push(`  ${plural(r.calls, 'call completion')}, ${plural(r.alerts, 'alert')} before them, ${plural(r.rescores, 're-score')}, ${plural(r.workflows, 'workflow completion')}; to ${r.shownUrl}${seed !== undefined ? `; seed ${seed}` : ''}`);
  for (const f of r.failures) lines.push(`  ${f}`);
  if (r.failed > r.failures.length) lines.push(`  … and ${r.failed - r.failures.length} more failures`);
  if (r.stopped !== undefined) lines.push(`stopped: ${r.stopped}`);
  return `${lines.join('\n')}\n`;
}

/** A simulate run as the CLI shows it: progress on stderr, the summary on stdout. */
export async function runSimulation(o: RunSimulationOptions): Promise<SimulateResult> {
  const { stdout, stderr, progress: progressOptions, ...options } = o;
  const progress = createSimulateProgress(stderr, o.count, progressOptions);
  let result: SimulateResult;
  try {
    result = await simulate({ ...options, onProgress: (p) => progress.update(p), onNotice: (line) => progress.notice(line) });
  } finally {
    progress.stop();
  }
  stdout.write(formatSummary(result, o.seed));
  return result;
}
