/**
 * An upstream protected by its own OAuth authorization server, behind the gateway: the operator
 * authorizes the gateway's identity once (what `portcullis upstreams authorize` does), then every
 * upstream request carries the gateway's token from the secret store, never the client's own.
 *
 * The protected upstream is a real MCP server (the mock upstream) behind a small reverse proxy
 * that verifies bearer tokens against the project's built-in authorization server, answering 401
 * with `WWW-Authenticate: Bearer resource_metadata=…` otherwise.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { AuthorizationServerConfig } from '../../src/auth/server/config.js';
import { createAuthorizationServer, type AuthorizationServer } from '../../src/auth/server/provider.js';
import { UpstreamOAuth } from '../../src/auth/upstream-oauth/client.js';
import { addUser } from '../../src/auth/users/users.js';
import { openStore } from '../../src/storage/index.js';
import type { Store } from '../../src/storage/ports.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { Jar, http, signInAs } from '../helpers/oauth-browser.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { legacyClient } from './helpers-wire.js';

const PASSWORD = 'through-the-gate-9';
let mock: MockHttp;
let asStore: Store;
let as: AuthorizationServer;
let server: Server;
let issuer = '';
let resource = '';
let gw: TestGateway;
/** Authorization header values the protected upstream saw, accepted or not. */
const seen: string[] = [];

/** Verifies the bearer, then forwards the MCP request to the mock upstream (JSON answers only). */
async function protectedMcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const auth = req.headers.authorization ?? '';
  seen.push(auth);
  try {
    await jwtVerify(auth.replace(/^Bearer /, ''), createLocalJWKSet(as.jwks()), { issuer, audience: resource });
  } catch {
    res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${issuer}/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"` }).end();
    return;
  }
  const headers: Record<string, string> = {};
  for (const h of ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version']) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  const up = await fetch(mock.url, { method: req.method ?? 'POST', headers, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) });
  const out: Record<string, string> = {};
  for (const h of ['content-type', 'mcp-session-id']) {
    const v = up.headers.get(h);
    if (v) out[h] = v;
  }
  res.writeHead(up.status, out).end(Buffer.from(await up.arrayBuffer()));
}

before(async () => {
  mock = await startMockHttp({ mode: 'legacy', legacyResponse: 'json', noGetStream: true });
  asStore = await openStore({ kind: 'memory', dataDir: '/nonexistent' });
  await addUser(asStore.users, { username: 'operator', tenant: 'ops', roles: ['admin'], password: PASSWORD });
  server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (as?.owns(path)) return void as.handle(req, res);
    if (path === '/.well-known/oauth-protected-resource/mcp') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ resource, authorization_servers: [issuer], scopes_supported: ['mcp:tools'] }));
      return;
    }
    if (path === '/mcp') return void protectedMcp(req, res).catch(() => res.writeHead(502).end());
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  resource = `${issuer}/mcp`;
  as = await createAuthorizationServer({
    issuer,
    resources: [resource],
    scopes: ['mcp:tools'],
    users: asStore.users,
    cfg: AuthorizationServerConfig.parse({ enabled: true }),
    dataDir: '/nonexistent',
    storage: 'memory',
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  gw = await startGateway(['gateway: { storage: memory }', 'log: { level: silent }'].join('\n'));
});

after(async () => {
  await gw?.close();
  await as?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await asStore?.close();
  await mock?.close();
});

test('an operator-authorized OAuth identity reaches a protected upstream; the client token never does', async () => {
  const secrets = gw.gateway.identity.secrets()?.secrets;
  assert.ok(secrets, 'the gateway secret layer is started');
  // The operator's authorization, as `portcullis upstreams authorize prot` does it (loopback redirect).
  const callback = 'http://127.0.0.1:9/callback';
  const oauth = new UpstreamOAuth({ upstream: 'prot', serverUrl: resource, redirectUri: callback, secrets, clientName: 'Portcullis e2e', allowPrivateNetwork: true });
  try {
    const url = await oauth.begin('@gateway');
    const back = await signInAs('operator', PASSWORD, new Jar(), url, callback);
    await oauth.complete(back.searchParams);
  } finally {
    await oauth.close();
  }

  gw.reload(
    [
      'gateway: { storage: memory }',
      'log: { level: silent }',
      'upstreams:',
      `  - { name: prot, kind: streamable-http, url: "${resource}", auth: { type: oauth, allowPrivateNetwork: true } }`,
    ].join('\n'),
  );
  await gw.waitHealthy(['prot']);

  const client = await legacyClient(gw.mcp, { headers: { authorization: 'Bearer the-clients-own-token' } });
  try {
    const r = (await client.callTool({ name: 'prot__echo', arguments: { text: 'behind oauth' } })) as { content: { text: string }[] };
    assert.equal(r.content[0]?.text, 'behind oauth');
  } finally {
    await client.close();
  }
  const bearers = seen.filter((h) => h !== '');
  assert.ok(bearers.length >= 2, `the upstream saw ${bearers.length} authorized requests`);
  assert.ok(!seen.some((h) => h.includes('the-clients-own-token')), 'the client token reached the upstream');
  assert.ok(mock.record.messages.some((m) => (m.msg as { method?: string }).method === 'tools/call'));
});

