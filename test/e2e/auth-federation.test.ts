/**
 * Federated sign-in at the built-in authorization server, over real HTTP without a browser. The
 * external provider is a second instance of our own authorization server (its own users, a static
 * client for the gateway); the gateway's authorization server federates to it with openid-client.
 *
 * The two run on different host names (`localhost` for the gateway, `127.0.0.1` for the
 * provider) because a browser keys cookies by host, not port, and both servers use the same
 * cookie names; the cookie jar below keys them by host the same way.
 *
 * Covers: the whole flow up to a gateway token for `idp:<user>` with the mapped tenant and roles;
 * callbacks with an unknown, replayed or foreign-browser state; RFC 9207 `iss` tampering and
 * omission (security checklist A7: the code is never redeemed); an unreachable provider that
 * leaves local login working; the CSP of the login page; the schema's refusal of http issuers.
 * One test repeats the happy path in headless Chromium (when /usr/bin/chromium exists), because
 * Chromium applies the login page's `form-action` to the 303 that sends it to the provider.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { chromium } from 'playwright-core';
import { AuthorizationServerConfig } from '../../src/auth/server/config.js';
import { createAuthorizationServer, type AuthorizationServer } from '../../src/auth/server/provider.js';
import { addUser } from '../../src/auth/users/users.js';
import { openStore } from '../../src/storage/index.js';
import type { Store } from '../../src/storage/ports.js';

const PASSWORD = 'wonderland-42';
const CALLBACK = 'http://127.0.0.1:47999/oauth/callback';
const FED_CLIENT = 'portcullis-gateway';
const CHROMIUM = '/usr/bin/chromium';
const chromiumSkip =
  !existsSync(CHROMIUM) && process.env.PORTCULLIS_TEST_REQUIRE_CHROMIUM !== '1' ? `no ${CHROMIUM} (apt-get install chromium); set PORTCULLIS_TEST_REQUIRE_CHROMIUM=1 to fail instead` : false;

interface Reply {
  url: URL;
  status: number;
  headers: Headers;
  text: string;
  location?: URL;
}

/** Cookies of one host (browsers ignore the port), honouring names and paths. */
class HostJar {
  private readonly cookies = new Map<string, { name: string; value: string; path: string }>();

