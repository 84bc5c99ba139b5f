/**
 * Downstream sessions at the wire: legacy sessions (negotiation, ids, version header, DELETE,
 * idle TTL, LRU cap, endpoint binding, the GET stream, Last-Event-ID resumption and its bounded
 * buffer) and the modern stateless era (`_meta`, mirrored headers, removed methods,
 * `server/discover`, `resultType`, cancellation by closing the stream). mcp-protocol.md §2.1, §4,
 * §5, §19.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders, type ClientRequest } from 'node:http';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { repoPath, startGateway, tsNode, type TestGateway } from '../helpers/gateway.js';

// Wire payloads are asserted field by field; a loose type keeps those assertions readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

const LEGACY = '2025-11-25';
const MODERN = '2026-07-28';
const PV = 'io.modelcontextprotocol/protocolVersion';
const CAPS = 'io.modelcontextprotocol/clientCapabilities';
const ACCEPT = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

interface SseEvent {
  id?: string;
  data: string;
}

/** An HTTP exchange read incrementally: SSE events are parsed as they arrive. */
interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  events: SseEvent[];
  text: string;
  ended: Promise<void>;
  /** Resolves once `pred` holds for the events so far; rejects after `ms`. */
  waitFor(pred: (events: SseEvent[]) => boolean, ms?: number): Promise<void>;
  /** Drops the connection (the client going away). */
  close(): void;
}

function open(url: string, o: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    let req: ClientRequest | undefined = undefined;
    const timer = setTimeout(() => {
      req?.destroy();
      reject(new Error(`no response from ${url}`));
    }, o.timeoutMs ?? 10_000);
    req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: o.method ?? 'POST', headers: o.headers ?? {}, agent: false }, (res) => {
      clearTimeout(timer);
      let buf = '';
      const waiters = new Set<() => void>();
      let endResolve: () => void = () => undefined;
      const ex: Exchange = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events: [],
        text: '',
        ended: new Promise<void>((r) => (endResolve = r)),
        waitFor(pred, ms = 10_000) {
          if (pred(ex.events)) return Promise.resolve();
          return new Promise((ok, fail) => {
            const t = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`timed out waiting; events so far: ${JSON.stringify(ex.events).slice(0, 600)}`));
            }, ms);
            const check = (): void => {
              if (!pred(ex.events)) return;
              clearTimeout(t);
              waiters.delete(check);
              ok();
            };
            waiters.add(check);
          });
        },
        close() {
          res.destroy();
          req?.destroy();
        },
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        ex.text += chunk;
        buf += chunk;
        let i: number;
        while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(buf[i] === '\r' ? i + 4 : i + 2);
          const ev: SseEvent = { data: '' };
          const data: string[] = [];
          let any = false;
          for (const line of block.split(/\r?\n/)) {
            if (line.startsWith(':')) continue;
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (field === 'id') ev.id = value;
            if (field === 'data') data.push(value);
            any ||= field === 'id' || field === 'data';
          }
          ev.data = data.join('\n');
          if (any) ex.events.push(ev);
        }
        for (const w of [...waiters]) w();
      });
      const done = (): void => {
        endResolve();
        for (const w of [...waiters]) w();
      };
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
      resolve(ex);
    });
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(o.body);
  });
}

/** A complete exchange: status, headers and the body (JSON, or the messages of an SSE body). */
async function post(url: string, headers: Record<string, string>, body: unknown, method = 'POST'): Promise<{ status: number; headers: IncomingHttpHeaders; json: Loose; messages: Loose[] }> {
  const ex = await open(url, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  await Promise.race([ex.ended, new Promise((_r, rej) => setTimeout(() => rej(new Error('body not finished')), 15_000).unref())]);
  const sse = String(ex.headers['content-type']).startsWith('text/event-stream');
  const messages = sse ? ex.events.filter((e) => e.data !== '').map((e) => JSON.parse(e.data)) : ex.text ? [JSON.parse(ex.text)] : [];
  return { status: ex.status, headers: ex.headers, json: messages[messages.length - 1], messages };
}

const msgOf = (e: SseEvent): Loose => (e.data === '' ? undefined : JSON.parse(e.data));

async function initialize(url: string, protocolVersion: unknown = LEGACY): Promise<{ id: string; version: string }> {
  const r = await post(url, ACCEPT, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name: 't', version: '1' } } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return { id: String(r.headers['mcp-session-id']), version: r.json.result.protocolVersion };
}

