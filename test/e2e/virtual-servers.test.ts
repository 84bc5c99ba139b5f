/**
 * Virtual servers at the wire: `/servers/<name>/mcp` exposes exactly the configured subset
 * (by upstream, by name glob, by tag), with renames and description overrides; calls outside the
 * subset fail as unknown tools; list pagination walks the whole list with sealed cursors that
 * refuse tampering and use on another endpoint.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { repoPath, startGateway, tsNode, type TestGateway } from '../helpers/gateway.js';
import { replyMessage } from './helpers-wire.js';

// Wire payloads are asserted field by field; a loose type keeps those assertions readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

const MODERN = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };
const MOCK_TOOLS = ['echo', 'echo_nonce', 'region_echo', 'slow', 'sample', 'elicit', 'add_tool', 'fail', 'big', 'mock_stats'];

const stdioMock = (name: string, tags: string[]): string => `
  - name: ${name}
    kind: stdio
    tags: ${JSON.stringify(tags)}
    command: ${JSON.stringify(process.execPath)}
    args: ${JSON.stringify(tsNode('test/fixtures/mock-upstream/stdio.ts'))}
    cwd: ${JSON.stringify(repoPath())}`;

let gw: TestGateway;

before(async () => {
  gw = await startGateway(`
gateway:
  storage: memory
  pageSize: 2
log: { level: silent }
upstreams:${stdioMock('alpha', ['blue', 'fast'])}${stdioMock('beta', ['green'])}
virtualServers:
  - name: by-upstream
    include:
      - upstream: beta
  - name: by-glob
    include:
      - tools: ["alpha__echo*", "beta__slo?"]
  - name: by-tag
    include:
      - tags: [blue]
  - name: renamed
    description: A curated pair.
    include:
      - upstream: alpha
        tools: [alpha__echo, alpha__slow]
    rename:
      alpha__echo: say
    descriptions:
      alpha__slow: Takes its time.
`);
  await gw.waitHealthy(['alpha', 'beta']);
});
after(async () => {
  await gw?.close();
});

const endpoint = (vs?: string): string => (vs ? `${gw.url}/servers/${vs}/mcp` : gw.mcp);

let nextId = 1;
async function rpc(vs: string | undefined, method: string, params: Record<string, unknown> = {}): Promise<{ status: number; body: Loose }> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN,
    'mcp-method': method,
  };
  if (typeof params.name === 'string') headers['mcp-name'] = params.name;
  const res = await fetch(endpoint(vs), {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params: { ...params, _meta: META } }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  // A tools/call may stream; the response is the last SSE data line.
  const body = replyMessage(res.headers.get('content-type'), text);
  return { status: res.status, body };
}

/** Walks every page (bounded), checking each page holds at most pageSize items. */
async function listAll(vs: string | undefined, method = 'tools/list', key = 'tools'): Promise<{ items: Loose[]; pages: number }> {
  const items: Loose[] = [];
  let cursor: string | undefined;
  for (let pages = 1; pages <= 100; pages++) {
    const r = await rpc(vs, method, cursor ? { cursor } : {});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const page = r.body.result[key] as Loose[];
    assert.ok(page.length <= 2, `page of ${page.length}`);
    items.push(...page);
    cursor = r.body.result.nextCursor;
    if (cursor === undefined) return { items, pages };
    assert.equal(typeof cursor, 'string');
  }
  throw new Error('pagination did not end within 100 pages');
}

const names = async (vs?: string): Promise<string[]> => (await listAll(vs)).items.map((t) => t.name as string).sort();

