import type { ContentState, MetricState } from '../flatten/merge-content.js';
import type { Cell } from '../model/cells.js';

/*
 * The state one batch of the keyed projection keeps, the same for both
 * backends (keyed-projection.ts on SQLite, pg/pg-keyed-projection.ts): its
 * contents, metrics and daily groups in classes of fixed shape, merged in
 * place (keyed-merge.ts), each content and metric holding its daily group (no key strings
 * built per event): a rebuild goes through millions of them.
 */

/** A content as loaded for one batch: its state, its metrics, and what the batch changed. */
export class LoadedContent {
  /** Its month (set when the batch is flushed). */
  part = '';
  /** The day of its state (scored_at in the zone), and its daily group then (undefined: a closed day). */
  day = '';
  group: AgentGroup | undefined = undefined;
  constructor(
    readonly rid: number,
    /** Its month and place there as stored (undefined: new in this batch). */
    readonly partAtLoad: string | undefined,
    public partPos: number,
    public state: ContentState | undefined,
    /** Its state when the batch loaded it (undefined: new in this batch): the daily rows hold that contribution. */
    readonly atLoad: ContentState | undefined,
    readonly metrics: Map<string, LoadedMetric>,
    public changedSeq: number,
    public dirty: boolean,
  ) {}
}

export class LoadedMetric implements MetricState {
  /** Its content's month (set when the batch is flushed, for a metric new in it). */
  part = '';
  /** The daily group it last entered in this batch. */
  group: MetricGroup | undefined = undefined;
  constructor(
    readonly metric: string,
    public score: Cell,
    public justification: Cell,
    public updated_at: string,
    readonly rid: number,
    /** Its place in its content's month as stored (0: new in this batch). */
    public partPos: number,
    public changedSeq: number,
    public dirty: boolean,
    /** The score the daily rows hold for it (undefined: the metric is new in this batch). */
    readonly scoreAtLoad: Cell | undefined,
    readonly existedAtLoad: boolean,
  ) {}
}

/** What a batch keeps of a daily group it touched: whether its row exists, the event that last moved it, its net change. */
abstract class DailyGroup {
  /** Its row exists (stored, or a content entered or left it in this batch). */
  known = false;
  /**
   * The event that created its row in this batch (0: not created here).
   * PostgreSQL creates new rows at the end of the batch with the changed_seq
   * SQLite gives them the moment they appear; SQLite leaves it 0.
   */
  createdSeq = 0;
  /** The latest event that moved it (0: none). */
  seq = 0;
  /** Listed among the batch's net changes. */
  inDelta = false;
  contents = 0;
  /** Sum (millionths) and count of the numbers averaged. */
  sum = 0;
  n = 0;
}

/** A daily group (day, agent). */
export class AgentGroup extends DailyGroup {
  completed = 0;
  red_flags = 0;
  low_scores = 0;
  readonly metrics = new Map<string, MetricGroup>();
  constructor(
    readonly day: string,
    readonly agent: string,
  ) {
    super();
  }
}

/** A daily group (day, agent, metric). */
export class MetricGroup extends DailyGroup {
  /** Scores that joined the group (min/max move towards them). */
  readonly added: number[] = [];
  /** A score left the group: its min/max are read again from the rows. */
  readonly removed: number[] = [];
  constructor(
    readonly parent: AgentGroup,
    readonly metric: string,
  ) {
    super();
  }
}

/**
 * A number as exact millionths, so that sums kept by adding and subtracting
 * never drift and a rebuild in other batch sizes gives the same averages.
 * Scores have a few decimals at most; finer digits are rounded.
 */
export const micro = (v: number) => Math.round(v * 1_000_000);
/** Past this, millionths are no longer exact integers (2^53): such a number is no score and is not averaged. */
export const MAX_AVERAGED = 1e9;
export const numeric = (c: Cell): number | undefined => (typeof c === 'number' && Math.abs(c) <= MAX_AVERAGED ? c : undefined);

/** dyn[i] = v, the cells before it null where nothing is yet (a JSON array without holes). */
export function setCell(dyn: Cell[], i: number, v: Cell): void {
  while (dyn.length < i) dyn.push(null);
  dyn[i] = v;
}
