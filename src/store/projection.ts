import { flattenPayload, type FlatEvent, type TypedPayload } from '../flatten/flatten-payload.js';
import { parseJsonObject } from '../ingest/parse-body.js';
import { dynamicKey, planNewColumns, type DynamicColumn } from '../views/column-registry.js';
import { WIDE_VIEWS, type Cell, type WideViewName } from '../views/view-names.js';
import type { StoredEvent } from './event-log.js';
import type { Statement } from 'better-sqlite3';
import type { Db } from './open-db.js';

const WIDE_INSERT: Record<WideViewName, string> = {
  red_flags: 'INSERT INTO red_flag_rows (seq, timestamp, content_id, content_type, file_name, agent_name, red_flag_reason, total_score, dyn) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  low_scores: 'INSERT INTO low_score_rows (seq, timestamp, content_id, content_type, file_name, agent_name, total_score, total_score_threshold, summary, dyn) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  completions: 'INSERT INTO completion_rows (seq, content_id, original_filename, score_uuid, created_time, agent_name, reason_for_call, dyn) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  workflows: 'INSERT INTO workflow_rows (seq, content_id, status, cost, dyn) VALUES (?, ?, ?, ?, ?)',
};

export type ColumnRegistry = Record<WideViewName, DynamicColumn[]>;

/**
 * Turns logged events into view rows. The projector cursor moves in the same
 * transaction as the rows it covers, so rows are never lost nor doubled, and
 * whichever process projects (server or CLI) works from the same state.
 */
export function createProjection(db: Db) {
  const cursor = db.prepare<[], { seq: number }>('SELECT seq FROM projector_state WHERE id = 1').pluck(false);
  const setCursor = db.prepare<[number]>('UPDATE projector_state SET seq = ? WHERE id = 1');
  const eventsAfter = db.prepare<[number, number], StoredEvent>('SELECT seq, webhook_id, type, received_at, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?');
  const loadColumns = db.prepare<[], DynamicColumn & { view: WideViewName }>('SELECT view, position, name, kind, key FROM view_columns ORDER BY view, position');
  const insertColumn = db.prepare<[string, number, string, string, string, number]>('INSERT INTO view_columns (view, position, name, kind, key, added_seq) VALUES (?, ?, ?, ?, ?, ?)');
  const insertWide = Object.fromEntries(WIDE_VIEWS.map((v) => [v, db.prepare<unknown[]>(WIDE_INSERT[v])])) as Record<WideViewName, Statement<unknown[]>>;
  const insertScore = db.prepare('INSERT INTO score_rows (seq, ord, source, content_id, agent_name, metric, score, justification) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const insertField = db.prepare('INSERT INTO workflow_field_rows (seq, ord, content_id, field, value, reasoning) VALUES (?, ?, ?, ?, ?, ?)');
  const lastSeq = db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM events');

  function columns(): ColumnRegistry {
    const reg: ColumnRegistry = { red_flags: [], low_scores: [], completions: [], workflows: [] };
    for (const { view, ...col } of loadColumns.all()) reg[view].push(col);
    return reg;
  }

  /** Column positions by dynamic key, per view; rebuilt only when a view gains columns. */
  type Positions = Map<WideViewName, Map<string, number>>;
  function write(event: StoredEvent, flat: FlatEvent, reg: ColumnRegistry, positions: Positions): void {
    const view = flat.view;
    const added = planNewColumns(view, reg[view], flat.dynamic);
    for (const c of added) insertColumn.run(view, c.position, c.name, c.kind, c.key, event.seq);
    if (added.length) {
      reg[view] = [...reg[view], ...added];
      positions.delete(view);
    }
    let positionOf = positions.get(view);
    if (!positionOf) {
      positionOf = new Map(reg[view].map((c) => [dynamicKey(c.kind, c.key), c.position]));
      positions.set(view, positionOf);
    }
    const dyn: Cell[] = [];
    for (const d of flat.dynamic) {
      const pos = positionOf.get(dynamicKey(d.kind, d.key))!;
      while (dyn.length < pos) dyn.push(null);
      dyn[pos] = d.value;
    }
    insertWide[view].run([event.seq, ...flat.fixed, JSON.stringify(dyn)]);
    flat.scores.forEach((s, i) => insertScore.run(event.seq, i, view, flat.contentId, flat.agentName, s.metric, s.score, s.justification));
    flat.fields.forEach((f, i) => insertField.run(event.seq, i, flat.contentId, f.field, f.value, f.reasoning));
  }

  /** Projects up to `limit` events past the cursor in one transaction; returns how many. */
  const projectBatch = db.transaction((limit: number): number => {
    const from = cursor.get()!.seq;
    const events = eventsAfter.all(from, limit);
    if (events.length === 0) return 0;
    const reg = columns();
    const positions: Positions = new Map();
    for (const event of events) {
      // The log only holds payloads that passed this type's schema at ingest.
      const payload = parseJsonObject(event.body) as TypedPayload['payload'];
      write(event, flattenPayload({ type: event.type, payload } as TypedPayload), reg, positions);
    }
    setCursor.run(events.at(-1)!.seq);
    return events.length;
  });

  const wipe = db.transaction(() => {
    for (const t of ['red_flag_rows', 'low_score_rows', 'completion_rows', 'workflow_rows', 'score_rows', 'workflow_field_rows']) {
      db.prepare(`DELETE FROM ${t}`).run();
    }
    setCursor.run(0);
  });

  return {
    columns,
    cursor: () => cursor.get()!.seq,
    /** How many logged events are not projected yet. */
    lag: () => (lastSeq.get()!.seq ?? 0) - cursor.get()!.seq,
    projectBatch: (limit: number) => projectBatch.immediate(limit),
    /** Projects everything that is pending, in chunks that keep each write lock short. */
    catchUp(chunk = 500): number {
      let total = 0;
      for (let n = projectBatch.immediate(chunk); n > 0; n = projectBatch.immediate(chunk)) total += n;
      return total;
    },
    /**
     * Derived rows are disposable: drop them and project the whole log again.
     * The column registry is kept (it is a contract with the targets) and only grows.
     */
    rebuild(chunk = 500): number {
      wipe.immediate();
      return this.catchUp(chunk);
    },
  };
}
export type Projection = ReturnType<typeof createProjection>;