test('identity: user — a caller without a token gets a one-time authorize link; after signing in, their calls go through with their own token', async () => {
  const secrets = gw.gateway.identity.secrets()?.secrets;
  assert.ok(secrets);
  // The catalogue is read with the gateway identity: the operator authorizes that first.
  const callback = 'http://127.0.0.1:9/callback';
  const op = new UpstreamOAuth({ upstream: 'mine', serverUrl: resource, redirectUri: callback, secrets, clientName: 'Portcullis e2e', allowPrivateNetwork: true });
  try {
    await op.complete((await signInAs('operator', PASSWORD, new Jar(), await op.begin('@gateway'), callback)).searchParams);
  } finally {
    await op.close();
  }
  await addUser(asStore.users, { username: 'carol', tenant: 'ops', roles: [], password: PASSWORD });
  gw.reload(
    [
      'gateway: { storage: memory }',
      'log: { level: silent }',
      'upstreams:',
      `  - { name: mine, kind: streamable-http, url: "${resource}", sharing: per-principal, auth: { type: oauth, identity: user, allowPrivateNetwork: true } }`,
    ].join('\n'),
  );
  await gw.waitHealthy(['mine']);
  const client = await legacyClient(gw.mcp);
  try {
    const before = mock.record.messages.filter((m) => (m.msg as { method?: string }).method === 'tools/call').length;
    let authorizeUrl = '';
    await assert.rejects(client.callTool({ name: 'mine__echo', arguments: { text: 'x' } }), (e: { code?: number; data?: { portcullis?: string; authorizeUrl?: string } }) => {
      assert.equal(e.data?.portcullis, 'ERR_UPSTREAM_AUTH_REQUIRED');
      authorizeUrl = e.data?.authorizeUrl ?? '';
      return true;
    });
    assert.ok(authorizeUrl.startsWith(`${gw.url}/oauth/upstream/mine/authorize?ticket=`), authorizeUrl);
    assert.equal(mock.record.messages.filter((m) => (m.msg as { method?: string }).method === 'tools/call').length, before);
    // The user opens the link: the gateway redirects to the upstream's authorization server,
    // carol signs in and approves, the server redirects back to the gateway's callback.
    const jar = new Jar();
    const back = await signInAs('carol', PASSWORD, jar, authorizeUrl, `${gw.url}/oauth/upstream/callback`);
    const page = await http(jar, 'GET', back);
    assert.equal(page.status, 200, page.text.slice(0, 200));
    // The ticket is single-use.
    assert.equal((await http(new Jar(), 'GET', authorizeUrl)).status, 400);
    const r = (await client.callTool({ name: 'mine__echo', arguments: { text: 'as carol' } })) as { content: { text: string }[] };
    assert.equal(r.content[0]?.text, 'as carol');
  } finally {
    await client.close();
  }
  // The upstream saw carol's token on the call (a JWT with sub carol), not only the operator's.
  const subs = seen.filter((h) => h.startsWith('Bearer ')).map((h) => JSON.parse(Buffer.from(h.slice(7).split('.')[1] ?? '', 'base64url').toString()) as { sub?: string });
  assert.ok(subs.some((p) => p.sub === 'carol'), JSON.stringify(subs.map((p) => p.sub)));
  assert.ok(subs.some((p) => p.sub === 'operator'));
});

test('an OAuth upstream nobody has authorized is unhealthy and says how to fix it', async () => {
  gw.reload(
    [
      'gateway: { storage: memory }',
      'log: { level: silent }',
      'upstreams:',
      `  - { name: fresh, kind: streamable-http, url: "${resource}", auth: { type: oauth, allowPrivateNetwork: true } }`,
    ].join('\n'),
  );
  const deadline = Date.now() + 10_000;
  let body: { upstreams: { name: string; health: string; reason?: string }[] } = { upstreams: [] };
  while (Date.now() < deadline) {
    body = (await (await fetch(`${gw.url}/readyz`)).json()) as typeof body;
    const u = body.upstreams.find((x) => x.name === 'fresh');
    if (u && u.health === 'unhealthy') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const u = body.upstreams.find((x) => x.name === 'fresh');
  assert.equal(u?.health, 'unhealthy', JSON.stringify(body));
  assert.match(u?.reason ?? '', /needs authorization .*portcullis upstreams authorize fresh/);
});
