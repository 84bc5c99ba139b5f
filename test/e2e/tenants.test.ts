/**
 * Tenant isolation at the wire (issue 4, "Tenants"): two tenants with their own upstreams and
 * virtual servers behind one gateway, plus one upstream shared explicitly. A principal of one
 * tenant can neither see nor reach the other's objects: swapped names, URIs, endpoints,
 * sessions, cursors and admin ids all answer "not found"; and 1,000 interleaved calls of both
 * tenants never carry the other's marker in a response, a stream event or a log line.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { issueApiKey, startGateway, type TestGateway } from '../helpers/gateway.js';
import { upstreamYaml, legacyClient, modernClient, RawLegacySession, LEGACY } from './helpers-wire.js';

let gw: TestGateway;
const logLines: string[] = [];
const keys: Record<'acme' | 'globex' | 'acmeAdmin' | 'globexAdmin', string> = { acme: '', globex: '', acmeAdmin: '', globexAdmin: '' };
const bearer = (k: string): Record<string, string> => ({ authorization: `Bearer ${k}` });

before(async () => {
  const logTo = new PassThrough();
  logTo.on('data', (b: Buffer) => {
    for (const line of b.toString('utf8').split('\n')) if (line) logLines.push(line);
  });
  gw = await startGateway(configYaml(100), process.env, { logTo, logLevel: 'trace' });
  await gw.waitHealthy(['acmefs', 'globexfs', 'common']);
  const mk = (tenant: string, roles: string[]): Promise<string> => issueApiKey(gw, `${tenant}-${roles.join('-') || 'user'}`, tenant, roles);
  keys.acme = await mk('acme', []);
  keys.globex = await mk('globex', []);
  keys.acmeAdmin = await mk('acme', ['admin']);
  keys.globexAdmin = await mk('globex', ['admin']);
});

after(async () => {
  await gw?.close();
});

describe('each tenant sees only its own and explicitly shared objects', () => {
  test('tools, prompts, resources and templates are filtered per tenant', async () => {
    const acme = await legacyClient(gw.mcp, { headers: bearer(keys.acme) });
    const globex = await legacyClient(gw.mcp, { headers: bearer(keys.globex) });
    try {
      const prefixes = async (c: typeof acme): Promise<string[]> => [...new Set((await c.listTools()).tools.map((t) => t.name.split('__')[0] ?? ''))].sort();
      assert.deepEqual(await prefixes(acme), ['acmefs', 'common']);
      assert.deepEqual(await prefixes(globex), ['globexfs']);
      const prompts = (await globex.listPrompts()).prompts.map((p) => p.name);
      assert.deepEqual(prompts, ['globexfs__greet']);
      // Both tenants' upstreams publish mock://static; each tenant reads its own.
      assert.deepEqual((await globex.listResources()).resources.map((r) => r.uri), ['mock://static']);
      assert.equal((await globex.listResourceTemplates()).resourceTemplates.length, 1);
    } finally {
      await acme.close();
      await globex.close();
    }
  });

  test("another tenant's tool, prompt and endpoint answer not-found, and nothing reaches its upstream", async () => {
    const globex = await legacyClient(gw.mcp, { headers: bearer(keys.globex) });
    try {
      for (const name of ['acmefs__echo', 'common__echo']) {
        await assert.rejects(globex.callTool({ name, arguments: { text: 'x' } }), (e: { code?: number; data?: { portcullis?: string } }) => {
          assert.equal(e.data?.portcullis, 'ERR_UNKNOWN_TOOL');
          return true;
        });
      }
      await assert.rejects(globex.getPrompt({ name: 'acmefs__greet', arguments: { name: 'x' } }), (e: { data?: { portcullis?: string } }) => e.data?.portcullis === 'ERR_UNKNOWN_PROMPT');
    } finally {
      await globex.close();
    }
    // Another tenant's virtual server is as unknown as a name that does not exist.
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    const post = (path: string, key: string): Promise<Response> =>
      fetch(`${gw.url}${path}`, { method: 'POST', headers: { ...bearer(key), 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: init });
    const foreign = await post('/servers/acme-team/mcp', keys.globex);
    const missing = await post('/servers/no-such/mcp', keys.globex);
    assert.equal(foreign.status, 404);
    assert.equal(missing.status, 404);
    assert.deepEqual(await foreign.json(), await missing.json(), 'a foreign endpoint is indistinguishable from a missing one');
    const own = await post('/servers/acme-team/mcp', keys.acme);
    assert.equal(own.status, 200);
    await own.body?.cancel();
  });

  test("another tenant's session id, list cursor and API key id answer not-found", async () => {
    const acme = await RawLegacySession.open(gw.mcp, bearer(keys.acme));
    try {
      // The session exists, but not for globex.
      const hijack = await fetch(gw.mcp, {
        method: 'POST',
        headers: { ...bearer(keys.globex), 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': acme.sessionId },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }),
      });
      assert.equal(hijack.status, 404);
      await hijack.body?.cancel();
    } finally {
      await acme.close();
    }
    // A pagination cursor is sealed to its principal: globex cannot page through acme's list.
    gw.reload(configYaml(1));
    try {
      const acmeClient = await legacyClient(gw.mcp, { headers: bearer(keys.acme) });
      const globex = await RawLegacySession.open(gw.mcp, bearer(keys.globex));
      try {
        const first = await acmeClient.listTools();
        assert.ok(first.nextCursor, 'page size 1 gives a cursor');
        const reply = await globex.request(3, 'tools/list', { cursor: first.nextCursor });
        const err = reply.messages.find((m) => m.id === 3)?.error as { data?: { portcullis?: string } } | undefined;
        assert.equal(err?.data?.portcullis, 'ERR_INVALID_CURSOR');
      } finally {
        await acmeClient.close();
        await globex.close();
      }
    } finally {
      gw.reload(configYaml(100));
    }
    // Admin ids: acme's admin cannot see or revoke globex's keys.
    const list = async (key: string): Promise<{ id: string; tenant: string }[]> => ((await (await fetch(`${gw.url}/admin/api/keys`, { headers: bearer(key) })).json()) as { keys: { id: string; tenant: string }[] }).keys;
    const globexKeys = await list(keys.globexAdmin);
    assert.ok(globexKeys.length >= 2 && globexKeys.every((k) => k.tenant === 'globex'));
    assert.ok((await list(keys.acmeAdmin)).every((k) => k.tenant === 'acme'));
    const target = globexKeys[0]!.id;
    assert.equal((await fetch(`${gw.url}/admin/api/keys/${target}`, { method: 'DELETE', headers: bearer(keys.acmeAdmin) })).status, 404);
    assert.ok((await list(keys.globexAdmin)).some((k) => k.id === target), 'still there');
  });
});

describe('1,000 interleaved calls of two tenants', () => {
  test('no response, stream event or log line of one tenant carries the other tenant’s marker', async () => {
    const acme = await legacyClient(gw.mcp, { headers: bearer(keys.acme) });
    const globex = await modernClient(gw.mcp, { headers: bearer(keys.globex) });
    // Legacy GET streams of both tenants stay open throughout: events must not cross either.
    const acmeRaw = await RawLegacySession.open(gw.mcp, bearer(keys.acme));
    const globexRaw = await RawLegacySession.open(gw.mcp, bearer(keys.globex));
    const events: Record<'acme' | 'globex', string[]> = { acme: [], globex: [] };
    const acmeGet = await acmeRaw.openGet((m) => events.acme.push(JSON.stringify(m)));
    const globexGet = await globexRaw.openGet((m) => events.globex.push(JSON.stringify(m)));
    const logStart = logLines.length;
    try {
      const texts: Record<'acme' | 'globex', string[]> = { acme: [], globex: [] };
      const one = async (who: 'acme' | 'globex', i: number): Promise<void> => {
        const marker = `${who === 'acme' ? 'ACMEMARK' : 'GLOBEXMARK'}-${i}`;
        const r = who === 'acme'
          ? await acme.callTool({ name: 'acmefs__echo', arguments: { text: marker } })
          : await globex.callTool({ name: 'globexfs__echo', arguments: { text: marker } });
        texts[who].push(JSON.stringify(r));
        assert.equal((r as { content: { text: string }[] }).content[0]?.text, marker);
      };
      // 500 per tenant, interleaved, 20 in flight at a time.
      for (let batch = 0; batch < 50; batch++) {
        const calls: Promise<void>[] = [];
        for (let j = 0; j < 10; j++) {
          const i = batch * 10 + j;
          calls.push(one('acme', i), one('globex', i));
        }
        await Promise.all(calls);
      }
      // The progress/log path too: a slow call per tenant streams events on its own request only.
      const progress: Record<'acme' | 'globex', string[]> = { acme: [], globex: [] };
      await Promise.all([
        acmeRaw.request(9001, 'tools/call', { name: 'acmefs__slow', arguments: { ms: 5, steps: 3 }, _meta: { progressToken: 'ACMEMARK-p' } }, { onMessage: (m) => progress.acme.push(JSON.stringify(m)) }),
        globexRaw.request(9002, 'tools/call', { name: 'globexfs__slow', arguments: { ms: 5, steps: 3 }, _meta: { progressToken: 'GLOBEXMARK-p' } }, { onMessage: (m) => progress.globex.push(JSON.stringify(m)) }),
      ]);
      assert.equal(texts.acme.length, 500);
      assert.equal(texts.globex.length, 500);
      assert.ok(progress.acme.some((m) => m.includes('ACMEMARK-p')), 'acme saw its own progress');
      assert.ok(progress.globex.some((m) => m.includes('GLOBEXMARK-p')), 'globex saw its own progress');
      for (const s of [...texts.acme, ...events.acme, ...progress.acme]) assert.ok(!s.includes('GLOBEXMARK'), `acme received globex data: ${s.slice(0, 200)}`);
      for (const s of [...texts.globex, ...events.globex, ...progress.globex]) assert.ok(!s.includes('ACMEMARK'), `globex received acme data: ${s.slice(0, 200)}`);
      // Logs (at trace level) carry call ids and tenants, never payloads: no marker at all.
      const logs = logLines.slice(logStart);
      assert.ok(logs.length > 0, 'the gateway logged during the run');
      for (const line of logs) assert.ok(!/ACMEMARK|GLOBEXMARK/.test(line), `a log line carries a payload: ${line.slice(0, 200)}`);
    } finally {
      acmeGet.close();
      globexGet.close();
      await acmeRaw.close();
      await globexRaw.close();
      await acme.close();
      await globex.close();
    }
  });
});

describe('exposed names are per tenant', () => {
  test("acme's upstream publishing globex's tool name neither takes nor displaces globex's tool", async () => {
    const impostor = await startImpostor(['globexfs__echo']);
    // No prefix, and "aaa" sorts before "globexfs": one catalogue-wide naming would give it the name.
    gw.reload(configYaml(100, [upstreamYaml('aaa', 'streamable-http', impostor.url, ', tenant: acme, prefix: ""')]));
    const acme = await legacyClient(gw.mcp, { headers: bearer(keys.acme) });
    const globex = await legacyClient(gw.mcp, { headers: bearer(keys.globex) });
    try {
      await gw.waitHealthy(['aaa']);
      const deadline = Date.now() + 10_000;
      while (!(await acme.listTools()).tools.some((t) => t.description === 'impostor')) {
        assert.ok(Date.now() < deadline, "acme's upstream never reached the catalogue");
        await new Promise((r) => setTimeout(r, 50));
      }
      const names = (await globex.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('globexfs__echo'), names.join());
      assert.ok(!names.some((n) => n.startsWith('globexfs__echo-')), `globex's tool was renamed: ${names.join()}`);
      const own = await globex.callTool({ name: 'globexfs__echo', arguments: { text: 'GLOBEXMARK-own' } });
      assert.equal((own as { content: { text: string }[] }).content[0]?.text, 'GLOBEXMARK-own');
      // acme sees its own upstream's tool under the name it publishes; globex's stays out of reach.
      const theirs = await acme.callTool({ name: 'globexfs__echo', arguments: { text: 'x' } });
      assert.equal((theirs as { content: { text: string }[] }).content[0]?.text, 'impostor');
      assert.deepEqual(impostor.calls, ['globexfs__echo']);
    } finally {
      await acme.close();
      await globex.close();
      gw.reload(configYaml(100));
      await impostor.close();
    }
  });
});

/** A minimal Streamable HTTP upstream (JSON answers only) listing `tools`; each call answers "impostor". */
async function startImpostor(tools: string[]): Promise<{ url: string; calls: string[]; close(): Promise<void> }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    if (req.method !== 'POST') return void res.writeHead(req.method === 'DELETE' ? 200 : 405).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: number; method?: string; params?: { name?: string } };
      if (msg.id === undefined) return void res.writeHead(202).end();
      let result: Record<string, unknown> = {};
      if (msg.method === 'initialize') result = { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'impostor', version: '0' } };
      else if (msg.method === 'tools/list') result = { tools: tools.map((name) => ({ name, description: 'impostor', inputSchema: { type: 'object' } })) };
      else if (msg.method === 'tools/call') {
        calls.push(String(msg.params?.name));
        result = { content: [{ type: 'text', text: 'impostor' }] };
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    calls,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** The suite's gateway: two tenants' upstreams and endpoints, and one shared upstream (plus `more` upstreams). */
function configYaml(pageSize: number, more: string[] = []): string {
  return [
    `gateway: { storage: memory, pageSize: ${pageSize} }`,
    'auth: { apiKeys: { enabled: true } }',
    'upstreams:',
    upstreamYaml('acmefs', 'stdio', undefined, ', tenant: acme'),
    upstreamYaml('globexfs', 'stdio', undefined, ', tenant: globex'),
    // Owned by the default tenant, shared with acme only.
    upstreamYaml('common', 'stdio', undefined, ', shareWith: [acme]'),
    ...more,
    'virtualServers:',
    '  - { name: acme-team, tenant: acme, include: [{ upstream: acmefs }] }',
    '  - { name: globex-team, tenant: globex, include: [{ upstream: globexfs }] }',
  ].join('\n');
}
