/**
 * GatewayMetrics on its own: bounded labels (tenant cap, `_other` methods, error-table outcomes),
 * tallies handed to prom-client at scrape time, and a registry of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'prom-client';
import { GatewayMetrics, LabelCap, OTHER, outcomeOfError, type CallFacts } from '../../../src/observability/metrics.js';
import { GatewayError } from '../../../src/pipeline/errors.js';

const facts = (o: Partial<CallFacts> = {}): CallFacts => ({
  tenant: 't',
  virtualServer: 'default',
  upstream: 'mock',
  tool: 'mock__echo',
  method: 'tools/call',
  outcome: 'ok',
  gatewaySeconds: 0.0002,
  upstreamSeconds: 0.01,
  ...o,
});

test('LabelCap keeps the first N values and maps later ones to _other', () => {
  const c = new LabelCap(2);
  assert.equal(c.of('a'), 'a');
  assert.equal(c.of('b'), 'b');
  assert.equal(c.of('c'), OTHER);
  assert.equal(c.of('a'), 'a');
});

test('tenants beyond the cap collapse; unknown methods collapse; counts add up', async () => {
  const m = new GatewayMetrics({ maxTenants: 3 });
  for (let i = 0; i < 50; i++) m.call(facts({ tenant: `tenant-${i}` }));
  m.call(facts({ method: 'evil/' + 'x'.repeat(100), tool: '' }));
  const text = (await m.expose()).body;
  const tenants = new Set([...text.matchAll(/portcullis_calls_total\{tenant="([^"]+)"/g)].map((x) => x[1]));
  assert.deepEqual([...tenants].sort(), ['_other', 'tenant-0', 'tenant-1', 'tenant-2']);
  assert.match(text, /portcullis_calls_total\{tenant="_other",[^}]*method="tools\/call",outcome="ok"\} 47/);
  assert.match(text, /method="_other"/);
  assert.doesNotMatch(text, /evil/);
  assert.match(text, /portcullis_upstream_seconds_count\{upstream="mock",method="tools\/call"\} 50/);
  // A scrape twice does not double the tallies.
  assert.equal((await m.expose()).body, text);
});

test('denials are counted by code; outcomes come from the error table only', async () => {
  const m = new GatewayMetrics({ maxTenants: 10 });
  m.call(facts({ outcome: 'ERR_RATE_LIMITED', upstreamSeconds: undefined }));
  m.call(facts({ outcome: 'ERR_POLICY_DENIED', upstreamSeconds: undefined }));
  m.call(facts({ outcome: 'upstream_error' }));
  const text = (await m.expose()).body;
  assert.match(text, /portcullis_denials_total\{tenant="t",code="ERR_RATE_LIMITED"\} 1/);
  assert.match(text, /portcullis_denials_total\{tenant="t",code="ERR_POLICY_DENIED"\} 1/);
  assert.doesNotMatch(text, /code="upstream_error"/);
  assert.equal(outcomeOfError(new GatewayError('ERR_RATE_LIMITED').toRpcError()), 'ERR_RATE_LIMITED');
  // What an upstream answered is its own error, whatever its data claims.
  for (const portcullis of ['ERR_RATE_LIMITED', 'ERR_POLICY_DENIED', 'ERR_MADE_UP', '__proto__']) {
    assert.equal(outcomeOfError({ code: -31001, message: 'x', data: { portcullis } }), 'upstream_error', portcullis);
  }
  assert.equal(outcomeOfError({ code: -32000, message: 'x' }), 'upstream_error');
});

test('auth reasons are capped and the global registry is untouched', async () => {
  const m = new GatewayMetrics({ maxTenants: 10 });
  for (let i = 0; i < 100; i++) m.authFailed(`reason-${i}`);
  m.authSucceeded('oauth');
  const text = (await m.expose()).body;
  const reasons = new Set([...text.matchAll(/result="failure",method="",reason="([^"]+)"/g)].map((x) => x[1]));
  assert.ok(reasons.size <= 65);
  assert.ok(reasons.has('_other'));
  assert.match(text, /portcullis_auth_total\{result="success",method="oauth",reason=""\} 1/);
  assert.equal((await register.metrics()).includes('portcullis_'), false);
});

test('state gauges read the gateway at scrape time; restarts never decrease', async () => {
  let restarts = 2;
  let breaker: 'closed' | 'open' | 'half-open' = 'open';
  const m = new GatewayMetrics({
    maxTenants: 10,
    state: { upstreams: () => [{ name: 'u', kind: 'stdio', health: 'healthy', breaker, links: { live: 3, restarts } }], sessions: () => 7 },
  });
  let text = (await m.expose()).body;
  assert.match(text, /portcullis_upstream_circuit_state\{upstream="u"\} 2/);
  assert.match(text, /portcullis_upstream_links\{upstream="u",kind="stdio"\} 3/);
  assert.match(text, /portcullis_upstream_restarts_total\{upstream="u"\} 2/);
  assert.match(text, /portcullis_sessions_open 7/);
  breaker = 'half-open';
  restarts = 0; // a supervisor retired: its restarts are gone, the counter is not
  text = (await m.expose()).body;
  assert.match(text, /portcullis_upstream_circuit_state\{upstream="u"\} 1/);
  assert.match(text, /portcullis_upstream_restarts_total\{upstream="u"\} 2/);
  restarts = 1;
  text = (await m.expose()).body;
  assert.match(text, /portcullis_upstream_restarts_total\{upstream="u"\} 3/);
});

test('a throwing audit stats callback leaves the scrape working', async () => {
  const m = new GatewayMetrics({ maxTenants: 10 });
  m.registerAuditGauges(() => {
    throw new Error('boom');
  });
  assert.match((await m.expose()).body, /# TYPE portcullis_audit_lag_seconds gauge/);
});

test('audit gauge source: checkpoint age from the service, lag (max) and backlog (per sink) from the sink rows', async () => {
  const { auditGaugeSource } = await import('../../../src/observability/audit-gauges.js');
  const rows = [
    { sink: 'siem', records: 4, seconds: 2.5 },
    { sink: 'siem', records: 6, seconds: 1 },
    { sink: 'file', records: 0, seconds: 0 },
  ];
  const src = auditGaugeSource({ stats: () => ({ lastCheckpointAgeSeconds: 3 }) }, () => rows);
  assert.deepEqual(src(), { checkpointAgeSeconds: 3, lagSeconds: 2.5, sinkBacklog: { siem: 10, file: 0 } });
  assert.deepEqual(auditGaugeSource({ stats: () => ({ lastCheckpointAgeSeconds: undefined }) })(), {});
  const m = new GatewayMetrics({ maxTenants: 10 });
  m.registerAuditGauges(src);
  const text = (await m.expose()).body;
  assert.match(text, /portcullis_audit_sink_backlog\{sink="siem"\} 10/);
  assert.match(text, /portcullis_audit_lag_seconds 2.5/);
});
