/**
 * Request-scoped routing at the wire (security-checklist C2, A5; mcp-protocol.md §10, §12):
 * 50 concurrent legacy clients reusing JSON-RPC ids 1–20 and colliding progress tokens against
 * one shared upstream each get exactly their own results, progress and logs; cancellations stay
 * scoped; an upstream restart fails in-flight calls promptly and later calls succeed; client
 * credentials and session ids never reach an upstream; list_changed fans out to both eras.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { liveChildPids } from '../../src/upstreams/children.js';
import { firstText, gatewayYaml, legacyClient, modernClient, MODERN, RawLegacySession, readReply, until, upstreamYaml, type PostReply, type RpcMsg } from './helpers-wire.js';

const CLIENTS = 50;
const IDS = 20;

const progressOf = (r: PostReply): RpcMsg[] => r.messages.filter((m) => m.method === 'notifications/progress');
const logsOf = (r: PostReply): RpcMsg[] => r.messages.filter((m) => m.method === 'notifications/message');
const responsesOf = (r: PostReply): RpcMsg[] => r.messages.filter((m) => m.method === undefined);

/** Progress token for (client, id): half collide across clients (plain integers), half are unique strings. */
const tokenFor = (client: number, id: number): string | number => (id % 4 === 0 ? id : `tok-${client}-${id}`);

interface Target {
  label: string;
  prefix: string;
  gw: () => TestGateway;
  /** Whether upstream log messages can be tied to their call (not on a busy shared stdio pipe). */
  logsAttributable: boolean;
  /** Upstream ids the mock saw cancelled. */
  cancelled: () => Promise<unknown[]>;
}

/** The C2 run: every client fires ids 1–20 at once; odd ids echo a nonce, even ids stream progress. */
async function collisionRun(t: Target): Promise<void> {
  const sessions = await Promise.all(Array.from({ length: CLIENTS }, () => RawLegacySession.open(t.gw().mcp)));
  try {
    const nonces = sessions.map((_, c) => Array.from({ length: IDS + 1 }, (_v, id) => `nonce-${c}-${id}-${randomUUID()}`));
    const replies = await Promise.all(
      sessions.map((s, c) =>
        Promise.all(
          Array.from({ length: IDS }, (_v, k) => {
            const id = k + 1;
            const token = tokenFor(c, id);
            return id % 2 === 1
              ? s.request(id, 'tools/call', { name: `${t.prefix}__echo_nonce`, arguments: { nonce: nonces[c]![id] }, _meta: { progressToken: token } })
              : s.request(id, 'tools/call', { name: `${t.prefix}__slow`, arguments: { steps: 3, ms: 5 }, _meta: { progressToken: token } });
          }),
        ),
      ),
    );
    let lost = 0;
    let duplicated = 0;
    let foreign = 0;
    replies.forEach((perClient, c) => {
      perClient.forEach((r, k) => {
        const id = k + 1;
        const responses = responsesOf(r);
        if (responses.length === 0) lost++;
        if (responses.length > 1) duplicated++;
        for (const resp of responses) assert.equal(resp.id, id, `client ${c} got a response for another id`);
        const resp = responses[0];
        assert.ok(resp?.result, `client ${c} id ${id}: ${JSON.stringify(resp)}`);
        const progress = progressOf(r);
        if (id % 2 === 1) {
          const got = (resp.result.structuredContent as { nonce?: string } | undefined)?.nonce;
          if (got !== nonces[c]![id]) foreign++;
          assert.equal(progress.length, 0, 'echo_nonce emits no progress, so any here is foreign');
          assert.equal(logsOf(r).length, 0, 'echo_nonce logs nothing, so any log here is foreign');
        } else {
          assert.equal(firstText(resp.result), 'done after 3 steps');
          const tokens = progress.map((p) => p.params?.progressToken);
          assert.deepEqual(tokens, [tokenFor(c, id), tokenFor(c, id), tokenFor(c, id)], `client ${c} id ${id} progress tokens`);
          assert.deepEqual(progress.map((p) => p.params?.progress), [1, 2, 3]);
          // Logs carry no request id: over HTTP they ride the call's own stream; on a shared stdio
          // pipe the gateway attributes one only while exactly one call is in flight and drops the
          // rest (never guesses), so a client sees a subset of its own steps, each at most once.
          const logs = logsOf(r).map((l) => l.params?.data);
          if (t.logsAttributable) assert.deepEqual(logs, ['step 1', 'step 2', 'step 3']);
          else {
            assert.ok(logs.length <= 3 && new Set(logs).size === logs.length, `logs: ${JSON.stringify(logs)}`);
            assert.ok(logs.every((l) => ['step 1', 'step 2', 'step 3'].includes(l as string)));
          }
        }
      });
    });
    assert.deepEqual({ lost, duplicated, foreign }, { lost: 0, duplicated: 0, foreign: 0 });
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
  }
}

