/**
 * Prometheus metrics at the wire: real calls through a real stdio upstream, then a scrape of
 * /metrics (main listener, open mode; main listener behind auth with an admin role; a listener
 * of its own), parsed and checked label by label.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { issueApiKey, startGateway, type TestGateway } from '../helpers/gateway.js';
import { gatewayYaml, legacyClient, until, upstreamYaml } from './helpers-wire.js';
import { METRIC_NAMES } from '../../src/observability/metrics.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the exposition text format (enough of it for these assertions). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const find = (s: Sample[], name: string, labels: Record<string, string>): Sample[] =>
  s.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));

const sum = (s: Sample[]): number => s.reduce((a, x) => a + x.value, 0);

describe('metrics on the main listener (open mode)', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway(gatewayYaml([upstreamYaml('mock', 'stdio')]));
    await gw.waitHealthy(['mock']);
  });
  after(async () => gw?.close());

  test('calls, outcomes, tools, latencies and state gauges appear with bounded labels', async () => {
    const c = await legacyClient(gw.mcp);
    try {
      await c.listTools();
      await c.callTool({ name: 'mock__echo', arguments: { text: 'hi' } });
      await c.callTool({ name: 'mock__echo', arguments: { text: 'again' } });
      await c.callTool({ name: 'mock__fail', arguments: {} });
      await c.callTool({ name: 'nosuch__tool_of_an_attacker_1234', arguments: {} }).catch(() => undefined);
    } finally {
      await c.close();
    }
    const res = await fetch(`${gw.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const s = parse(await res.text());

    const echo = find(s, 'portcullis_calls_total', { tenant: 'default', virtual_server: 'default', upstream: 'mock', tool: 'mock__echo', method: 'tools/call', outcome: 'ok' });
    assert.equal(sum(echo), 2);
    assert.equal(sum(find(s, 'portcullis_calls_total', { tool: 'mock__fail', outcome: 'tool_error' })), 1);
    // An unknown tool name never becomes a label value of its own.
    assert.equal(s.filter((x) => Object.values(x.labels).some((v) => v.includes('attacker'))).length, 0);
    assert.equal(sum(find(s, 'portcullis_calls_total', { tool: '_other', outcome: 'ERR_UNKNOWN_TOOL', upstream: '_none' })), 1);
    assert.ok(sum(find(s, 'portcullis_calls_total', { method: 'tools/list', upstream: '_gateway', tool: '', outcome: 'ok' })) >= 1);

    // Latency: gateway time for every call, upstream time only for forwarded ones.
    assert.ok(sum(find(s, 'portcullis_call_gateway_seconds_count', { method: 'tools/call' })) >= 4);
    assert.equal(sum(find(s, 'portcullis_upstream_seconds_count', { upstream: 'mock', method: 'tools/call' })), 3);
    assert.equal(find(s, 'portcullis_upstream_seconds_count', { upstream: '_gateway' }).length, 0);

    // State read at scrape time.
    assert.equal(find(s, 'portcullis_upstream_circuit_state', { upstream: 'mock' })[0]?.value, 0);
    assert.equal(find(s, 'portcullis_upstream_healthy', { upstream: 'mock' })[0]?.value, 1);
    assert.equal(find(s, 'portcullis_upstream_links', { upstream: 'mock', kind: 'stdio' })[0]?.value, 1);
    assert.equal(find(s, 'portcullis_upstream_restarts_total', { upstream: 'mock' })[0]?.value, 0);
    assert.ok(find(s, 'portcullis_sessions_open', {}).length === 1);
    assert.ok(sum(find(s, 'portcullis_auth_total', { result: 'success', method: 'anonymous' })) >= 5);
    // Every exported family is one this module declares (the dashboard test relies on the list).
    const families = new Set(s.map((x) => x.name.replace(/_(bucket|sum|count)$/, '')));
    for (const f of families) assert.ok((METRIC_NAMES as readonly string[]).includes(f), `undeclared metric ${f}`);
  });

  test('audit gauges read the registered stats at scrape time', async () => {
    gw.gateway.metrics!.registerAuditGauges(() => ({ lagSeconds: 0.25, checkpointAgeSeconds: 12, sinkBacklog: { file: 3 } }));
    const s = parse(await (await fetch(`${gw.url}/metrics`)).text());
    assert.equal(find(s, 'portcullis_audit_lag_seconds', {})[0]?.value, 0.25);
    assert.equal(find(s, 'portcullis_audit_checkpoint_age_seconds', {})[0]?.value, 12);
    assert.equal(find(s, 'portcullis_audit_sink_backlog', { sink: 'file' })[0]?.value, 3);
  });

  test('payload capture counts are read from the capture service at scrape time', async () => {
    // The real service is registered at start: nothing is captured here (no virtual server enables it).
    const idle = parse(await (await fetch(`${gw.url}/metrics`)).text());
    assert.deepEqual(['written', 'dropped', 'failed'].map((result) => find(idle, 'portcullis_capture_records_total', { result })[0]?.value), [0, 0, 0]);
    assert.equal(find(idle, 'portcullis_capture_queued', {})[0]?.value, 0);
    gw.gateway.metrics!.registerCaptureStats(() => ({ written: 7, bytes: 900, dropped: 2, failed: 1, deleted: 0, queued: 3 }));
    const s = parse(await (await fetch(`${gw.url}/metrics`)).text());
    assert.deepEqual(['written', 'dropped', 'failed'].map((result) => find(s, 'portcullis_capture_records_total', { result })[0]?.value), [7, 2, 1]);
    assert.equal(find(s, 'portcullis_capture_queued', {})[0]?.value, 3);
  });

  test('a crashed stdio process is restarted and counted', async () => {
    const before = parse(await (await fetch(`${gw.url}/metrics`)).text());
    assert.equal(find(before, 'portcullis_upstream_restarts_total', { upstream: 'mock' })[0]?.value, 0);
    // The shared link's process (the manager keeps its supervisor private; a test may look).
    const pid = (gw.gateway.upstreams.get('mock') as unknown as { control: { current?: { pid?: number } } }).control.current?.pid;
    assert.ok(pid);
    process.kill(pid, 'SIGKILL');
    await until(async () => find(parse(await (await fetch(`${gw.url}/metrics`)).text()), 'portcullis_upstream_restarts_total', { upstream: 'mock' })[0]?.value === 1, 'restart counted');
    await gw.waitHealthy(['mock']);
    const after = parse(await (await fetch(`${gw.url}/metrics`)).text());
    assert.equal(find(after, 'portcullis_upstream_links', { upstream: 'mock' })[0]?.value, 1);
  });
});

describe('metrics behind authentication', () => {
  let gw: TestGateway;
  let admin = '';
  let dev = '';
  before(async () => {
    gw = await startGateway(gatewayYaml([upstreamYaml('mock', 'stdio')], 'auth: { adminRoles: [ops] }'));
    admin = await issueApiKey(gw, 'scraper', 'default', ['ops']);
    dev = await issueApiKey(gw, 'dev', 'default', ['dev']);
    await gw.waitHealthy(['mock']);
  });
  after(async () => gw?.close());

  test('no credentials: 401; a non-admin principal: 403; an admin: 200, and failures are counted by reason', async () => {
    assert.equal((await fetch(`${gw.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${gw.url}/metrics`, { headers: { authorization: 'Bearer pcl_aaaaaaaaaaaa_' + 'A'.repeat(43) } })).status, 401);
    assert.equal((await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${dev}` } })).status, 403);
    const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(res.status, 200);
    const s = parse(await res.text());
    assert.ok(sum(find(s, 'portcullis_auth_total', { result: 'failure' })) >= 2);
    assert.ok(sum(find(s, 'portcullis_auth_total', { result: 'success', method: 'api-key' })) >= 2);
    // The scrape itself names no credential.
    assert.ok(!JSON.stringify(s).includes(admin.slice(-20)));
  });
});

describe('metrics on a listener of their own', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway('gateway: { storage: memory }\nobservability: { metrics: { listen: "127.0.0.1:0" } }');
  });
  after(async () => gw?.close());

  test('served there without credentials, not on the main listener; other paths 404, other hosts 403', async () => {
    const url = gw.gateway.metricsUrl;
    assert.ok(url);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /# TYPE portcullis_calls_total counter/);
    assert.equal((await fetch(`${gw.url}/metrics`)).status, 404);
    assert.equal((await fetch(url.replace('/metrics', '/other'))).status, 404);
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(url);
      const req = request({ host: u.hostname, port: u.port, path: '/metrics', headers: { host: 'evil.example' } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 403);
  });

  test('metrics off: no /metrics anywhere', async () => {
    const off = await startGateway('gateway: { storage: memory }\nobservability: { metrics: { enabled: false } }');
    try {
      assert.equal((await fetch(`${off.url}/metrics`)).status, 404);
      assert.equal(off.gateway.metrics, undefined);
    } finally {
      await off.close();
    }
  });
});
