/**
 * Resilience toward upstreams, at the wire: real gateway, real hostile HTTP upstreams
 * (test/fixtures/mock-upstream/hostile.ts), a real stdio upstream that exits mid-call, and the
 * mock upstream as the healthy neighbour. Every misbehaviour ends as a JSON-RPC error within a
 * generous bound; the breaker opens (visible in /readyz), half-opens and closes; the bulkhead
 * keeps a hanging upstream from starving the others; safe reads are retried, writes are not;
 * cacheable reads reach the upstream once; load shedding answers 503 and recovers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueApiKey, repoPath, startGateway, tsNode, type TestGateway } from '../helpers/gateway.js';
import { startHostile, type HostileServer } from '../fixtures/mock-upstream/hostile.js';
import { RawLegacySession, until, upstreamYaml, type PostReply } from './helpers-wire.js';

/** Generous: the point is that an answer arrives at all, not how fast. */
const BOUND_MS = 15_000;

interface Reply {
  result?: Record<string, unknown>;
  error?: { code: number; data?: { portcullis?: string } };
}

async function call(s: RawLegacySession, id: number, method: string, params: Record<string, unknown>): Promise<Reply> {
  const r: PostReply = await s.request(id, method, params, { deadlineMs: BOUND_MS });
  const m = r.messages.find((x) => x.id === id);
  assert.ok(m, `no reply to ${method} ${JSON.stringify(params)} within ${BOUND_MS} ms`);
  return m as Reply;
}

const codeOf = (r: Reply): string | undefined => r.error?.data?.portcullis;

async function readyz(gw: TestGateway): Promise<{ status: string; overloaded: boolean; upstreams: { name: string; health: string; breaker: string }[] }> {
  return (await (await fetch(`${gw.url}/readyz`)).json()) as never;
}
const breakerOf = async (gw: TestGateway, name: string): Promise<string | undefined> => (await readyz(gw)).upstreams.find((u) => u.name === name)?.breaker;

function http(name: string, h: HostileServer, extra: string): string {
  return `  - { name: ${name}, kind: streamable-http, era: legacy, url: ${JSON.stringify(h.url)}${extra} }`;
}