/** Cancels id 9 of every client after its first progress; ids 1–8 and 10 must be unaffected. */
async function cancellationRun(t: Target): Promise<void> {
  const n = 20;
  const before = (await t.cancelled()).length;
  const sessions = await Promise.all(Array.from({ length: n }, () => RawLegacySession.open(t.gw().mcp)));
  try {
    const results = await Promise.all(
      sessions.map(async (s, c) => {
        let cancelSent = false;
        const long = s.request(
          9,
          'tools/call',
          { name: `${t.prefix}__slow`, arguments: { steps: 100, ms: 50 }, _meta: { progressToken: 9 } },
          {
            deadlineMs: 15_000,
            onMessage: (m) => {
              if (m.method === 'notifications/progress' && !cancelSent) {
                cancelSent = true;
                void s.notify('notifications/cancelled', { requestId: 9, reason: 'test' });
              }
            },
          },
        );
        const others = Promise.all([
          ...Array.from({ length: 8 }, (_v, k) => s.request(k + 1, 'tools/call', { name: `${t.prefix}__echo_nonce`, arguments: { nonce: `c${c}-${k + 1}` } })),
          s.request(10, 'tools/call', { name: `${t.prefix}__slow`, arguments: { steps: 3, ms: 20 }, _meta: { progressToken: 9 } }),
        ]);
        return { long: await long, others: await others, cancelSent };
      }),
    );
    results.forEach(({ long, others, cancelSent }, c) => {
      assert.ok(cancelSent, `client ${c} saw progress before cancelling`);
      const resps = responsesOf(long);
      // After notifications/cancelled the receiver should not answer (spec 2025-11-25 cancellation);
      // an error is acceptable; a normal result is not.
      assert.ok(resps.length <= 1);
      if (resps.length === 1) assert.ok(resps[0]!.error, `cancelled call answered with a result: ${JSON.stringify(resps[0])}`);
      assert.ok(progressOf(long).length < 100, 'progress stopped');
      others.forEach((r, k) => {
        const resp = responsesOf(r);
        assert.equal(resp.length, 1);
        if (k < 8) assert.equal((resp[0]!.result?.structuredContent as { nonce?: string }).nonce, `c${c}-${k + 1}`);
        else {
          assert.equal(firstText(resp[0]!.result), 'done after 3 steps');
          assert.equal(progressOf(r).length, 3, 'the colliding token 9 of the sibling call gets exactly its own progress');
        }
      });
    });
    await until(async () => (await t.cancelled()).length - before >= n, 'the upstream records every cancellation');
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
  }
}

/** Reads the stdio mock's record through the gateway (it lives in the child process). */
async function stdioStats(gw: TestGateway, prefix: string): Promise<{ cancelled: unknown[] }> {
  const s = await RawLegacySession.open(gw.mcp);
  try {
    const r = await s.request(1, 'tools/call', { name: `${prefix}__mock_stats`, arguments: {} });
    return JSON.parse(firstText(responsesOf(r)[0]?.result)) as { cancelled: unknown[] };
  } finally {
    await s.close();
  }
}

describe('C2: shared stdio upstream', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway(gatewayYaml([upstreamYaml('s', 'stdio', undefined, '', ['--mode', 'legacy'])]));
    await gw.waitHealthy(['s']);
  });
  after(async () => {
    await gw?.close();
  });
  const target: Target = { label: 'stdio', prefix: 's', logsAttributable: false, gw: () => gw, cancelled: async () => (await stdioStats(gw, 's')).cancelled };

  it('50 clients × ids 1–20: each gets exactly its own results, progress and logs', () => collisionRun(target));
  it('cancellations stay scoped to their call', () => cancellationRun(target));

  it('an upstream restart mid-flight fails in-flight calls promptly; later calls succeed', async () => {
    const pids = liveChildPids();
    assert.equal(pids.length, 1, 'one shared child');
    const sessions = await Promise.all(Array.from({ length: 10 }, () => RawLegacySession.open(gw.mcp)));
    try {
      let started = 0;
      const inflight = sessions.map((s) =>
        s.request(
          1,
          'tools/call',
          { name: 's__slow', arguments: { steps: 200, ms: 50 }, _meta: { progressToken: 1 } },
          { deadlineMs: 15_000, onMessage: (m) => void (m.method === 'notifications/progress' && progressOf({ messages: [m] } as PostReply).length && started++) },
        ),
      );
      await until(() => started >= 10, 'every call streaming');
      process.kill(pids[0]!, 'SIGKILL');
      const replies = await Promise.all(inflight);
      for (const r of replies) {
        assert.ok(r.ended, 'the reply ended instead of hanging');
        const resp = responsesOf(r);
        assert.equal(resp.length, 1);
        assert.ok(resp[0]!.error, `in-flight call gets a JSON-RPC error, got ${JSON.stringify(resp[0])}`);
      }
      await until(() => liveChildPids().length === 1 && liveChildPids()[0] !== pids[0], 'supervisor restarts the child', 15_000);
      await gw.waitHealthy(['s']);
      const after = await Promise.all(sessions.map((s, i) => s.request(2, 'tools/call', { name: 's__echo_nonce', arguments: { nonce: `after-${i}` } })));
      after.forEach((r, i) => assert.equal((responsesOf(r)[0]?.result?.structuredContent as { nonce?: string }).nonce, `after-${i}`));
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
    }
  });
});

