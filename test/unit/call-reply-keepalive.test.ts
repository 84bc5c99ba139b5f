/**
 * Listen streams carry SSE comment keep-alives once open (spec 2026-07-28 transports: SHOULD),
 * and never before the stream has started or after the call has finished.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CallReply } from '../../src/http/call-reply.js';

test('keepAlive writes an SSE comment on an open stream only', async () => {
  const server = createServer((_req, res) => {
    const reply = new CallReply(res, { session: undefined, logLevel: 'info', clientCapabilities: {}, onClientGone: () => undefined });
    reply.keepAlive(); // not streaming yet: nothing may be written
    reply.notify({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: {} });
    reply.keepAlive();
    reply.finish({ jsonrpc: '2.0', id: 1, result: {} });
    reply.keepAlive(); // finished: nothing more
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const { port } = server.address() as AddressInfo;
    const text = await (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) })).text();
    const comments = text.split('\n').filter((l) => l.startsWith(':'));
    assert.equal(comments.length, 1, text);
    assert.ok(text.indexOf('acknowledged') < text.indexOf(':keep-alive'));
    assert.ok(text.indexOf(':keep-alive') < text.indexOf('"result"'));
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});
