/**
 * exchangeCall, a call's POST on undici's dispatch API, against a real node:http server on
 * port 0: a JSON answer comes back as one string, an SSE answer as a stream, an oversized JSON
 * answer is refused (declared or chunked), and stopping a call ends its request at any point.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { exchangeCall, headersOf } from '../../src/upstreams/http/call-exchange.js';
import { GatewayError } from '../../src/pipeline/errors.js';

const MAX = 1024;
let server: Server;
let pool: Pool;
let base: URL;
/** Requests whose connection closed before the server answered them. */
const closedEarly: string[] = [];

function route(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '';
  req.resume();
  req.on('end', () => {
    if (path === '/json') {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { text: 'é'.repeat(10) } });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } else if (path === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('id: 1\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}\n\n');
      setTimeout(() => res.end('data: {"jsonrpc":"2.0","id":1,"result":{}}\n\n'), 20);
    } else if (path === '/big-declared') {
      const body = `{"pad":"${'x'.repeat(MAX * 2)}"}`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } else if (path === '/big-chunked') {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < 8; i++) res.write('x'.repeat(MAX / 2));
      res.end();
    } else if (path === '/hang') {
      res.on('close', () => {
        if (!res.writableEnded) closedEarly.push(path);
      });
    } else {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<h1>bad gateway</h1>');
    }
  });
}

const request = (path: string) => ({ method: 'POST' as const, url: new URL(path, base), headers: { 'content-type': 'application/json' }, body: '{}', headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });

async function readAll(body: NodeJS.ReadableStream): Promise<string> {
  let s = '';
  for await (const chunk of body) s += (chunk as Buffer).toString('utf8');
  return s;
}

describe('exchangeCall', () => {
  before(async () => {
    server = createServer(route);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    pool = new Pool(base.origin, { connections: 4 });
  });
  after(async () => {
    await pool.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('a JSON answer comes back whole, as text (multi-byte UTF-8 intact)', async () => {
    const a = await exchangeCall(pool, request('/json'), MAX, () => undefined);
    assert.equal(a.statusCode, 200);
    assert.equal(a.stream, undefined);
    assert.deepEqual(JSON.parse(a.text!), { jsonrpc: '2.0', id: 1, result: { text: 'é'.repeat(10) } });
    // Built on demand from the raw head, as node:http would present it.
    assert.equal(a.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(a.headers['content-length'], String(Buffer.byteLength(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { text: 'é'.repeat(10) } }))));
  });

  it('headersOf: names lower-cased, repeated headers as arrays, bytes or strings', () => {
    const h = headersOf([Buffer.from('Content-Type'), Buffer.from('application/json'), 'Set-Cookie', 'a=1', Buffer.from('set-cookie'), Buffer.from('b=2'), 'X-Three', '1', 'x-three', '2', 'X-THREE', '3']);
    assert.deepEqual({ ...h }, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'], 'x-three': ['1', '2', '3'] });
    assert.equal(Object.getPrototypeOf(h), null, 'a header called __proto__ cannot reach the prototype');
  });

  it('an SSE answer comes back as a stream with its headers, read to its end', async () => {
    const a = await exchangeCall(pool, request('/sse'), MAX, () => undefined);
    assert.equal(a.text, undefined);
    assert.equal(a.stream?.headers['content-type'], 'text/event-stream');
    const text = await readAll(a.stream!.body);
    assert.match(text, /notifications\/progress/);
    assert.match(text, /"result":\{\}/);
  });

  it('any other answer is a stream too (the caller reads its status and discards it)', async () => {
    const a = await exchangeCall(pool, request('/other'), MAX, () => undefined);
    assert.equal(a.statusCode, 502);
    assert.equal(await readAll(a.stream!.body), '<h1>bad gateway</h1>');
  });

  it('refuses a JSON answer over the limit, whether its length is declared or it arrives chunked', async () => {
    for (const path of ['/big-declared', '/big-chunked']) {
      await assert.rejects(exchangeCall(pool, request(path), MAX, () => undefined), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_PROTOCOL' && /exceeds 1024 bytes/.test(e.message), path);
    }
    // The pool is still usable afterwards.
    const a = await exchangeCall(pool, request('/json'), MAX, () => undefined);
    assert.equal(a.statusCode, 200);
  });

  it('stopping a call ends its request: while waiting for the answer, and before it was even sent', async () => {
    let stop: (() => void) | undefined;
    const p = exchangeCall(pool, request('/hang'), MAX, (s) => (stop = s));
    await new Promise((r) => setTimeout(r, 50));
    stop!();
    await assert.rejects(p, /call ended/);
    for (let i = 0; i < 50 && closedEarly.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(closedEarly, ['/hang'], 'the server saw the connection close');

    const q = exchangeCall(pool, request('/json'), MAX, (s) => s());
    await assert.rejects(q, /call ended/);
  });

  it('stopping after the answer arrived changes nothing', async () => {
    let stop: (() => void) | undefined;
    const a = await exchangeCall(pool, request('/json'), MAX, (s) => (stop = s));
    stop!();
    assert.equal(a.statusCode, 200);
    const b = await exchangeCall(pool, request('/json'), MAX, () => undefined);
    assert.equal(b.statusCode, 200);
  });
});