describe('C2: shared streamable-http legacy upstream', () => {
  let gw: TestGateway;
  let mock: MockHttp;
  before(async () => {
    mock = await startMockHttp({ mode: 'legacy' });
    gw = await startGateway(gatewayYaml([upstreamYaml('h', 'streamable-http', mock.url)]));
    await gw.waitHealthy(['h']);
  });
  after(async () => {
    await gw?.close();
    await mock?.close();
  });
  const target: Target = { label: 'http', prefix: 'h', logsAttributable: true, gw: () => gw, cancelled: async () => mock.record.cancelled };

  it('50 clients × ids 1–20: each gets exactly its own results, progress and logs', () => collisionRun(target));
  it('cancellations stay scoped to their call', () => cancellationRun(target));

  it('the upstream going away mid-flight fails in-flight calls promptly; calls succeed once it is back', async () => {
    const sessions = await Promise.all(Array.from({ length: 10 }, () => RawLegacySession.open(gw.mcp)));
    try {
      let started = 0;
      const inflight = sessions.map((s) =>
        s.request(1, 'tools/call', { name: 'h__slow', arguments: { steps: 200, ms: 50 }, _meta: { progressToken: 1 } }, {
          deadlineMs: 15_000,
          onMessage: (m) => void (m.method === 'notifications/progress' && started++),
        }),
      );
      await until(() => started >= 10, 'every call streaming');
      // The server process goes away: sessions, streams and connections all gone at once.
      const closing = mock.close();
      const replies = await Promise.all(inflight);
      await closing;
      for (const r of replies) {
        assert.ok(r.ended, 'the reply ended instead of hanging');
        const resp = responsesOf(r);
        assert.equal(resp.length, 1);
        assert.ok(resp[0]!.error, `in-flight call gets a JSON-RPC error, got ${JSON.stringify(resp[0])}`);
      }
      // The replacement comes back on a new port (the mock cannot reuse one): point the gateway at it.
      mock = await startMockHttp({ mode: 'legacy' });
      gw.reload(gatewayYaml([upstreamYaml('h', 'streamable-http', mock.url)]));
      await until(async () => {
        const r = await sessions[0]!.request(`list-${Date.now()}`, 'tools/list', {});
        return JSON.stringify(responsesOf(r)[0]?.result ?? {}).includes('h__echo_nonce');
      }, 'the upstream back in the catalogue', 15_000);
      const later = await Promise.all(sessions.map((s, i) => s.request(2, 'tools/call', { name: 'h__echo_nonce', arguments: { nonce: `later-${i}` } })));
      later.forEach((r, i) => assert.equal((responsesOf(r)[0]?.result?.structuredContent as { nonce?: string }).nonce, `later-${i}`));
      assert.ok(mock.record.messages.length > 0, 'the later calls reached the new upstream');
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
    }
  });
});