describe('resilience toward upstreams', () => {
  let zoo: HostileServer; // every misbehaviour, breaker off
  let bad: HostileServer; // breaker after 3 failures
  let slow: HostileServer; // bulkhead of 2
  let gw: TestGateway;
  let s: RawLegacySession;
  let id = 0;
  const yaml = (overload = ''): string =>
    [
      `gateway: { storage: memory, shutdownGrace: 100ms, limits: { maxUpstreamMessageBytes: 1mb }${overload} }`,
      'log: { level: silent }',
      'upstreams:',
      http('zoo', zoo, ", timeouts: { firstByte: 1s, total: 2s }, resilience: { breaker: { enabled: false }, retry: { initialDelay: 10ms }, cache: { resources: ['cache://*'] } }"),
      http('bad', bad, ', resilience: { breaker: { consecutiveFailures: 3, openFor: 1s } }'),
      http('slow', slow, ', timeouts: { firstByte: 30s, total: 30s }, resilience: { bulkhead: { maxInFlight: 2, queue: 0 }, breaker: { enabled: false } }'),
      upstreamYaml('good', 'stdio'),
      `  - { name: crashy, kind: stdio, command: ${JSON.stringify(process.execPath)}, args: ${JSON.stringify(tsNode('test/fixtures/stdio/legacy-server.ts'))}, cwd: ${JSON.stringify(repoPath())}, restart: { initialDelay: 20ms, maxDelay: 200ms } }`,
    ].join('\n');

  before(async () => {
    [zoo, bad, slow] = await Promise.all([startHostile(), startHostile(), startHostile()]);
    gw = await startGateway(yaml());
    await gw.waitHealthy(['zoo', 'bad', 'slow', 'good', 'crashy']);
    s = await RawLegacySession.open(gw.mcp);
  });
  after(async () => {
    await gw?.close();
    await Promise.all([zoo, bad, slow].map((h) => h?.close()));
  });

  it('each misbehaviour ends as a bounded-time JSON-RPC error (hang, drip, huge, invalid, mid-SSE close, not JSON-RPC)', async () => {
    const expected: Record<string, string[]> = {
      hang: ['ERR_UPSTREAM_TIMEOUT'],
      drip: ['ERR_UPSTREAM_TIMEOUT'],
      huge: ['ERR_UPSTREAM_PROTOCOL'],
      huge_sse: ['ERR_UPSTREAM_PROTOCOL'],
      invalid: ['ERR_UPSTREAM_PROTOCOL'],
      midsse: ['ERR_UPSTREAM_CLOSED'],
      not_rpc: ['ERR_UPSTREAM_PROTOCOL'],
    };
    const replies = await Promise.all(Object.keys(expected).map((t) => call(s, ++id, 'tools/call', { name: `zoo__${t}`, arguments: {} })));
    Object.keys(expected).forEach((t, i) => assert.ok(expected[t]!.includes(codeOf(replies[i]!) ?? ''), `${t}: ${JSON.stringify(replies[i]).slice(0, 300)}`));
    const ok = await call(s, ++id, 'tools/call', { name: 'zoo__ok', arguments: {} });
    assert.ok(ok.result, 'the upstream still serves its next call');
  });

  it('an stdio upstream that exits mid-call: ERR_UPSTREAM_CLOSED for that call, and it serves again after its restart', async () => {
    const r = await call(s, ++id, 'tools/call', { name: 'crashy__crash', arguments: {} });
    assert.equal(codeOf(r), 'ERR_UPSTREAM_CLOSED');
    await gw.waitHealthy(['crashy']);
    await until(async () => 'result' in (await call(s, ++id, 'tools/call', { name: 'crashy__echo', arguments: { text: 'back' } })), 'crashy to answer again', BOUND_MS);
  });

  it('the breaker opens after 3 failures (in /readyz), fails fast without contacting the upstream, half-opens and closes again', async () => {
    assert.equal(await breakerOf(gw, 'bad'), 'closed');
    // Errors the upstream answers deliberately say it is alive: they never open the circuit.
    for (let i = 0; i < 5; i++) assert.equal((await call(s, ++id, 'tools/call', { name: 'bad__rpc_error', arguments: {} })).error?.code, -32602);
    assert.equal(await breakerOf(gw, 'bad'), 'closed');
    for (let i = 0; i < 3; i++) assert.equal(codeOf(await call(s, ++id, 'tools/call', { name: 'bad__invalid', arguments: {} })), 'ERR_UPSTREAM_PROTOCOL');
    assert.equal(await breakerOf(gw, 'bad'), 'open');
    assert.equal((await readyz(gw)).status, 'degraded');
    const seen = bad.seen.length;
    const fast = await call(s, ++id, 'tools/call', { name: 'bad__ok', arguments: {} });
    assert.equal(codeOf(fast), 'ERR_CIRCUIT_OPEN');
    assert.equal(bad.seen.length, seen, 'an open circuit never reaches the upstream');
    // The healthy neighbour is unaffected.
    assert.ok((await call(s, ++id, 'tools/call', { name: 'good__echo', arguments: { text: 'hi' } })).result);
    bad.healthy = true;
    await until(async () => (await breakerOf(gw, 'bad')) === 'half-open', 'the circuit to half-open', BOUND_MS);
    const probe = await call(s, ++id, 'tools/call', { name: 'bad__invalid', arguments: {} });
    assert.ok(probe.result, `the probe succeeds: ${JSON.stringify(probe)}`);
    assert.equal(await breakerOf(gw, 'bad'), 'closed');
  });

  it('bulkhead: two hanging calls fill the slow upstream; the healthy one still answers; the third call is ERR_UPSTREAM_BUSY', async () => {
    const hanging = new AbortController();
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', 'mcp-session-id': s.sessionId };
    const pending = [1, 2].map((n) =>
      fetch(gw.mcp, { method: 'POST', headers, signal: hanging.signal, body: JSON.stringify({ jsonrpc: '2.0', id: `hang-${n}`, method: 'tools/call', params: { name: 'slow__hang', arguments: {} } }) })
        .then((r) => r.text())
        .catch(() => undefined),
    );
    try {
      await until(() => slow.seen.filter((x) => x === 'hang').length === 2, 'both hanging calls to reach the slow upstream', BOUND_MS);
      const good = await call(s, ++id, 'tools/call', { name: 'good__echo', arguments: { text: 'still here' } });
      assert.ok(good.result);
      const busy = await call(s, ++id, 'tools/call', { name: 'slow__ok', arguments: {} });
      assert.equal(codeOf(busy), 'ERR_UPSTREAM_BUSY');
      assert.equal(slow.seen.filter((x) => x === 'ok').length, 0, 'the refused call never reached the upstream');
    } finally {
      // Cancelling the two requests frees the slots.
      for (const n of [1, 2]) await s.notify('notifications/cancelled', { requestId: `hang-${n}` });
      hanging.abort();
      await Promise.all(pending);
      await until(async () => 'result' in (await call(s, ++id, 'tools/call', { name: 'slow__ok', arguments: {} })), 'a free slot', BOUND_MS);
    }
  });

  it('a safe read that fails once is retried: the client sees success; a non-idempotent tools/call is not retried', async () => {
    const r = await call(s, ++id, 'resources/read', { uri: 'flaky://once' });
    assert.ok(r.result, `retried to success: ${JSON.stringify(r)}`);
    assert.equal(zoo.seen.filter((x) => x === 'flaky://once').length, 2);
    const w = await call(s, ++id, 'tools/call', { name: 'zoo__flaky_write', arguments: {} });
    assert.ok(codeOf(w)?.startsWith('ERR_UPSTREAM_'), JSON.stringify(w));
    assert.equal(zoo.seen.filter((x) => x === 'flaky_write').length, 1, 'reached the upstream exactly once');
  });

  it('a cacheable read served twice reaches the upstream once; a URI outside the globs is never cached', async () => {
    const a = await call(s, ++id, 'resources/read', { uri: 'cache://public' });
    const b = await call(s, ++id, 'resources/read', { uri: 'cache://public' });
    assert.deepEqual(a.result, b.result);
    assert.equal(zoo.seen.filter((x) => x === 'cache://public').length, 1);
    await call(s, ++id, 'resources/read', { uri: 'flaky://once' });
    assert.equal(zoo.seen.filter((x) => x === 'flaky://once').length, 3);
  });

  it('load shedding: a tiny heap threshold answers 503 ERR_OVERLOADED; restoring the config recovers', async () => {
    gw.reload(yaml(', overload: { heapUsedPercent: 0.01 }'));
    await until(async () => (await readyz(gw)).overloaded, 'shedding to start', BOUND_MS);
    const res = await fetch(gw.mcp, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': s.sessionId },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'ping' }),
    });
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { data: { portcullis: string } } }).error.data.portcullis, 'ERR_OVERLOADED');
    gw.reload(yaml());
    await until(async () => !(await readyz(gw)).overloaded, 'shedding to stop', BOUND_MS);
    assert.ok((await call(s, ++id, 'ping', {})).result);
    assert.equal(await breakerOf(gw, 'bad'), 'closed', 'breaker state survived reloads that left the upstream unchanged');
  });
});

