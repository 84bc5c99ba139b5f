/**
 * The built-in authorization server over real HTTP (no browser): discovery, dynamic registration,
 * authorization code + PKCE S256 + RFC 8707 resource through the login and consent pages, JWT
 * access tokens verified with the published keys, and the negative paths of security-checklist
 * A7/A8 (PKCE, redirect URI, code replay, refresh-token reuse, revocation, CSRF, consent per client).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { AuthorizationServerConfig } from '../../src/auth/server/config.js';
import { createAuthorizationServer, type AuthorizationServer } from '../../src/auth/server/provider.js';
import { SIGNING_KEYS_FILE, SigningKeys } from '../../src/auth/server/keys.js';
import { addUser, setUserDisabled } from '../../src/auth/users/users.js';
import { openStore } from '../../src/storage/index.js';
import type { Store } from '../../src/storage/ports.js';
import { Jar } from '../helpers/oauth-browser.js';

const PASSWORD = 'wonderland-42';
const HOSTILE_NAME = '<script>alert("x")</script> & Co';

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  location?: string;
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

interface Page {
  kind: 'login' | 'consent';
  uid: string;
  csrf: string;
  reply: Reply;
}
type Outcome = { callback: URL } | { page: Page } | { error: Reply };

const CALLBACK = 'http://127.0.0.1:47999/oauth/callback';
const line = (logs: string[], level: string) => (o: object, m?: string) => void logs.push(`${level} ${m ?? ''} ${JSON.stringify(o)}`);

/** One authorization server on a plain node:http server, plus an HTTP client that speaks its flow. */
class Harness {
  readonly logs: string[] = [];
  as!: AuthorizationServer;
  issuer = '';
  resource = '';
  resource2 = '';
  private server!: Server;

  private constructor(readonly users: Store['users']) {}

  /** Where requests actually go (plain http); the issuer may say https, as behind a TLS proxy. */
  wire = '';

