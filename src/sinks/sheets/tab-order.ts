import { parseMonthTitle } from './month-tabs.js';
import type { GridGoal } from './plan-grid.js';
import type { SpreadsheetTabs, TabTitle } from './plan-views.js';

/**
 * Where a new tab goes among `titles` (in tab order): a month tab right after
 * its view's previous month (or before its next one, for a month that turns
 * up late), else after the view's single tab from before; anything else at
 * the end.
 */
export function placeOf(title: TabTitle, titles: readonly TabTitle[]): number {
  const me = parseMonthTitle(title);
  if (!me) return titles.length;
  let before = -1;
  let after = -1;
  titles.forEach((t, i) => {
    const p = parseMonthTitle(t);
    if (!p || p.view !== me.view) return;
    if (p.month < me.month && (before < 0 || parseMonthTitle(titles[before]!)!.month < p.month)) before = i;
    if (p.month > me.month && (after < 0 || parseMonthTitle(titles[after]!)!.month > p.month)) after = i;
  });
  if (before >= 0) return before + 1;
  if (after >= 0) return after;
  const single = titles.indexOf(me.view);
  return single >= 0 ? single + 1 : titles.length;
}

/**
 * Sets the index of each new tab's goal, as the structural request applies
 * them in order: after the tabs `dropped` are deleted and the status tab
 * (`statusFirst`) is added first.
 */
export function placeNewTabs(goals: GridGoal[], sheet: SpreadsheetTabs, dropped: readonly TabTitle[], statusFirst: boolean): void {
  const gone = new Set(dropped);
  const titles = [...sheet.tabs.entries()]
    .filter(([t]) => !gone.has(t))
    .sort((a, b) => (a[1].index ?? 0) - (b[1].index ?? 0))
    .map(([t]) => t);
  if (statusFirst) titles.unshift('ember-sync');
  for (const g of goals) {
    if (g.before) continue;
    const at = placeOf(g.view, titles);
    titles.splice(at, 0, g.view);
    g.index = at;
  }
}
