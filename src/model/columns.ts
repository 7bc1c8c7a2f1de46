import type { Cell } from './cells.js';
import { FIXED_COLUMNS, type ColumnViewName, type ViewName } from './views.js';

/**
 * Where a dynamic column's values come from: a score_details key, a workflow
 * output field's value or reasoning, or (contents) a metric's latest score or
 * justification.
 */
export type DynamicKind = 'score_detail' | 'field_value' | 'field_reasoning' | 'metric_score' | 'metric_justification';

/** A column after the fixed ones of a wide view; `position` counts from 0 and never changes. */
export interface DynamicColumn {
  position: number;
  name: string;
  kind: DynamicKind;
  key: string;
}

/** The dynamic columns of every view that has them, by position. */
export type ColumnRegistry = Record<ColumnViewName, DynamicColumn[]>;

/** A payload key that wanted a column, identified by where it came from. */
export interface DynamicKey {
  kind: DynamicKind;
  key: string;
}

export function dynamicKey(kind: DynamicKind, key: string): string {
  return `${kind}\u0000${key}`;
}

/**
 * A wide row's dynamic cells at their columns' positions (dynamicKey →
 * position), null where the event has no value; a key without a column (past
 * MAX_DYNAMIC_COLUMNS) is left out: the long views keep its value.
 */
export function dynamicCells(values: ReadonlyArray<DynamicKey & { value: Cell }>, positionOf: ReadonlyMap<string, number>): Cell[] {
  const dyn: Cell[] = [];
  for (const d of values) {
    const pos = positionOf.get(dynamicKey(d.kind, d.key));
    if (pos === undefined) continue;
    while (dyn.length < pos) dyn.push(null);
    dyn[pos] = d.value;
  }
  return dyn;
}

/** Default of MAX_DYNAMIC_COLUMNS. */
export const DEFAULT_MAX_DYNAMIC_COLUMNS = 500;
/** Google Sheets' widest tab (column ZZZ); no view may pass it, whatever the setting. */
export const MAX_VIEW_COLUMNS = 18_278;

/** Where a dynamic key's column goes when its plain name is taken (see README "Column names"). */
const PREFIX: Record<DynamicKind, string> = {
  score_detail: 'score_details.',
  field_value: 'output_schema.',
  field_reasoning: 'output_schema.',
  metric_score: 'metrics.',
  metric_justification: 'metrics.',
};

function plainName(kind: DynamicKind, key: string): string {
  if (kind === 'field_reasoning') return `${key}_reasoning`;
  if (kind === 'metric_score') return `${key}_score`;
  if (kind === 'metric_justification') return `${key}_justification`;
  return key;
}

/** The two kinds that always come as a pair of columns (a workflow field's, a metric's), or none. */
function pairOf(kind: DynamicKind): readonly [DynamicKind, DynamicKind] | undefined {
  if (kind === 'field_value' || kind === 'field_reasoning') return ['field_value', 'field_reasoning'];
  if (kind === 'metric_score' || kind === 'metric_justification') return ['metric_score', 'metric_justification'];
  return undefined;
}

export interface ColumnPlan {
  /** Columns to append, in the order they are wanted. */
  added: DynamicColumn[];
  /** Keys that wanted a column past the view's cap: they get none (their values stay in the long views). */
  overflow: DynamicKey[];
}

/**
 * Pure: the columns to append for keys not registered yet, in the order they
 * are wanted. The collision rule: a dynamic column is named as its key
 * (`<field>` / `<field>_reasoning` for workflow fields); when that name is
 * already a fixed column or another key's column, it becomes
 * `score_details.<key>` / `output_schema.<field>[_reasoning]`, and if even that
 * is taken, ` (2)`, ` (3)`… is added. A workflow field's two columns move
 * together. A view never holds more than `maxColumns` dynamic columns: keys
 * past that are returned as overflow (a workflow field's pair is added whole
 * or not at all).
 */
export function planNewColumns(view: ColumnViewName, existing: readonly DynamicColumn[], wanted: readonly DynamicKey[], maxColumns = DEFAULT_MAX_DYNAMIC_COLUMNS): ColumnPlan {
  const taken = new Set<string>([...FIXED_COLUMNS[view], ...existing.map((c) => c.name)]);
  const known = new Set(existing.map((c) => dynamicKey(c.kind, c.key)));
  const added: DynamicColumn[] = [];
  const overflow: DynamicKey[] = [];
  const overflowSeen = new Set<string>();
  let position = existing.reduce((max, c) => Math.max(max, c.position + 1), 0);
  let count = existing.length;
  const cap = Math.min(maxColumns, MAX_VIEW_COLUMNS - FIXED_COLUMNS[view].length);

  const add = (kind: DynamicKind, key: string, name: string) => {
    known.add(dynamicKey(kind, key));
    taken.add(name);
    added.push({ position: position++, name, kind, key });
    count++;
  };
  const refuse = (kind: DynamicKind, key: string) => {
    const k = dynamicKey(kind, key);
    if (overflowSeen.has(k)) return;
    overflowSeen.add(k);
    overflow.push({ kind, key });
  };
  const free = (names: string[]) => names.every((n) => !taken.has(n));
  const firstFree = (base: (suffix: string) => string[]): string[] => {
    for (let i = 1; ; i++) {
      const names = base(i === 1 ? '' : ` (${i})`);
      if (free(names) && new Set(names).size === names.length) return names;
    }
  };

  for (const { kind, key } of wanted) {
    if (known.has(dynamicKey(kind, key))) continue;
    if (kind === 'score_detail') {
      if (count + 1 > cap) {
        refuse(kind, key);
        continue;
      }
      const [name] = free([key]) ? [key] : firstFree((s) => [`${PREFIX.score_detail}${key}${s}`]);
      add(kind, key, name!);
      continue;
    }
    // Workflow fields (value, reasoning) and metrics (score, justification): planned as a pair.
    const pair = pairOf(kind)!;
    const want = pair.filter((k) => !known.has(dynamicKey(k, key)));
    if (want.length === 0) continue;
    if (count + want.length > cap) {
      for (const k of want) refuse(k, key);
      continue;
    }
    const plain = want.map((k) => plainName(k, key));
    const names = free(plain) && new Set(plain).size === plain.length ? plain : firstFree((s) => want.map((k) => `${PREFIX[k]}${plainName(k, key)}${s}`));
    want.forEach((k, i) => add(k, key, names[i]!));
  }
  return { added, overflow };
}

/** The full header of a view: fixed columns, then dynamic ones by position. */
export function viewHeader(view: ViewName, dynamic: readonly DynamicColumn[] = []): string[] {
  return [...FIXED_COLUMNS[view], ...[...dynamic].sort((a, b) => a.position - b.position).map((c) => c.name)];
}
