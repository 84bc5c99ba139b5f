/**
 * The gateway as OAuth client of an upstream's own authorization server, end to end over real
 * HTTP: the project's built-in authorization server (oidc-provider: DCR, PKCE S256, RFC 8707,
 * RFC 9207 iss, refresh rotation) protects a small MCP endpoint on the same node:http server that
 * answers 401 + `WWW-Authenticate: Bearer resource_metadata=…` unless the bearer token verifies
 * (jose, against the AS's published keys, audience = the endpoint). Login and consent pages are
 * driven over plain HTTP with a cookie jar.
 *
 * Covered: the gateway identity via begin/complete and its refresh; a principal's flow through
 * the front-door routes (ticket, browser binding cookie, callback page); replayed tickets and
 * callbacks; a wrong `iss` with the code provably left unredeemed (security checklist A7); the
 * `portcullis upstreams authorize` command's loopback flow, whose tokens the gateway then uses and
 * refreshes; the command's refusals.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { createKeyring, keyFromBytes } from '../../src/auth/secrets/keyring.js';
import { EncryptedSecrets } from '../../src/auth/secrets/secret-store.js';
import { AuthorizationServerConfig } from '../../src/auth/server/config.js';
import { createAuthorizationServer, type AuthorizationServer } from '../../src/auth/server/provider.js';
import { UpstreamOAuth, type UpstreamOAuthOptions } from '../../src/auth/upstream-oauth/client.js';
import { OAuthUpstreamAuth } from '../../src/auth/upstream-oauth/config.js';
import { FlowRegistry } from '../../src/auth/upstream-oauth/flows.js';
import { createUpstreamOAuthRoutes, type UpstreamOAuthRoutes } from '../../src/auth/upstream-oauth/routes.js';
import { UpstreamOAuthStore } from '../../src/auth/upstream-oauth/store.js';
import { makeTicketUrl, TicketBook } from '../../src/auth/upstream-oauth/tickets.js';
import { addUser } from '../../src/auth/users/users.js';
import { Jar, http, signInAs } from '../helpers/oauth-browser.js';
import { upstreamsCommand } from '../../src/cli/upstreams.js';
import { GatewayError } from '../../src/pipeline/errors.js';
import { openStore } from '../../src/storage/index.js';
import type { Store } from '../../src/storage/ports.js';

const PASSWORD = 'looking-glass-7';
const signIn = (jar: Jar, start: string | URL, callbackPrefix: string): Promise<URL> => signInAs('alice', PASSWORD, jar, start, callbackPrefix);
const NAME = 'demo';
const GW = '@gateway';

describe('upstream OAuth against the built-in authorization server', () => {
  let server: Server;
  let as: AuthorizationServer;
  let store: Store;
  let dataDir: string;
  let issuer = '';
  let resource = '';
  let routes: UpstreamOAuthRoutes;
  let secrets: EncryptedSecrets;
  const flows = new FlowRegistry();
  const tickets = new TicketBook();
  const accepted: string[] = [];
  let t = Date.now();
  const now = () => t;
  const gatewayClients = new Map<string, UpstreamOAuth>();
  const made: UpstreamOAuth[] = [];

  const make = (o: Partial<UpstreamOAuthOptions> = {}): UpstreamOAuth => {
    const c = new UpstreamOAuth({
      upstream: NAME,
      serverUrl: resource,
      redirectUri: `${issuer}/oauth/upstream/callback`,
      secrets,
      clientName: 'Portcullis e2e',
      allowPrivateNetwork: true,
      now,
      flows,
      tickets,
      ...o,
    });
    made.push(c);
    return c;
  };

  /** The protected MCP endpoint: a JSON-RPC answer for a verified token, else the 401 challenge. */
  const mcp = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    for await (const _ of req) void _;
    const h = req.headers.authorization ?? '';
    const token = h.startsWith('Bearer ') ? h.slice(7) : '';
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(as.jwks()), { issuer, audience: resource });
      accepted.push(token);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { sub: payload.sub, scope: payload.scope } }));
    } catch {
      res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${issuer}/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"` }).end();
    }
  };

  const callMcp = async (headers: Record<string, string>): Promise<{ status: number; body: unknown }> => {
    const r = await fetch(resource, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
    return { status: r.status, body: r.status === 200 ? await r.json() : undefined };
  };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pcl-uo-e2e-'));
    store = await openStore({ kind: 'memory', dataDir });
    await addUser(store.users, { username: 'alice', tenant: 'acme', roles: ['dev'], password: PASSWORD });
    secrets = new EncryptedSecrets(store.secrets, createKeyring(keyFromBytes(randomBytes(32))));
    server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (as?.owns(path)) return void as.handle(req, res);
      if (routes?.owns(path)) return void routes.handle(req, res);
      if (path === '/.well-known/oauth-protected-resource/mcp') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ resource, authorization_servers: [issuer], scopes_supported: ['mcp:tools'] }));
        return;
      }
      if (path === '/mcp') return void mcp(req, res);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    resource = `${issuer}/mcp`;
    as = await createAuthorizationServer({
      issuer,
      resources: [resource],
      scopes: ['mcp:tools'],
      users: store.users,
      cfg: AuthorizationServerConfig.parse({ enabled: true }),
      dataDir,
      storage: 'memory',
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    gatewayClients.set(NAME, make());
    routes = createUpstreamOAuthRoutes({ clientFor: (n) => gatewayClients.get(n), flows, tickets });
  });

  after(async () => {
    for (const c of made) await c.close();
    await as?.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await store?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('authorizes the gateway identity, presents a token the upstream accepts, and refreshes it', async () => {
    const oauth = gatewayClients.get(NAME) as UpstreamOAuth;
    await assert.rejects(oauth.headers(GW), (e) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_AUTH_REQUIRED');
    assert.equal(await oauth.probe(GW), 401);
    const url = new URL(await oauth.begin(GW));
    assert.equal(url.origin + url.pathname, `${issuer}/auth`);
    assert.equal(url.searchParams.get('resource'), resource);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.deepEqual(url.searchParams.get('scope')?.split(' ').sort(), ['mcp:tools', 'offline_access']);
    const callback = await signIn(new Jar(), url, `${issuer}/oauth/upstream/callback`);
    assert.equal(callback.searchParams.get('iss'), issuer, 'the AS sends RFC 9207 iss');
    assert.deepEqual(await oauth.complete(callback.searchParams), { principalKey: GW });
    await assert.rejects(oauth.complete(callback.searchParams), (e) => e instanceof GatewayError && e.code === 'ERR_BAD_INPUT', 'replayed callback');

    const h1 = await oauth.headers(GW);
    const r1 = await callMcp(h1);
    assert.equal(r1.status, 200);
    assert.deepEqual(r1.body, { jsonrpc: '2.0', id: 1, result: { sub: 'alice', scope: 'mcp:tools' } });
    assert.equal((await callMcp({ authorization: 'Bearer forged' })).status, 401);

    // Ten minutes later the token is due: the refresh goes through the SDK to the AS.
    t += 11 * 60_000;
    const h2 = await oauth.headers(GW);
    assert.notEqual(h2.authorization, h1.authorization);
    assert.equal((await callMcp(h2)).status, 200);
    assert.deepEqual(await oauth.headers(GW), h2, 'no second refresh while the new token is fresh');
  });

  it("authorizes a principal through the gateway's routes: ticket, AS, callback page; replays refused", async () => {
    const jar = new Jar();
    const ticketUrl = makeTicketUrl(issuer, NAME, 'acme:alice', tickets);
    const start = await http(jar, 'GET', ticketUrl);
    assert.equal(start.status, 302);
    assert.equal(start.location?.origin + (start.location?.pathname ?? ''), `${issuer}/auth`);
    assert.match(start.headers.get('set-cookie') ?? '', /^pcl_upstream_oauth=[A-Za-z0-9_-]{43}; Path=\/oauth\/upstream\/; HttpOnly; SameSite=Lax; Max-Age=600$/);
    assert.equal(start.headers.get('referrer-policy'), 'no-referrer');
    const callback = await signIn(jar, start.location as URL, `${issuer}/oauth/upstream/callback`);
    const done = await http(jar, 'GET', callback);
    assert.equal(done.status, 200, done.text);
    assert.match(done.text, /Authorized demo; you can close this window\./);
    assert.match(done.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.match(done.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(done.headers.get('cache-control'), 'no-store');
    assert.equal(done.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.ok(!done.text.includes('<script'));

    const oauth = gatewayClients.get(NAME) as UpstreamOAuth;
    assert.equal((await callMcp(await oauth.headers('acme:alice'))).status, 200);

    const again = await http(new Jar(), 'GET', ticketUrl);
    assert.equal(again.status, 400, 'a ticket is single-use');
    assert.match(again.text, /invalid, expired or already used/);
    const replay = await http(jar, 'GET', callback);
    assert.equal(replay.status, 400, 'a callback is single-use');
    assert.match(replay.text, /Unknown, expired or already used/);
    assert.equal((await http(undefined, 'POST', ticketUrl)).status, 405);
  });

  it('refuses a callback that comes back in another browser', async () => {
    const jar = new Jar();
    const start = await http(jar, 'GET', makeTicketUrl(issuer, NAME, 'acme:bob', tickets));
    const callback = await signIn(jar, start.location as URL, `${issuer}/oauth/upstream/callback`);
    const other = await http(new Jar(), 'GET', callback);
    assert.equal(other.status, 400);
    assert.match(other.text, /another browser/);
    await assert.rejects((gatewayClients.get(NAME) as UpstreamOAuth).headers('acme:bob'), (e) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_AUTH_REQUIRED');
  });

  it('a wrong iss is refused and the code is left unredeemed (the AS still redeems it afterwards)', async () => {
    const oauth = make({ upstream: 'mixup' });
    const url = new URL(await oauth.begin(GW));
    const callback = await signIn(new Jar(), url, `${issuer}/oauth/upstream/callback`);
    const tampered = new URLSearchParams(callback.searchParams);
    tampered.set('iss', 'https://attacker.example');
    await assert.rejects(oauth.complete(tampered), (e) => e instanceof GatewayError && e.code === 'ERR_BAD_INPUT' && /issuer/.test(e.message));
    await assert.rejects(oauth.headers(GW), (e) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_AUTH_REQUIRED');
    // Had the client redeemed the code, the AS would answer invalid_grant now.
    const st = new UpstreamOAuthStore(secrets, 'mixup');
    const client = await st.getClient(GW);
    const verifier = await st.getVerifier(GW);
    const r = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code') ?? '', redirect_uri: `${issuer}/oauth/upstream/callback`, client_id: client?.client_id ?? '', code_verifier: verifier ?? '', resource }).toString(),
    });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(typeof ((await r.json()) as { access_token?: unknown }).access_token, 'string');
  });

  it('`portcullis upstreams authorize` runs the loopback flow; the gateway then uses and refreshes its tokens', async () => {
    const cliSecrets = new EncryptedSecrets((await openStore({ kind: 'memory', dataDir })).secrets, createKeyring(keyFromBytes(randomBytes(32))));
    const out: string[] = [];
    const err: string[] = [];
    let exit: number | undefined;
    let closed = 0;
    const cmd = upstreamsCommand({
      open: async (_config, name) => ({
        upstream: { name, url: resource, auth: OAuthUpstreamAuth.parse({ type: 'oauth', allowPrivateNetwork: true }) },
        secrets: cliSecrets,
        resolveSecret: async () => '',
        close: async () => void closed++,
      }),
      out: (l) => void out.push(l),
      err: (l) => void err.push(l),
      setExitCode: (c) => void (exit = c),
    });
    const run = cmd.parseAsync(['authorize', 'cli-up', '--timeout', '60s'], { from: 'user' });
    let open: string | undefined;
    for (let i = 0; i < 200 && !open && exit === undefined; i++) {
      open = out.find((l) => l.startsWith('Open: '));
      if (!open) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(open, `no Open: line (stderr: ${err.join(' | ')})`);
    assert.equal(out.length, 1, 'one line on stdout before the callback');
    const authUrl = new URL(open.slice('Open: '.length));
    const redirect = new URL(authUrl.searchParams.get('redirect_uri') ?? '');
    assert.equal(redirect.hostname, '127.0.0.1');
    assert.equal(redirect.pathname, '/callback');
    const callback = await signIn(new Jar(), authUrl, redirect.origin + redirect.pathname);
    const page = await http(undefined, 'GET', callback);
    assert.equal(page.status, 200);
    assert.match(page.text, /Authorized cli-up/);
    await run;
    assert.equal(exit, 0, err.join('\n'));
    assert.deepEqual(out.slice(1), ['authorized']);
    assert.equal(closed, 1);

    // The running gateway (its own redirect URI) reads what the CLI stored and refreshes it.
    const gw = make({ upstream: 'cli-up', secrets: cliSecrets });
    const h = await gw.headers(GW);
    assert.equal((await callMcp(h)).status, 200);
    t += 11 * 60_000;
    const h2 = await gw.headers(GW);
    assert.notEqual(h2.authorization, h.authorization);
    assert.equal((await callMcp(h2)).status, 200);
  });

  it('`portcullis upstreams authorize` refuses memory storage, unknown and non-OAuth upstreams, bad timeouts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pcl-uo-cli-'));
    try {
      const run = async (yaml: string, args: string[]): Promise<{ exit?: number; err: string }> => {
        const file = join(dir, `c-${randomBytes(4).toString('hex')}.yaml`);
        await writeFile(file, yaml);
        const err: string[] = [];
        let exit: number | undefined;
        await upstreamsCommand({ out: () => undefined, err: (l) => void err.push(l), setExitCode: (c) => void (exit = c) }).parseAsync(['authorize', ...args, '-c', file], { from: 'user' });
        return { ...(exit !== undefined ? { exit } : {}), err: err.join('\n') };
      };
      const up = 'upstreams:\n  - name: web\n    kind: streamable-http\n    url: http://127.0.0.1:9/mcp\n';
      const mem = await run(`gateway:\n  storage: memory\n${up}`, ['web']);
      assert.equal(mem.exit, 1);
      assert.match(mem.err, /^error: gateway.storage is "memory"/);
      const sqlite = `gateway:\n  dataDir: ./data-${randomBytes(3).toString('hex')}\n${up}`;
      const unknown = await run(sqlite, ['nope']);
      assert.equal(unknown.exit, 1);
      assert.match(unknown.err, /no enabled upstream named "nope"/);
      const notOauth = await run(sqlite, ['web']);
      assert.equal(notOauth.exit, 1);
      assert.match(notOauth.err, /does not use auth: \{type: oauth\}/);
      const badTimeout = await run(sqlite, ['web', '--timeout', '2s']);
      assert.equal(badTimeout.exit, 1);
      assert.match(badTimeout.err, /--timeout must lie between 5s and 1h/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
