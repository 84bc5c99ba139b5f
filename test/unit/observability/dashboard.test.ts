/**
 * The example Grafana dashboard queries only metrics the gateway exports, and charts each of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { METRIC_NAMES } from '../../../src/observability/metrics.js';
import { repoPath } from '../../helpers/gateway.js';

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

const dash = JSON.parse(readFileSync(repoPath('examples/grafana/portcullis-dashboard.json'), 'utf8')) as { panels: Panel[]; templating: { list: { query?: unknown }[] } };
const exported = new Set<string>(METRIC_NAMES);
/** Series names a query may use: the families, plus the histogram series of each. */
const series = new Set<string>([...METRIC_NAMES, ...METRIC_NAMES.flatMap((n) => [`${n}_bucket`, `${n}_sum`, `${n}_count`])]);

function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b(portcullis_[a-z0-9_]+)\b/g)].map((m) => m[1]!);
}

test('every dashboard query references exported metric names only', () => {
  const exprs = [
    ...dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dash.templating.list.map((v) => (typeof v.query === 'object' && v.query !== null ? String((v.query as { query?: string }).query ?? '') : String(v.query ?? ''))),
  ];
  assert.ok(exprs.length > 10);
  for (const e of exprs) for (const m of metricsIn(e)) assert.ok(series.has(m), `unknown metric ${m} in ${e}`);
  // Every query of a panel names at least one metric.
  for (const p of dash.panels) for (const t of p.targets ?? []) assert.ok(metricsIn(t.expr).length > 0, `${p.title}: ${t.expr}`);
});

test('every exported metric is charted', () => {
  const used = new Set(dash.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricsIn(t.expr))).map((m) => m.replace(/_(bucket|sum|count)$/, '')));
  for (const n of exported) assert.ok(used.has(n), `${n} is not on the dashboard`);
});
