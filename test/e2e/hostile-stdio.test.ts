/**
 * A stdio upstream whose messages cannot be relayed (nested too deeply to serialise): a result
 * becomes a JSON-RPC error for its call, a notification is dropped; either way the gateway keeps
 * serving (before the fix, the progress case crashed it through an uncaught exception).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { repoPath, startGateway, tsNode, type TestGateway } from '../helpers/gateway.js';

const H = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function rpc(url: string, session: string, id: number, method: string, params: Record<string, unknown>) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...H, 'mcp-session-id': session },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  const data = text.startsWith('{') ? text : text.split('\n').filter((l) => l.startsWith('data: ') && l.length > 6).map((l) => l.slice(6)).pop()!;
  return JSON.parse(data) as { id: number; result?: Record<string, unknown>; error?: { data?: { portcullis?: string } } };
}

describe('hostile stdio upstream: unrelayable messages', () => {
  let gw: TestGateway;
  let session = '';
  before(async () => {
    const argv = JSON.stringify(tsNode('test/fixtures/stdio/deep-server.ts'));
    gw = await startGateway(`gateway: { port: 0, storage: memory }\nupstreams:\n  - { name: deep, kind: stdio, command: "${process.execPath}", args: ${argv}, cwd: "${repoPath()}" }\n`);
    await gw.waitHealthy(['deep']);
    const res = await fetch(gw.mcp, {
      method: 'POST',
      headers: H,
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    });
    session = res.headers.get('mcp-session-id')!;
    await res.text();
  });
  after(async () => gw?.close());

  it('a result too deep to serialise becomes an error for that call, and the gateway goes on', async () => {
    const r = await rpc(gw.mcp, session, 1, 'tools/call', { name: 'deep__deep', arguments: {} });
    assert.equal(r.id, 1);
    assert.equal(r.error?.data?.portcullis, 'ERR_UPSTREAM_PROTOCOL');
    const ok = await rpc(gw.mcp, session, 2, 'tools/call', { name: 'deep__ok', arguments: {} });
    assert.match(JSON.stringify(ok.result), /"ok"/);
  });

  it('a progress notification too deep to serialise is dropped; the call completes and the gateway goes on', async () => {
    const r = await rpc(gw.mcp, session, 3, 'tools/call', { name: 'deep__deep_progress', arguments: {}, _meta: { progressToken: 'p' } });
    assert.equal(r.id, 3);
    assert.match(JSON.stringify(r.result), /after deep progress/);
    const ok = await rpc(gw.mcp, session, 4, 'tools/call', { name: 'deep__ok', arguments: {} });
    assert.match(JSON.stringify(ok.result), /"ok"/);
  });
});