  static async start(
    users: Store['users'],
    o: { dataDir: string; storage: 'memory' | 'sqlite'; cfg?: Record<string, unknown>; unchecked?: Partial<AuthorizationServerConfig>; httpsIssuer?: boolean; keyCheckIntervalMs?: number },
  ): Promise<Harness> {
    const h = new Harness(users);
    h.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (h.as && h.as.owns(path)) void h.as.handle(req, res);
      else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => h.server.listen(0, '127.0.0.1', r));
    h.wire = `http://127.0.0.1:${(h.server.address() as { port: number }).port}`;
    h.issuer = o.httpsIssuer ? h.wire.replace('http:', 'https:') : h.wire;
    h.resource = `${h.issuer}/mcp`;
    h.resource2 = `${h.issuer}/servers/github/mcp`;
    h.as = await createAuthorizationServer({
      issuer: h.issuer,
      resources: [h.resource, h.resource2],
      scopes: ['mcp:tools'],
      scopeDescriptions: { 'mcp:tools': 'Use the tools <of> every endpoint' },
      users,
      // `unchecked` bypasses the schema's bounds (a rotation age of seconds, for the rotation test).
      cfg: { ...AuthorizationServerConfig.parse({ enabled: true, ...(o.cfg ?? {}) }), ...(o.unchecked ?? {}) },
      ...(o.keyCheckIntervalMs ? { keyCheckIntervalMs: o.keyCheckIntervalMs } : {}),
      dataDir: o.dataDir,
      storage: o.storage,
      logger: { info: line(h.logs, 'info'), warn: line(h.logs, 'warn'), error: line(h.logs, 'error') },
    });
    return h;
  }

  async close(): Promise<void> {
    await this.as?.close();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  async http(jar: Jar | undefined, method: string, url: string, o: { form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
    const target = new URL(url, this.issuer);
    const u = new URL(target.pathname + target.search, this.wire);
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const cookie = jar?.header(u.pathname);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (o.form) {
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
      body = new URLSearchParams(o.form).toString();
    } else if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    }
    const res = await fetch(u, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    jar?.store(res.headers.getSetCookie());
    const text = await res.text();
    const location = res.headers.get('location') ?? undefined;
    return { status: res.status, headers: res.headers, text, ...(location !== undefined ? { location: new URL(location, target).href } : {}) };
  }

  /** Follows redirects on the issuer (at most 10) until a page, the client callback, or an error. */
  async drive(jar: Jar, start: string): Promise<Outcome> {
    let url = start;
    for (let hop = 0; hop < 10; hop++) {
      const r = await this.http(jar, 'GET', url);
      if (r.status >= 300 && r.status < 400 && r.location) {
        const next = new URL(r.location);
        if (next.origin !== this.issuer) return { callback: next };
        url = next.href;
        continue;
      }
      const m = /\/interaction\/([A-Za-z0-9_-]+)$/.exec(new URL(url, this.issuer).pathname);
      if (r.status === 200 && m?.[1]) {
        const csrf = /name="csrf" value="([^"]+)"/.exec(r.text)?.[1] ?? '';
        const kind = r.text.includes('id="approve"') ? 'consent' : 'login';
        return { page: { kind, uid: m[1], csrf, reply: r } };
      }
      return { error: r };
    }
    throw new Error('too many redirects');
  }

  /** A form post of a page; its 303 leads back into the flow. */
  post(jar: Jar, page: Page, action: 'login' | 'confirm' | 'abort', form: Record<string, string>): Promise<Reply> {
    return this.http(jar, 'POST', `/interaction/${page.uid}/${action}`, { form: { csrf: page.csrf, ...form } });
  }

  async register(name: string, redirectUri = CALLBACK): Promise<string> {
    const r = await this.http(undefined, 'POST', '/reg', {
      json: {
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        client_name: name,
        redirect_uris: [redirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code', 'refresh_token'],
        scope: 'mcp:tools offline_access',
      },
    });
    assert.equal(r.status, 201, r.text);
    const body = JSON.parse(r.text) as { client_id: string; client_secret?: string };
    assert.equal(body.client_secret, undefined);
    return body.client_id;
  }

  authUrl(clientId: string, p: Record<string, string | undefined>): string {
    const q = new URLSearchParams();
    const all: Record<string, string | undefined> = {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CALLBACK,
      scope: 'mcp:tools offline_access',
      state: randomBytes(8).toString('hex'),
      code_challenge_method: 'S256',
      resource: this.resource,
      ...p,
    };
    for (const [k, v] of Object.entries(all)) if (v !== undefined) q.set(k, v);
    return `/auth?${q.toString()}`;
  }

  /** Login (if asked) and consent (if asked) up to the client callback. */
  async signIn(jar: Jar, clientId: string, p: Record<string, string | undefined>, user = 'alice'): Promise<{ callback: URL; sawConsent: boolean; sawLogin: boolean }> {
    let o = await this.drive(jar, this.authUrl(clientId, p));
    let sawLogin = false;
    let sawConsent = false;
    for (let step = 0; step < 4 && 'page' in o; step++) {
      const page = o.page;
      if (page.kind === 'login') sawLogin = true;
      else sawConsent = true;
      const r = page.kind === 'login' ? await this.post(jar, page, 'login', { username: user, password: PASSWORD }) : await this.post(jar, page, 'confirm', {});
      assert.equal(r.status, 303, r.text.slice(0, 300));
      o = await this.drive(jar, r.location ?? '');
    }
    return { callback: expectCallback(o), sawConsent, sawLogin };
  }

  async token(form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await this.http(undefined, 'POST', '/token', { form });
    return { status: r.status, body: JSON.parse(r.text) as Record<string, unknown> };
  }

  /** A full sign-in and code exchange; returns the token response. */
  async tokensFor(jar: Jar, clientId: string, extra: Record<string, string | undefined> = {}): Promise<Record<string, unknown>> {
    const { verifier, challenge } = pkce();
    const { callback } = await this.signIn(jar, clientId, { code_challenge: challenge, prompt: 'consent', ...extra });
    const code = callback.searchParams.get('code') ?? '';
    const t = await this.token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, client_id: clientId, code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    return t.body;
  }
}

function expectPage(o: Outcome, kind: 'login' | 'consent'): Page {
  assert.ok('page' in o, `expected the ${kind} page, got ${'error' in o ? `${o.error.status} ${o.error.text.slice(0, 200)}` : 'callback' in o ? o.callback.href : ''}`);
  assert.equal(o.page.kind, kind);
  return o.page;
}

function expectCallback(o: Outcome): URL {
  assert.ok('callback' in o, `expected a redirect to the client, got ${'error' in o ? `${o.error.status} ${o.error.text.slice(0, 200)}` : 'a page'}`);
  return o.callback;
}

