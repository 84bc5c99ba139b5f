/**
 * JWT access tokens end to end through TokenVerifier: real jose keys, a real JWKS endpoint on
 * 127.0.0.1 whose requests are counted, an injected clock for expiry, skew and cooldowns.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { TrustedIssuer, type TrustedIssuerInput } from '../../../src/auth/tokens/config.js';
import { TokenVerifier, type TokenVerifierOptions } from '../../../src/auth/tokens/verifier.js';
import { GatewayError } from '../../../src/pipeline/errors.js';

const ISS = 'https://idp.test/realms/acme';
const AUD = 'https://gateway.test/mcp';
const T0 = 1_900_000_000_000; // the injected clock starts here (ms)

interface TestKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicKey: CryptoKey;
}

async function makeKey(alg: 'RS256' | 'ES256', kid: string = randomUUID()): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, publicJwk };
}

/** A JWKS endpoint whose answer and behaviour the test controls; counts requests. */
class JwksServer {
  requests = 0;
  jwks: { keys: JWK[] } = { keys: [] };
  mode: 'ok' | 'error' | 'hang' | 'huge' = 'ok';
  readonly #server: Server;
  url = '';

  constructor() {
    this.#server = createServer((_req, res) => {
      this.requests++;
      if (this.mode === 'hang') return;
      if (this.mode === 'error') return void res.writeHead(500).end('{}');
      const body = this.mode === 'huge' ? JSON.stringify({ keys: this.jwks.keys, pad: 'x'.repeat(300 * 1024) }) : JSON.stringify(this.jwks);
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/jwks`;
    return this;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

/** A URL on 127.0.0.1 where nothing listens (a server was bound there and closed). */
async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/jwks`;
}

let clock = T0;
const nowSec = (): number => Math.floor(clock / 1000);

function sign(key: TestKey, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  const body: JWTPayload = { iss: ISS, aud: AUD, sub: 'alice', iat: nowSec(), exp: nowSec() + 600, ...claims };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return new SignJWT(body).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);
}

function issuer(over: Partial<TrustedIssuerInput> = {}, jwksUri?: string) {
  return TrustedIssuer.parse({ name: 'acme', issuer: ISS, jwksUri, ...over });
}

interface LogLine {
  obj: Record<string, unknown>;
  msg: string;
}

function verifier(issuers: TrustedIssuerInput[] | ReturnType<typeof issuer>[], extra: Partial<TokenVerifierOptions> = {}, logs: LogLine[] = []): TokenVerifier {
  return new TokenVerifier({
    issuers: issuers.map((i) => TrustedIssuer.parse(i)),
    defaultAudiences: [AUD],
    resolveSecret: async () => 'unused',
    now: () => clock,
    logger: { warn: (obj, msg) => void logs.push({ obj, msg }) },
    jwks: { cooldownMs: 30_000, ...extra.jwks },
    ...extra,
  });
}

