/** Header hygiene and endpoint resolution for the HTTP upstream adapters. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildRequestHeaders, isValidSessionId } from '../../src/upstreams/http/headers.js';
import { resolveEndpoint } from '../../src/upstreams/sse/link.js';

describe('buildRequestHeaders', () => {
  it('keeps static headers but never lets them override transport-owned ones', () => {
    const h = buildRequestHeaders({
      static: { 'X-Api-Key': 'k', Host: 'evil', 'Mcp-Session-Id': 'client', Accept: 'text/html', 'Mcp-Param-Region': 'x', 'X-Bad': 'a\r\nInjected: 1' },
      json: true,
      sessionId: 'upstream',
      protocolVersion: '2025-11-25',
    });
    assert.deepEqual(h, {
      'x-api-key': 'k',
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      'mcp-session-id': 'upstream',
      'mcp-protocol-version': '2025-11-25',
    });
  });

  it('takes only MCP mirrored headers from the mirrored set, and never its version', () => {
    const h = buildRequestHeaders({
      static: {},
      protocolVersion: '2026-07-28',
      mirrored: { 'Mcp-Method': 'tools/call', 'Mcp-Name': 'echo', 'Mcp-Param-Region': 'eu', 'MCP-Protocol-Version': '1999', Authorization: 'Bearer x' },
      traceparent: 'tp',
      lastEventId: 'e1',
    });
    assert.equal(h['mcp-protocol-version'], '2026-07-28');
    assert.equal(h['mcp-param-region'], 'eu');
    assert.equal(h.authorization, undefined);
    assert.equal(h.traceparent, 'tp');
    assert.equal(h['last-event-id'], 'e1');
  });

  it('accepts only visible-ASCII session ids', () => {
    assert.equal(isValidSessionId('abc-123'), true);
    assert.equal(isValidSessionId('a b'), false);
    assert.equal(isValidSessionId(''), false);
    assert.equal(isValidSessionId(undefined), false);
  });
});

describe('resolveEndpoint', () => {
  const base = new URL('http://127.0.0.1:9000/sse');
  it('resolves relative endpoints against the SSE URL', () => {
    assert.equal(resolveEndpoint('/messages?sessionId=1', base)?.href, 'http://127.0.0.1:9000/messages?sessionId=1');
    assert.equal(resolveEndpoint('messages', base)?.href, 'http://127.0.0.1:9000/messages');
  });
  it('refuses another origin', () => {
    assert.equal(resolveEndpoint('http://evil.example/messages', base), undefined);
    assert.equal(resolveEndpoint('//evil.example/messages', base), undefined);
    assert.equal(resolveEndpoint('https://127.0.0.1:9000/messages', base), undefined);
    assert.equal(resolveEndpoint('http://127.0.0.1:9001/messages', base), undefined);
  });
});