describe('built-in authorization server (plain HTTP)', () => {
  let h: Harness;
  let store: Store;
  let dataDir: string;
  let issuer = '';
  let resource = '';
  let resource2 = '';
  let as: AuthorizationServer;
  const cb = CALLBACK;
  const http = (...a: Parameters<Harness['http']>) => h.http(...a);
  const drive = (...a: Parameters<Harness['drive']>) => h.drive(...a);
  const post = (...a: Parameters<Harness['post']>) => h.post(...a);
  const register = (...a: Parameters<Harness['register']>) => h.register(...a);
  const authUrl = (...a: Parameters<Harness['authUrl']>) => h.authUrl(...a);
  const signIn = (...a: Parameters<Harness['signIn']>) => h.signIn(...a);
  const token = (...a: Parameters<Harness['token']>) => h.token(...a);
  const tokensFor = (...a: Parameters<Harness['tokensFor']>) => h.tokensFor(...a);

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pcl-as-e2e-'));
    store = await openStore({ kind: 'memory', dataDir });
    await addUser(store.users, { username: 'alice', tenant: 'acme', roles: ['dev', 'ops'], password: PASSWORD });
    await addUser(store.users, { username: 'bob', tenant: 'globex', roles: [], password: PASSWORD });
    await addUser(store.users, { username: 'carol', tenant: 'initech', roles: ['viewer'], password: PASSWORD });
    h = await Harness.start(store.users, { dataDir, storage: 'memory' });
    ({ issuer, resource, resource2, as } = h);
  });

  after(async () => {
    await h?.close();
    await store?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('publishes RFC 8414 metadata with S256 only, registration and the iss parameter', async () => {
    const r = await http(undefined, 'GET', '/.well-known/oauth-authorization-server');
    assert.equal(r.status, 200);
    const m = JSON.parse(r.text) as Record<string, unknown>;
    assert.equal(m.issuer, issuer);
    assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
    assert.equal(m.registration_endpoint, `${issuer}/reg`);
    assert.equal(m.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(m.response_types_supported, ['code']);
    assert.deepEqual(m.token_endpoint_auth_methods_supported, ['none']);
    assert.equal(m.revocation_endpoint, `${issuer}/token/revocation`);
    assert.ok((m.scopes_supported as string[]).includes('mcp:tools'));
    assert.equal((await http(undefined, 'GET', '/.well-known/openid-configuration')).status, 200);
    // The path-inserted form names a different issuer (ours has no path).
    assert.equal((await http(undefined, 'GET', '/.well-known/oauth-authorization-server/other')).status, 404);
    // A spoofed Host/X-Forwarded-Host does not leak into the endpoints.
    const spoof = await http(undefined, 'GET', '/.well-known/oauth-authorization-server', { headers: { 'x-forwarded-host': 'evil.example' } });
    assert.ok(!spoof.text.includes('evil.example'));
  });

  it('claims exactly its own paths', () => {
    for (const p of ['/auth', '/auth/abc', '/token', '/token/revocation', '/jwks', '/reg', '/interaction/x', '/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      assert.equal(as.owns(p), true, p);
    }
    for (const p of ['/mcp', '/servers/github/mcp', '/.well-known/oauth-protected-resource', '/authx', '/me', '/session/end', '/request']) {
      assert.equal(as.owns(p), false, p);
    }
    assert.ok(as.publicPaths.includes('/interaction/:uid/confirm'));
  });

  it('runs the whole code flow and issues a JWT for the requested resource', async () => {
    const clientId = await register(HOSTILE_NAME);
    const jar = new Jar();
    const { verifier, challenge } = pkce();
    const state = 'st-' + randomBytes(6).toString('hex');
    const login = expectPage(await drive(jar, authUrl(clientId, { code_challenge: challenge, state, prompt: 'consent' })), 'login');
    assert.match(login.reply.text, /id="username"/);
    assert.match(login.reply.text, /id="password"/);
    assert.match(login.reply.text, /id="login"/);
    assert.ok(login.csrf.length >= 32);

    const afterLogin = await post(jar, login, 'login', { username: 'alice', password: PASSWORD });
    assert.equal(afterLogin.status, 303);
    const consent = expectPage(await drive(jar, afterLogin.location ?? ''), 'consent');
    const hd = consent.reply.headers;
    const csp = hd.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /form-action 'self'/);
    assert.equal(hd.get('x-frame-options'), 'DENY');
    assert.equal(hd.get('cache-control'), 'no-store');
    const html = consent.reply.text;
    assert.ok(!html.includes(HOSTILE_NAME), 'client name must be escaped');
    assert.ok(html.includes('&#60;script&#62;alert(&#34;x&#34;)&#60;&#47;script&#62; &#38; Co'), 'escaped client name shown');
    assert.ok(!html.includes('<script'), 'no script element on the page');
    assert.ok(html.includes('127.0.0.1:47999&#47;oauth&#47;callback'), 'redirect URI shown');
    assert.ok(html.includes('mcp:tools') && html.includes('&#60;of&#62;'), 'scopes and their escaped descriptions shown');
    assert.ok(html.includes('id="approve"') && html.includes('id="deny"'));

    const afterConsent = await post(jar, consent, 'confirm', {});
    assert.equal(afterConsent.status, 303);
    const callback = expectCallback(await drive(jar, afterConsent.location ?? ''));
    assert.equal(callback.origin + callback.pathname, cb);
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('iss'), issuer);
    const code = callback.searchParams.get('code') ?? '';
    assert.ok(code.length > 20);

    const t = await token({ grant_type: 'authorization_code', code, redirect_uri: cb, client_id: clientId, code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(t.body.token_type, 'Bearer');
    assert.equal(t.body.expires_in, 600);
    assert.equal(typeof t.body.refresh_token, 'string');
    const at = String(t.body.access_token);
    assert.equal(decodeProtectedHeader(at).alg, 'RS256');
    const { payload, protectedHeader } = await jwtVerify(at, createLocalJWKSet(as.jwks()), { issuer, audience: resource, typ: 'at+jwt' });
    assert.equal(protectedHeader.kid, as.jwks().keys[0]?.kid);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.aud, resource);
    assert.equal(payload.client_id, clientId);
    assert.equal(payload.scope, 'mcp:tools');
    assert.equal(payload.tenant, 'acme');
    assert.deepEqual(payload.roles, ['dev', 'ops']);
    // The published JWKS carries no private parts.
    for (const k of as.jwks().keys) assert.equal((k as Record<string, unknown>).d, undefined);
    // Session cookie: HttpOnly, SameSite=Lax, signed (a .sig companion), plain name on http loopback.
    const session = jar.raw.find((c) => c.startsWith('pcl_as_session='));
    assert.ok(session && /httponly/i.test(session) && /samesite=lax/i.test(session), session);
    assert.ok(jar.raw.some((c) => c.startsWith('pcl_as_session.sig=')));
    // Nothing secret reached the log.
    const all = h.logs.join('\n');
    for (const secret of [PASSWORD, at, String(t.body.refresh_token), code, login.csrf]) assert.ok(!all.includes(secret));
  });

  it('issues a token for a second resource with that resource as audience, and refuses unknown resources', async () => {
    const clientId = await register('two-resources');
    const body = await tokensFor(new Jar(), clientId, { resource: resource2 });
    const { payload } = await jwtVerify(String(body.access_token), createLocalJWKSet(as.jwks()), { issuer, audience: resource2 });
    assert.equal(payload.aud, resource2);

    const bad = await drive(new Jar(), authUrl(clientId, { code_challenge: pkce().challenge, resource: `${issuer}/servers/other/mcp` }));
    const back = expectCallback(bad);
    assert.equal(back.searchParams.get('error'), 'invalid_target');
    assert.equal(back.searchParams.get('code'), null);
  });

  it('refuses plain PKCE and a missing code_challenge', async () => {
    const clientId = await register('pkce');
    const plain = expectCallback(await drive(new Jar(), authUrl(clientId, { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' })));
    assert.equal(plain.searchParams.get('error'), 'invalid_request');
    assert.equal(plain.searchParams.get('code'), null);
    const none = expectCallback(await drive(new Jar(), authUrl(clientId, { code_challenge: undefined, code_challenge_method: undefined })));
    assert.equal(none.searchParams.get('error'), 'invalid_request');
    assert.match(none.searchParams.get('error_description') ?? '', /PKCE/);
  });

  it('refuses a redirect_uri that differs by one character, without redirecting to it', async () => {
    const clientId = await register('redirect');
    for (const wrong of [cb.replace('callback', 'callbacK'), `${cb}/`, `${cb}?`, cb.replace('127.0.0.1', '127.0.0.2'), cb.replace('http:', 'https:'), cb.replace('/oauth', '/oautj')]) {
      const o = await drive(new Jar(), authUrl(clientId, { code_challenge: pkce().challenge, redirect_uri: wrong }));
      assert.ok('error' in o, `must not redirect for ${wrong}`);
      assert.equal(o.error.status, 400);
      assert.match(o.error.text, /redirect_uri/);
      assert.match(o.error.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    }
  });

  it('lets a loopback redirect URI of a native client vary only in its port (RFC 8252 section 7.3)', async () => {
    const clientId = await register('loopback-port');
    const other = cb.replace('47999', '47998');
    const o = await drive(new Jar(), authUrl(clientId, { code_challenge: pkce().challenge, redirect_uri: other }));
    const page = expectPage(o, 'login');
    assert.ok(page.uid);
  });

  it('rejects a replayed code and revokes what the first redemption issued', async () => {
    const clientId = await register('replay');
    const { verifier, challenge } = pkce();
    const { callback } = await signIn(new Jar(), clientId, { code_challenge: challenge, prompt: 'consent' });
    const form = { grant_type: 'authorization_code', code: callback.searchParams.get('code') ?? '', redirect_uri: cb, client_id: clientId, code_verifier: verifier };
    const first = await token(form);
    assert.equal(first.status, 200);
    const again = await token(form);
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
    const refresh = await token({ grant_type: 'refresh_token', refresh_token: String(first.body.refresh_token), client_id: clientId });
    assert.equal(refresh.body.error, 'invalid_grant', 'tokens from the replayed code are revoked');
  });

  it('requires the right code_verifier', async () => {
    const clientId = await register('verifier');
    const { challenge } = pkce();
    const { callback } = await signIn(new Jar(), clientId, { code_challenge: challenge, prompt: 'consent' });
    const t = await token({ grant_type: 'authorization_code', code: callback.searchParams.get('code') ?? '', redirect_uri: cb, client_id: clientId, code_verifier: pkce().verifier });
    assert.equal(t.body.error, 'invalid_grant');
  });

  it('rotates refresh tokens, and reusing a rotated one revokes the whole family', async () => {
    const clientId = await register('rotation');
    const first = await tokensFor(new Jar(), clientId);
    const rt1 = String(first.refresh_token);
    const r2 = await token({ grant_type: 'refresh_token', refresh_token: rt1, client_id: clientId });
    assert.equal(r2.status, 200, JSON.stringify(r2.body));
    const rt2 = String(r2.body.refresh_token);
    assert.notEqual(rt2, rt1);
    const { payload } = await jwtVerify(String(r2.body.access_token), createLocalJWKSet(as.jwks()), { issuer, audience: resource });
    assert.equal(payload.tenant, 'acme');

    const reuse = await token({ grant_type: 'refresh_token', refresh_token: rt1, client_id: clientId });
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, 'invalid_grant');
    const successor = await token({ grant_type: 'refresh_token', refresh_token: rt2, client_id: clientId });
    assert.equal(successor.body.error, 'invalid_grant', 'the newer token of the family is revoked too');
  });

  it('stops refreshing tokens of a user who was disabled', async () => {
    const clientId = await register('disabled-user');
    const { verifier, challenge } = pkce();
    const { callback } = await signIn(new Jar(), clientId, { code_challenge: challenge, prompt: 'consent' }, 'carol');
    const t = await token({ grant_type: 'authorization_code', code: callback.searchParams.get('code') ?? '', redirect_uri: cb, client_id: clientId, code_verifier: verifier });
    assert.equal(t.status, 200);
    const { payload } = await jwtVerify(String(t.body.access_token), createLocalJWKSet(as.jwks()), { issuer, audience: resource });
    assert.equal(payload.tenant, 'initech');
    assert.ok(await setUserDisabled(store.users, 'carol', true));
    const r = await token({ grant_type: 'refresh_token', refresh_token: String(t.body.refresh_token), client_id: clientId });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
  });

  it('revokes a refresh token at the revocation endpoint (RFC 7009)', async () => {
    const clientId = await register('revocation');
    const t = await tokensFor(new Jar(), clientId);
    // Another client cannot revoke it (RFC 7009 still answers 200, and the token keeps working).
    const other = await register('revocation-other');
    const foreign = await http(undefined, 'POST', '/token/revocation', { form: { token: String(t.refresh_token), client_id: other } });
    assert.equal(foreign.status, 200);
    const rotated = await token({ grant_type: 'refresh_token', refresh_token: String(t.refresh_token), client_id: clientId });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    t.refresh_token = rotated.body.refresh_token;
    const r = await http(undefined, 'POST', '/token/revocation', { form: { token: String(t.refresh_token), token_type_hint: 'refresh_token', client_id: clientId } });
    assert.equal(r.status, 200);
    const after = await token({ grant_type: 'refresh_token', refresh_token: String(t.refresh_token), client_id: clientId });
    assert.equal(after.body.error, 'invalid_grant');
  });

  it('does not sign in with a wrong password or an unknown user, and says the same for both', async () => {
    const clientId = await register('wrong-password');
    const jar = new Jar();
    const login = expectPage(await drive(jar, authUrl(clientId, { code_challenge: pkce().challenge })), 'login');
    const wrong = await post(jar, login, 'login', { username: 'alice', password: 'not-the-password' });
    const unknown = await post(jar, login, 'login', { username: 'mallory', password: 'not-the-password' });
    for (const r of [wrong, unknown]) {
      assert.equal(r.status, 401);
      assert.equal(r.location, undefined);
      assert.match(r.text, /Invalid username or password\./);
      assert.match(r.text, /id="login"/);
    }
    assert.equal(wrong.text.replace(/alice/g, 'X').replace(/value="[^"]*"/g, ''), unknown.text.replace(/mallory/g, 'X').replace(/value="[^"]*"/g, ''));
  });

  it('limits failed sign-ins per username and address', async () => {
    const clientId = await register('throttle');
    const jar = new Jar();
    const login = expectPage(await drive(jar, authUrl(clientId, { code_challenge: pkce().challenge })), 'login');
    for (let i = 0; i < 10; i++) assert.equal((await post(jar, login, 'login', { username: 'bob', password: 'wrong-password' })).status, 401);
    const blocked = await post(jar, login, 'login', { username: 'bob', password: PASSWORD });
    assert.equal(blocked.status, 429, 'even the right password is refused while throttled');
    assert.equal(blocked.location, undefined);
  });

  it('refuses form posts without or with a wrong CSRF token, or from another origin', async () => {
    const clientId = await register('csrf');
    const jar = new Jar();
    const login = expectPage(await drive(jar, authUrl(clientId, { code_challenge: pkce().challenge })), 'login');
    const missing = await http(jar, 'POST', `/interaction/${login.uid}/login`, { form: { username: 'alice', password: PASSWORD } });
    assert.equal(missing.status, 403);
    const wrong = await http(jar, 'POST', `/interaction/${login.uid}/login`, { form: { csrf: login.csrf.slice(0, -1) + (login.csrf.endsWith('A') ? 'B' : 'A'), username: 'alice', password: PASSWORD } });
    assert.equal(wrong.status, 403);
    const foreign = await http(jar, 'POST', `/interaction/${login.uid}/login`, { form: { csrf: login.csrf, username: 'alice', password: PASSWORD }, headers: { origin: 'https://evil.example' } });
    assert.equal(foreign.status, 403);
    const asJson = await http(jar, 'POST', `/interaction/${login.uid}/login`, { json: { csrf: login.csrf }, headers: {} });
    assert.equal(asJson.status, 415);
    const big = await http(jar, 'POST', `/interaction/${login.uid}/login`, { form: { csrf: login.csrf, pad: 'x'.repeat(17 * 1024) } });
    assert.equal(big.status, 413);
    // A token of another interaction is not accepted either.
    const jar2 = new Jar();
    const other = expectPage(await drive(jar2, authUrl(clientId, { code_challenge: pkce().challenge })), 'login');
    const crossed = await http(jar, 'POST', `/interaction/${login.uid}/login`, { form: { csrf: other.csrf, username: 'alice', password: PASSWORD } });
    assert.equal(crossed.status, 403);
    // The real token still works afterwards.
    const ok = await post(jar, login, 'login', { username: 'alice', password: PASSWORD });
    assert.equal(ok.status, 303);
  });

  it('remembers consent per user and client: same client skips it, a second client asks again', async () => {
    const clientA = await register('client A');
    const clientB = await register('client B');
    const jar = new Jar();
    const first = await signIn(jar, clientA, { code_challenge: pkce().challenge, prompt: 'consent' });
    assert.ok(first.sawLogin && first.sawConsent);
    assert.ok(first.callback.searchParams.get('code'));

    const again = await drive(jar, authUrl(clientA, { code_challenge: pkce().challenge }));
    const back = expectCallback(again);
    assert.ok(back.searchParams.get('code'), 'same client, same scopes: straight back with a code');

    const forced = expectPage(await drive(jar, authUrl(clientA, { code_challenge: pkce().challenge, prompt: 'consent' })), 'consent');
    assert.ok(forced.reply.text.includes('client A'));

    const second = expectPage(await drive(jar, authUrl(clientB, { code_challenge: pkce().challenge })), 'consent');
    assert.ok(second.reply.text.includes('client B'), 'a second client for the same user asks for consent');

    // In a fresh browser the user signs in again but the consent for client A is still remembered.
    const fresh = await signIn(new Jar(), clientA, { code_challenge: pkce().challenge });
    assert.ok(fresh.sawLogin);
    assert.equal(fresh.sawConsent, false);
  });

  it('answers access_denied when the user denies', async () => {
    const clientId = await register('deny');
    const jar = new Jar();
    const state = 'deny-state';
    const login = expectPage(await drive(jar, authUrl(clientId, { code_challenge: pkce().challenge, state, prompt: 'consent' })), 'login');
    const r = await post(jar, login, 'login', { username: 'alice', password: PASSWORD });
    const consent = expectPage(await drive(jar, r.location ?? ''), 'consent');
    const denied = await post(jar, consent, 'abort', {});
    assert.equal(denied.status, 303);
    const back = expectCallback(await drive(jar, denied.location ?? ''));
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.equal(back.searchParams.get('state'), state);
    assert.equal(back.searchParams.get('iss'), issuer);
    assert.equal(back.searchParams.get('code'), null);
  });

  it('narrows form-action to the redirect URI origin so the post-consent redirect is allowed', async () => {
    const clientId = await register('csp');
    const login = expectPage(await drive(new Jar(), authUrl(clientId, { code_challenge: pkce().challenge })), 'login');
    assert.equal(
      login.reply.headers.get('content-security-policy'),
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:47999; frame-ancestors 'none'",
    );
  });

  it('serves an unknown or stale interaction as an error page, never a crash', async () => {
    const r = await http(new Jar(), 'GET', '/interaction/doesnotexist');
    assert.equal(r.status, 400);
    assert.match(r.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    const bad = await http(new Jar(), 'GET', '/interaction/..%2f..%2fetc');
    assert.equal(bad.status, 404);
    const wrongMethod = await http(new Jar(), 'PUT', '/interaction/abc/login');
    assert.equal(wrongMethod.status, 405);
  });
});

describe('built-in authorization server: Client ID Metadata Documents', () => {
  let h: Harness;
  let canary: TcpServer;
  let store: Store;
  let dataDir: string;
  let canaryConnections = 0;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pcl-as-cimd-'));
    store = await openStore({ kind: 'memory', dataDir });
    canary = createTcpServer((sock) => {
      canaryConnections += 1;
      sock.destroy();
    });
    await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
    h = await Harness.start(store.users, { dataDir, storage: 'memory', cfg: { clientIdMetadataDocuments: { enabled: true } } });
  });

  after(async () => {
    await h?.close();
    await new Promise<void>((r) => (canary ? canary.close(() => r()) : r()));
    await store?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('advertises CIMD support', async () => {
    const m = JSON.parse((await h.http(undefined, 'GET', '/.well-known/oauth-authorization-server')).text) as Record<string, unknown>;
    assert.equal(m.client_id_metadata_document_supported, true);
  });

  it('never connects to a loopback or private metadata URL', async () => {
    const port = (canary.address() as { port: number }).port;
    const targets = [`https://127.0.0.1:${port}/client.json`, `https://localhost:${port}/client.json`, `https://[::1]:${port}/client.json`, 'https://10.0.0.1/client.json', 'https://169.254.169.254/latest/meta-data'];
    for (const clientId of targets) {
      const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: 'http://127.0.0.1:1/cb', code_challenge: pkce().challenge, code_challenge_method: 'S256', scope: 'mcp:tools' });
      const r = await h.http(undefined, 'GET', `/auth?${q.toString()}`);
      assert.equal(r.status, 400, clientId);
      assert.equal(r.location, undefined);
      assert.match(r.text, /invalid_client/);
    }
    assert.equal(canaryConnections, 0);
  });
});

describe('built-in authorization server: signing keys across restarts and rotation', () => {
  let store: Store;
  let dataDir: string;
  const started: Harness[] = [];
  const start = async (dir: string): Promise<Harness> => {
    const h = await Harness.start(store.users, { dataDir: dir, storage: 'sqlite' });
    started.push(h);
    return h;
  };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pcl-as-keys-'));
    store = await openStore({ kind: 'memory', dataDir });
    await addUser(store.users, { username: 'alice', tenant: 'acme', roles: ['dev'], password: PASSWORD });
  });

  after(async () => {
    for (const h of started) await h.close();
    await store?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps its signing key across a restart, so tokens issued before still verify', async () => {
    const dir = join(dataDir, 'restart');
    const first = await start(dir);
    const kid = first.as.jwks().keys[0]?.kid;
    const st = await stat(join(dir, SIGNING_KEYS_FILE));
    assert.equal(st.mode & 0o777, 0o600);
    const t = await first.tokensFor(new Jar(), await first.register('restart'));
    await first.close();
    started.splice(started.indexOf(first), 1);

    const second = await start(dir);
    assert.equal(second.as.jwks().keys[0]?.kid, kid);
    const { payload } = await jwtVerify(String(t.access_token), createLocalJWKSet(second.as.jwks() as JSONWebKeySet), { issuer: first.issuer, audience: first.resource });
    assert.equal(payload.sub, 'alice');
  });

  it('rotates an expired key at start, signs with the new one and keeps publishing the old one', async () => {
    const dir = join(dataDir, 'rotate');
    const quiet = { info: () => undefined, warn: () => undefined };
    const old = await SigningKeys.open({ dataDir: dir, persist: true, rotateAfterMs: 365 * 86_400_000, keepRetiredMs: 0, logger: quiet, now: () => Date.now() - 40 * 86_400_000 });
    const oldKid = old.currentKid();
    const h = await start(dir);
    const kids = h.as.jwks().keys.map((k) => k.kid);
    assert.equal(kids.length, 2);
    assert.equal(kids[1], oldKid);
    assert.notEqual(kids[0], oldKid);
    const published = JSON.parse((await h.http(undefined, 'GET', '/jwks')).text) as { keys: Array<Record<string, unknown>> };
    assert.deepEqual(published.keys.map((k) => k.kid), kids);
    for (const k of published.keys) assert.equal(k.d, undefined);
    const t = await h.tokensFor(new Jar(), await h.register('rotated'));
    assert.equal(decodeProtectedHeader(String(t.access_token)).kid, kids[0]);
  });
});

describe('built-in authorization server: https issuer behind a TLS-terminating proxy', () => {
  let h: Harness;
  let store: Store;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pcl-as-https-'));
    store = await openStore({ kind: 'memory', dataDir });
    await addUser(store.users, { username: 'alice', tenant: 'acme', roles: [], password: PASSWORD });
    h = await Harness.start(store.users, { dataDir, storage: 'memory', httpsIssuer: true });
  });

  after(async () => {
    await h?.close();
    await store?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('uses __Host-/__Secure- cookies with Secure, HttpOnly, SameSite=Lax, and https endpoints', async () => {
    const meta = JSON.parse((await h.http(undefined, 'GET', '/.well-known/oauth-authorization-server')).text) as Record<string, unknown>;
    assert.equal(meta.issuer, h.issuer);
    assert.equal(meta.token_endpoint, `${h.issuer}/token`);
    const jar = new Jar();
    const clientId = await h.register('https client');
    const { callback } = await h.signIn(jar, clientId, { code_challenge: pkce().challenge, prompt: 'consent' });
    assert.equal(callback.searchParams.get('iss'), h.issuer);
    const byName = (prefix: string) => jar.raw.filter((c) => c.startsWith(prefix) && !/expires=thu, 01 jan 1970/i.test(c));
    const session = byName('__Host-pcl_as_session=');
    assert.ok(session.length > 0, jar.raw.join('\n'));
    for (const c of session) {
      assert.match(c, /; secure/i);
      assert.match(c, /; httponly/i);
      assert.match(c, /; samesite=lax/i);
      assert.match(c, /; path=\/(;|$)/i);
      assert.doesNotMatch(c, /; domain=/i);
    }
    assert.ok(byName('__Host-pcl_as_session.sig=').length > 0, 'signed');
    const interaction = byName('__Secure-pcl_as_interaction=');
    assert.ok(interaction.length > 0);
    for (const c of interaction) assert.match(c, /; secure/i);
    assert.equal(jar.raw.filter((c) => /^pcl_as_/.test(c)).length, 0, 'no unprefixed cookie on an https issuer');
  });
});

describe('built-in authorization server: key rotation while running', () => {
  let h: Harness;
  let store: Store;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pcl-as-rot-'));
    store = await openStore({ kind: 'memory', dataDir });
    await addUser(store.users, { username: 'alice', tenant: 'acme', roles: [], password: PASSWORD });
    h = await Harness.start(store.users, { dataDir, storage: 'memory', unchecked: { signingKeyRotation: 1500 }, keyCheckIntervalMs: 100 });
  });

  after(async () => {
    await h?.close();
    await store?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('swaps the signing key without breaking tokens, sessions or consent issued before', async () => {
    const jar = new Jar();
    const clientId = await h.register('rotating');
    const earlier = await h.tokensFor(jar, clientId);
    const kid0 = decodeProtectedHeader(String(earlier.access_token)).kid;
    assert.equal(h.as.jwks().keys[0]?.kid, kid0);
    // Bounded wait for the timer to rotate (1.5 s key age, checked every 100 ms).
    const deadline = Date.now() + 10_000;
    while (h.as.jwks().keys[0]?.kid === kid0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const kids = h.as.jwks().keys.map((k) => k.kid);
    assert.notEqual(kids[0], kid0, 'rotated');
    assert.ok(kids.includes(kid0), 'old key still published');
    await jwtVerify(String(earlier.access_token), createLocalJWKSet(h.as.jwks()), { issuer: h.issuer, audience: h.resource });
    // The sign-in session and consent survive the provider rebuild: straight back with a code.
    const { verifier, challenge } = pkce();
    const again = expectCallback(await h.drive(jar, h.authUrl(clientId, { code_challenge: challenge })));
    const t = await h.token({ grant_type: 'authorization_code', code: again.searchParams.get('code') ?? '', redirect_uri: CALLBACK, client_id: clientId, code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    const kidNow = decodeProtectedHeader(String(t.body.access_token)).kid;
    assert.notEqual(kidNow, kid0, 'new tokens are signed with a newer key');
    await jwtVerify(String(t.body.access_token), createLocalJWKSet(h.as.jwks()), { issuer: h.issuer, audience: h.resource });
    // The refresh token issued before the rotation still refreshes.
    const r = await h.token({ grant_type: 'refresh_token', refresh_token: String(earlier.refresh_token), client_id: clientId });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });
});
