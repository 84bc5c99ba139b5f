/**
 * Rate limits and quotas at the wire (docs/rate-limits.md): 429 + Retry-After for modern
 * requests and plain-JSON legacy replies, JSON-RPC errors carrying data.retryAfterMs for
 * streamed legacy replies (real v1 SDK client), per-tenant and per-tool buckets, weighted
 * quotas, hot reloads that keep state, a fail-closed Redis outage, and accuracy at twice the rate.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { issueApiKey, startGateway, type TestGateway } from '../helpers/gateway.js';
import { gatewayYaml, legacyClient, RawLegacySession, upstreamYaml } from './helpers-wire.js';
import { drive, modernCall } from './rate-limits-load.js';

const MOCK = upstreamYaml('mock', 'stdio', undefined, ', shareWith: ["*"]');

const RULES = [
  'auth: { apiKeys: { enabled: true } }',
  'rateLimits:',
  '  rules:',
  '    - { name: modern, by: [principal], match: { tenants: [t-modern] }, rate: 1/1h, burst: 2 }',
  '    - { name: legacy, by: [principal], match: { tenants: [t-legacy] }, rate: 1/1h, burst: 2 }',
  '    - { name: lists, by: [principal], match: { tenants: [t-lists], methods: [tools/list] }, rate: 1/1h, burst: 1 }',
  '    - { name: per-tool, by: [tenant, tool], match: { tenants: [acme, beta] }, rate: 1/1h, burst: 2 }',
  '    - { name: daily, by: [tenant], match: { tenants: [t-quota] }, quota: 3/1d }',
  '    - { name: load, by: [tenant], match: { tenants: [t-load] }, rate: 50/1s, burst: 10 }',
  '  costs: { "mock__big": 2 }',
].join('\n');

let gw: TestGateway;
const keys: Record<string, string> = {};
const auth = (tenant: string): Record<string, string> => ({ authorization: `Bearer ${keys[tenant]}` });

before(async () => {
  gw = await startGateway(gatewayYaml([MOCK], RULES));
  await gw.waitHealthy(['mock']);
  for (const tenant of ['t-modern', 't-legacy', 't-lists', 'acme', 'beta', 't-quota', 't-load', 't-free']) keys[tenant] = await issueApiKey(gw, `k-${tenant}`, tenant);
});
after(async () => {
  await gw?.close();
});

describe('rate limits at the wire', () => {
  it('modern client: 429 with Retry-After and a JSON-RPC error carrying retryAfterMs', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await modernCall(gw.mcp, 'mock__echo', { text: 'x' }, auth('t-modern'))).status, 200);
    const r = await modernCall(gw.mcp, 'mock__echo', { text: 'x' }, auth('t-modern'));
    assert.equal(r.status, 429);
    assert.equal(r.body.error?.code, -31203);
    assert.equal(r.body.error?.data?.portcullis, 'ERR_RATE_LIMITED');
    assert.equal(r.body.error?.data?.rule, 'modern');
    const ms = r.body.error?.data?.retryAfterMs;
    assert.ok(typeof ms === 'number' && ms > 0 && ms <= 3_600_000, String(ms));
    assert.equal(r.retryAfter, String(Math.ceil(ms / 1000)));
    // Another tenant without a matching rule is not limited at all.
    for (let i = 0; i < 5; i++) assert.equal((await modernCall(gw.mcp, 'mock__echo', { text: 'x' }, auth('t-free'))).status, 200);
  });

  it('legacy SDK client: the streamed reply carries the JSON-RPC error with retryAfterMs', async () => {
    const c = await legacyClient(gw.mcp, { headers: auth('t-legacy') });
    try {
      for (let i = 0; i < 2; i++) await c.callTool({ name: 'mock__echo', arguments: { text: 'x' } });
      await assert.rejects(
        () => c.callTool({ name: 'mock__echo', arguments: { text: 'x' } }),
        (e: unknown) => e instanceof McpError && e.code === -31203 && typeof (e.data as { retryAfterMs?: unknown }).retryAfterMs === 'number',
      );
      // Lists are not counted unless a rule names them.
      for (let i = 0; i < 3; i++) await c.listTools();
    } finally {
      await c.close();
    }
  });

  it('legacy plain-JSON reply (a rule on tools/list): 429 with Retry-After', async () => {
    const s = await RawLegacySession.open(gw.mcp, auth('t-lists'));
    try {
      assert.equal((await s.request(1, 'tools/list', {})).status, 200);
      const r = await s.request(2, 'tools/list', {});
      assert.equal(r.status, 429);
      assert.equal(r.messages[0]?.error?.code, -31203);
      const ms = (r.messages[0]?.error?.data as { retryAfterMs: number }).retryAfterMs;
      assert.equal(r.headers.get('retry-after'), String(Math.ceil(ms / 1000)));
      // tools/call is not under that rule.
      const call = await s.request(3, 'tools/call', { name: 'mock__echo', arguments: { text: 'x' } });
      assert.equal(call.messages.at(-1)?.result !== undefined, true);
    } finally {
      await s.close();
    }
  });

  it('buckets are per tenant and per tool', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await modernCall(gw.mcp, 'mock__echo', { text: 'x' }, auth('acme'))).status, 200);
    assert.equal((await modernCall(gw.mcp, 'mock__echo', { text: 'x' }, auth('acme'))).status, 429);
    assert.equal((await modernCall(gw.mcp, 'mock__echo_nonce', { nonce: 'n' }, auth('acme'))).status, 200, 'another tool: its own bucket');
    assert.equal((await modernCall(gw.mcp, 'mock__echo', { text: 'x' }, auth('beta'))).status, 200, 'another tenant: its own bucket');
  });

  it('quota: weighted calls count; the refusal is ERR_QUOTA_EXCEEDED until the window ends', async () => {
    assert.equal((await modernCall(gw.mcp, 'mock__big', { kb: 1 }, auth('t-quota'))).status, 200); // cost 2
    assert.equal((await modernCall(gw.mcp, 'mock__echo', { text: 'x' }, auth('t-quota'))).status, 200); // 3 of 3
    const r = await modernCall(gw.mcp, 'mock__echo', { text: 'x' }, auth('t-quota'));
    assert.equal(r.status, 429);
    assert.equal(r.body.error?.code, -31205);
    assert.equal(r.body.error?.data?.portcullis, 'ERR_QUOTA_EXCEEDED');
    const untilMidnight = 86_400_000 - (Date.now() % 86_400_000);
    const ms = r.body.error!.data!.retryAfterMs!;
    assert.ok(Math.abs(ms - untilMidnight) < 60_000, `${ms} vs ${untilMidnight}`);
    assert.equal(r.retryAfter, String(Math.ceil(ms / 1000)));
  });

  it('accuracy: at twice the configured rate, accepted calls stay within ±5 % of the limit', async (t) => {
    // 50/s with a burst of 10, offered at 100/s for 3 s.
    const res = await drive([gw.mcp], { perSecond: 100, seconds: 3, tool: 'mock__echo', headers: auth('t-load') });
    assert.deepEqual(res.other, []);
    const expected = 10 + (50 * res.elapsedMs) / 1000;
    t.diagnostic(`accepted ${res.accepted} of ${res.sent}, expected ${expected.toFixed(1)} over ${res.elapsedMs.toFixed(0)} ms`);
    assert.ok(Math.abs(res.accepted - expected) <= expected * 0.05, `accepted ${res.accepted}, expected ${expected.toFixed(1)} (sent ${res.sent}, refused ${res.refused}, ${res.elapsedMs.toFixed(0)} ms)`);
    assert.equal(res.accepted + res.refused, res.sent);
  });
});

describe('rate limits across reloads and store outages', () => {
  let small: TestGateway;
  const yaml = (rules: string, store = ''): string => gatewayYaml([MOCK], `rateLimits:\n${store}  rules:\n${rules}`);
  before(async () => {
    small = await startGateway(yaml('    - { name: r, rate: 1/1h, burst: 1 }'));
    await small.waitHealthy(['mock']);
  });
  after(async () => {
    await small?.close();
  });

  it('a reload keeps the buckets of unchanged rules and resets changed ones', async () => {
    assert.equal((await modernCall(small.mcp, 'mock__echo')).status, 200);
    assert.equal((await modernCall(small.mcp, 'mock__echo')).status, 429);
    small.reload(yaml('    - { name: other, rate: 100/1s }\n    - { name: r, rate: 1/1h, burst: 1 }'));
    assert.equal((await modernCall(small.mcp, 'mock__echo')).status, 429, 'unchanged rule: still exhausted');
    small.reload(yaml('    - { name: r, rate: 1/1h, burst: 2 }'));
    assert.equal((await modernCall(small.mcp, 'mock__echo')).status, 200, 'changed rule: a fresh bucket');
  });

  it('Redis unreachable: fail closed with 503 ERR_OVERLOADED and Retry-After, or open when configured', async () => {
    const store = (mode: string): string => `  store: redis\n  redis: { url: "redis://127.0.0.1:1", timeout: 200ms, onUnavailable: ${mode} }\n`;
    small.reload(yaml('    - { name: shared, rate: 100/1s }', store('deny')));
    const r = await modernCall(small.mcp, 'mock__echo');
    assert.equal(r.status, 503);
    assert.equal(r.body.error?.code, -31204);
    assert.equal(r.retryAfter, '1');
    small.reload(yaml('    - { name: shared, rate: 100/1s }', store('allow')));
    assert.equal((await modernCall(small.mcp, 'mock__echo')).status, 200);
  });
});
