/**
 * Front-door hygiene at the wire (security-checklist C1, C3, C4; mcp-protocol.md §2.1, §4): every
 * hostile or malformed request gets its exact HTTP status and `error.data.portcullis` code, never
 * a crash or a hung request, and a fuzzed body never yields a 5xx.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import { repoPath, startGateway, tsNode, type TestGateway } from '../helpers/gateway.js';

const PROTOCOL = '2025-11-25';
const BASE_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const MAX_BODY = 256 * 1024;
const MAX_DEPTH = 16;
const HEADERS_TIMEOUT_S = 2;

interface WireReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the body in pieces without content-length (chunked transfer encoding). */
  chunks?: Buffer[];
  timeoutMs?: number;
}

/** One HTTP exchange on its own connection, with a hard deadline so nothing can hang the suite. */
function send(url: string, o: SendOptions = {}): Promise<WireReply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    let settled = false;
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: o.method ?? 'POST', headers: o.headers ?? {}, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(parts).toString('utf8') });
        });
        res.on('error', (e) => {
          if (!settled) reject(e);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      if (!settled) reject(new Error(`request to ${url} timed out`));
    }, o.timeoutMs ?? 10_000);
    // The server may answer (413) and close while we are still writing: only a missing answer is a failure.
    req.on('error', (e) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(e);
      }
    });
    if (o.chunks) {
      for (const c of o.chunks) req.write(c);
      req.end();
    } else {
      req.end(o.body);
    }
  });
}

interface RpcError {
  code: number;
  message: string;
  data?: { portcullis?: string } & Record<string, unknown>;
}

function rpcErrorOf(r: WireReply): RpcError {
  const body = JSON.parse(r.text) as { jsonrpc: string; error?: RpcError };
  assert.equal(body.jsonrpc, '2.0');
  assert.ok(body.error, `expected a JSON-RPC error, got ${r.text.slice(0, 200)}`);
  return body.error;
}

function expectError(r: WireReply, status: number, portcullis: string, rpc?: number): RpcError {
  assert.equal(r.status, status, `status for ${portcullis}: ${r.text.slice(0, 200)}`);
  const e = rpcErrorOf(r);
  assert.equal(e.data?.portcullis, portcullis);
  if (rpc !== undefined) assert.equal(e.code, rpc);
  return e;
}

const rpc = (id: number, method: string, params?: Record<string, unknown>): string => JSON.stringify({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
const initBody = (id = 1): string => rpc(id, 'initialize', { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'front-door-test', version: '1' } });

/** Every JSON-RPC message carried by an SSE body, in order. */
function sseMessages(text: string): unknown[] {
  const out: unknown[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data !== '') out.push(JSON.parse(data));
  }
  return out;
}

interface RawConnection {
  /** Everything received so far. */
  text(): string;
  write(data: string): void;
  /** Resolves once `pred` holds for what arrived; rejects after `ms` (nothing here may hang). */
  until(pred: (got: string) => boolean, ms?: number): Promise<void>;
  /** Resolves true when the server closes the connection within `ms`, false otherwise. */
  closedWithin(ms: number): Promise<boolean>;
  destroy(): void;
}

/** A raw TCP connection to the gateway, for what an HTTP client library would hide or refuse. */
function rawConnect(url: string): Promise<RawConnection> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname);
    let got = '';
    let closed = false;
    const waiters = new Set<() => void>();
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      got += d;
      for (const w of [...waiters]) w();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      closed = true;
      for (const w of [...waiters]) w();
    });
    sock.once('connect', () =>
      resolve({
        text: () => got,
        write: (data) => void (sock.destroyed || sock.write(data)),
        until(pred, ms = 5_000) {
          if (pred(got)) return Promise.resolve();
          return new Promise((ok, fail) => {
            const check = (): void => {
              if (!pred(got)) return;
              clearTimeout(t);
              waiters.delete(check);
              ok();
            };
            const t = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`timed out; received so far: ${JSON.stringify(got.slice(0, 400))}`));
            }, ms);
            waiters.add(check);
          });
        },
        closedWithin(ms) {
          if (closed) return Promise.resolve(true);
          return new Promise((ok) => {
            const check = (): void => {
              if (!closed) return;
              clearTimeout(t);
              waiters.delete(check);
              ok(true);
            };
            const t = setTimeout(() => {
              waiters.delete(check);
              ok(false);
            }, ms);
            waiters.add(check);
          });
        },
        destroy: () => sock.destroy(),
      }),
    );
    sock.once('error', reject);
  });
}

