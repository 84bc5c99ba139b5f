/**
 * HTTP upstream adapters against the real mock upstream on 127.0.0.1: era probing for every
 * mode, calls through each link kind, request-scoped routing under concurrency, server-to-client
 * requests, cancellation in both eras, session expiry, stream resumption, change notifications,
 * and the header allowlist (no downstream credential ever reaches the upstream).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startMockHttp, type MockHttp, type MockMode } from '../fixtures/mock-upstream/http-server.js';
import { openHttpLink, probeHttpEra } from '../../src/upstreams/http/probe.js';
import type { HttpLinkConfig } from '../../src/upstreams/http/config.js';
import { openLegacyHttpLink, type LegacyHttpLink } from '../../src/upstreams/streamable-http/legacy-link.js';
import { openModernHttpLink } from '../../src/upstreams/streamable-http/modern-link.js';
import { openSseLink } from '../../src/upstreams/sse/link.js';
import { livePoolCount } from '../../src/upstreams/http/pool.js';
import type { CallOptions, CallSink, LinkEvent, UpstreamLink } from '../../src/upstreams/types.js';
import type { CallOutcome, JsonRpcNotification } from '../../src/mcp/jsonrpc.js';

const mocks: MockHttp[] = [];
const links: UpstreamLink[] = [];
after(async () => {
  await Promise.all(links.map((l) => l.close()));
  await Promise.all(mocks.map((m) => m.close()));
});

async function mock(mode: MockMode, extra: { noGetStream?: boolean } = {}): Promise<MockHttp> {
  const m = await startMockHttp({ mode, ...extra });
  mocks.push(m);
  return m;
}

const cfg = (url: string, headers: Record<string, string> = {}): HttpLinkConfig => ({
  name: 'mock',
  url,
  headers,
  maxMessageBytes: 1024 * 1024,
  timeouts: { connectMs: 5_000, firstByteMs: 15_000, totalMs: 20_000 },
});

function track<T extends UpstreamLink>(l: T): T {
  links.push(l);
  return l;
}

interface Recorder {
  sink: CallSink;
  notes: JsonRpcNotification[];
  asked: { method: string; params: Record<string, unknown> | undefined }[];
}

function recorder(answer: (method: string) => CallOutcome = () => ({ result: {} })): Recorder {
  const notes: JsonRpcNotification[] = [];
  const asked: Recorder['asked'] = [];
  return {
    notes,
    asked,
    sink: {
      notify: (n) => notes.push(n),
      request: async (method, params) => {
        asked.push({ method, params });
        return answer(method);
      },
    },
  };
}

const opts = (r: Recorder, signal: AbortSignal = new AbortController().signal): CallOptions => ({ sink: r.sink, signal });

function textOf(o: CallOutcome): string {
  assert.ok('result' in o, `expected a result, got ${JSON.stringify(o)}`);
  const c = (o.result.content as { text: string }[])[0];
  return c!.text;
}

async function until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const timeouts = { connectMs: 5_000, firstByteMs: 10_000, totalMs: 10_000 };

describe('probeHttpEra', () => {
  for (const [mode, expected] of [
    ['legacy', { transport: 'streamable-http', era: 'legacy' }],
    ['modern', { transport: 'streamable-http', era: 'modern' }],
    ['dual', { transport: 'streamable-http', era: 'modern' }],
    ['sse', { transport: 'sse', era: 'legacy' }],
  ] as const) {
    it(`detects a ${mode} upstream`, async () => {
      const m = await mock(mode);
      assert.deepEqual(await probeHttpEra(m.url, {}, timeouts), expected);
      if (mode === 'legacy') {
        // the probe's own session was dropped again
        assert.ok(m.record.requests.some((r) => r.method === 'DELETE'));
      }
    });
  }

  it('rejects something that is not an MCP server', async () => {
    const m = await mock('legacy');
    await assert.rejects(probeHttpEra(m.url.replace('/mcp', '/nothing'), {}, timeouts), /does not answer like an MCP server/);
  });
});

describe('echo through every link kind', () => {
  for (const mode of ['legacy', 'modern', 'dual', 'sse'] as const) {
    it(`${mode}: echo, prompt, resource, completion, error result`, async () => {
      const m = await mock(mode);
      const verdict = await probeHttpEra(m.url, {}, timeouts);
      const link = track(await openHttpLink(cfg(m.url), verdict));
      assert.equal(link.era, verdict.era);
      assert.equal(link.info.serverInfo.name, 'mock-upstream');
      const r = recorder();
      assert.equal(textOf(await link.call('tools/call', { name: 'echo', arguments: { text: 'hi' } }, opts(r))), 'hi');
      const p = await link.call('prompts/get', { name: 'greet', arguments: { name: 'Ann' } }, opts(r));
      assert.ok('result' in p && JSON.stringify(p.result).includes('Hello, Ann!'));
      const res = await link.call('resources/read', { uri: 'mock://item/7' }, opts(r));
      assert.ok('result' in res && JSON.stringify(res.result).includes('item 7'));
      const c = await link.call('completion/complete', { ref: { type: 'ref/prompt', name: 'greet' }, argument: { name: 'name', value: 'b' } }, opts(r));
      assert.ok('result' in c);
      assert.deepEqual((c.result.completion as { values: string[] }).values, ['bob']);
      const f = await link.call('tools/call', { name: 'fail', arguments: {} }, opts(r));
      assert.ok('result' in f && f.result.isError === true);
      if (link.era === 'modern') assert.equal((await link.call('tools/list', {}, opts(r)) as { result: Record<string, unknown> }).result.resultType, 'complete');
    });
  }
});

describe('request-scoped routing', () => {
  for (const mode of ['legacy', 'modern', 'sse'] as const) {
    it(`${mode}: 50 concurrent calls with colliding progress tokens each get only their own progress`, async () => {
      const m = await mock(mode);
      const link = track(await openHttpLink(cfg(m.url), await probeHttpEra(m.url, {}, timeouts)));
      const recs = Array.from({ length: 50 }, () => recorder());
      const outcomes = await Promise.all(
        recs.map((r, i) =>
          link.call('tools/call', { name: 'slow', arguments: { ms: 5, steps: 3 }, _meta: { progressToken: i % 2 === 0 ? 'same' : 7 } }, opts(r)),
        ),
      );
      outcomes.forEach((o) => assert.equal(textOf(o), 'done after 3 steps'));
      recs.forEach((r, i) => {
        const progress = r.notes.filter((n) => n.method === 'notifications/progress');
        assert.deepEqual(
          progress.map((n) => n.params?.progress),
          [1, 2, 3],
          `call ${i} got ${progress.length} progress notifications`,
        );
        for (const n of progress) assert.equal(n.params?.progressToken, i % 2 === 0 ? 'same' : 7);
        if (mode !== 'sse') {
          // logs carry no token: only request-scoped streams can attribute them under concurrency
          assert.equal(r.notes.filter((n) => n.method === 'notifications/message').length, 3);
        }
      });
      assert.equal(link.inFlight, 0);
    });
  }
});

describe('server-to-client requests', () => {
  it('legacy: a sampling request during a call reaches that call and its answer reaches the upstream', async () => {
    const m = await mock('legacy');
    const link = track(await openLegacyHttpLink(cfg(m.url)));
    const bystander = recorder();
    const busy = link.call('tools/call', { name: 'slow', arguments: { ms: 20, steps: 5 } }, opts(bystander));
    const r = recorder(() => ({ result: { role: 'assistant', content: { type: 'text', text: 'sampled!' }, model: 'm' } }));
    const o = await link.call('tools/call', { name: 'sample', arguments: { prompt: 'p?' } }, opts(r));
    assert.equal(textOf(o), 'sampled!');
    assert.equal(r.asked.length, 1);
    assert.equal(r.asked[0]!.method, 'sampling/createMessage');
    assert.equal(bystander.asked.length, 0);
    await busy;
    // the answer went back as a POSTed response with the upstream's own request id
    assert.ok(m.record.messages.some((x) => (x.msg as { id?: unknown; result?: unknown }).id === 'srv-1' && (x.msg as { result?: unknown }).result !== undefined));
  });

  it('legacy: elicitation during a call', async () => {
    const m = await mock('legacy');
    const link = track(await openLegacyHttpLink(cfg(m.url)));
    const r = recorder(() => ({ result: { action: 'accept', content: { answer: 'yes' } } }));
    const o = await link.call('tools/call', { name: 'elicit', arguments: { message: 'ok?' } }, opts(r));
    assert.match(textOf(o), /"answer":"yes"/);
    assert.equal(r.asked[0]!.method, 'elicitation/create');
  });

  it('modern: sampling comes back as input_required (MRTR), not as a server request', async () => {
    const m = await mock('modern');
    const link = track(await openModernHttpLink(cfg(m.url)));
    const r = recorder();
    const o = await link.call('tools/call', { name: 'sample', arguments: { prompt: 'p?' } }, opts(r));
    assert.ok('result' in o);
    assert.equal(o.result.resultType, 'input_required');
    const retry = await link.call(
      'tools/call',
      { name: 'sample', arguments: { prompt: 'p?' }, inputResponses: { sample: { role: 'assistant', content: { type: 'text', text: 'via mrtr' } } }, requestState: o.result.requestState },
      opts(r),
    );
    assert.equal(textOf(retry), 'via mrtr');
    assert.equal(r.asked.length, 0);
  });
});

describe('cancellation', () => {
  it('legacy: aborting the signal sends notifications/cancelled upstream', async () => {
    const m = await mock('legacy');
    const link = track(await openLegacyHttpLink(cfg(m.url)));
    const ac = new AbortController();
    const r = recorder();
    const p = link.call('tools/call', { name: 'slow', arguments: { ms: 50, steps: 200 }, _meta: { progressToken: 'c' } }, opts(r, ac.signal));
    await until(() => r.notes.length > 0, 'first progress');
    ac.abort();
    const o = await p;
    assert.ok('error' in o && o.error.data && (o.error.data as { portcullis: string }).portcullis === 'ERR_CANCELLED');
    await until(() => m.record.cancelled.length === 1, 'cancel notification at the upstream');
  });

  it('modern: aborting the signal closes the POST stream (no notification)', async () => {
    const m = await mock('modern');
    const link = track(await openModernHttpLink(cfg(m.url)));
    const ac = new AbortController();
    const r = recorder();
    const p = link.call('tools/call', { name: 'slow', arguments: { ms: 50, steps: 200 }, _meta: { progressToken: 'c' } }, opts(r, ac.signal));
    await until(() => r.notes.length > 0, 'first progress');
    ac.abort();
    const o = await p;
    assert.ok('error' in o);
    await until(() => m.record.aborted.length === 1, 'stream closed at the upstream');
    assert.equal(m.record.messages.filter((x) => (x.msg as { method?: string }).method === 'notifications/cancelled').length, 0);
  });
});

describe('legacy session lifecycle', () => {
  it('an upstream 404 on the session closes the link', async () => {
    const m = await mock('legacy', { noGetStream: true });
    const link = track(await openLegacyHttpLink(cfg(m.url)));
    const events: LinkEvent[] = [];
    link.onEvent((e) => events.push(e));
    m.expireSessions();
    const o = await link.call('tools/call', { name: 'echo', arguments: { text: 'x' } }, opts(recorder()));
    assert.ok('error' in o);
    assert.equal(link.closed, true);
    assert.deepEqual(events, [{ type: 'closed', reason: 'session expired' }]);
  });

  it('a 405 on GET leaves the link working without a GET stream; close() DELETEs the session', async () => {
    const m = await mock('legacy', { noGetStream: true });
    const link = await openLegacyHttpLink(cfg(m.url));
    await until(() => link.getStream === 'unsupported', 'GET refused');
    assert.equal(textOf(await link.call('tools/call', { name: 'echo', arguments: { text: 'ok' } }, opts(recorder()))), 'ok');
    const sid = link.upstreamSessionId;
    await link.close();
    assert.ok(m.record.requests.some((r) => r.method === 'DELETE' && r.headers['mcp-session-id'] === sid));
  });

  it('resumes a cut POST stream with GET + Last-Event-ID (SEP-1699 polling)', async () => {
    const m = await mock('legacy');
    const link = track(await openLegacyHttpLink(cfg(m.url)));
    const r = recorder();
    const o = await link.call('tools/call', { name: 'slow', arguments: { ms: 30, steps: 3, drop: true }, _meta: { progressToken: 'r' } }, opts(r));
    assert.equal(textOf(o), 'done after 3 steps');
    assert.ok(m.record.resumed.length >= 1);
    assert.ok(m.record.requests.some((q) => q.method === 'GET' && typeof q.headers['last-event-id'] === 'string'));
    assert.deepEqual(
      r.notes.filter((n) => n.method === 'notifications/progress').map((n) => n.params?.progress),
      [1, 2, 3],
    );
  });
});

describe('change notifications', () => {
  it('legacy: list_changed arrives on the GET stream as a link event', async () => {
    const m = await mock('legacy');
    const link = track(await openLegacyHttpLink(cfg(m.url))) as LegacyHttpLink;
    const events: LinkEvent[] = [];
    link.onEvent((e) => events.push(e));
    await until(() => link.getStream === 'open' && m.core.unrelated.size > 0, 'GET stream');
    await link.call('tools/call', { name: 'add_tool', arguments: {} }, opts(recorder()));
    await until(() => events.some((e) => e.type === 'notification' && e.msg.method === 'notifications/tools/list_changed'), 'list_changed');
  });

  it('sse: list_changed arrives on the SSE stream as a link event', async () => {
    const m = await mock('sse');
    const link = track(await openSseLink(cfg(m.url)));
    const events: LinkEvent[] = [];
    link.onEvent((e) => events.push(e));
    await link.call('tools/call', { name: 'add_tool', arguments: {} }, opts(recorder()));
    await until(() => events.some((e) => e.type === 'notification' && e.msg.method === 'notifications/tools/list_changed'), 'list_changed');
  });

  it('modern: a subscriptions/listen call (no total deadline) gets the acknowledgement; list_changed is a link event', async () => {
    // The manager keeps exactly this call open on the control link of every modern upstream.
    const m = await mock('modern');
    const link = track(await openModernHttpLink(cfg(m.url)));
    const events: LinkEvent[] = [];
    link.onEvent((e) => events.push(e));
    const acks: JsonRpcNotification[] = [];
    const ac = new AbortController();
    const sink = { notify: (n: JsonRpcNotification) => acks.push(n), request: async () => ({ result: {} }) };
    const listening = link.call('subscriptions/listen', { notifications: { toolsListChanged: true } }, { sink, signal: ac.signal, totalMs: 0 });
    await until(() => acks.length === 1, 'acknowledged');
    assert.equal(acks[0]!.method, 'notifications/subscriptions/acknowledged');
    await link.call('tools/call', { name: 'add_tool', arguments: {} }, opts(recorder()));
    await until(() => events.some((e) => e.type === 'notification' && e.msg.method === 'notifications/tools/list_changed'), 'list_changed');
    ac.abort();
    const end = await listening;
    assert.ok('error' in end && end.error.data && (end.error.data as { portcullis?: string }).portcullis === 'ERR_CANCELLED');
  });
});

describe('modern mirrored headers', () => {
  it('sends Mcp-Param-* from the tool param map; without it the upstream answers -32020', async () => {
    const m = await mock('modern');
    const link = track(await openModernHttpLink(cfg(m.url)));
    const args = { name: 'region_echo', arguments: { region: 'eu-west', text: 't' } };
    const before = await link.call('tools/call', args, opts(recorder()));
    assert.ok('error' in before && before.error.code === -32020);
    link.setToolParamMaps(new Map([['region_echo', new Map([['Region', ['region']]])]]));
    assert.equal(textOf(await link.call('tools/call', args, opts(recorder()))), 'eu-west:t');
    const last = m.record.requests.at(-1)!;
    assert.equal(last.headers['mcp-param-region'], 'eu-west');
    assert.equal(last.headers['mcp-method'], 'tools/call');
    assert.equal(last.headers['mcp-name'], 'region_echo');
    assert.equal(last.headers['mcp-protocol-version'], '2026-07-28');
  });

  it('a modern-only upstream refuses legacy initialize with its versions', async () => {
    const m = await mock('modern');
    await assert.rejects(openLegacyHttpLink(cfg(m.url)), /did not complete the legacy initialize/);
  });
});

describe('header allowlist (no passthrough)', () => {
  for (const mode of ['legacy', 'modern', 'sse'] as const) {
    it(`${mode}: only configured static headers and transport headers reach the upstream`, async () => {
      const m = await mock(mode);
      const staticHeaders = { 'X-Upstream-Key': 'upstream-secret', 'Mcp-Session-Id': 'client-session', Host: 'evil.example', 'MCP-Protocol-Version': '1999-01-01' };
      const link = track(await openHttpLink(cfg(m.url, staticHeaders), await probeHttpEra(m.url, staticHeaders, timeouts)));
      await link.call('tools/call', { name: 'echo', arguments: { text: 'x' } }, { ...opts(recorder()), traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
      const allowed = new Set(['x-upstream-key', 'content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'mcp-method', 'mcp-name', 'traceparent', 'last-event-id', 'host', 'connection', 'content-length', 'transfer-encoding']);
      for (const r of m.record.requests) {
        for (const h of Object.keys(r.headers)) assert.ok(allowed.has(h) || h.startsWith('mcp-param-'), `unexpected header ${h}`);
        assert.equal(r.headers.authorization, undefined);
        assert.equal(r.headers.cookie, undefined);
        assert.notEqual(r.headers['mcp-session-id'], 'client-session');
        assert.notEqual(r.headers.host, 'evil.example');
        assert.notEqual(r.headers['mcp-protocol-version'], '1999-01-01');
        assert.equal(r.headers['x-upstream-key'], 'upstream-secret');
      }
    });
  }
});

describe('mock upstream entry points', () => {
  it('stdio.ts answers initialize and tools/call', async () => {
    const file = fileURLToPath(new URL('../fixtures/mock-upstream/stdio.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: ['pipe', 'pipe', 'inherit'] });
    after(() => {
      child.kill();
    });
    const lines = createInterface({ input: child.stdout });
    const replies: Record<string, unknown>[] = [];
    lines.on('line', (l) => replies.push(JSON.parse(l) as Record<string, unknown>));
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } })}\n`);
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'stdio!' } } })}\n`);
    await until(() => replies.length >= 2, 'stdio replies', 15_000);
    child.stdin.end();
    assert.equal((replies.find((r) => r.id === 2)!.result as { content: { text: string }[] }).content[0]!.text, 'stdio!');
  });

  it('http.ts prints LISTENING <url> and serves', async () => {
    const file = fileURLToPath(new URL('../fixtures/mock-upstream/http.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', file, '--mode', 'dual', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    after(() => {
      child.kill();
    });
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no LISTENING line')), 15_000);
      createInterface({ input: child.stdout }).on('line', (l) => {
        const m = /^LISTENING (\S+)$/.exec(l);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
    });
    assert.deepEqual(await probeHttpEra(url, {}, timeouts), { transport: 'streamable-http', era: 'modern' });
  });
});

describe('pool bookkeeping', () => {
  it('closing every link releases every pool', async () => {
    const m = await mock('legacy');
    const before = livePoolCount();
    const a = await openLegacyHttpLink(cfg(m.url));
    const b = await openLegacyHttpLink(cfg(m.url));
    assert.equal(livePoolCount(), before + 1);
    await a.close();
    await b.close();
    assert.equal(livePoolCount(), before);
  });
});