const sess = (id: string, version = LEGACY): Record<string, string> => ({ ...ACCEPT, 'mcp-session-id': id, 'mcp-protocol-version': version });

function expectError(r: { status: number; json: Loose }, status: number, portcullis: string | undefined, code?: number): Loose {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.ok(r.json?.error, `expected an error: ${JSON.stringify(r.json)}`);
  if (portcullis !== undefined) assert.equal(r.json.error.data?.portcullis, portcullis);
  if (code !== undefined) assert.equal(r.json.error.code, code);
  return r.json.error;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const stdioMock = (name: string): string => `
  - name: ${name}
    kind: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ${JSON.stringify(tsNode('test/fixtures/mock-upstream/stdio.ts'))}
    cwd: ${JSON.stringify(repoPath())}`;

let mock: MockHttp;
let gw: TestGateway;
const extra: TestGateway[] = [];

before(async () => {
  mock = await startMockHttp({ mode: 'modern' });
  gw = await startGateway(`
gateway: { storage: memory }
log: { level: silent }
upstreams:${stdioMock('mock')}
  - name: hm
    kind: streamable-http
    url: ${mock.url}
virtualServers:
  - name: x
    include:
      - upstream: mock
  - name: m
    eras: modern
    include:
      - upstream: mock
`);
  await gw.waitHealthy(['mock', 'hm']);
});
after(async () => {
  await Promise.all(extra.map((g) => g.close()));
  await gw?.close();
  await mock?.close();
});

async function extraGateway(sessions: string, upstreams = ''): Promise<TestGateway> {
  const g = await startGateway(`
gateway:
  storage: memory
  sessions: ${sessions}
log: { level: silent }
upstreams:${upstreams || ' []'}
`);
  extra.push(g);
  return g;
}

describe('legacy sessions', () => {
  it('initialize negotiates the version', async () => {
    assert.equal((await initialize(gw.mcp, '2025-06-18')).version, '2025-06-18');
    assert.equal((await initialize(gw.mcp, '2025-03-26')).version, '2025-03-26');
    assert.equal((await initialize(gw.mcp, '1999-01-01')).version, LEGACY);
    assert.equal((await initialize(gw.mcp, 42)).version, LEGACY);
  });

  it('session ids are visible ASCII, ≥ 128 bits and unique', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { id } = await initialize(gw.mcp);
      assert.match(id, /^[\x21-\x7e]+$/);
      // 22 characters of base64url carry 132 bits; any visible-ASCII encoding of 128 bits needs ≥ 20.
      assert.ok(id.length >= 22, `id too short: ${id}`);
      ids.add(id);
    }
    assert.equal(ids.size, 20);
  });

  it('a session answers requests; a bad MCP-Protocol-Version header → 400', async () => {
    const { id } = await initialize(gw.mcp);
    const ok = await post(gw.mcp, sess(id), { jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.equal(ok.status, 200);
    assert.ok(ok.json.result.tools.some((t: { name: string }) => t.name === 'mock__echo'));
    const bad = await post(gw.mcp, sess(id, '1999-01-01'), { jsonrpc: '2.0', id: 3, method: 'tools/list' });
    expectError(bad, 400, 'ERR_BAD_PROTOCOL_VERSION_HEADER');
  });

  it('notifications are accepted with 202 and no body', async () => {
    const { id } = await initialize(gw.mcp);
    const r = await post(gw.mcp, sess(id), { jsonrpc: '2.0', method: 'notifications/initialized' });
    assert.equal(r.status, 202);
    assert.equal(r.json, undefined);
  });

  it('DELETE ends the session; it is 404 afterwards', async () => {
    const { id } = await initialize(gw.mcp);
    const del = await post(gw.mcp, sess(id), undefined, 'DELETE');
    assert.equal(del.status, 200);
    expectError(await post(gw.mcp, sess(id), { jsonrpc: '2.0', id: 2, method: 'tools/list' }), 404, 'ERR_SESSION_NOT_FOUND');
    expectError(await post(gw.mcp, sess(id), undefined, 'DELETE'), 404, 'ERR_SESSION_NOT_FOUND');
  });

  it('a session id is bound to its endpoint', async () => {
    const { id } = await initialize(gw.mcp);
    expectError(await post(`${gw.url}/servers/x/mcp`, sess(id), { jsonrpc: '2.0', id: 2, method: 'tools/list' }), 404, 'ERR_SESSION_NOT_FOUND');
    const onX = await initialize(`${gw.url}/servers/x/mcp`);
    expectError(await post(gw.mcp, sess(onX.id), { jsonrpc: '2.0', id: 2, method: 'tools/list' }), 404, 'ERR_SESSION_NOT_FOUND');
    // Both still work where they belong.
    assert.equal((await post(gw.mcp, sess(id), { jsonrpc: '2.0', id: 3, method: 'ping' })).status, 200);
    assert.equal((await post(`${gw.url}/servers/x/mcp`, sess(onX.id), { jsonrpc: '2.0', id: 3, method: 'ping' })).status, 200);
  });

  it('an idle session expires after idleTtl → 404', async () => {
    const g = await extraGateway('{ idleTtl: 300ms }');
    const { id } = await initialize(g.mcp);
    assert.equal((await post(g.mcp, sess(id), { jsonrpc: '2.0', id: 2, method: 'ping' })).status, 200);
    // Bounded wait well past the TTL (and past one sweep).
    await sleep(900);
    expectError(await post(g.mcp, sess(id), { jsonrpc: '2.0', id: 3, method: 'ping' }), 404, 'ERR_SESSION_NOT_FOUND');
  });

  it('a session holding its GET stream open is listening, not idle: it outlives idleTtl', async () => {
    const g = await extraGateway('{ idleTtl: 300ms }');
    const { id } = await initialize(g.mcp);
    const stream = await open(g.mcp, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': id, 'mcp-protocol-version': LEGACY } });
    try {
      assert.equal(stream.status, 200);
      await sleep(900);
      assert.equal((await post(g.mcp, sess(id), { jsonrpc: '2.0', id: 2, method: 'ping' })).status, 200);
    } finally {
      stream.close();
    }
  });

  it('a call in flight keeps its session alive past idleTtl; the idle time counts from when it settled', async () => {
    const g = await extraGateway('{ idleTtl: 400ms }', stdioMock('mock'));
    await g.waitHealthy(['mock']);
    const { id } = await initialize(g.mcp);
    // ~1.5 s: several TTLs and sweeps while the call runs.
    const call = await post(g.mcp, sess(id), { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'mock__slow', arguments: { steps: 15, ms: 100 } } });
    assert.equal(call.status, 200);
    assert.equal(call.json?.result?.content?.[0]?.text, 'done after 15 steps', JSON.stringify(call.json));
    // Just settled: not idle yet.
    assert.equal((await post(g.mcp, sess(id), { jsonrpc: '2.0', id: 3, method: 'ping' })).status, 200);
    // Idle from here on: it expires as any other.
    await sleep(1_000);
    expectError(await post(g.mcp, sess(id), { jsonrpc: '2.0', id: 4, method: 'ping' }), 404, 'ERR_SESSION_NOT_FOUND');
  });

  it('a session whose GET stream closes is idle from that moment, not from its last request', async () => {
    const g = await extraGateway('{ idleTtl: 400ms }');
    const { id } = await initialize(g.mcp);
    const stream = await open(g.mcp, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': id, 'mcp-protocol-version': LEGACY } });
    assert.equal(stream.status, 200);
    await sleep(1_000);
    stream.close();
    // Wait (bounded) until the gateway has seen the stream go.
    const session = [...g.gateway.core.sessions.all()].find((s) => s.id === id)!;
    for (let i = 0; i < 40 && session.isListening(); i++) await sleep(5);
    assert.equal(session.isListening(), false);
    assert.equal((await post(g.mcp, sess(id), { jsonrpc: '2.0', id: 2, method: 'ping' })).status, 200);
  });

  it('the session cap evicts the least recently used → 404', async () => {
    const g = await extraGateway('{ max: 3 }');
    const a = await initialize(g.mcp);
    const b = await initialize(g.mcp);
    const c = await initialize(g.mcp);
    // Touch a: b becomes the least recently used.
    assert.equal((await post(g.mcp, sess(a.id), { jsonrpc: '2.0', id: 2, method: 'ping' })).status, 200);
    const d = await initialize(g.mcp);
    expectError(await post(g.mcp, sess(b.id), { jsonrpc: '2.0', id: 2, method: 'ping' }), 404, 'ERR_SESSION_NOT_FOUND');
    for (const s of [a, c, d]) assert.equal((await post(g.mcp, sess(s.id), { jsonrpc: '2.0', id: 3, method: 'ping' })).status, 200);
    // The loop above touched a, c, d in that order: a is now the least recently used.
    await initialize(g.mcp);
    expectError(await post(g.mcp, sess(a.id), { jsonrpc: '2.0', id: 4, method: 'ping' }), 404, 'ERR_SESSION_NOT_FOUND');
    const ready = (await (await fetch(`${g.url}/readyz`)).json()) as { sessions: number };
    assert.equal(ready.sessions, 3);
  });

  it('at the cap, busy sessions are never evicted: a newcomer gets 503 ERR_SESSION_LIMIT', async () => {
    const g = await extraGateway('{ max: 2 }');
    const a = await initialize(g.mcp);
    const b = await initialize(g.mcp);
    const streams = await Promise.all(
      [a, b].map((s) => open(g.mcp, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': s.id, 'mcp-protocol-version': LEGACY } })),
    );
    try {
      const res = await post(g.mcp, ACCEPT, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 't', version: '1' } } });
      expectError(res, 503, 'ERR_SESSION_LIMIT');
      for (const s of [a, b]) assert.equal((await post(g.mcp, sess(s.id), { jsonrpc: '2.0', id: 2, method: 'ping' })).status, 200);
    } finally {
      for (const st of streams) st.close();
    }
  });

  it('GET opens the session stream; a second concurrent GET → 409; GET without session → 400', async () => {
    const { id } = await initialize(gw.mcp);
    const getHeaders = { accept: 'text/event-stream', 'mcp-session-id': id, 'mcp-protocol-version': LEGACY };
    const first = await open(gw.mcp, { method: 'GET', headers: getHeaders });
    try {
      assert.equal(first.status, 200);
      assert.match(String(first.headers['content-type']), /^text\/event-stream/);
      const second = await post(gw.mcp, getHeaders, undefined, 'GET');
      assert.equal(second.status, 409);
      assert.ok(second.json.error);
    } finally {
      first.close();
    }
    expectError(await post(gw.mcp, { accept: 'text/event-stream' }, undefined, 'GET'), 400, 'ERR_SESSION_REQUIRED');
    expectError(await post(gw.mcp, { accept: 'text/event-stream', 'mcp-session-id': 'nope-nope-nope-nope-nope' }, undefined, 'GET'), 404, 'ERR_SESSION_NOT_FOUND');
    // After the first stream is gone, a new GET is allowed again (bounded retries while the close propagates).
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      const again = await open(gw.mcp, { method: 'GET', headers: getHeaders });
      status = again.status;
      again.close();
      if (status !== 200) await sleep(20);
    }
    assert.equal(status, 200);
  });

  it('Last-Event-ID resumes the cut stream: the rest of its events and the result, never another stream’s', async () => {
    const { id } = await initialize(gw.mcp);
    const h = sess(id);
    const getStream = await open(gw.mcp, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': id, 'mcp-protocol-version': LEGACY } });
    const call = (rid: number, token: string, steps: number): Promise<Exchange> =>
      open(gw.mcp, {
        headers: h,
        body: JSON.stringify({ jsonrpc: '2.0', id: rid, method: 'tools/call', params: { name: 'mock__slow', arguments: { steps, ms: 120 }, _meta: { progressToken: token } } }),
      });
    const a = await call(10, 'tok-A', 6);
    const b = await call(11, 'tok-B', 6);
    try {
      assert.equal(a.status, 200);
      assert.match(String(a.headers['content-type']), /^text\/event-stream/);
      // Read A up to its first progress notification, then cut the connection.
      await a.waitFor((evs) => evs.some((e) => msgOf(e)?.method === 'notifications/progress'));
      const seen = [...a.events];
      const lastId = seen[seen.length - 1]!.id;
      assert.ok(lastId, 'events on a legacy POST stream carry ids');
      a.close();
      await sleep(300);

      const resumed = await open(gw.mcp, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': id, 'mcp-protocol-version': LEGACY, 'last-event-id': lastId } });
      assert.equal(resumed.status, 200);
      await resumed.waitFor((evs) => evs.some((e) => msgOf(e)?.id === 10), 15_000);
      await b.waitFor((evs) => evs.some((e) => msgOf(e)?.id === 11), 15_000);
      resumed.close();

      const msgs = resumed.events.map(msgOf).filter((m) => m !== undefined);
      const final = msgs.find((m) => m.id === 10);
      assert.equal(final.result.content[0].text, 'done after 6 steps');
      // Never an event already delivered, never one of B's stream or the GET stream.
      const seenIds = new Set(seen.map((e) => e.id));
      const bIds = new Set(b.events.map((e) => e.id));
      for (const e of resumed.events) {
        assert.ok(!seenIds.has(e.id), `replayed an event already seen: ${e.id}`);
        assert.ok(!bIds.has(e.id), `event of another stream: ${e.id}`);
      }
      for (const m of msgs) {
        if (m.method === 'notifications/progress') assert.equal(m.params.progressToken, 'tok-A');
        assert.notEqual(m.id, 11);
      }
      // A's progress, counted over both connections, is complete and in order.
      const progress = [...seen.map(msgOf), ...msgs].filter((m) => m?.method === 'notifications/progress').map((m) => m.params.progress);
      assert.deepEqual(progress, [1, 2, 3, 4, 5, 6]);
      // B ran undisturbed on its own stream.
      const bFinal = b.events.map(msgOf).find((m) => m?.id === 11);
      assert.equal(bFinal.result.content[0].text, 'done after 6 steps');
      for (const e of getStream.events) assert.equal(e.data === '' || !('id' in (msgOf(e) ?? {})), true, 'no responses on the GET stream');
    } finally {
      a.close();
      b.close();
      getStream.close();
    }
  });

  it('an unknown Last-Event-ID is refused, not guessed', async () => {
    const { id } = await initialize(gw.mcp);
    const r = await post(gw.mcp, { accept: 'text/event-stream', 'mcp-session-id': id, 'last-event-id': 'garbage' }, undefined, 'GET');
    assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
  });

  it('the resumption buffer is bounded (resumeBufferEvents)', async () => {
    const g = await extraGateway('{ resumeBufferEvents: 4 }', stdioMock('mock'));
    await g.waitHealthy(['mock']);
    const { id } = await initialize(g.mcp);
    const a = await open(g.mcp, {
      headers: sess(id),
      body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'mock__slow', arguments: { steps: 10, ms: 20 }, _meta: { progressToken: 't' } } }),
    });
    await a.waitFor((evs) => evs.length > 0);
    const primeId = a.events[0]!.id!;
    a.close();
    // Wait (bounded) until the call has finished inside the gateway.
    const session = [...g.gateway.core.sessions.all()].find((s) => s.id === id)!;
    for (let i = 0; i < 200 && session.inFlight.size > 0; i++) await sleep(25);
    assert.equal(session.inFlight.size, 0, 'call did not finish');
    const r = await open(g.mcp, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': id, 'last-event-id': primeId } });
    await Promise.race([r.ended, sleep(5_000)]);
    r.close();
    assert.equal(r.status, 200);
    // 10 progress + 10 log events + the result were sent; only the last 4 are kept.
    assert.ok(r.events.length <= 4, `replayed ${r.events.length} events`);
    assert.ok(r.events.length > 0);
    assert.equal(msgOf(r.events[r.events.length - 1]!)?.id, 5, 'the final response is among the kept events');
  });
});