/** The head (status line and headers) of each complete response in `text`, in order. */
const heads = (text: string): string[] => text.split('HTTP/1.1 ').slice(1).map((r) => `HTTP/1.1 ${r.split('\r\n\r\n')[0]}`);

let gw: TestGateway;
let sessionId = '';

const YAML = `
gateway:
  storage: memory
  limits:
    maxBodyBytes: ${MAX_BODY}
    maxJsonDepth: ${MAX_DEPTH}
    maxHeaderBytes: 8kb
    headersTimeout: ${HEADERS_TIMEOUT_S}s
log: { level: silent }
upstreams:
  - name: mock
    kind: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ${JSON.stringify(tsNode('test/fixtures/mock-upstream/stdio.ts'))}
    cwd: ${JSON.stringify(repoPath())}
virtualServers:
  - name: x
    include:
      - upstream: mock
  - name: m
    eras: modern
    include:
      - upstream: mock
`;

before(async () => {
  gw = await startGateway(YAML);
  await gw.waitHealthy(['mock']);
  const r = await send(gw.mcp, { headers: BASE_HEADERS, body: initBody() });
  assert.equal(r.status, 200);
  sessionId = String(r.headers['mcp-session-id']);
});
after(async () => {
  await gw?.close();
});

const inSession = (): Record<string, string> => ({ ...BASE_HEADERS, 'mcp-session-id': sessionId, 'mcp-protocol-version': PROTOCOL });

describe('DNS-rebinding guard (C1)', () => {
  it('refuses a foreign Origin with 403 on every route', async () => {
    const evil = { origin: 'http://evil.example' };
    const cases: [string, string, string | undefined][] = [
      ['POST', '/mcp', initBody()],
      ['GET', '/mcp', undefined],
      ['GET', '/sse', undefined],
      ['GET', '/readyz', undefined],
      ['POST', '/servers/x/mcp', initBody()],
      ['POST', '/messages?sessionId=nope', rpc(1, 'ping')],
    ];
    for (const [method, path, body] of cases) {
      const r = await send(`${gw.url}${path}`, { method, headers: { ...BASE_HEADERS, ...evil }, body });
      expectError(r, 403, 'ERR_ORIGIN_FORBIDDEN');
    }
  });

  it('refuses a foreign Host with 403', async () => {
    for (const host of ['evil.example', 'evil.example:80', '127.0.0.1.evil.example']) {
      const r = await send(gw.mcp, { headers: { ...BASE_HEADERS, host }, body: initBody() });
      expectError(r, 403, 'ERR_HOST_FORBIDDEN');
    }
    const ready = await send(`${gw.url}/readyz`, { method: 'GET', headers: { host: 'evil.example' } });
    expectError(ready, 403, 'ERR_HOST_FORBIDDEN');
  });

  it('accepts loopback Origins and Hosts', async () => {
    const port = new URL(gw.url).port;
    for (const origin of ['http://localhost:3000', 'http://127.0.0.1', `http://127.0.0.1:${port}`, 'http://[::1]:8080', 'https://localhost']) {
      const r = await send(gw.mcp, { headers: { ...BASE_HEADERS, origin }, body: initBody() });
      assert.equal(r.status, 200, `origin ${origin}: ${r.text.slice(0, 200)}`);
      assert.ok(r.headers['mcp-session-id']);
    }
    const r = await send(gw.mcp, { headers: { ...BASE_HEADERS, host: `localhost:${port}` }, body: initBody() });
    assert.equal(r.status, 200);
  });

  it('refuses "null" and non-http Origins', async () => {
    for (const origin of ['null', 'file://', 'chrome-extension://abc']) {
      const r = await send(gw.mcp, { headers: { ...BASE_HEADERS, origin }, body: initBody() });
      expectError(r, 403, 'ERR_ORIGIN_FORBIDDEN');
    }
  });
});

