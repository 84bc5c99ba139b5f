/**
 * Era bridging, modern client → legacy upstream (mcp-protocol.md §9): a legacy upstream's
 * sampling request in the middle of a call becomes an `input_required` answer with a
 * requestState sealed by the gateway; the client's retry with `inputResponses` resumes the
 * parked upstream call. The state is bound to the caller and cannot be forged.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': { sampling: {} },
};

async function modernCall(url: string, id: number, name: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}, meta: Record<string, unknown> = META) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': name,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...extra, _meta: meta } }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  // The reply is JSON, or SSE whose last data line is the response.
  const body = text.startsWith('{') ? text : text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).pop()!;
  return { status: res.status, body: JSON.parse(body) as { id: number; result?: Record<string, unknown>; error?: { code: number; data?: { portcullis?: string } } } };
}

describe('modern client, legacy upstream: server-to-client requests are parked behind input_required', () => {
  let mock: MockHttp;
  let gw: TestGateway;
  before(async () => {
    mock = await startMockHttp({ mode: 'legacy' });
    gw = await startGateway(`gateway: { port: 0, storage: memory }\nupstreams:\n  - { name: old, kind: streamable-http, url: "${mock.url}" }\n`);
    await gw.waitHealthy(['old']);
  });
  after(async () => {
    await gw?.close();
    await mock?.close();
  });

  it('asks the client, resumes the parked call with its answer, and returns the upstream result', async () => {
    const first = await modernCall(gw.mcp, 1, 'old__sample', { prompt: 'hello' });
    assert.equal(first.status, 200);
    const r = first.body.result!;
    assert.equal(r.resultType, 'input_required');
    const requests = r.inputRequests as Record<string, { method: string }>;
    const [key, req] = Object.entries(requests)[0]!;
    assert.equal(req.method, 'sampling/createMessage');
    assert.equal(typeof r.requestState, 'string');
    const answer = { role: 'assistant', content: { type: 'text', text: 'sampled-by-client' }, model: 'test' };
    const second = await modernCall(gw.mcp, 2, 'old__sample', { prompt: 'hello' }, { inputResponses: { [key]: answer }, requestState: r.requestState });
    assert.equal(second.body.id, 2);
    assert.equal(second.body.result?.resultType, 'complete');
    assert.match(JSON.stringify(second.body.result), /sampled-by-client/);
  });

  it('refuses a forged or replayed requestState', async () => {
    const first = await modernCall(gw.mcp, 3, 'old__sample', { prompt: 'x' });
    const state = String(first.body.result!.requestState);
    const forged = state.slice(0, -2) + (state.endsWith('AA') ? 'BB' : 'AA');
    const bad = await modernCall(gw.mcp, 4, 'old__sample', { prompt: 'x' }, { inputResponses: { q1: {} }, requestState: forged });
    assert.equal(bad.body.error?.data?.portcullis, 'ERR_INVALID_PARAMS');
    const key = Object.keys(first.body.result!.inputRequests as object)[0]!;
    const ok = await modernCall(gw.mcp, 5, 'old__sample', { prompt: 'x' }, { inputResponses: { [key]: { role: 'assistant', content: { type: 'text', text: 'a' }, model: 'm' } }, requestState: state });
    assert.equal(ok.body.result?.resultType, 'complete');
    const replay = await modernCall(gw.mcp, 6, 'old__sample', { prompt: 'x' }, { inputResponses: { [key]: {} }, requestState: state });
    assert.equal(replay.body.error?.data?.portcullis, 'ERR_INVALID_PARAMS');
  });

  it('answers the upstream with an error when the client did not declare sampling', async () => {
    const noCaps = { ...META, 'io.modelcontextprotocol/clientCapabilities': {} };
    const r = await modernCall(gw.mcp, 7, 'old__sample', { prompt: 'x' }, {}, noCaps);
    assert.equal(r.status, 200);
    // The upstream got an error for its sampling request and finished the call on its own terms.
    assert.notEqual(r.body.result?.resultType, 'input_required');
  });
});