/** Opens an HTTP+SSE (2024-11-05) session: its stream, and the messages URL from its `endpoint` event. */
async function openSse(base: string): Promise<{ stream: Exchange; id: string; messages: string }> {
  const stream = await open(`${base}/sse`, { method: 'GET', headers: { accept: 'text/event-stream' } });
  assert.equal(stream.status, 200);
  await stream.waitFor((evs) => evs.length > 0);
  const path = stream.events[0]!.data;
  const id = decodeURIComponent(/sessionId=([^&]+)/.exec(path)![1]!);
  return { stream, id, messages: `${base}${path}` };
}

describe('transports and eras are not mixed on a session', () => {
  it('/messages refuses a Streamable HTTP session, and /mcp an HTTP+SSE one (404)', async () => {
    const { id } = await initialize(gw.mcp, '2025-06-18');
    // An initialize through /messages would have overwritten the session's version.
    const init = { jsonrpc: '2.0', id: 9, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
    expectError(await post(`${gw.url}/messages?sessionId=${encodeURIComponent(id)}`, ACCEPT, init), 404, 'ERR_SESSION_NOT_FOUND');
    expectError(await post(`${gw.url}/messages?sessionId=${encodeURIComponent(id)}`, ACCEPT, { jsonrpc: '2.0', id: 10, method: 'ping' }), 404, 'ERR_SESSION_NOT_FOUND');
    const session = [...gw.gateway.core.sessions.all()].find((s) => s.id === id)!;
    assert.equal(session.protocolVersion, '2025-06-18');
    assert.equal((await post(gw.mcp, sess(id, '2025-06-18'), { jsonrpc: '2.0', id: 2, method: 'ping' })).status, 200);

    const sse = await openSse(gw.url);
    try {
      for (const method of ['POST', 'GET', 'DELETE']) {
        const headers = method === 'GET' ? { accept: 'text/event-stream', 'mcp-session-id': sse.id } : sess(sse.id, '2025-11-25');
        const r = await post(gw.mcp, headers, method === 'POST' ? { jsonrpc: '2.0', id: 3, method: 'ping' } : undefined, method);
        expectError(r, 404, 'ERR_SESSION_NOT_FOUND');
      }
      // The HTTP+SSE session itself is untouched and still served on its own route.
      const r = await post(sse.messages, ACCEPT, { jsonrpc: '2.0', id: 4, method: 'ping' });
      assert.equal(r.status, 202);
      await sse.stream.waitFor((evs) => evs.slice(1).some((e) => e.data !== '' && msgOf(e)?.id === 4));
    } finally {
      sse.stream.close();
    }
  });

  it('MCP-Protocol-Version: 2024-11-05 on /mcp → 400; omitting the header still works', async () => {
    const { id } = await initialize(gw.mcp);
    expectError(await post(gw.mcp, sess(id, '2024-11-05'), { jsonrpc: '2.0', id: 2, method: 'tools/list' }), 400, 'ERR_BAD_PROTOCOL_VERSION_HEADER');
    const noHeader = await post(gw.mcp, { ...ACCEPT, 'mcp-session-id': id }, { jsonrpc: '2.0', id: 3, method: 'tools/list' });
    assert.equal(noHeader.status, 200);
    assert.ok(noHeader.json.result.tools.length > 0);
  });

  it('modern-only methods are unknown in a legacy session (-32601), on both legacy transports', async () => {
    const { id } = await initialize(gw.mcp);
    for (const [i, method] of ['server/discover', 'subscriptions/listen'].entries()) {
      const params = method === 'subscriptions/listen' ? { notifications: { toolsListChanged: true } } : {};
      const r = await post(gw.mcp, sess(id), { jsonrpc: '2.0', id: 20 + i, method, params });
      // Legacy era: the JSON-RPC error on a 200 (a 404 would tell the client its session is gone).
      expectError(r, 200, 'ERR_METHOD_NOT_FOUND', -32601);
      assert.equal(r.json.id, 20 + i);
      assert.equal(r.headers['mcp-session-id'], id);
    }
    const session = [...gw.gateway.core.sessions.all()].find((s) => s.id === id)!;
    assert.equal(session.inFlight.size, 0, 'nothing left in flight');

    const sse = await openSse(gw.url);
    try {
      for (const [i, method] of ['server/discover', 'subscriptions/listen'].entries()) {
        assert.equal((await post(sse.messages, ACCEPT, { jsonrpc: '2.0', id: 30 + i, method, params: {} })).status, 202);
        await sse.stream.waitFor((evs) => evs.slice(1).some((e) => e.data !== '' && msgOf(e)?.id === 30 + i));
        // Event 0 is `endpoint` (a URL, not JSON).
        const answer = sse.stream.events.slice(1).map(msgOf).find((m) => m?.id === 30 + i);
        assert.equal(answer.error?.code, -32601, JSON.stringify(answer));
      }
    } finally {
      sse.stream.close();
    }
  });

  it('a modern-only endpoint ignores Mcp-Session-Id', async () => {
    const { id } = await initialize(gw.mcp);
    for (const sid of [id, 'no-such-session-0123456789']) {
      const r = await post(`${gw.url}/servers/m/mcp`, { ...modernHeaders('tools/list'), 'mcp-session-id': sid }, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta() } });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.ok(Array.isArray(r.json.result.tools));
      assert.equal(r.headers['mcp-session-id'], undefined, 'no session echoed');
    }
    // A legacy request there is a modern request without _meta, session id or not.
    expectError(await post(`${gw.url}/servers/m/mcp`, sess(id), { jsonrpc: '2.0', id: 2, method: 'tools/list' }), 400, 'ERR_MISSING_META', -32602);
  });
});