describe('request shape and limits (C3, C4)', () => {
  it('malformed JSON → 400 -32700', async () => {
    const r = await send(gw.mcp, { headers: inSession(), body: '{"jsonrpc":"2.0","id":1,' });
    expectError(r, 400, 'ERR_PARSE', -32700);
  });

  it('trailing data after the JSON value, or two values, → 400 -32700 (C4)', async () => {
    for (const body of [`${rpc(1, 'ping')} trailing`, `${rpc(1, 'ping')}${rpc(2, 'ping')}`, `${rpc(1, 'ping')}\n{`]) {
      expectError(await send(gw.mcp, { headers: inSession(), body }), 400, 'ERR_PARSE', -32700);
    }
    // Sent chunked, split in the middle of a token.
    const whole = Buffer.from(`${rpc(3, 'ping')}]`);
    const r = await send(gw.mcp, { headers: inSession(), chunks: [whole.subarray(0, 10), whole.subarray(10)] });
    expectError(r, 400, 'ERR_PARSE', -32700);
  });

  it('wrong content type → 415', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
      const r = await send(gw.mcp, { headers: { ...inSession(), 'content-type': ct }, body: rpc(1, 'ping') });
      expectError(r, 415, 'ERR_CONTENT_TYPE');
    }
    const none = await send(gw.mcp, { headers: { accept: BASE_HEADERS.accept }, body: rpc(1, 'ping') });
    expectError(none, 415, 'ERR_CONTENT_TYPE');
  });

  it('Accept without both media types → 406', async () => {
    for (const accept of ['application/json', 'text/event-stream', 'text/html']) {
      const r = await send(gw.mcp, { headers: { ...inSession(), accept }, body: rpc(1, 'ping') });
      expectError(r, 406, 'ERR_NOT_ACCEPTABLE');
    }
  });

  it('a JSON array (batch) → 400 -32600', async () => {
    const r = await send(gw.mcp, { headers: inSession(), body: `[${rpc(1, 'ping')},${rpc(2, 'ping')}]` });
    expectError(r, 400, 'ERR_BATCH_FORBIDDEN', -32600);
  });

  it('JSON deeper than maxJsonDepth → 400', async () => {
    const deep = `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":${'['.repeat(MAX_DEPTH * 4)}${']'.repeat(MAX_DEPTH * 4)}}}`;
    expectError(await send(gw.mcp, { headers: inSession(), body: deep }), 400, 'ERR_JSON_TOO_DEEP');
    // Far deeper than any recursive parser survives: still a clean 400.
    const abyss = '['.repeat(100_000) + ']'.repeat(100_000);
    expectError(await send(gw.mcp, { headers: inSession(), body: abyss }), 400, 'ERR_JSON_TOO_DEEP');
  });

  it('a declared body over maxBodyBytes → 413', async () => {
    const body = Buffer.alloc(MAX_BODY + 1, 0x20);
    expectError(await send(gw.mcp, { headers: inSession(), body }), 413, 'ERR_BODY_TOO_LARGE');
  });

  it('a chunked body over maxBodyBytes without content-length → 413', async () => {
    const chunk = Buffer.alloc(32 * 1024, 0x20);
    const chunks = Array.from({ length: Math.ceil((MAX_BODY * 2) / chunk.length) }, () => chunk);
    const r = await send(gw.mcp, { headers: inSession(), chunks });
    expectError(r, 413, 'ERR_BODY_TOO_LARGE');
  });

  it('a header over maxHeaderBytes → 431', async () => {
    const r = await send(gw.mcp, { headers: { ...inSession(), 'x-padding': 'a'.repeat(20_000) }, body: rpc(1, 'ping') });
    assert.equal(r.status, 431);
    // The gateway still serves afterwards.
    assert.equal((await send(`${gw.url}/healthz`, { method: 'GET' })).status, 200);
  });

  it('compressed bodies are refused, never forwarded uninspected', async () => {
    for (const enc of ['gzip', 'deflate', 'br']) {
      const r = await send(gw.mcp, { headers: { ...inSession(), 'content-encoding': enc }, body: Buffer.from([0x1f, 0x8b, 0x08, 0x00]) });
      expectError(r, 415, 'ERR_CONTENT_TYPE');
    }
  });

  it('a declared body that never arrives gets an answer and a closed connection, not a hang', async () => {
    const u = new URL(gw.mcp);
    const sock = connect(Number(u.port), u.hostname);
    let got = '';
    sock.setEncoding('utf8').on('data', (d: string) => (got += d));
    const closed = new Promise<boolean>((r) => sock.once('close', () => r(true)));
    sock.write(
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${u.port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n` +
        `Mcp-Session-Id: ${sessionId}\r\nContent-Length: 1000\r\n\r\n{"jsonrpc":"2.0",`,
    );
    const timer = new Promise<boolean>((r) => setTimeout(() => r(false), 40_000).unref());
    const ended = await Promise.race([closed, timer]);
    sock.destroy();
    assert.ok(ended, 'the gateway kept a stalled request open');
    assert.match(got, /^HTTP\/1\.1 400 /);
    assert.match(got, /"portcullis":"ERR_INVALID_REQUEST"/);
  });

  it('unknown method → -32601', async () => {
    const r = await send(gw.mcp, { headers: inSession(), body: rpc(7, 'tools/frobnicate') });
    assert.ok(r.status === 200 || r.status === 404, `status ${r.status}`);
    const e = rpcErrorOf(r);
    assert.equal(e.code, -32601);
  });

  it('no session id and no modern _meta → 400', async () => {
    const r = await send(gw.mcp, { headers: BASE_HEADERS, body: rpc(1, 'tools/list') });
    expectError(r, 400, 'ERR_SESSION_REQUIRED');
  });

  it('unknown session id → 404', async () => {
    const r = await send(gw.mcp, { headers: { ...inSession(), 'mcp-session-id': 'no-such-session-0123456789' }, body: rpc(1, 'tools/list') });
    expectError(r, 404, 'ERR_SESSION_NOT_FOUND');
  });

  it('PUT and PATCH → 405 with Allow', async () => {
    for (const method of ['PUT', 'PATCH']) {
      const r = await send(gw.mcp, { method, headers: inSession(), body: rpc(1, 'ping') });
      expectError(r, 405, 'ERR_METHOD_NOT_ALLOWED');
      assert.equal(r.headers.allow, 'GET, POST, DELETE');
    }
  });

  it('a 405 lists the methods of that endpoint: POST only on a modern-only one (RFC 9110 §15.5.6)', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/servers/m/mcp', 'POST'],
      ['DELETE', '/servers/m/mcp', 'POST'],
      ['PUT', '/servers/m/mcp', 'POST'],
      ['PATCH', '/servers/x/mcp', 'GET, POST, DELETE'],
      // HTTP+SSE is 2024-11-05 only: a modern-only endpoint serves no method there.
      ['GET', '/servers/m/sse', ''],
    ];
    for (const [method, path, allow] of cases) {
      const r = await send(`${gw.url}${path}`, { method, headers: { accept: 'text/event-stream', 'mcp-session-id': sessionId } });
      expectError(r, 405, 'ERR_METHOD_NOT_ALLOWED');
      assert.equal(r.headers.allow, allow, `${method} ${path}`);
    }
  });

  it('HEAD on the MCP and SSE paths → 405 with Allow, no session touched, the connection stays usable', async () => {
    // A session with no GET stream yet: a HEAD must not become its stream.
    const init = await send(gw.mcp, { headers: BASE_HEADERS, body: initBody() });
    const sid = String(init.headers['mcp-session-id']);
    const port = new URL(gw.url).port;
    const cases: [string, string][] = [
      ['/sse', 'GET'],
      ['/servers/x/sse', 'GET'],
      ['/mcp', 'GET, POST, DELETE'],
      ['/servers/x/mcp', 'GET, POST, DELETE'],
      ['/servers/m/mcp', 'POST'],
    ];
    const sessionsBefore = gw.gateway.core.sessions.size;
    for (const [path, allow] of cases) {
      const c = await rawConnect(gw.url);
      try {
        c.write(`HEAD ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nMcp-Session-Id: ${sid}\r\n\r\n`);
        await c.until((t) => t.includes('\r\n\r\n'));
        const head = heads(c.text())[0]!;
        assert.match(head, /^HTTP\/1\.1 405 /, `HEAD ${path}: ${head}`);
        assert.match(head, new RegExp(`\r\nallow: ${allow}\r\n`, 'i'), `HEAD ${path}: ${head}`);
        // The same keep-alive connection answers the next request: the HEAD response ended.
        c.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
        await c.until((t) => t.includes('{"status":"ok"}'));
      } finally {
        c.destroy();
      }
    }
    assert.equal(gw.gateway.core.sessions.size, sessionsBefore, 'HEAD /sse created no session');
    // The session's GET stream is still free.
    const stream = await new Promise<number>((resolve, reject) => {
      const u = new URL(gw.mcp);
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': sid }, agent: false }, (res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.setTimeout(5_000, () => req.destroy(new Error('no answer to GET')));
      req.end();
    });
    assert.equal(stream, 200);
  });

  it('HEAD /healthz and /readyz answer and end', async () => {
    const port = new URL(gw.url).port;
    const c = await rawConnect(gw.url);
    try {
      c.write(`HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\nHEAD /readyz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      await c.until((t) => heads(t).length === 2 && t.endsWith('\r\n\r\n'));
      assert.deepEqual(heads(c.text()).map((h) => h.slice(0, 12)), ['HTTP/1.1 200', 'HTTP/1.1 200']);
    } finally {
      c.destroy();
    }
  });

  it('a request answered before its body is read loses its connection, however slowly the body drips', async () => {
    const port = new URL(gw.url).port;
    const host = `Host: 127.0.0.1:${port}\r\n`;
    // A live SSE GET stream alongside: it has no body and must not be cut.
    const init = await send(gw.mcp, { headers: BASE_HEADERS, body: initBody() });
    const sid = String(init.headers['mcp-session-id']);
    const sse = await rawConnect(gw.url);
    sse.write(`GET /mcp HTTP/1.1\r\n${host}Accept: text/event-stream\r\nMcp-Session-Id: ${sid}\r\n\r\n`);
    await sse.until((t) => t.startsWith('HTTP/1.1 200'));
    const cases: [string, string, string | undefined, RegExp][] = [
      // Declared over the limit: 413 at once, then the rest is dripped.
      [
        'declared over-limit body',
        `POST /mcp HTTP/1.1\r\n${host}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 50000000\r\n\r\n{`,
        'aaaa',
        /^HTTP\/1\.1 413 /,
      ],
      // Routes that never read a body.
      ['DELETE with a body', `DELETE /mcp HTTP/1.1\r\n${host}Mcp-Session-Id: ${sid}x\r\nContent-Length: 100000\r\n\r\n`, 'a', /^HTTP\/1\.1 404 /],
      ['GET /healthz with a stalled body', `GET /healthz HTTP/1.1\r\n${host}Content-Length: 100\r\n\r\n`, undefined, /^HTTP\/1\.1 200 /],
      // Refused before reading: the content type is wrong.
      ['refused content type', `POST /mcp HTTP/1.1\r\n${host}Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\n`, 'a', /^HTTP\/1\.1 415 /],
    ];
    const started = Date.now();
    await Promise.all(
      cases.map(async ([name, head, drip, status]) => {
        const c = await rawConnect(gw.url);
        const timer = drip === undefined ? undefined : setInterval(() => c.write(drip), 200);
        try {
          c.write(head);
          await c.until((t) => t.includes('\r\n\r\n'));
          assert.match(c.text(), status, `${name}: ${c.text().slice(0, 200)}`);
          assert.match(heads(c.text())[0]!, /\r\nconnection: close/i, `${name} says Connection: close`);
          assert.ok(await c.closedWithin(5_000), `${name}: the connection was still open 5 s after the answer`);
        } finally {
          clearInterval(timer);
          c.destroy();
        }
      }),
    );
    // Past the grace: the SSE stream is still open and the session still served.
    const wait = 2_500 - (Date.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    try {
      assert.equal(await sse.closedWithin(50), false, 'the SSE GET stream was cut');
      const ping = await send(gw.mcp, { headers: { ...inSession(), 'mcp-session-id': sid }, body: rpc(9, 'ping') });
      assert.equal(ping.status, 200);
    } finally {
      sse.destroy();
    }
  });

  it('headers dripped slower than limits.headersTimeout get 408 and a closed connection within about a second of it', async () => {
    const c = await rawConnect(gw.url);
    const started = Date.now();
    c.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${new URL(gw.url).port}\r\n`);
    let n = 0;
    // A header line every 200 ms: each byte is within any idle timeout, the whole never ends.
    const timer = setInterval(() => c.write(`X-Drip-${n++}: a\r\n`), 200);
    try {
      const closed = await c.closedWithin(HEADERS_TIMEOUT_S * 1000 + 4_000);
      const ms = Date.now() - started;
      assert.ok(closed, `the connection was still open ${ms} ms after the first header byte`);
      assert.match(c.text(), /^HTTP\/1\.1 408 /, c.text().slice(0, 120));
      assert.ok(ms >= HEADERS_TIMEOUT_S * 1000, `closed after ${ms} ms, before the limit`);
    } finally {
      clearInterval(timer);
      c.destroy();
    }
  });

  it('an invalid id is never echoed: the -32600 error carries id null (JSON-RPC 2.0 §5)', async () => {
    for (const id of ['1.5', 'true', '{}', '[1]', '2.5e-1']) {
      const r = await send(gw.mcp, { headers: inSession(), body: `{"jsonrpc":"2.0","id":${id},"method":"ping"}` });
      expectError(r, 400, 'ERR_INVALID_REQUEST', -32600);
      assert.equal((JSON.parse(r.text) as { id: unknown }).id, null, `id ${id}`);
    }
    // A valid id of an invalid request is still echoed.
    const r = await send(gw.mcp, { headers: inSession(), body: '{"jsonrpc":"2.0","id":7,"method":""}' });
    expectError(r, 400, 'ERR_INVALID_REQUEST', -32600);
    assert.equal((JSON.parse(r.text) as { id: unknown }).id, 7);
  });

  it('unknown virtual server → 404', async () => {
    const r = await send(`${gw.url}/servers/nope/mcp`, { headers: BASE_HEADERS, body: initBody() });
    expectError(r, 404, 'ERR_UNKNOWN_VIRTUAL_SERVER');
  });

  it('a 10⁵-element array within the byte limit is handled and memory stays bounded', async () => {
    const arr = `[${new Array(100_000).fill('0').join(',')}]`;
    assert.ok(arr.length < MAX_BODY);
    const bodies = [
      // As a tool argument: forwarded (or refused) as one request.
      `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"mock__echo","arguments":{"text":"big","pad":${arr}}}}`,
      // As a top-level array: a batch, refused before anything else.
      arr,
      // As params of a local method.
      `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"pad":${arr}}}`,
    ];
    const rssBefore = process.memoryUsage().rss;
    for (let round = 0; round < 10; round++) {
      for (const body of bodies) {
        const r = await send(gw.mcp, { headers: inSession(), body, timeoutMs: 20_000 });
        assert.ok(r.status < 500, `status ${r.status}`);
        const msgs = String(r.headers['content-type']).startsWith('text/event-stream') ? sseMessages(r.text) : [JSON.parse(r.text)];
        const last = msgs[msgs.length - 1] as { result?: unknown; error?: unknown };
        assert.ok(last.result !== undefined || last.error !== undefined);
      }
    }
    // 30 requests of ~200 KB: the gateway must not hold on to them (generous bound, not a timing check).
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(grown < 256 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1048576)} MiB`);
  });
});