/** Asserts that `p` rejects with ERR_INVALID_TOKEN (or `code`) and the given reason. */
async function rejects(p: Promise<unknown>, reason: string, code = 'ERR_INVALID_TOKEN'): Promise<GatewayError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof GatewayError, `expected a GatewayError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.detail?.reason, reason);
    return e;
  }
  assert.fail(`expected a rejection with reason ${reason}`);
}

describe('TokenVerifier with JWT access tokens', () => {
  let server: JwksServer;
  let rsa: TestKey;
  let ec: TestKey;

  before(async () => {
    server = await new JwksServer().start();
    rsa = await makeKey('RS256');
    ec = await makeKey('ES256');
  });
  after(() => server.close());
  beforeEach(() => {
    clock = T0;
    server.mode = 'ok';
    server.jwks = { keys: [rsa.publicJwk, ec.publicJwk] };
  });

  test('a valid RS256 token maps onto a principal (nested roles, tenant claim, groups, scopes, client id)', async () => {
    const v = verifier([
      issuer({ claims: { tenant: 'org.tenant', roles: 'realm_access.roles', groups: 'groups', scope: 'scope' } }, server.url),
    ]);
    const token = await sign(rsa, {
      org: { tenant: 'acme-eu' },
      realm_access: { roles: ['admin', 'reader', 'admin'] },
      groups: 'ops',
      scope: 'mcp:tools  mcp:read',
      client_id: 'claude-desktop',
    });
    const r = await v.verify(token);
    assert.deepEqual(r.principal, {
      subject: 'alice',
      tenant: 'acme-eu',
      roles: ['admin', 'reader'],
      groups: ['ops'],
      clientId: 'claude-desktop',
      authMethod: 'oauth',
      issuer: 'acme',
      scopes: ['mcp:tools', 'mcp:read'],
      // Scalar claims for policy; iss, aud, exp and iat are about the token and are left out.
      claims: { sub: 'alice', groups: 'ops', scope: 'mcp:tools  mcp:read', client_id: 'claude-desktop' },
    });
    assert.deepEqual(r.scopes, ['mcp:tools', 'mcp:read']);
    assert.equal(r.expiresAt, (nowSec() + 600) * 1000);
    assert.ok(Object.isFrozen(r.principal));
  });

  test('a valid ES256 token verifies; tenant falls back to tenantDefault, client id to azp', async () => {
    const v = verifier([issuer({ claims: { tenant: 'tid', tenantDefault: 'shared' } }, server.url)]);
    const r = await v.verify(await sign(ec, { azp: 'cli-app', scope: ['a', 'b'] }));
    assert.equal(r.principal.tenant, 'shared');
    assert.equal(r.principal.clientId, 'cli-app');
    assert.deepEqual(r.principal.roles, []);
    assert.deepEqual(r.scopes, ['a', 'b']);
  });

  test('audience: a token for another resource, or without aud, is refused', async () => {
    const v = verifier([issuer({}, server.url)]);
    await rejects(v.verify(await sign(rsa, { aud: 'https://other.test/mcp' })), 'audience');
    await rejects(v.verify(await sign(rsa, { aud: undefined })), 'audience');
    // any one of several audiences is enough
    await v.verify(await sign(rsa, { aud: ['https://other.test', AUD] }));
    // an issuer's own audiences replace the default ones
    const own = verifier([issuer({ audiences: ['urn:gw'] }, server.url)]);
    await rejects(own.verify(await sign(rsa)), 'audience');
    await own.verify(await sign(rsa, { aud: 'urn:gw' }));
  });

  test('issuer: unknown iss, a trailing-slash variant or a missing iss is refused before any key lookup', async () => {
    const v = verifier([issuer({}, server.url)]);
    const before = server.requests;
    await rejects(v.verify(await sign(rsa, { iss: 'https://evil.test' })), 'issuer');
    await rejects(v.verify(await sign(rsa, { iss: `${ISS}/` })), 'issuer');
    await rejects(v.verify(await sign(rsa, { iss: undefined })), 'issuer');
    assert.equal(server.requests, before, 'no JWKS fetch for a token of an unknown issuer');
  });

  test('expiry: expired beyond the skew is refused, within the skew accepted; a token without exp is refused', async () => {
    const v = verifier([issuer({ clockSkew: '30s' }, server.url)]);
    await rejects(v.verify(await sign(rsa, { exp: nowSec() - 31 })), 'expired');
    await v.verify(await sign(rsa, { exp: nowSec() - 10 }));
    const e = await rejects(v.verify(await sign(rsa, { exp: undefined })), 'malformed');
    assert.equal(e.detail?.claim, 'exp');
  });

  test('nbf: in the future beyond the skew is refused, within the skew accepted', async () => {
    const v = verifier([issuer({ clockSkew: '30s' }, server.url)]);
    await rejects(v.verify(await sign(rsa, { nbf: nowSec() + 120 })), 'not-yet-valid');
    await v.verify(await sign(rsa, { nbf: nowSec() + 20 }));
  });

  test('alg none is refused', async () => {
    const v = verifier([issuer({}, server.url)]);
    const payload = Buffer.from(JSON.stringify({ iss: ISS, aud: AUD, sub: 'alice', exp: nowSec() + 600 })).toString('base64url');
    await rejects(v.verify(`eyJhbGciOiJub25lIn0.${payload}.`), 'algorithm');
    const withKid = Buffer.from(JSON.stringify({ alg: 'none', kid: rsa.kid })).toString('base64url');
    await rejects(v.verify(`${withKid}.${payload}.`), 'algorithm');
  });

  test('HS256 signed with the RSA public key (PEM or JWK bytes) as the HMAC secret is refused', async () => {
    const v = verifier([issuer({}, server.url)]);
    const pem = await exportSPKI(rsa.publicKey);
    const claims = { iss: ISS, aud: AUD, sub: 'mallory', exp: nowSec() + 600 };
    for (const secret of [pem, JSON.stringify(rsa.publicJwk)]) {
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: rsa.kid }).sign(new TextEncoder().encode(secret));
      await rejects(v.verify(forged), 'algorithm');
    }
    // and HS256 cannot even be configured
    assert.equal(TrustedIssuer.safeParse({ name: 'x', issuer: ISS, jwksUri: server.url, algorithms: ['HS256'] }).success, false);
  });

  test('algorithms allowlist: an ES256 token for an issuer limited to RS256 is refused', async () => {
    const v = verifier([issuer({ algorithms: ['RS256'] }, server.url)]);
    await rejects(v.verify(await sign(ec)), 'algorithm');
  });

  test('a tampered payload fails the signature check', async () => {
    const v = verifier([issuer({}, server.url)]);
    const [h, , s] = (await sign(rsa)).split('.');
    const p = Buffer.from(JSON.stringify({ iss: ISS, aud: AUD, sub: 'root', exp: nowSec() + 600 })).toString('base64url');
    await rejects(v.verify(`${h}.${p}.${s}`), 'signature');
  });

  test('typ: required at+jwt accepts at+jwt and refuses a plain JWT', async () => {
    const v = verifier([issuer({ requireTyp: 'at+jwt' }, server.url)]);
    await v.verify(await sign(rsa, {}, { typ: 'at+jwt' }));
    await rejects(v.verify(await sign(rsa, {}, { typ: 'JWT' })), 'type');
    await rejects(v.verify(await sign(rsa)), 'type');
  });

  test('unknown kid: 401, and a burst of 50 random kids costs at most one JWKS fetch per cooldown', async () => {
    const v = verifier([issuer({}, server.url)]);
    await v.verify(await sign(rsa)); // warms the key cache
    const warm = server.requests;
    const stranger = await makeKey('RS256');
    await rejects(v.verify(await sign(stranger)), 'unknown-key'); // within cooldown: no fetch
    assert.equal(server.requests, warm);

    clock += 31_000; // cooldown over
    const burst = await Promise.all(Array.from({ length: 50 }, () => sign({ ...stranger, kid: randomUUID() })));
    const results = await Promise.allSettled(burst.map((t) => v.verify(t)));
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal((r.reason as GatewayError).code, 'ERR_INVALID_TOKEN');
      assert.equal((r.reason as GatewayError).detail?.reason, 'unknown-key');
    }
    assert.equal(server.requests - warm, 1, 'one refetch for the whole burst');

    const again = await Promise.allSettled(burst.slice(0, 20).map((t) => v.verify(t)));
    assert.ok(again.every((r) => r.status === 'rejected'));
    assert.equal(server.requests - warm, 1, 'no refetch within the cooldown');
  });

  test('JWKS endpoint down and key not cached: 401 jwks-unavailable, warned without the token', async () => {
    const logs: LogLine[] = [];
    const v = verifier([issuer({}, await deadUrl())], {}, logs);
    const token = await sign(rsa);
    await rejects(v.verify(token), 'jwks-unavailable');
    await rejects(v.verify(token), 'jwks-unavailable'); // within cooldown: no second attempt, still closed
    assert.equal(logs.length, 1);
    assert.match(logs[0]!.msg, /JWKS fetch failed/);
    assert.ok(!JSON.stringify(logs).includes(token.split('.')[2]!));
  });

  test('JWKS answering 500, an oversized document, or too slowly: 401 jwks-unavailable', async () => {
    for (const mode of ['error', 'huge', 'hang'] as const) {
      server.mode = mode;
      const v = verifier([issuer({}, server.url)], { jwks: { timeoutMs: 300 } });
      const started = Date.now();
      await rejects(v.verify(await sign(rsa)), 'jwks-unavailable');
      assert.ok(Date.now() - started < 5_000, `${mode}: bounded in time`);
    }
  });

  test('unknown kid while the endpoint fails on refetch: jwks-unavailable', async () => {
    const v = verifier([issuer({}, server.url)]);
    await v.verify(await sign(rsa));
    server.mode = 'error';
    clock += 31_000;
    await rejects(v.verify(await sign(await makeKey('RS256'))), 'jwks-unavailable');
    await v.verify(await sign(rsa, { jti: 'x' })); // known keys keep working
  });

  test('key rotation: a new kid verifies once the cooldown allows a refetch; a removed key stops verifying', async () => {
    const v = verifier([issuer({}, server.url)]);
    await v.verify(await sign(rsa));
    const next = await makeKey('RS256');
    server.jwks = { keys: [next.publicJwk] };
    const fetches = server.requests;

    await rejects(v.verify(await sign(next)), 'unknown-key');
    assert.equal(server.requests, fetches, 'cooldown holds');

    clock += 31_000;
    // concurrent tokens with the new kid all wait for the one refetch instead of failing
    const fresh = await Promise.all(Array.from({ length: 10 }, (_, i) => sign(next, { jti: `n${i}` })));
    const results = await Promise.all(fresh.map((t) => v.verify(t)));
    assert.ok(results.every((r) => r.principal.subject === 'alice'));
    assert.equal(server.requests, fetches + 1);
    await rejects(v.verify(await sign(rsa, { jti: 'after-rotation' })), 'unknown-key');
  });

  test('stale keys: a failed refresh keeps the old set up to the hard limit, then fails closed', async () => {
    const v = verifier([issuer({}, server.url)], { jwks: { cooldownMs: 1_000, maxAgeMs: 60_000, staleLimitMs: 600_000 } });
    await v.verify(await sign(rsa));
    server.mode = 'error';
    clock += 120_000; // older than maxAge: refresh fails, stale keys still serve
    const fetches = server.requests;
    await v.verify(await sign(rsa, { jti: 'stale-ok' }));
    assert.equal(server.requests, fetches + 1, 'a refresh was attempted');
    clock += 600_000; // past the hard limit
    await rejects(v.verify(await sign(rsa, { jti: 'too-stale' })), 'jwks-unavailable');
    server.mode = 'ok';
    clock += 2_000;
    await v.verify(await sign(rsa, { jti: 'recovered' }));
  });

  test('a JWKS without kids: the matching key among several is found; private members are ignored', async () => {
    const a = await makeKey('RS256');
    const b = await makeKey('RS256');
    const strip = (k: TestKey): JWK => ({ ...k.publicJwk, kid: undefined });
    const logs: LogLine[] = [];
    server.jwks = { keys: [strip(a), strip(b), { kty: 'oct', k: 'c2VjcmV0', alg: 'HS256' }] };
    const v = verifier([issuer({}, server.url)], {}, logs);
    const token = await new SignJWT({ iss: ISS, aud: AUD, sub: 'bob', exp: nowSec() + 60 }).setProtectedHeader({ alg: 'RS256' }).sign(b.privateKey);
    assert.equal((await v.verify(token)).principal.subject, 'bob');
    assert.ok(logs.some((l) => l.obj.skipped === 1));
  });

  test('verified-token cache: a second verify makes no JWKS fetch even when a fresh check would fail', async () => {
    const v = verifier([issuer({}, server.url)], { jwks: { cooldownMs: 1_000, maxAgeMs: 1_000 } });
    const token = await sign(rsa);
    await v.verify(token);
    const fetches = server.requests;
    server.jwks = { keys: [] };
    clock += 2_000; // key set is now old and the key is gone: only the cache can answer
    const r = await v.verify(token);
    assert.equal(r.principal.subject, 'alice');
    assert.equal(server.requests, fetches, 'served from the cache');
    await rejects(v.verify(await sign(rsa, { jti: 'uncached' })), 'unknown-key');
    assert.equal(server.requests, fetches + 1);
  });

  test('verified-token cache: an expired entry is not served', async () => {
    const v = verifier([issuer({ clockSkew: '0s' }, server.url)]);
    const token = await sign(rsa, { exp: nowSec() + 5 });
    await v.verify(token);
    clock += 6_000;
    await rejects(v.verify(token), 'expired');
  });

  test('claims that fail validation reject the token (reason claims)', async () => {
    const v = verifier([issuer({ claims: { tenant: 'tid', roles: 'roles' } }, server.url)]);
    await rejects(v.verify(await sign(rsa, { sub: 'x'.repeat(257) })), 'claims');
    await rejects(v.verify(await sign(rsa, { sub: '' })), 'claims');
    await rejects(v.verify(await sign(rsa, { tid: '../etc' })), 'claims');
    await rejects(v.verify(await sign(rsa, { roles: { admin: true } })), 'claims');
  });

  test('size and shape: an oversized token and an opaque token without introspection are malformed', async () => {
    const v = verifier([issuer({}, server.url)]);
    await rejects(v.verify('a'.repeat(16 * 1024 + 1)), 'malformed');
    await rejects(v.verify('opaque-token-value'), 'malformed');
    await rejects(v.verify(''), 'malformed');
    await rejects(v.verify('eyJhbGciOiJSUzI1NiJ9.!!!.abc'), 'malformed');
  });

  test('the token audiences are reported, and whether the issuer has its own', async () => {
    const v = verifier([issuer({}, server.url)]);
    const r = await v.verify(await sign(rsa, { aud: [AUD, 'urn:other'] }));
    assert.deepEqual(r.audiences, [AUD, 'urn:other']);
    assert.equal(r.issuerAudience, false);
    const own = verifier([issuer({ audiences: ['urn:api'] }, server.url)]);
    const r2 = await own.verify(await sign(rsa, { aud: 'urn:api' }));
    assert.deepEqual(r2.audiences, ['urn:api']);
    assert.equal(r2.issuerAudience, true);
  });

  test('localKeys: an in-process issuer is verified with its current keys and no JWKS fetch', async () => {
    const jwksDown = await deadUrl();
    let published: { keys: JWK[] } = { keys: [rsa.publicJwk] };
    const v = verifier([issuer({}, jwksDown)], { localKeys: { [ISS]: () => published } });
    const before = server.requests;
    assert.equal((await v.verify(await sign(rsa))).principal.subject, 'alice');
    const next = await makeKey('ES256');
    await rejects(v.verify(await sign(next)), 'unknown-key');
    published = { keys: [next.publicJwk] }; // rotation in the authorization server: seen at once
    await v.verify(await sign(next, { jti: 'rotated' }));
    await rejects(v.verify(await sign(rsa, { jti: 'retired' })), 'unknown-key');
    await rejects(v.verify(await sign(next, { aud: 'urn:elsewhere' })), 'audience');
    assert.equal(server.requests, before);
  });

  test('construction fails closed without any audience, and on duplicate issuers', () => {
    const base = { issuers: [issuer({}, server.url)], resolveSecret: async () => '' };
    assert.throws(() => new TokenVerifier({ ...base, defaultAudiences: [] }));
    assert.throws(() => new TokenVerifier({ ...base, issuers: [issuer({}, server.url), issuer({ name: 'other' }, server.url)], defaultAudiences: [AUD] }));
  });
});
