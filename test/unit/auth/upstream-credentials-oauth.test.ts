/**
 * Client credentials and token exchange against a real token endpoint on 127.0.0.1: request
 * counts (single flight, caching, invalidation), exact form fields, and hostile answers.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { UpstreamAuth } from '../../../src/auth/upstream/config.js';
import { createUpstreamCredentials, EXCHANGE_CACHE_MAX, EXPIRY_MARGIN_MS, MIN_TOKEN_TTL_MS, type CredentialDeps } from '../../../src/auth/upstream/credentials.js';
import type { FetchToken } from '../../../src/auth/upstream/token-endpoint.js';
import { GatewayError } from '../../../src/pipeline/errors.js';

interface Seen {
  path: string;
  headers: IncomingMessage['headers'];
  form: [string, string][];
}

const seen: Seen[] = [];
let issued = 0;
let server: Server;
let base = '';
const hits = (path: string): number => seen.filter((s) => s.path === path).length;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const form = [...new URLSearchParams(Buffer.concat(chunks).toString('utf8'))];
  seen.push({ path, headers: req.headers, form });
  const f = new URLSearchParams(form);
  switch (path) {
    case '/token':
      // Slow enough that concurrent callers overlap with the request in flight.
      await new Promise((r) => setTimeout(r, 50));
      return json(res, 200, { access_token: `cc-${++issued}`, token_type: 'bearer', expires_in: 3600 });
    case '/short':
      return json(res, 200, { access_token: `short-${++issued}`, token_type: 'Bearer', expires_in: 10 });
    case '/exchange':
      return json(res, 200, {
        access_token: `x-${f.get('subject_token')}-${++issued}`,
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: 600,
      });
    case '/error':
      return json(res, 401, { error: 'invalid_client', error_description: `D${'d'.repeat(500)}` });
    case '/error-plain':
      return void res.writeHead(503, { 'content-type': 'text/plain' }).end('down');
    case '/html':
      return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>');
    case '/big':
      return json(res, 200, { access_token: 'big', token_type: 'Bearer', expires_in: 60, pad: 'p'.repeat(70 * 1024) });
    case '/big-chunked':
      // No content-length: the cap must hold while streaming.
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < 80; i++) res.write('x'.repeat(1024));
      return void res.end();
    case '/redirect':
      return void res.writeHead(302, { location: `${base}/redirect-target` }).end();
    case '/redirect-target':
      return json(res, 200, { access_token: 'stolen', token_type: 'Bearer', expires_in: 60 });
    case '/no-expiry':
      return json(res, 200, { access_token: 'a', token_type: 'Bearer' });
    case '/mac':
      return json(res, 200, { access_token: 'a', token_type: 'mac', expires_in: 60 });
    case '/bad-token':
      return json(res, 200, { access_token: 'a\r\nX-Evil: 1', token_type: 'Bearer', expires_in: 60 });
    default:
      return json(res, 404, { error: 'not_found' });
  }
}

before(async () => {
  server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const secrets: CredentialDeps['resolveSecret'] = async (ref) => {
  if ('env' in ref && ref.env === 'CLIENT_SECRET') return 'p@ss:w/rd ä';
  throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', 'unexpected ref');
};
const cc = (path: string, extra: Partial<Extract<UpstreamAuth, { type: 'client-credentials' }>> = {}): UpstreamAuth => ({
  type: 'client-credentials',
  tokenUrl: `${base}${path}`,
  clientId: 'gw client',
  clientSecret: { env: 'CLIENT_SECRET' },
  authMethod: 'client_secret_basic',
  ...extra,
});
const alice = { principalKey: 'default/alice', subjectToken: 'alice-token-1' };

function failsWith(code: string, test?: (e: GatewayError) => void) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof GatewayError, String(e));
    assert.equal(e.code, code, e.message);
    test?.(e);
    return true;
  };
}

describe('client credentials', () => {
  it('20 concurrent callers share one token request; later calls use the cache', async () => {
    const before = hits('/token');
    const c = createUpstreamCredentials(cc('/token', { scope: 'mcp:read mcp:write', resource: 'https://api.example/mcp', audience: 'api' }), { resolveSecret: secrets });
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => c.headers({ principalKey: `p${i}` })));
    assert.equal(hits('/token') - before, 1);
    assert.equal(new Set(all.map((h) => h.authorization)).size, 1);
    assert.match(all[0]!.authorization!, /^Bearer cc-\d+$/);
    await c.headers(alice);
    assert.equal(hits('/token') - before, 1);
    const req = seen.filter((s) => s.path === '/token').at(-1)!;
    assert.deepEqual(Object.fromEntries(req.form), { grant_type: 'client_credentials', scope: 'mcp:read mcp:write', resource: 'https://api.example/mcp', audience: 'api' });
    // client_secret_basic: both parts form-encoded before base64 (RFC 6749 §2.3.1).
    const basic = Buffer.from(String(req.headers.authorization).replace(/^Basic /, ''), 'base64').toString('utf8');
    assert.equal(basic, 'gw+client:p%40ss%3Aw%2Frd+%C3%A4');
    assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.match(c.authContext, /^client-credentials:gw client@http:\/\/127\.0\.0\.1:\d+\/token#[0-9a-f]{8}$/);
  });

  it('client_secret_post sends the credentials as form fields instead', async () => {
    const c = createUpstreamCredentials(cc('/token', { authMethod: 'client_secret_post' }), { resolveSecret: secrets });
    await c.headers(alice);
    const req = seen.filter((s) => s.path === '/token').at(-1)!;
    assert.equal(req.headers.authorization, undefined);
    assert.deepEqual(Object.fromEntries(req.form), { grant_type: 'client_credentials', client_id: 'gw client', client_secret: 'p@ss:w/rd ä' });
  });

  it('is cached until expires_in minus 30 s (at least 5 s), then fetched again', async () => {
    let t = 0;
    const c = createUpstreamCredentials(cc('/token'), { resolveSecret: secrets, now: () => t });
    const before = hits('/token');
    const first = await c.headers(alice);
    t = 3600_000 - EXPIRY_MARGIN_MS - 1;
    assert.deepEqual(await c.headers(alice), first);
    assert.equal(hits('/token') - before, 1);
    t += 1;
    assert.notDeepEqual(await c.headers(alice), first);
    assert.equal(hits('/token') - before, 2);

    // expires_in 10 s is within the margin: kept for the minimum instead.
    t = 0;
    const s = createUpstreamCredentials(cc('/short'), { resolveSecret: secrets, now: () => t });
    const a = await s.headers(alice);
    t = MIN_TOKEN_TTL_MS - 1;
    assert.deepEqual(await s.headers(alice), a);
    t = MIN_TOKEN_TTL_MS;
    assert.notDeepEqual(await s.headers(alice), a);
    assert.equal(hits('/short'), 2);
  });

  it('invalidate (the upstream said 401) forces a new token; a stale rejection does not', async () => {
    const c = createUpstreamCredentials(cc('/token'), { resolveSecret: secrets });
    const before = hits('/token');
    const a = await c.headers(alice);
    c.invalidate(alice, a);
    const b = await c.headers(alice);
    assert.notEqual(b.authorization, a.authorization);
    assert.equal(hits('/token') - before, 2);
    // Another caller's 401 for the old token arrives late: the new token stays.
    c.invalidate(alice, a);
    assert.deepEqual(await c.headers(alice), b);
    c.invalidate(alice);
    assert.notDeepEqual(await c.headers(alice), b);
    assert.equal(hits('/token') - before, 3);
  });

  it('maps error answers to ERR_UPSTREAM_CREDENTIALS with the OAuth error code, a bounded description and no secrets', async () => {
    const c = createUpstreamCredentials(cc('/error'), { resolveSecret: secrets });
    await assert.rejects(
      c.headers(alice),
      failsWith('ERR_UPSTREAM_CREDENTIALS', (e) => {
        assert.match(e.message, /invalid_client/);
        assert.match(e.message, /401/);
        assert.equal(e.detail?.error, 'invalid_client');
        const d = String(e.detail?.errorDescription);
        assert.ok(d.length <= 201 && d.startsWith('Dddd'), d);
        assert.ok(!JSON.stringify({ m: e.message, d: e.detail }).includes('p@ss'));
      }),
    );
    // Failures are not cached: every call asks again.
    await assert.rejects(c.headers(alice));
    assert.equal(hits('/error'), 2);
    await assert.rejects(createUpstreamCredentials(cc('/error-plain'), { resolveSecret: secrets }).headers(alice), failsWith('ERR_UPSTREAM_CREDENTIALS', (e) => assert.match(e.message, /503/)));
  });

  for (const [path, why] of [
    ['/html', /JSON/],
    ['/big', /exceeds 65536 bytes/],
    ['/big-chunked', /exceeds 65536 bytes/],
    ['/no-expiry', /expires_in/],
    ['/mac', /not Bearer/],
    ['/bad-token', /access_token/],
    ['/nowhere', /404/],
  ] as const) {
    it(`refuses an unusable answer: ${path}`, async () => {
      await assert.rejects(createUpstreamCredentials(cc(path), { resolveSecret: secrets }).headers(alice), failsWith('ERR_UPSTREAM_CREDENTIALS', (e) => assert.match(e.message, why)));
    });
  }

  it('never follows a redirect from the token endpoint', async () => {
    await assert.rejects(
      createUpstreamCredentials(cc('/redirect'), { resolveSecret: secrets }).headers(alice),
      failsWith('ERR_UPSTREAM_CREDENTIALS', (e) => assert.match(e.message, /redirect/)),
    );
    assert.equal(hits('/redirect'), 1);
    assert.equal(hits('/redirect-target'), 0);
  });

  it('an unreachable endpoint is ERR_UPSTREAM_CREDENTIALS, and a missing client secret names its ref', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(
      createUpstreamCredentials({ ...cc('/token'), tokenUrl: `http://127.0.0.1:${port}/token` } as UpstreamAuth, { resolveSecret: secrets }).headers(alice),
      failsWith('ERR_UPSTREAM_CREDENTIALS', (e) => assert.match(e.message, /unreachable/)),
    );
    const before = hits('/token');
    await assert.rejects(
      createUpstreamCredentials(cc('/token', { clientSecret: { env: 'NOPE' } }), {
        resolveSecret: async () => {
          throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', 'secret env:NOPE: environment variable is not set or empty');
        },
      }).headers(alice),
      failsWith('ERR_UPSTREAM_CREDENTIALS', (e) => assert.match(e.message, /env:NOPE/)),
    );
    assert.equal(hits('/token'), before);
  });
});

describe('token exchange (RFC 8693)', () => {
  const tx = (extra: Partial<Extract<UpstreamAuth, { type: 'token-exchange' }>> = {}): UpstreamAuth => ({
    type: 'token-exchange',
    tokenUrl: `${base}/exchange`,
    clientId: 'gw',
    clientSecret: { env: 'CLIENT_SECRET' },
    subjectTokenType: 'urn:ietf:params:oauth:token-type:access_token',
    authMethod: 'client_secret_basic',
    ...extra,
  });

  it('sends exactly the RFC 8693 form fields', async () => {
    const c = createUpstreamCredentials(tx({ audience: 'github-api', resource: 'https://api.example/mcp', scope: 'repo:read' }), { resolveSecret: secrets });
    const h = await c.headers(alice);
    assert.match(h.authorization!, /^Bearer x-alice-token-1-\d+$/);
    const req = seen.filter((s) => s.path === '/exchange').at(-1)!;
    assert.deepEqual(req.form, [
      ['grant_type', 'urn:ietf:params:oauth:grant-type:token-exchange'],
      ['subject_token', 'alice-token-1'],
      ['subject_token_type', 'urn:ietf:params:oauth:token-type:access_token'],
      ['audience', 'github-api'],
      ['resource', 'https://api.example/mcp'],
      ['scope', 'repo:read'],
    ]);
    assert.match(String(req.headers.authorization), /^Basic /);
    // Optional parameters are omitted, not sent empty.
    await createUpstreamCredentials(tx({ subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt' }), { resolveSecret: secrets }).headers(alice);
    assert.deepEqual(seen.filter((s) => s.path === '/exchange').at(-1)!.form, [
      ['grant_type', 'urn:ietf:params:oauth:grant-type:token-exchange'],
      ['subject_token', 'alice-token-1'],
      ['subject_token_type', 'urn:ietf:params:oauth:token-type:jwt'],
    ]);
  });

  it('caches per principal and per subject token, and single-flights each', async () => {
    const c = createUpstreamCredentials(tx(), { resolveSecret: secrets });
    const before = hits('/exchange');
    const bob = { principalKey: 'default/bob', subjectToken: 'bob-token' };
    const [a1, a2, b1] = await Promise.all([c.headers(alice), c.headers(alice), c.headers(bob)]);
    assert.deepEqual(a1, a2);
    assert.notDeepEqual(a1, b1);
    assert.match(b1!.authorization!, /^Bearer x-bob-token-/);
    assert.equal(hits('/exchange') - before, 2);
    assert.deepEqual(await c.headers(alice), a1);
    assert.equal(hits('/exchange') - before, 2);
    // A new incoming token (refreshed by the client) is exchanged anew.
    const alice2 = { principalKey: 'default/alice', subjectToken: 'alice-token-2' };
    assert.match((await c.headers(alice2)).authorization!, /^Bearer x-alice-token-2-/);
    assert.equal(hits('/exchange') - before, 3);
    // Invalidation is per principal: bob keeps his token.
    c.invalidate(alice);
    assert.notDeepEqual(await c.headers(alice), a1);
    assert.deepEqual(await c.headers(bob), b1);
    assert.equal(hits('/exchange') - before, 4);
  });

  it('refuses callers without an OAuth token (ERR_UPSTREAM_AUTH_REQUIRED) without calling the endpoint', async () => {
    const c = createUpstreamCredentials(tx(), { resolveSecret: secrets });
    const before = hits('/exchange');
    await assert.rejects(c.headers({ principalKey: 'default/apikey-user' }), failsWith('ERR_UPSTREAM_AUTH_REQUIRED'));
    await assert.rejects(c.headers({ principalKey: 'default/x', subjectToken: '' }), failsWith('ERR_UPSTREAM_AUTH_REQUIRED'));
    assert.equal(hits('/exchange'), before);
  });

  it(`keeps at most ${EXCHANGE_CACHE_MAX} exchanged tokens, evicting the least recently used`, async () => {
    let calls = 0;
    const fetchToken: FetchToken = async (req) => {
      calls++;
      const subject = new URLSearchParams(req.body).get('subject_token');
      return { status: 200, contentType: 'application/json', body: JSON.stringify({ access_token: `t-${subject}-${calls}`, token_type: 'Bearer', expires_in: 600 }) };
    };
    const c = createUpstreamCredentials(tx(), { resolveSecret: secrets, fetchToken });
    const p = (i: number) => ({ principalKey: `t/${i}`, subjectToken: `s${i}` });
    for (let i = 0; i < EXCHANGE_CACHE_MAX; i++) await c.headers(p(i));
    assert.equal(calls, EXCHANGE_CACHE_MAX);
    await c.headers(p(0)); // refresh 0: now 1 is the oldest
    await c.headers(p(EXCHANGE_CACHE_MAX)); // evicts 1
    assert.equal(calls, EXCHANGE_CACHE_MAX + 1);
    await c.headers(p(0));
    await c.headers(p(2));
    assert.equal(calls, EXCHANGE_CACHE_MAX + 1);
    await c.headers(p(1));
    assert.equal(calls, EXCHANGE_CACHE_MAX + 2);
  });
});