/** A fuzzed reply must be an answer or a parseable JSON-RPC error, never a 5xx. */
function checkFuzzReply(r: WireReply): void {
  assert.ok(r.status < 500, `5xx: ${r.status} ${r.text.slice(0, 200)}`);
  if (r.status === 202) {
    assert.equal(r.text, '');
    return;
  }
  const ct = String(r.headers['content-type']);
  const msgs = ct.startsWith('text/event-stream') ? sseMessages(r.text) : [JSON.parse(r.text)];
  assert.ok(msgs.length > 0, `empty reply with status ${r.status}`);
  const last = msgs[msgs.length - 1] as { jsonrpc?: string; result?: unknown; error?: { code?: unknown } };
  assert.equal(last.jsonrpc, '2.0');
  assert.ok(last.result !== undefined || typeof last.error?.code === 'number', `not an answer: ${r.text.slice(0, 200)}`);
}

describe('fuzzed bodies never yield a 5xx (C6)', () => {
  it('random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), fc.boolean(), async (bytes, withSession) => {
        const r = await send(gw.mcp, { headers: withSession ? inSession() : BASE_HEADERS, body: Buffer.from(bytes) });
        checkFuzzReply(r);
      }),
      { numRuns: 200 },
    );
  });

  it('random JSON values', async () => {
    await fc.assert(
      fc.asyncProperty(fc.json({ maxDepth: 6 }), fc.boolean(), async (json, withSession) => {
        const r = await send(gw.mcp, { headers: withSession ? inSession() : BASE_HEADERS, body: json });
        checkFuzzReply(r);
      }),
      { numRuns: 200 },
    );
  });

  it('random JSON-RPC-shaped messages in both eras', async () => {
    const method = fc.constantFrom('ping', 'tools/list', 'tools/call', 'prompts/get', 'resources/read', 'server/discover', 'logging/setLevel', 'nope/nope', 'notifications/initialized');
    const id = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.boolean());
    const meta = fc.option(
      fc.record({
        'io.modelcontextprotocol/protocolVersion': fc.constantFrom('2026-07-28', '2025-11-25', 'garbage'),
        'io.modelcontextprotocol/clientCapabilities': fc.oneof(fc.constant({}), fc.jsonValue()),
      }),
      { nil: undefined },
    );
    const params = fc.record(
      { name: fc.oneof(fc.constantFrom('mock__echo', 'mock__nope'), fc.string({ maxLength: 10 })), arguments: fc.jsonValue(), uri: fc.string({ maxLength: 12 }), level: fc.string({ maxLength: 8 }) },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(method, id, params, meta, fc.boolean(), fc.boolean(), async (m, i, p, mt, withSession, withId) => {
        const msg: Record<string, unknown> = { jsonrpc: '2.0', method: m, params: mt ? { ...p, _meta: mt } : p };
        if (withId) msg.id = i;
        const headers: Record<string, string> = withSession ? inSession() : { ...BASE_HEADERS };
        if (mt) {
          headers['mcp-protocol-version'] = String(mt['io.modelcontextprotocol/protocolVersion']);
          headers['mcp-method'] = m;
          if (typeof p.name === 'string' && /^[\x21-\x7e]+$/.test(p.name)) headers['mcp-name'] = p.name;
        }
        const r = await send(gw.mcp, { headers, body: JSON.stringify(msg) });
        checkFuzzReply(r);
      }),
      { numRuns: 200 },
    );
  });
});