describe('virtual servers', () => {
  it('/mcp lists every tool of both upstreams, across pages', async () => {
    const { items, pages } = await listAll(undefined);
    const expected = [...MOCK_TOOLS.map((t) => `alpha__${t}`), ...MOCK_TOOLS.map((t) => `beta__${t}`)].sort();
    assert.deepEqual(items.map((t) => t.name).sort(), expected);
    assert.equal(new Set(items.map((t) => t.name)).size, items.length, 'no duplicates across pages');
    assert.equal(pages, Math.ceil(expected.length / 2));
  });

  it('selects by upstream', async () => {
    assert.deepEqual(await names('by-upstream'), MOCK_TOOLS.map((t) => `beta__${t}`).sort());
  });

  it('selects by name glob', async () => {
    assert.deepEqual(await names('by-glob'), ['alpha__echo', 'alpha__echo_nonce', 'beta__slow']);
  });

  it('selects by tag', async () => {
    assert.deepEqual(await names('by-tag'), MOCK_TOOLS.map((t) => `alpha__${t}`).sort());
  });

  it('renames and re-describes', async () => {
    const { items } = await listAll('renamed');
    assert.deepEqual(items.map((t) => t.name).sort(), ['alpha__slow', 'say']);
    const slow = items.find((t) => t.name === 'alpha__slow');
    assert.equal(slow.description, 'Takes its time.');
    const say = items.find((t) => t.name === 'say');
    assert.equal(say.description, 'Returns its text');
    const called = await rpc('renamed', 'tools/call', { name: 'say', arguments: { text: 'renamed works' } });
    assert.equal(called.body.result.content[0].text, 'renamed works');
    const discover = await rpc('renamed', 'server/discover');
    assert.equal(discover.body.result.instructions, 'A curated pair.');
  });

  it('calls by a name inside the subset work', async () => {
    const r = await rpc('by-upstream', 'tools/call', { name: 'beta__echo', arguments: { text: 'b' } });
    assert.equal(r.body.result.content[0].text, 'b');
    const g = await rpc('by-glob', 'tools/call', { name: 'alpha__echo', arguments: { text: 'g' } });
    assert.equal(g.body.result.content[0].text, 'g');
  });

  it('tools outside the subset are unknown (-32602)', async () => {
    const cases: [string, string][] = [
      ['by-upstream', 'alpha__echo'],
      ['by-glob', 'alpha__slow'],
      ['by-glob', 'beta__echo'],
      ['by-tag', 'beta__echo'],
      ['renamed', 'alpha__echo'], // only reachable by its new name
      ['renamed', 'alpha__fail'],
    ];
    for (const [vs, name] of cases) {
      const r = await rpc(vs, 'tools/call', { name, arguments: { text: 'x' } });
      assert.equal(r.body.error?.code, -32602, `${vs} ${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.data?.portcullis, 'ERR_UNKNOWN_TOOL');
    }
  });

  it('the same selection works for a legacy session on the virtual server', async () => {
    const init = await fetch(endpoint('by-tag'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
      signal: AbortSignal.timeout(10_000),
    });
    const sid = init.headers.get('mcp-session-id')!;
    await init.text();
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 50; i++) {
      const r = await fetch(endpoint('by-tag'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2 + i, method: 'tools/list', params: cursor ? { cursor } : {} }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await r.json()) as Loose;
      seen.push(...body.result.tools.map((t: { name: string }) => t.name));
      assert.equal(body.result.resultType, undefined, 'no resultType for legacy clients');
      cursor = body.result.nextCursor;
      if (!cursor) break;
    }
    assert.deepEqual(seen.sort(), MOCK_TOOLS.map((t) => `alpha__${t}`).sort());
  });

  it('a tampered cursor → -32602', async () => {
    const first = await rpc(undefined, 'tools/list');
    const cursor = first.body.result.nextCursor as string;
    assert.ok(cursor);
    const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    for (const bad of [flip(cursor, 0), flip(cursor, Math.floor(cursor.length / 2)), flip(cursor, cursor.length - 1), `${cursor}x`, 'not-a-cursor', '']) {
      const r = await rpc(undefined, 'tools/list', { cursor: bad });
      assert.equal(r.body.error?.code, -32602, `cursor ${bad}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.data?.portcullis, 'ERR_INVALID_CURSOR');
    }
    const wrongType = await rpc(undefined, 'tools/list', { cursor: 42 });
    assert.equal(wrongType.body.error?.code, -32602);
  });

  it('a cursor from another endpoint or another list → -32602', async () => {
    const fromDefault = (await rpc(undefined, 'tools/list')).body.result.nextCursor as string;
    const fromTag = (await rpc('by-tag', 'tools/list')).body.result.nextCursor as string;
    assert.ok(fromDefault && fromTag);
    for (const [vs, cursor] of [
      ['by-tag', fromDefault],
      ['by-upstream', fromTag],
      [undefined, fromTag],
    ] as const) {
      const r = await rpc(vs, 'tools/list', { cursor });
      assert.equal(r.body.error?.code, -32602, JSON.stringify(r.body));
      assert.equal(r.body.error.data?.portcullis, 'ERR_INVALID_CURSOR');
    }
    // A tools cursor used for prompts.
    const r = await rpc(undefined, 'prompts/list', { cursor: fromDefault });
    assert.equal(r.body.error?.code, -32602);
  });
});
