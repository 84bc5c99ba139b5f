/**
 * UpstreamOAuth (src/auth/upstream-oauth/client.ts) against a small real authorization server on
 * 127.0.0.1 (node:http; PRM, RFC 8414 metadata, registration, authorize, token with PKCE S256
 * verification and refresh) that counts every request. Covers the callback checks of security
 * checklist A7/A8 (state: missing, unknown, replayed, expired, other upstream, other browser;
 * RFC 9207 iss: mismatch, missing when advertised; error responses), proving with the token
 * endpoint's counter that no code is redeemed when a check fails; resource mismatch, PKCE and
 * grant refusals before registration; step-up and its bounds; refresh (single flight, refused,
 * failing).
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createKeyring, keyFromBytes } from '../../../src/auth/secrets/keyring.js';
import { EncryptedSecrets } from '../../../src/auth/secrets/secret-store.js';
import { MAX_STEP_UPS, UpstreamOAuth, type UpstreamOAuthOptions } from '../../../src/auth/upstream-oauth/client.js';
import { FLOW_TTL_MS, FlowRegistry } from '../../../src/auth/upstream-oauth/flows.js';
import { UpstreamOAuthStore } from '../../../src/auth/upstream-oauth/store.js';
import { TicketBook } from '../../../src/auth/upstream-oauth/tickets.js';
import { GatewayError, type ErrorCode } from '../../../src/pipeline/errors.js';
import { openMemoryStore } from '../../../src/storage/memory/store.js';

const REDIRECT = 'http://127.0.0.1:9/callback';

/** What the stub authorization server does; tests flip fields between calls. */
interface AsBehaviour {
  issSupported: boolean;
  /** What goes into the redirect's iss: the issuer, a wrong one, or nothing. */
  issInRedirect: 'correct' | 'wrong' | 'omit';
  pkce: boolean;
  grantTypes?: string[];
  prmResource?: string;
  refresh: 'ok' | 'invalid_grant' | 'server_error';
  expiresIn: number;
  /** Scope granted (defaults to the requested one). */
  grant?: string;
  /** Fields replacing the AS metadata's (hostile metadata). */
  metaOverride?: Record<string, unknown>;
}

class StubAs {
  server!: Server;
  base = '';
  b: AsBehaviour = StubAs.defaults();
  count = { prm: 0, meta: 0, register: 0, authorize: 0, token: 0, refresh: 0, mcp: 0 };
  private codes = new Map<string, { challenge: string; scope?: string; resource?: string }>();
  private n = 0;
  lastAuthorize: URLSearchParams | undefined;
  lastToken: URLSearchParams | undefined;