  store(setCookies: string[]): void {
    for (const sc of setCookies) {
      const [pair = '', ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const pathAttr = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='));
      const path = pathAttr ? pathAttr.slice(5) : '/';
      const expired = value === '' || attrs.some((a) => /expires=thu, 01 jan 1970/i.test(a.trim()) || /^max-age=0$/i.test(a.trim()));
      const key = `${name}\u0000${path}`;
      if (expired) this.cookies.delete(key);
      else this.cookies.set(key, { name, value, path });
    }
  }

  header(path: string): string {
    return [...this.cookies.values()]
      .filter((c) => c.path === '/' || path === c.path || path.startsWith(`${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  names(): string[] {
    return [...this.cookies.values()].map((c) => c.name);
  }
}

/** One authorization server on its own node:http server (127.0.0.1, port 0). */
class Site {
  as?: AuthorizationServer;
  issuer = '';
  wire = '';
  /** POST /token requests seen (the provider's code redemptions). */
  tokenRequests = 0;
  readonly logs: string[] = [];
  private readonly server: Server;

  constructor(private readonly hostName: 'localhost' | '127.0.0.1') {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (req.method === 'POST' && path === '/token') this.tokenRequests += 1;
      if (this.as && this.as.owns(path)) void this.as.handle(req, res);
      else {
        res.writeHead(404);
        res.end();
      }
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const port = (this.server.address() as { port: number }).port;
    this.wire = `http://127.0.0.1:${port}`;
    this.issuer = `http://${this.hostName}:${port}`;
  }

  async mount(users: Store['users'], dataDir: string, cfg: Record<string, unknown>): Promise<void> {
    const line = (level: string) => (o: object, m?: string) => void this.logs.push(`${level} ${m ?? ''} ${JSON.stringify(o)}`);
    this.as = await createAuthorizationServer({
      issuer: this.issuer,
      resources: [`${this.issuer}/mcp`],
      scopes: ['mcp:tools'],
      users,
      cfg: AuthorizationServerConfig.parse({ enabled: true, ...cfg }),
      dataDir,
      storage: 'memory',
      logger: { info: line('info'), warn: line('warn'), error: line('error') },
    });
  }

  async close(): Promise<void> {
    await this.as?.close();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

interface Page {
  site: 'gateway' | 'idp';
  kind: 'login' | 'consent';
  uid: string;
  csrf: string;
  reply: Reply;
}
type Outcome = { callback: URL } | { page: Page } | { stopped: URL } | { error: Reply };

/** A user agent: one cookie jar per host, redirects followed by hand (at most 15 hops). */
class Browser {
  private readonly jars = new Map<string, HostJar>();

  constructor(private readonly sites: { gateway: Site; idp: Site }) {}

  jar(host: string): HostJar {
    let j = this.jars.get(host);
    if (!j) this.jars.set(host, (j = new HostJar()));
    return j;
  }

  private siteOf(url: URL): Site | undefined {
    return [this.sites.gateway, this.sites.idp].find((s) => s.issuer === url.origin);
  }

  async request(method: string, url: URL | string, form?: Record<string, string>, headers: Record<string, string> = {}): Promise<Reply> {
    const target = new URL(url);
    const site = this.siteOf(target);
    assert.ok(site, `request to an unknown origin ${target.origin}`);
    const jar = this.jar(target.hostname);
    const h: Record<string, string> = { ...headers };
    const cookie = jar.header(target.pathname);
    if (cookie) h.cookie = cookie;
    let body: string | undefined;
    if (form) {
      h['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(new URL(target.pathname + target.search, site.wire), { method, headers: h, body, redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    jar.store(res.headers.getSetCookie());
    const text = await res.text();
    const loc = res.headers.get('location');
    return { url: target, status: res.status, headers: res.headers, text, ...(loc !== null ? { location: new URL(loc, target) } : {}) };
  }

  /** Follows redirects until a page, the client callback, an error, or a URL `stop` picks. */
  async drive(start: URL | string, stop?: (u: URL) => boolean): Promise<Outcome> {
    let url = new URL(start);
    for (let hop = 0; hop < 15; hop++) {
      if (stop?.(url)) return { stopped: url };
      if (!this.siteOf(url)) return { callback: url };
      const r = await this.request('GET', url);
      if (r.status >= 300 && r.status < 400 && r.location) {
        url = r.location;
        continue;
      }
      const m = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
      if (r.status === 200 && m?.[1]) {
        const csrf = /name="csrf" value="([^"]+)"/.exec(r.text)?.[1] ?? '';
        const kind = r.text.includes('id="approve"') ? 'consent' : 'login';
        return { page: { site: url.origin === this.sites.gateway.issuer ? 'gateway' : 'idp', kind, uid: m[1], csrf, reply: r } };
      }
      return { error: r };
    }
    throw new Error('too many redirects');
  }

  post(page: Page, action: string, form: Record<string, string> = {}): Promise<Reply> {
    const site = page.site === 'gateway' ? this.sites.gateway : this.sites.idp;
    return this.request('POST', `${site.issuer}/interaction/${page.uid}/${action}`, { csrf: page.csrf, ...form });
  }
}

function expectPage(o: Outcome, site: Page['site'], kind: Page['kind']): Page {
  const got = 'page' in o ? `${o.page.site} ${o.page.kind}` : 'error' in o ? `${o.error.status} ${o.error.text.slice(0, 300)}` : 'callback' in o ? o.callback.href : o.stopped.href;
  assert.ok('page' in o && o.page.site === site && o.page.kind === kind, `expected the ${site} ${kind} page, got ${got}`);
  return o.page;
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

describe('built-in authorization server: federated sign-in (openid-client)', () => {
  const gateway = new Site('localhost');
  const idp = new Site('127.0.0.1');
  const downSite = new Site('127.0.0.1');
  let gwStore: Store;
  let idpStore: Store;
  let dataDir: string;
  let clientId = '';
  let downIssuer = '';
  const isGatewayCallback = (u: URL): boolean => u.origin === gateway.issuer && u.pathname === '/interaction/callback/federated';

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pcl-as-fed-'));
    gwStore = await openStore({ kind: 'memory', dataDir: join(dataDir, 'gw') });
    idpStore = await openStore({ kind: 'memory', dataDir: join(dataDir, 'idp') });
    await addUser(gwStore.users, { username: 'local-carol', tenant: 'acme', roles: ['dev'], password: PASSWORD });
    await addUser(idpStore.users, { username: 'alice', tenant: 'idp-internal', roles: ['idp-admin'], password: PASSWORD });
    await gateway.listen();
    await idp.listen();
    // A provider that is down: its port was bound once and then closed.
    await downSite.listen();
    downIssuer = downSite.issuer;
    await downSite.close();
    await idp.mount(idpStore.users, join(dataDir, 'idp'), {
      registration: { enabled: false },
      staticClients: [{ clientId: FED_CLIENT, redirectUris: [`${gateway.issuer}/interaction/callback/federated`], name: 'Portcullis gateway' }],
    });
    await gateway.mount(gwStore.users, join(dataDir, 'gw'), {
      federation: [
        {
          name: 'idp',
          displayName: 'Test <IdP> & "Co"',
          issuer: idp.issuer,
          clientId: FED_CLIENT,
          // The provider (our own AS) puts only protocol claims in its ID tokens (sub, aud, nonce,
          // …): there is no tenant claim, so tenantDefault applies, and `aud` (the client id, a
          // string) stands in for a roles claim to prove the mapping end to end.
          claims: { tenant: 'tenant', tenantDefault: 'partners', roles: 'aud' },
          allowInsecureLoopback: true,
        },
        { name: 'down', displayName: 'Down', issuer: downIssuer, clientId: 'x', allowInsecureLoopback: true },
      ],
    });
    const r = await fetch(`${gateway.wire}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ application_type: 'native', token_endpoint_auth_method: 'none', client_name: 'MCP client', redirect_uris: [CALLBACK], response_types: ['code'], grant_types: ['authorization_code', 'refresh_token'], scope: 'mcp:tools offline_access' }),
    });
    assert.equal(r.status, 201);
    clientId = ((await r.json()) as { client_id: string }).client_id;
  });

  after(async () => {
    await gateway.close();
    await idp.close();
    await gwStore?.close();
    await idpStore?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const authUrl = (challenge: string, state = randomBytes(8).toString('hex'), redirectUri = CALLBACK): string => {
    const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'mcp:tools offline_access', state, code_challenge: challenge, code_challenge_method: 'S256', resource: `${gateway.issuer}/mcp`, prompt: 'consent' });
    return `${gateway.issuer}/auth?${q.toString()}`;
  };

  /** Gateway login page → "Sign in with Test IdP" → provider login + consent, up to the provider's redirect to the gateway callback. */
  const toGatewayCallback = async (b: Browser, challenge: string): Promise<{ login: Page; callback: URL }> => {
    const login = expectPage(await b.drive(authUrl(challenge)), 'gateway', 'login');
    const go = await b.post(login, 'federated/idp');
    assert.equal(go.status, 303, go.text.slice(0, 300));
    const idpLogin = expectPage(await b.drive(go.location ?? ''), 'idp', 'login');
    const afterLogin = await b.post(idpLogin, 'login', { username: 'alice', password: PASSWORD });
    assert.equal(afterLogin.status, 303);
    let o = await b.drive(afterLogin.location ?? '', isGatewayCallback);
    if ('page' in o) {
      const consent = expectPage(o, 'idp', 'consent');
      const ok = await b.post(consent, 'confirm');
      assert.equal(ok.status, 303);
      o = await b.drive(ok.location ?? '', isGatewayCallback);
    }
    assert.ok('stopped' in o, `expected the redirect to the gateway callback, got ${JSON.stringify(o).slice(0, 300)}`);
    return { login, callback: o.stopped };
  };

  it('shows one escaped button per provider and lets their redirects through form-action', async () => {
    const b = new Browser({ gateway, idp });
    const login = expectPage(await b.drive(authUrl(pkce().challenge)), 'gateway', 'login');
    const html = login.reply.text;
    assert.match(html, new RegExp(`<form method="post" action="/interaction/${login.uid}/federated/idp">`));
    assert.match(html, /id="federated-idp"/);
    assert.match(html, /id="federated-down"/);
    assert.ok(html.includes('Sign in with Test &#60;IdP&#62; &#38; &#34;Co&#34;'), 'display name escaped');
    assert.ok(!html.includes('<IdP>'));
    assert.match(html, /id="login"/, 'local login is still offered');
    const csp = login.reply.headers.get('content-security-policy') ?? '';
    assert.match(csp, new RegExp(`form-action 'self' http://127\\.0\\.0\\.1:47999 [^;]*${idp.issuer.replace(/\./g, '\\.')}`));
    assert.match(csp, /frame-ancestors 'none'/);
  });

  it('signs in through the provider and issues a gateway token for idp:<sub> with the mapped tenant and roles', async () => {
    const b = new Browser({ gateway, idp });
    const { verifier, challenge } = pkce();
    const state = 'client-state-1';
    const login = expectPage(await b.drive(authUrl(challenge, state)), 'gateway', 'login');
    const go = await b.post(login, 'federated/idp');
    assert.equal(go.status, 303);
    const to = go.location as URL;
    assert.equal(to.origin + to.pathname, `${idp.issuer}/auth`);
    assert.equal(to.searchParams.get('client_id'), FED_CLIENT);
    assert.equal(to.searchParams.get('redirect_uri'), `${gateway.issuer}/interaction/callback/federated`);
    assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(to.searchParams.get('response_type'), 'code');
    assert.equal(to.searchParams.get('scope'), 'openid email profile');
    for (const p of ['state', 'nonce', 'code_challenge']) assert.ok((to.searchParams.get(p) ?? '').length >= 43, p);

    const idpLogin = expectPage(await b.drive(to), 'idp', 'login');
    assert.ok(!idpLogin.reply.text.includes('federated-'), 'the provider has no federation of its own');
    const afterLogin = await b.post(idpLogin, 'login', { username: 'alice', password: PASSWORD });
    const idpConsent = expectPage(await b.drive(afterLogin.location ?? ''), 'idp', 'consent');
    assert.match(idpConsent.reply.text, /openid/);
    const ok = await b.post(idpConsent, 'confirm');
    const tokensBefore = idp.tokenRequests;
    const gwConsent = expectPage(await b.drive(ok.location ?? ''), 'gateway', 'consent');
    assert.equal(idp.tokenRequests, tokensBefore + 1, 'the gateway redeemed the provider code once');
    assert.match(gwConsent.reply.text, /Signed in as <strong>idp:alice<\/strong>/);
    const done = await b.post(gwConsent, 'confirm');
    const o = await b.drive(done.location ?? '');
    assert.ok('callback' in o, JSON.stringify(o).slice(0, 300));
    assert.equal(o.callback.searchParams.get('state'), state);
    assert.equal(o.callback.searchParams.get('iss'), gateway.issuer);

    const t = await fetch(`${gateway.wire}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: o.callback.searchParams.get('code') ?? '', redirect_uri: CALLBACK, client_id: clientId, code_verifier: verifier }),
    });
    const body = (await t.json()) as Record<string, unknown>;
    assert.equal(t.status, 200, JSON.stringify(body));
    const jwks = createLocalJWKSet(gateway.as?.jwks() ?? { keys: [] });
    const { payload } = await jwtVerify(String(body.access_token), jwks, { issuer: gateway.issuer, audience: `${gateway.issuer}/mcp`, typ: 'at+jwt' });
    assert.equal(payload.sub, 'idp:alice');
    assert.equal(payload.tenant, 'partners', 'no tenant claim at the provider: tenantDefault');
    assert.deepEqual(payload.roles, [FED_CLIENT], 'roles mapped from the configured claim (aud)');
    assert.notEqual(payload.tenant, 'idp-internal', 'the provider-side tenant of alice never leaks through');

    // A refresh keeps the mapped claims (they come from the in-memory federated account).
    const r = await fetch(`${gateway.wire}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: String(body.refresh_token), client_id: clientId }),
    });
    const rb = (await r.json()) as Record<string, unknown>;
    assert.equal(r.status, 200, JSON.stringify(rb));
    const refreshed = await jwtVerify(String(rb.access_token), jwks, { issuer: gateway.issuer, audience: `${gateway.issuer}/mcp` });
    assert.equal(refreshed.payload.sub, 'idp:alice');
    assert.equal(refreshed.payload.tenant, 'partners');

    // The gateway session now belongs to idp:alice: a new authorization skips both sign-ins.
    const again = await b.drive(`${authUrl(pkce().challenge)}`.replace('&prompt=consent', ''));
    assert.ok('callback' in again && again.callback.searchParams.get('code'), JSON.stringify(again).slice(0, 300));

    // Nothing secret reached the gateway's log.
    const log = gateway.logs.join('\n');
    for (const secret of [String(body.access_token), String(body.refresh_token), to.searchParams.get('state') ?? 'x', to.searchParams.get('nonce') ?? 'x']) assert.ok(!log.includes(secret));
    assert.match(log, /as\.login.*idp:alice/);
  });

  it('refuses a callback with an unknown or missing state (400, no sign-in, no code redemption)', async () => {
    const b = new Browser({ gateway, idp });
    const login = expectPage(await b.drive(authUrl(pkce().challenge)), 'gateway', 'login');
    const before = idp.tokenRequests;
    for (const q of [`code=abc&state=${randomBytes(32).toString('base64url')}&iss=${encodeURIComponent(idp.issuer)}`, 'code=abc', `state=${'x'.repeat(5000)}`]) {
      const r = await b.request('GET', `${gateway.issuer}/interaction/callback/federated?${q}`);
      assert.equal(r.status, 400, q.slice(0, 50));
      assert.equal(r.location, undefined);
      assert.match(r.text, /not valid, has expired or was already used/);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    }
    assert.equal(idp.tokenRequests, before);
    // The interaction is untouched: still at the login page.
    expectPage(await b.drive(`${gateway.issuer}/interaction/${login.uid}`), 'gateway', 'login');
    assert.ok(!b.jar('localhost').names().includes('pcl_as_session'), 'no gateway session was created');
    const head = await b.request('POST', `${gateway.issuer}/interaction/callback/federated?state=x`);
    assert.equal(head.status, 405);
  });

  it('refuses a replayed callback', async () => {
    const b = new Browser({ gateway, idp });
    const { callback } = await toGatewayCallback(b, pkce().challenge);
    const first = await b.request('GET', callback);
    assert.equal(first.status, 303, first.text.slice(0, 300));
    assert.match(first.location?.pathname ?? '', /^\/auth\//);
    const before = idp.tokenRequests;
    const replay = await b.request('GET', callback);
    assert.equal(replay.status, 400);
    assert.equal(replay.location, undefined);
    assert.equal(idp.tokenRequests, before, 'a replayed code is not even sent to the provider');
  });

  it('keeps one pending provider sign-in per interaction: a second click retires the first state', async () => {
    const b = new Browser({ gateway, idp });
    const login = expectPage(await b.drive(authUrl(pkce().challenge)), 'gateway', 'login');
    const first = (await b.post(login, 'federated/idp')).location?.searchParams.get('state') ?? '';
    const second = (await b.post(login, 'federated/idp')).location?.searchParams.get('state') ?? '';
    assert.ok(first && second && first !== second);
    const cb = (state: string) => `${gateway.issuer}/interaction/callback/federated?code=bogus&state=${state}&iss=${encodeURIComponent(idp.issuer)}`;
    const old = await b.request('GET', cb(first));
    assert.equal(old.status, 400);
    assert.match(old.text, /not valid, has expired or was already used/);
    const before = idp.tokenRequests;
    const current = await b.request('GET', cb(second));
    assert.equal(current.status, 400, 'a known state with a bogus code: the provider refuses the code');
    assert.match(current.text, /could not be completed/);
    assert.equal(idp.tokenRequests, before + 1);
  });

  it('A7: refuses a tampered or missing iss without redeeming the code', async () => {
    for (const tamper of [(u: URL) => u.searchParams.set('iss', 'http://127.0.0.1:1'), (u: URL) => u.searchParams.delete('iss')]) {
      const b = new Browser({ gateway, idp });
      const { login, callback } = await toGatewayCallback(b, pkce().challenge);
      assert.equal(callback.searchParams.get('iss'), idp.issuer, 'the provider sends iss (RFC 9207)');
      const before = idp.tokenRequests;
      const bad = new URL(callback);
      tamper(bad);
      const r = await b.request('GET', bad);
      assert.equal(r.status, 400, r.text.slice(0, 300));
      assert.equal(r.location, undefined);
      assert.match(r.text, /could not be verified/);
      assert.match(r.text, new RegExp(`href="&#47;interaction&#47;${login.uid}"`), 'offers the way back to the login page');
      assert.equal(idp.tokenRequests, before, 'the code was never redeemed');
      // The state was consumed by the refused attempt: the genuine response cannot be used later.
      const genuine = await b.request('GET', callback);
      assert.equal(genuine.status, 400);
      assert.equal(idp.tokenRequests, before);
    }
  });

  it('a callback followed in another browser does not sign that browser in', async () => {
    const victim = new Browser({ gateway, idp });
    const { callback } = await toGatewayCallback(new Browser({ gateway, idp }), pkce().challenge);
    const o = await victim.drive(callback);
    assert.ok('error' in o, `expected an error, got ${JSON.stringify(o).slice(0, 200)}`);
    assert.equal(o.error.status, 400);
    assert.ok(!victim.jar('localhost').names().includes('pcl_as_session'));
  });

  it('an unreachable provider answers a friendly page and leaves local login working', async () => {
    const b = new Browser({ gateway, idp });
    const login = expectPage(await b.drive(authUrl(pkce().challenge)), 'gateway', 'login');
    const r = await b.post(login, 'federated/down');
    assert.equal(r.status, 502);
    assert.equal(r.location, undefined);
    assert.match(r.text, /Sign-in with Down is not available right now/);
    assert.match(r.text, /id="back"/);
    const unknown = await b.post(login, 'federated/nope');
    assert.equal(unknown.status, 404);
    const noCsrf = await b.request('POST', `${gateway.issuer}/interaction/${login.uid}/federated/idp`, { csrf: 'wrong' });
    assert.equal(noCsrf.status, 403);
    const local = await b.post(login, 'login', { username: 'local-carol', password: PASSWORD });
    assert.equal(local.status, 303);
    expectPage(await b.drive(local.location ?? ''), 'gateway', 'consent');
    assert.ok(gateway.logs.some((l) => l.includes('as.federation_discovery_failed') && l.includes('"idp":"down"')));
  });

  it('in Chromium: the login page CSP lets the federated redirect through, and the flow completes', { skip: chromiumSkip, timeout: 90_000 }, async () => {
    const profile = await mkdtemp(join(tmpdir(), 'pcl-as-fed-chromium-'));
    const cspErrors: string[] = [];
    // The MCP client's loopback callback (a native client's loopback port may vary, RFC 8252 section 7.3).
    const client = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('client callback');
    });
    let ctx: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
    try {
      await new Promise<void>((r) => client.listen(0, '127.0.0.1', r));
      const clientCallback = CALLBACK.replace('47999', String((client.address() as { port: number }).port));
      ctx = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        env: { ...process.env, XDG_CONFIG_HOME: join(profile, 'xdg') },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      page.on('console', (m) => {
        if (/Content Security Policy|form-action/i.test(m.text())) cspErrors.push(m.text());
      });
      await page.goto(authUrl(pkce().challenge, 'browser-state', clientCallback));
      await Promise.all([page.waitForURL((u) => u.origin === idp.issuer && u.pathname.startsWith('/interaction/'), { timeout: 20_000 }), page.click('#federated-idp')]);
      await page.fill('#username', 'alice');
      await page.fill('#password', PASSWORD);
      const idpLoginUrl = page.url();
      const atInteraction = (u: URL): boolean => u.href !== idpLoginUrl && u.pathname.startsWith('/interaction/') && (u.origin === idp.issuer || u.origin === gateway.issuer);
      await Promise.all([page.waitForURL(atInteraction, { timeout: 20_000 }), page.click('#login')]);
      // The provider asks for consent unless alice already gave it to the gateway (earlier tests).
      if (new URL(page.url()).origin === idp.issuer) {
        await Promise.all([page.waitForURL((u) => u.origin === gateway.issuer && u.pathname.startsWith('/interaction/'), { timeout: 20_000 }), page.click('#approve')]);
      }
      assert.match(await page.content(), /idp:alice/);
      await Promise.all([page.waitForURL((u) => u.href.startsWith(clientCallback), { timeout: 20_000 }), page.click('#approve')]);
      const back = new URL(page.url());
      assert.equal(back.searchParams.get('state'), 'browser-state');
      assert.ok(back.searchParams.get('code'));
      assert.deepEqual(cspErrors, []);
    } finally {
      await ctx?.close();
      client.closeAllConnections();
      await new Promise<void>((r) => client.close(() => r()));
      await rm(profile, { recursive: true, force: true });
    }
  });

  it('refuses an http issuer that is not loopback, and loopback without allowInsecureLoopback', () => {
    const entry = { name: 'corp', displayName: 'Corp', clientId: 'c' };
    const remote = AuthorizationServerConfig.safeParse({ federation: [{ ...entry, issuer: 'http://idp.example.com' }] });
    assert.equal(remote.success, false);
    assert.match(JSON.stringify(remote.error?.issues), /plain http: only https is allowed/);
    const remoteAllowed = AuthorizationServerConfig.safeParse({ federation: [{ ...entry, issuer: 'http://idp.example.com', allowInsecureLoopback: true }] });
    assert.equal(remoteAllowed.success, false, 'allowInsecureLoopback does not open http to other hosts');
    const loop = AuthorizationServerConfig.safeParse({ federation: [{ ...entry, issuer: idp.issuer }] });
    assert.equal(loop.success, false);
    assert.match(JSON.stringify(loop.error?.issues), /allowInsecureLoopback/);
  });
});