const meta = (extraMeta: Record<string, unknown> = {}, version: unknown = MODERN): Record<string, unknown> => ({ [PV]: version, [CAPS]: {}, ...extraMeta });
const modernHeaders = (method: string, name?: string, version = MODERN): Record<string, string> => ({
  ...ACCEPT,
  'mcp-protocol-version': version,
  'mcp-method': method,
  ...(name !== undefined ? { 'mcp-name': name } : {}),
});

describe('modern stateless era', () => {
  it('a modern header without _meta protocolVersion → 400 -32602', async () => {
    const r = await post(gw.mcp, modernHeaders('tools/list'), { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expectError(r, 400, 'ERR_MISSING_META', -32602);
  });

  it('no session id and no _meta → 400', async () => {
    expectError(await post(gw.mcp, ACCEPT, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }), 400, 'ERR_SESSION_REQUIRED');
  });

  it('an unsupported version → 400 -32022 with data.supported', async () => {
    const r = await post(gw.mcp, modernHeaders('tools/list', undefined, '2099-01-01'), { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta({}, '2099-01-01') } });
    const e = expectError(r, 400, 'ERR_UNSUPPORTED_VERSION', -32022);
    assert.ok(Array.isArray(e.data.supported) && e.data.supported.includes(MODERN), JSON.stringify(e.data));
    assert.equal(e.data.requested, '2099-01-01');
  });

  it('MCP-Protocol-Version differing from the body → 400 -32020', async () => {
    const r = await post(gw.mcp, modernHeaders('tools/list', undefined, '2025-06-18'), { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta() } });
    expectError(r, 400, 'ERR_HEADER_MISMATCH', -32020);
  });

  it('Mcp-Method or Mcp-Name differing from the body → 400 -32020', async () => {
    const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'mock__echo', arguments: { text: 'x' }, _meta: meta() } };
    expectError(await post(gw.mcp, modernHeaders('tools/list', 'mock__echo'), call), 400, 'ERR_HEADER_MISMATCH', -32020);
    expectError(await post(gw.mcp, modernHeaders('tools/call', 'mock__slow'), call), 400, 'ERR_HEADER_MISMATCH', -32020);
    expectError(await post(gw.mcp, modernHeaders('tools/call'), call), 400, 'ERR_HEADER_MISMATCH', -32020);
    // With matching headers the same call goes through.
    const ok = await post(gw.mcp, modernHeaders('tools/call', 'mock__echo'), call);
    assert.equal(ok.status, 200);
    assert.equal(ok.json.result.content[0].text, 'x');
    assert.equal(ok.json.result.resultType, 'complete');
  });

  it('initialize, ping and logging/setLevel are gone in the modern era → 404 -32601', async () => {
    for (const method of ['initialize', 'ping', 'logging/setLevel']) {
      const params = method === 'logging/setLevel' ? { level: 'info', _meta: meta() } : method === 'initialize' ? { protocolVersion: MODERN, capabilities: {}, _meta: meta() } : { _meta: meta() };
      const r = await post(gw.mcp, modernHeaders(method), { jsonrpc: '2.0', id: 1, method, params });
      expectError(r, 404, undefined, -32601);
      assert.equal(r.headers['mcp-session-id'], undefined, 'no session minted');
    }
  });

  it('subscriptions/listen with a malformed filter → -32602, not an empty acknowledgement', async () => {
    for (const notifications of [5, 'tools', [true], { toolsListChanged: 'yes' }, { resourceSubscriptions: 'file:///a' }, { resourceSubscriptions: [1] }]) {
      const r = await post(gw.mcp, modernHeaders('subscriptions/listen'), { jsonrpc: '2.0', id: 1, method: 'subscriptions/listen', params: { notifications, _meta: meta() } });
      assert.ok(r.status < 500, `status ${r.status}`);
      assert.equal(r.json?.error?.code, -32602, `${JSON.stringify(notifications)}: ${JSON.stringify(r.messages).slice(0, 300)}`);
      assert.ok(!r.messages.some((m) => m.method === 'notifications/subscriptions/acknowledged'), 'nothing acknowledged');
    }
  });

  it('server/discover answers with versions, capabilities and cache hints', async () => {
    const r = await post(gw.mcp, modernHeaders('server/discover'), { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: meta() } });
    assert.equal(r.status, 200);
    const res = r.json.result;
    assert.ok(Array.isArray(res.supportedVersions) && res.supportedVersions.includes(MODERN) && res.supportedVersions.includes(LEGACY));
    assert.ok(res.capabilities && typeof res.capabilities === 'object' && res.capabilities.tools);
    assert.equal(res.resultType, 'complete');
    assert.equal(typeof res.ttlMs, 'number');
    assert.ok(['public', 'private'].includes(res.cacheScope));
    assert.equal(r.headers['mcp-session-id'], undefined);
  });

  it('list results carry resultType', async () => {
    for (const [method, key] of [
      ['tools/list', 'tools'],
      ['prompts/list', 'prompts'],
      ['resources/list', 'resources'],
      ['resources/templates/list', 'resourceTemplates'],
    ] as const) {
      const r = await post(gw.mcp, modernHeaders(method), { jsonrpc: '2.0', id: 1, method, params: { _meta: meta() } });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.result.resultType, 'complete', method);
      assert.ok(Array.isArray(r.json.result[key]), method);
    }
  });

  it('closing a modern call’s stream cancels it upstream', async () => {
    const before = mock.record.aborted.length;
    const ex = await open(gw.mcp, {
      headers: modernHeaders('tools/call', 'hm__slow'),
      body: JSON.stringify({ jsonrpc: '2.0', id: 'cancel-me', method: 'tools/call', params: { name: 'hm__slow', arguments: { steps: 100, ms: 100 }, _meta: meta({ progressToken: 'p' }) } }),
    });
    assert.equal(ex.status, 200);
    await ex.waitFor((evs) => evs.some((e) => msgOf(e)?.method === 'notifications/progress'));
    ex.close();
    for (let i = 0; i < 200 && mock.record.aborted.length === before; i++) await sleep(25);
    assert.ok(mock.record.aborted.length > before, 'upstream saw the cancellation');
    assert.ok(!ex.events.some((e) => msgOf(e)?.id === 'cancel-me'), 'no response after cancellation');
  });
});