describe('A5: no passthrough of client credentials', () => {
  const SECRET = `Bearer client-secret-${randomUUID()}`;
  const COOKIE = `sid=client-cookie-${randomUUID()}`;
  const XFF = '203.0.113.77';
  const mocks: MockHttp[] = [];
  let gw: TestGateway;
  before(async () => {
    mocks.push(await startMockHttp({ mode: 'legacy', legacyResponse: 'auto' }));
    mocks.push(await startMockHttp({ mode: 'legacy', legacyResponse: 'json' }));
    mocks.push(await startMockHttp({ mode: 'modern' }));
    mocks.push(await startMockHttp({ mode: 'sse' }));
    const names = ['lsse', 'ljson', 'modern', 'old'];
    gw = await startGateway(
      gatewayYaml(mocks.map((m, i) => upstreamYaml(names[i]!, i === 3 ? 'sse' : 'streamable-http', m.url))),
    );
    await gw.waitHealthy(names);
  });
  after(async () => {
    await gw?.close();
    await Promise.all(mocks.map((m) => m.close()));
  });

  it("Authorization, Cookie, Mcp-Session-Id and X-Forwarded-For never reach an upstream (JSON and SSE)", async () => {
    const clientHeaders = { authorization: SECRET, cookie: COOKIE, 'x-forwarded-for': XFF };
    const s = await RawLegacySession.open(gw.mcp, clientHeaders);
    const calls: Promise<PostReply>[] = [];
    let id = 1;
    for (const p of ['lsse', 'ljson', 'modern', 'old']) {
      calls.push(s.request(id++, 'tools/call', { name: `${p}__echo`, arguments: { text: 'a5' } }));
      calls.push(s.request(id++, 'tools/call', { name: `${p}__slow`, arguments: { steps: 2, ms: 5 }, _meta: { progressToken: 'a5' } }));
      calls.push(s.request(id++, 'prompts/get', { name: `${p}__greet`, arguments: { name: 'A5' } }));
    }
    calls.push(s.request(id++, 'resources/read', { uri: 'mock://static' }));
    // A modern stateless request with the same credentials.
    const modernRes = await fetch(gw.mcp, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'modern__echo', ...clientHeaders },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 99,
        method: 'tools/call',
        params: { name: 'modern__echo', arguments: { text: 'a5m' }, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } } },
      }),
    });
    const modernReply = await readReply(modernRes, 15_000);
    for (const r of [...(await Promise.all(calls)), modernReply]) assert.ok(responsesOf(r)[0]?.result, JSON.stringify(r.messages.at(-1)));
    await s.close();

    const forbidden = [SECRET, COOKIE.split('=')[1]!, XFF, s.sessionId];
    let seen = 0;
    for (const m of mocks) {
      for (const req of m.record.requests) {
        seen++;
        const all = JSON.stringify(req.headers);
        for (const f of forbidden) assert.ok(!all.includes(f), `upstream ${m.url} received a client value in ${all}`);
        assert.equal(req.headers.cookie, undefined, 'no cookie header at all');
      }
    }
    assert.ok(seen > 10, 'the mocks recorded the traffic');
  });
});

describe('list_changed fan-out', () => {
  let legacyMock: MockHttp;
  let modernMock: MockHttp;
  let gw: TestGateway;
  before(async () => {
    legacyMock = await startMockHttp({ mode: 'legacy' });
    modernMock = await startMockHttp({ mode: 'modern' });
    gw = await startGateway(gatewayYaml([upstreamYaml('lg', 'streamable-http', legacyMock.url), upstreamYaml('md', 'streamable-http', modernMock.url)]));
    await gw.waitHealthy(['lg', 'md']);
  });
  after(async () => {
    await gw?.close();
    await legacyMock?.close();
    await modernMock?.close();
  });

  it('add_tool reaches a legacy GET stream and a modern subscriptions/listen, and the tool appears', async () => {
    const legacy = await legacyClient(gw.mcp);
    let legacySaw = 0;
    legacy.setNotificationHandler(ToolListChangedNotificationSchema, () => void legacySaw++);
    const modern = await modernClient(gw.mcp);
    let modernSaw = 0;
    modern.setNotificationHandler('notifications/tools/list_changed', () => void modernSaw++);
    const sub = await modern.listen({ toolsListChanged: true });
    // A raw GET stream too, to see the exact notification on the wire.
    const raw = await RawLegacySession.open(gw.mcp);
    const rawSeen: RpcMsg[] = [];
    const get = await raw.openGet((m) => rawSeen.push(m));
    assert.equal(get.status, 200);
    try {
      // The v1 transport opens its GET stream asynchronously after initialize: wait for it.
      await until(() => [...gw.gateway.core.sessions.all()].filter((s) => s.streams.size > 0).length >= 2, 'GET streams open');
      for (const [prefix, n] of [['lg', 1], ['md', 2]] as const) {
        assert.equal(firstText(await legacy.callTool({ name: `${prefix}__add_tool`, arguments: {} })), 'added_1');
        await until(() => legacySaw >= n && modernSaw >= n && rawSeen.length >= n, `list_changed #${n} (${prefix}) fanned out`);
        const names = (await legacy.listTools()).tools.map((t) => t.name);
        assert.ok(names.includes(`${prefix}__added_1`), `${prefix}__added_1 listed`);
        const modernNames = (await modern.listTools()).tools.map((t) => t.name);
        assert.ok(modernNames.includes(`${prefix}__added_1`));
      }
      assert.ok(rawSeen.every((m) => m.method === 'notifications/tools/list_changed'), JSON.stringify(rawSeen));
    } finally {
      get.close();
      await sub.close();
      await raw.close();
      await legacy.close();
      await modern.close();
    }
  });
});