describe('read cache scope', () => {
  let up: HostileServer;
  let gw: TestGateway;
  before(async () => {
    up = await startHostile();
    gw = await startGateway(
      ['gateway: { storage: memory }', 'log: { level: silent }', 'auth: {}', 'upstreams:', http('up', up, ", resilience: { cache: { resources: ['cache://*'], scope: public } }")].join('\n'),
    );
    await gw.waitHealthy(['up']);
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  it('a private-scope result is not shared between two principals; a public one is', async () => {
    const sa = await RawLegacySession.open(gw.mcp, { 'x-api-key': await issueApiKey(gw, 'alice', 'default') });
    const sb = await RawLegacySession.open(gw.mcp, { 'x-api-key': await issueApiKey(gw, 'bob', 'default') });
    const count = (uri: string): number => up.seen.filter((x) => x === uri).length;
    await call(sa, 1, 'resources/read', { uri: 'cache://private' });
    await call(sa, 2, 'resources/read', { uri: 'cache://private' });
    assert.equal(count('cache://private'), 1, "alice's second read is served from her cache");
    const b = await call(sb, 3, 'resources/read', { uri: 'cache://private' });
    assert.ok(b.result);
    assert.equal(count('cache://private'), 2, "bob never gets alice's private result");
    await call(sa, 4, 'resources/read', { uri: 'cache://public' });
    await call(sb, 5, 'resources/read', { uri: 'cache://public' });
    assert.equal(count('cache://public'), 1, 'a public result is shared');
  });
});

describe('catalogue reads', () => {
  let gw: TestGateway;
  after(async () => {
    await gw?.close();
  });

  it('a catalogue read that fails is tried again: the upstream comes back without a restart', async () => {
    // Its first two tools/list answers are errors; the process itself is fine.
    gw = await startGateway(['gateway: { storage: memory }', 'log: { level: silent }', 'upstreams:', upstreamYaml('flaky', 'stdio', undefined, '', ['--fail-lists', '2'])].join('\n'));
    const readyz = async (): Promise<{ name: string; health: string; reason?: string }[]> =>
      ((await (await fetch(`${gw.url}/readyz`)).json()) as { upstreams: { name: string; health: string; reason?: string }[] }).upstreams;
    let reason = '';
    await until(async () => {
      const u = (await readyz()).find((x) => x.name === 'flaky');
      reason = JSON.stringify(u);
      return u?.health === 'unhealthy';
    }, 'the first read to fail');
    assert.match(reason, /catalogue read failed/);
    // Retries after 1 s and 2 s (backoff); before, it stayed unhealthy until a restart.
    await until(async () => (await readyz()).find((x) => x.name === 'flaky')?.health === 'healthy', 'healthy again', BOUND_MS);
    const s = await RawLegacySession.open(gw.mcp);
    const list = await call(s, 1, 'tools/list', {});
    assert.ok((list.result?.tools as { name: string }[]).some((t) => t.name === 'flaky__echo'));
  });
});

describe('crash loops', () => {
  let gw: TestGateway;
  let dir = '';
  after(async () => {
    await gw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an upstream given up after a crash loop is tried again once its crash window has passed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-crashloop-'));
    const fixed = join(dir, 'fixed');
    gw = await startGateway(
      ['gateway: { storage: memory }', 'log: { level: silent }', 'upstreams:', upstreamYaml('loopy', 'stdio', undefined, '', ['--require-file', fixed]).replace('restart: { initialDelay: 20ms, maxDelay: 200ms }', 'restart: { initialDelay: 20ms, maxDelay: 50ms, maxRestarts: 1, window: 2s }')].join('\n'),
    );
    const health = async (): Promise<string | undefined> =>
      ((await (await fetch(`${gw.url}/readyz`)).json()) as { upstreams: { name: string; health: string; reason?: string }[] }).upstreams.find((x) => x.name === 'loopy')?.reason;
    await until(async () => /crashes within/.test((await health()) ?? ''), 'given up after the crash loop');
    writeFileSync(fixed, 'ok');
    // Nothing calls an unhealthy upstream, so before, it stayed down until the gateway restarted.
    await until(async () => {
      const r = (await (await fetch(`${gw.url}/readyz`)).json()) as { upstreams: { name: string; health: string }[] };
      return r.upstreams.find((x) => x.name === 'loopy')?.health === 'healthy';
    }, 'healthy after the window', BOUND_MS);
  });
});

describe('waiting for a link', () => {
  let gw: TestGateway;
  after(async () => {
    await gw?.close();
  });

  it("a call waiting for its private link to start gets ERR_UPSTREAM_TIMEOUT at the upstream's total deadline", async () => {
    // Every process of this upstream takes 4 s to answer its handshake; calls may take 1 s.
    const entry = upstreamYaml('sluggish', 'stdio', undefined, ", sharing: per-principal, timeouts: { total: 1s, connect: 20s }", ['--slow-start', '4000']);
    gw = await startGateway(['gateway: { storage: memory }', 'log: { level: silent }', 'upstreams:', entry].join('\n'));
    await gw.waitHealthy(['sluggish']);
    const s = await RawLegacySession.open(gw.mcp);
    const t0 = Date.now();
    const r = await call(s, 1, 'tools/call', { name: 'sluggish__echo', arguments: { text: 'hi' } });
    const took = Date.now() - t0;
    assert.equal(codeOf(r), 'ERR_UPSTREAM_TIMEOUT', JSON.stringify(r));
    assert.ok(took < 3_500, `answered after ${took} ms, before the 4 s start-up finished`);
    // The start went on: once the link is up, calls are served.
    await until(async () => {
      const again = await call(s, 2, 'tools/call', { name: 'sluggish__echo', arguments: { text: 'hi' } });
      return again.result !== undefined;
    }, 'served once the link is up', BOUND_MS);
  });
});