  static defaults(): AsBehaviour {
    return { issSupported: true, issInRedirect: 'correct', pkce: true, refresh: 'ok', expiresIn: 600 };
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.route(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  reset(): void {
    this.b = StubAs.defaults();
    for (const k of Object.keys(this.count) as (keyof StubAs['count'])[]) this.count[k] = 0;
  }

  private async body(req: IncomingMessage): Promise<string> {
    let s = '';
    for await (const c of req) s += String(c);
    return s;
  }

  private async route(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', this.base);
    const json = (status: number, v: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(v));
    };
    if (u.pathname === '/.well-known/oauth-protected-resource/mcp') {
      this.count.prm++;
      return json(200, { resource: this.b.prmResource ?? `${this.base}/mcp`, authorization_servers: [this.base], scopes_supported: ['mcp:read'] });
    }
    if (u.pathname === '/.well-known/oauth-authorization-server') {
      this.count.meta++;
      return json(200, {
        issuer: this.base,
        authorization_endpoint: `${this.base}/authorize`,
        token_endpoint: `${this.base}/token`,
        registration_endpoint: `${this.base}/register`,
        response_types_supported: ['code'],
        ...(this.b.grantTypes ? { grant_types_supported: this.b.grantTypes } : {}),
        ...(this.b.pkce ? { code_challenge_methods_supported: ['S256'] } : {}),
        token_endpoint_auth_methods_supported: ['none'],
        scopes_supported: ['mcp:read', 'mcp:write'],
        ...(this.b.issSupported ? { authorization_response_iss_parameter_supported: true } : {}),
        ...(this.b.metaOverride ?? {}),
      });
    }
    if (u.pathname === '/register' && req.method === 'POST') {
      this.count.register++;
      const m = JSON.parse(await this.body(req)) as Record<string, unknown>;
      return json(201, { ...m, client_id: `client-${++this.n}` });
    }
    if (u.pathname === '/authorize') {
      this.count.authorize++;
      this.lastAuthorize = u.searchParams;
      const code = `code-${++this.n}-${randomBytes(4).toString('hex')}`;
      const scope = this.b.grant ?? u.searchParams.get('scope') ?? undefined;
      const resource = u.searchParams.get('resource') ?? undefined;
      this.codes.set(code, { challenge: u.searchParams.get('code_challenge') ?? '', ...(scope ? { scope } : {}), ...(resource ? { resource } : {}) });
      const back = new URL(u.searchParams.get('redirect_uri') ?? REDIRECT);
      back.searchParams.set('code', code);
      back.searchParams.set('state', u.searchParams.get('state') ?? '');
      if (this.b.issInRedirect === 'correct') back.searchParams.set('iss', this.base);
      if (this.b.issInRedirect === 'wrong') back.searchParams.set('iss', 'https://evil.example.com');
      res.writeHead(302, { location: back.href }).end();
      return;
    }
    if (u.pathname === '/token' && req.method === 'POST') {
      const f = new URLSearchParams(await this.body(req));
      this.lastToken = f;
      if (f.get('grant_type') === 'authorization_code') {
        this.count.token++;
        const c = this.codes.get(f.get('code') ?? '');
        this.codes.delete(f.get('code') ?? '');
        const verifier = f.get('code_verifier') ?? '';
        if (!c || createHash('sha256').update(verifier).digest('base64url') !== c.challenge || f.get('resource') !== c.resource) return json(400, { error: 'invalid_grant' });
        return json(200, { access_token: `at-${++this.n}`, token_type: 'Bearer', expires_in: this.b.expiresIn, refresh_token: `rt-${this.n}`, ...(c.scope ? { scope: c.scope } : {}) });
      }
      if (f.get('grant_type') === 'refresh_token') {
        this.count.refresh++;
        if (this.b.refresh === 'invalid_grant') return json(400, { error: 'invalid_grant' });
        if (this.b.refresh === 'server_error') return json(500, { error: 'server_error' });
        // Slow enough that concurrent callers overlap.
        await new Promise((r) => setTimeout(r, 50));
        return json(200, { access_token: `at-${++this.n}`, token_type: 'Bearer', expires_in: this.b.expiresIn, refresh_token: `rt-${this.n}` });
      }
      return json(400, { error: 'unsupported_grant_type' });
    }
    if (u.pathname === '/mcp') {
      this.count.mcp++;
      res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${this.base}/.well-known/oauth-protected-resource/mcp", scope="mcp:read"` }).end();
      return;
    }
    res.writeHead(404).end();
  }
}

function code(e: unknown, c: ErrorCode, msg?: RegExp): boolean {
  return e instanceof GatewayError && e.code === c && (!msg || msg.test(e.message));
}

describe('UpstreamOAuth against a real authorization server', () => {
  const as = new StubAs();
  let t = 1_800_000_000_000;
  const now = () => t;
  let flows: FlowRegistry;
  let secrets: EncryptedSecrets;
  const clients: UpstreamOAuth[] = [];

  const make = (o: Partial<UpstreamOAuthOptions> = {}): UpstreamOAuth => {
    const c = new UpstreamOAuth({ upstream: 'demo', serverUrl: `${as.base}/mcp`, redirectUri: REDIRECT, secrets, clientName: 'test', allowPrivateNetwork: true, now, flows, ...o });
    clients.push(c);
    return c;
  };
  /** Plays the browser: the authorization URL's redirect back, as query parameters. */
  const visit = async (url: string): Promise<URLSearchParams> => {
    const r = await fetch(url, { redirect: 'manual' });
    assert.equal(r.status, 302);
    return new URL(r.headers.get('location') ?? '').searchParams;
  };
  const authorize = async (c: UpstreamOAuth, pk = '@gateway'): Promise<URLSearchParams> => visit(await c.begin(pk));

  before(() => as.start());
  after(async () => {
    for (const c of clients) await c.close();
    await as.stop();
  });
  beforeEach(() => {
    as.reset();
    flows = new FlowRegistry(now);
    secrets = new EncryptedSecrets(openMemoryStore().secrets, createKeyring(keyFromBytes(randomBytes(32))));
  });

  it('runs discovery, registration, PKCE, RFC 8707 and the code exchange, and gives a bearer header', async () => {
    const c = make();
    await assert.rejects(c.headers('@gateway'), (e) => code(e, 'ERR_UPSTREAM_AUTH_REQUIRED') && (e as GatewayError).data?.action === 'portcullis upstreams authorize demo');
    const url = new URL(await c.begin('@gateway'));
    assert.equal(url.origin + url.pathname, `${as.base}/authorize`);
    const state = url.searchParams.get('state') ?? '';
    assert.match(state, /^[A-Za-z0-9_-]{43}$/, '256-bit state');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('resource'), `${as.base}/mcp`);
    assert.equal(url.searchParams.get('scope'), 'mcp:read', 'PRM scopes_supported when nothing was challenged');
    assert.equal(as.count.register, 1);
    const back = await visit(url.href);
    assert.deepEqual(await c.complete(back), { principalKey: '@gateway' });
    assert.equal(as.count.token, 1);
    assert.equal(as.lastToken?.get('resource'), `${as.base}/mcp`);
    const h = await c.headers('@gateway');
    assert.match(h.authorization ?? '', /^Bearer at-\d+$/);
    // A second begin gets a different state.
    const again = new URL(await c.begin('@gateway'));
    assert.notEqual(again.searchParams.get('state'), state);
  });

  it('refuses a callback without state, with an unknown state, and a replayed one', async () => {
    const c = make();
    const back = await authorize(c);
    const noState = new URLSearchParams(back);
    noState.delete('state');
    await assert.rejects(c.complete(noState), (e) => code(e, 'ERR_BAD_INPUT', /without state/));
    const unknown = new URLSearchParams(back);
    unknown.set('state', randomBytes(32).toString('base64url'));
    await assert.rejects(c.complete(unknown), (e) => code(e, 'ERR_BAD_INPUT', /unknown/));
    assert.equal(as.count.token, 0);
    await c.complete(back);
    await assert.rejects(c.complete(back), (e) => code(e, 'ERR_BAD_INPUT', /already used|unknown/));
    assert.equal(as.count.token, 1, 'the replay redeemed nothing');
  });

  it('refuses an expired state', async () => {
    const c = make();
    const back = await authorize(c);
    t += FLOW_TTL_MS;
    await assert.rejects(c.complete(back), (e) => code(e, 'ERR_BAD_INPUT', /expired|unknown/));
    assert.equal(as.count.token, 0);
  });

  it('RFC 9207: an iss that differs from the recorded issuer is refused and the code is never redeemed', async () => {
    const c = make();
    as.b.issInRedirect = 'wrong';
    const back = await authorize(c);
    assert.equal(back.get('iss'), 'https://evil.example.com');
    await assert.rejects(c.complete(back), (e) => code(e, 'ERR_BAD_INPUT', /issuer/));
    // Also a trailing-slash variant: the comparison is exact.
    as.b.issInRedirect = 'correct';
    const back2 = await authorize(c);
    back2.set('iss', `${as.base}/`);
    await assert.rejects(c.complete(back2), (e) => code(e, 'ERR_BAD_INPUT', /issuer/));
    // The state is spent: retrying with the right iss does not help.
    back2.set('iss', as.base);
    await assert.rejects(c.complete(back2), (e) => code(e, 'ERR_BAD_INPUT', /unknown|already used/));
    assert.equal(as.count.token, 0);
  });

  it('RFC 9207: a missing iss is refused when the server advertises it, accepted when it does not', async () => {
    const c = make();
    as.b.issInRedirect = 'omit';
    const back = await authorize(c);
    await assert.rejects(c.complete(back), (e) => code(e, 'ERR_BAD_INPUT', /iss/));
    assert.equal(as.count.token, 0);
    as.b.issSupported = false;
    await c.complete(await authorize(c));
    assert.equal(as.count.token, 1);
  });

  it('an error response is reported without redeeming; with a wrong iss the error is not trusted', async () => {
    const c = make();
    const back = await authorize(c);
    back.delete('code');
    back.set('error', 'access_denied');
    await assert.rejects(c.complete(back), (e) => code(e, 'ERR_BAD_INPUT', /not granted \(access_denied\)/) && (e as GatewayError).data?.error === 'access_denied');
    const back2 = await authorize(c);
    back2.set('error', 'access_denied');
    back2.set('iss', 'https://evil.example.com');
    await assert.rejects(c.complete(back2), (e) => code(e, 'ERR_BAD_INPUT', /issuer/));
    const back3 = await authorize(c);
    back3.set('error', '<script>');
    await assert.rejects(c.complete(back3), (e) => code(e, 'ERR_BAD_INPUT', /invalid_error/));
    assert.equal(as.count.token, 0);
  });

  it('a refused code exchange is tried once and leaves the tokens of an earlier grant alone', async () => {
    const c = make();
    await c.complete(await authorize(c));
    const before = await c.headers('@gateway');
    const back = await authorize(c);
    back.set('code', 'forged-code');
    const n = as.count.token;
    await assert.rejects(c.complete(back), (e) => code(e, 'ERR_UPSTREAM_CREDENTIALS', /could not be exchanged/));
    assert.equal(as.count.token, n + 1, 'no second redemption attempt');
    assert.deepEqual(await c.headers('@gateway'), before);
  });

  it('a state belongs to one upstream and, when started from a browser, to that browser', async () => {
    const a = make();
    const b = make({ upstream: 'other' });
    await assert.rejects(b.complete(await authorize(a)), (e) => code(e, 'ERR_BAD_INPUT', /another upstream/));
    const url = await a.begin('acme:alice', { binding: 'cookie-1' });
    const back = await visit(url);
    await assert.rejects(a.complete(back, { binding: 'cookie-2' }), (e) => code(e, 'ERR_BAD_INPUT', /another browser/));
    const back2 = await visit(await a.begin('acme:alice', { binding: 'cookie-1' }));
    await assert.rejects(a.complete(back2), (e) => code(e, 'ERR_BAD_INPUT', /another browser/));
    assert.equal(as.count.token, 0);
    await a.complete(await visit(await a.begin('acme:alice', { binding: 'cookie-3' })), { binding: 'cookie-3' });
    assert.ok((await a.headers('acme:alice')).authorization);
    // Per principal: the gateway identity still has nothing.
    await assert.rejects(a.headers('@gateway'), (e) => code(e, 'ERR_UPSTREAM_AUTH_REQUIRED'));
  });

  it('aborts on a protected resource that names another resource, before any registration (A7)', async () => {
    const c = make();
    as.b.prmResource = 'https://evil.example.com/mcp';
    await assert.rejects(c.begin('@gateway'), (e) => code(e, 'ERR_UPSTREAM_CREDENTIALS', /does not match/));
    assert.equal(as.count.register, 0);
    assert.equal(as.count.authorize, 0);
  });

  it('refuses an authorization server without PKCE S256 or without the code grant, before registration', async () => {
    const c = make();
    as.b.pkce = false;
    await assert.rejects(c.begin('@gateway'), (e) => code(e, 'ERR_UPSTREAM_CREDENTIALS', /PKCE/));
    as.b.pkce = true;
    as.b.grantTypes = ['client_credentials'];
    await assert.rejects(c.begin('@gateway'), (e) => code(e, 'ERR_UPSTREAM_CREDENTIALS', /authorization_code/));
    assert.equal(as.count.register, 0);
  });

  it('hostile authorization server metadata is refused before use, one security event each (A6)', async () => {
    const events: { event?: string }[] = [];
    const logger = { info: () => undefined, warn: (o: object) => void events.push(o), error: (o: object) => void events.push(o) };
    const c = make({ logger });
    for (const endpoint of ['javascript:alert(1)', 'data:text/html,x', 'file:///etc/passwd', 'file://localhost/etc/passwd', 'vbscript:msgbox(1)', 'a:$(cmd.exe /c whoami)', 'https://user:pass@as.example/authorize', 'https://exa mple.com/authorize']) {
      as.b.metaOverride = { authorization_endpoint: endpoint };
      await assert.rejects(c.begin('@gateway'), (e) => code(e, 'ERR_UPSTREAM_CREDENTIALS'), endpoint);
    }
    assert.equal(as.count.authorize, 0);
    const before = events.length;
    as.b.metaOverride = { registration_endpoint: 'http://169.254.169.254/latest/meta-data/' };
    await c.forget('@gateway');
    await assert.rejects(c.begin('@gateway'), (e) => code(e, 'ERR_UPSTREAM_CREDENTIALS'));
    assert.deepEqual(events.slice(before).map((e) => e.event), ['upstream_oauth.egress_denied']);
    as.b.metaOverride = { token_endpoint: 'https://169.254.169.254/token' };
    const back = await authorize(c);
    await assert.rejects(c.complete(back), (e) => code(e, 'ERR_UPSTREAM_CREDENTIALS'));
    assert.equal(as.count.token, 0);
    assert.ok(events.some((e) => e.event === 'upstream_oauth.egress_denied'));
  });

  it('without allowPrivateNetwork the loopback authorization server is never contacted', async () => {
    const c = make({ allowPrivateNetwork: false });
    await assert.rejects(c.begin('@gateway'), (e) => code(e, 'ERR_UPSTREAM_CREDENTIALS'));
    await assert.rejects(c.probe('@gateway'));
    assert.deepEqual(as.count, { prm: 0, meta: 0, register: 0, authorize: 0, token: 0, refresh: 0, mcp: 0 });
  });

  it('a 401 challenge drops the tokens and its scope and metadata URL steer the next begin', async () => {
    const c = make({ scope: 'extra:one' });
    await c.complete(await authorize(c));
    assert.ok(await c.headers('@gateway'));
    assert.equal(await c.probe('@gateway'), 401);
    await assert.rejects(c.headers('@gateway'), (e) => code(e, 'ERR_UPSTREAM_AUTH_REQUIRED'));
    const d = await c.onUnauthorized('@gateway', `Bearer scope="mcp:write", resource_metadata="${as.base}/.well-known/oauth-protected-resource/mcp"`);
    assert.deepEqual(d, { reauthorize: true, scope: 'mcp:write' });
    const url = new URL(await c.begin('@gateway'));
    assert.equal(url.searchParams.get('scope'), 'extra:one mcp:write');
  });

  it('step-up: a 403 keeps the tokens, asks for the union, refuses futile and unbounded retries', async () => {
    const c = make();
    await c.complete(await authorize(c));
    const before = await c.headers('@gateway');
    const insufficient = (scope: string) => `Bearer error="insufficient_scope", scope="${scope}", resource_metadata="${as.base}/.well-known/oauth-protected-resource/mcp"`;
    // Already granted: re-authorizing cannot help.
    assert.deepEqual((await c.onUnauthorized('@gateway', insufficient('mcp:read'), 403)).reauthorize, false);
    // Without a status the challenge's error decides: a step-up, tokens kept.
    const d = await c.onUnauthorized('@gateway', insufficient('mcp:write'));
    assert.deepEqual(d, { reauthorize: true, scope: 'mcp:read mcp:write' });
    assert.deepEqual(await c.headers('@gateway'), before, 'tokens kept for other operations');
    const url = new URL(await c.begin('@gateway'));
    assert.equal(url.searchParams.get('scope'), 'mcp:read mcp:write');
    await c.complete(await visit(url.href));
    for (let i = 0; i < MAX_STEP_UPS; i++) await c.onUnauthorized('@gateway', insufficient(`more:${i}`), 403);
    assert.equal((await c.onUnauthorized('@gateway', insufficient('more:last'), 403)).reauthorize, false, 'bounded');
    // A 403 without insufficient_scope, and an oversized or malformed header, are plain refusals.
    assert.equal((await c.onUnauthorized('@gateway', `Bearer ${'x'.repeat(5000)}`, 401)).reauthorize, true);
    assert.equal((await c.onUnauthorized('@gateway', 'Bearer scope="back\\slash"', 401)).scope, undefined);
  });

  it('refreshes an expiring token once for concurrent callers', async () => {
    const c = make();
    await c.complete(await authorize(c));
    const first = await c.headers('@gateway');
    t += 9 * 60_000 + 1;
    const all = await Promise.all([c.headers('@gateway'), c.headers('@gateway'), c.headers('@gateway')]);
    assert.equal(as.count.refresh, 1);
    assert.ok(all.every((h) => h.authorization === all[0]?.authorization));
    assert.notEqual(all[0]?.authorization, first.authorization);
    assert.equal(as.lastToken?.get('grant_type'), 'refresh_token');
    assert.equal(as.lastToken?.get('resource'), `${as.base}/mcp`);
  });

  it('a refused refresh means authorization required; a failing one keeps the tokens for a retry', async () => {
    const c = make({ authorizeBase: 'https://gw.example.com', tickets: new TicketBook() });
    await c.complete(await visit(await c.begin('acme:alice')));
    t += 11 * 60_000;
    as.b.refresh = 'server_error';
    await assert.rejects(c.headers('acme:alice'), (e) => code(e, 'ERR_UPSTREAM_CREDENTIALS', /refresh failed/));
    assert.ok(await new UpstreamOAuthStore(secrets, 'demo').getTokens('acme:alice'), 'kept');
    as.b.refresh = 'invalid_grant';
    await assert.rejects(c.headers('acme:alice'), (e) => {
      if (!code(e, 'ERR_UPSTREAM_AUTH_REQUIRED')) return false;
      const u = new URL(String((e as GatewayError).data?.authorizeUrl));
      return u.origin === 'https://gw.example.com' && u.pathname === '/oauth/upstream/demo/authorize' && (u.searchParams.get('ticket') ?? '').length > 40;
    });
    assert.equal(await new UpstreamOAuthStore(secrets, 'demo').getTokens('acme:alice'), undefined, 'dropped');
    assert.equal(as.count.register, 1, 'no registration after the refusal');
    as.b.refresh = 'ok';
    await assert.rejects(c.headers('acme:alice'), (e) => code(e, 'ERR_UPSTREAM_AUTH_REQUIRED'));
  });
});
