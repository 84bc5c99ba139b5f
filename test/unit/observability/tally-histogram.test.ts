/**
 * TallyHistogram prints exactly what prom-client's own Histogram prints for the same
 * observations: bucket edges (a value equal to a bound counts in it), values past the last
 * bound, several label sets, label values that need escaping, and JSON output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { TallyHistogram } from '../../../src/observability/tally-histogram.js';

const BOUNDS = [0.001, 0.005, 0.01, 0.5, 1];

function both(): { ours: TallyHistogram; theirs: Histogram<'upstream' | 'method'>; a: Registry; b: Registry } {
  const a = new Registry();
  const b = new Registry();
  const ours = new TallyHistogram('x_seconds', 'Help with "quotes" and \\ backslash.', ['upstream', 'method'], BOUNDS);
  a.registerMetric(ours.asMetric());
  const theirs = new Histogram({ name: 'x_seconds', help: 'Help with "quotes" and \\ backslash.', labelNames: ['upstream', 'method'], buckets: BOUNDS, registers: [b] });
  return { ours, theirs, a, b };
}

test('the same text and JSON as prom-client for the same observations', async () => {
  const { ours, theirs, a, b } = both();
  const labels: [string, string][] = [
    ['u1', 'tools/call'],
    ['u"2\\\n', 'tools/list'],
  ];
  const values = [0, 0.001, 0.0010001, 0.005, 0.2, 1, 1.5, 99, 0.0004];
  for (const [u, m] of labels) for (const v of values) {
    ours.child(u, m).observe(v);
    theirs.labels(u, m).observe(v);
  }
  assert.equal(await a.metrics(), await b.metrics());
  assert.deepEqual(await a.getMetricsAsJSON(), await b.getMetricsAsJSON());
  a.resetMetrics();
  b.resetMetrics();
  assert.equal(await a.metrics(), await b.metrics());
});

test('any observations: the same text as prom-client (fast-check)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.double({ min: 0, max: 5, noNaN: true })), { maxLength: 60 }), async (obs) => {
      const { ours, theirs, a, b } = both();
      for (const [u, v] of obs) {
        ours.child(u, 'm').observe(v);
        theirs.labels(u, 'm').observe(v);
      }
      assert.equal(await a.metrics(), await b.metrics());
    }),
    { numRuns: 100 },
  );
});
