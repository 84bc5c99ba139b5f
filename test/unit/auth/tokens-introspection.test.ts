/**
 * Opaque access tokens through TokenVerifier and a real RFC 7662 introspection endpoint on
 * 127.0.0.1 that checks the gateway's client credentials and counts requests.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TrustedIssuer, type TrustedIssuerInput } from '../../../src/auth/tokens/config.js';
import { TokenVerifier } from '../../../src/auth/tokens/verifier.js';
import { GatewayError } from '../../../src/pipeline/errors.js';
import type { SecretRef } from '../../../src/auth/secrets/ref.js';

const ISS = 'https://as.test';
const AUD = 'https://gateway.test/mcp';
const CLIENT_ID = 'gateway app';
const CLIENT_SECRET = 'p@ss:w/rd+1';
const T0 = 1_900_000_000_000;

let clock = T0;
const nowSec = (): number => Math.floor(clock / 1000);

/** An introspection endpoint: answers from `answers` (token → JSON), checks client_secret_basic. */
class IntrospectionServer {
  requests = 0;
  answers = new Map<string, Record<string, unknown>>();
  mode: 'ok' | 'error' | 'hang' | 'huge' | 'not-json' = 'ok';
  lastTypeHint: string | null = null;
  readonly #server: Server;
  url = '';

  constructor() {
    this.#server = createServer((req, res) => {
      this.requests++;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.mode === 'hang') return;
        if (this.mode === 'error') return void res.writeHead(502).end();
        if (!this.#authorized(req.headers.authorization) || req.method !== 'POST' || req.headers['content-type'] !== 'application/x-www-form-urlencoded') {
          return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
        }
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        this.lastTypeHint = form.get('token_type_hint');
        const answer = this.answers.get(form.get('token') ?? '') ?? { active: false };
        const body = this.mode === 'huge' ? JSON.stringify({ ...answer, pad: 'x'.repeat(70 * 1024) }) : this.mode === 'not-json' ? '<html>' : JSON.stringify(answer);
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      });
    });
  }

  #authorized(header: string | undefined): boolean {
    if (!header?.startsWith('Basic ')) return false;
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const dec = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
    return dec(decoded.slice(0, i)) === CLIENT_ID && dec(decoded.slice(i + 1)) === CLIENT_SECRET;
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/introspect`;
    return this;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/introspect`;
}

const secrets: Record<string, string> = { INTRO_SECRET: CLIENT_SECRET };
const resolveSecret = async (ref: SecretRef): Promise<string> => {
  if ('env' in ref && ref.env in secrets) return secrets[ref.env]!;
  throw new Error('no such secret');
};

function issuer(url: string, over: Partial<TrustedIssuerInput> = {}): TrustedIssuerInput {
  return { name: 'as', issuer: ISS, introspection: { url, clientId: CLIENT_ID, clientSecret: { env: 'INTRO_SECRET' }, cacheTtl: '60s' }, ...over };
}

// 2 s: a hanging endpoint still fails well inside the test's 5 s bound, and a loaded machine's
// first request (connection set-up included) is not mistaken for an outage as it was with 300 ms.
function verifier(issuers: TrustedIssuerInput[]): TokenVerifier {
  return new TokenVerifier({ issuers: issuers.map((i) => TrustedIssuer.parse(i)), defaultAudiences: [AUD], resolveSecret, now: () => clock, introspection: { timeoutMs: 2000 } });
}

async function rejects(p: Promise<unknown>, reason: string, code = 'ERR_INVALID_TOKEN'): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof GatewayError, `expected a GatewayError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.detail?.reason, reason);
    return;
  }
  assert.fail(`expected a rejection with reason ${reason}`);
}

const active = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  active: true,
  iss: ISS,
  aud: AUD,
  sub: 'carol',
  scope: 'mcp:tools',
  client_id: 'ide',
  exp: nowSec() + 300,
  ...over,
});

describe('TokenVerifier with opaque tokens (RFC 7662 introspection)', () => {
  let as: IntrospectionServer;
  let other: IntrospectionServer;

  before(async () => {
    as = await new IntrospectionServer().start();
    other = await new IntrospectionServer().start();
  });
  after(async () => {
    await as.close();
    await other.close();
  });
  beforeEach(() => {
    clock = T0;
    for (const s of [as, other]) {
      s.mode = 'ok';
      s.answers.clear();
    }
  });

  test('an active token maps onto a principal; client_secret_basic and the type hint are sent', async () => {
    as.answers.set('tok-active', active({ roles: ['dev'], tenant: 'team-1' }));
    const v = verifier([issuer(as.url, { claims: { roles: 'roles', tenant: 'tenant' } })]);
    const r = await v.verify('tok-active');
    assert.deepEqual(r.principal, {
      subject: 'carol',
      tenant: 'team-1',
      roles: ['dev'],
      groups: [],
      clientId: 'ide',
      authMethod: 'oauth',
      issuer: 'as',
      scopes: ['mcp:tools'],
      // `active` is about the token, not the caller: not kept for policy.
      claims: { sub: 'carol', client_id: 'ide', roles: ['dev'], scope: 'mcp:tools', tenant: 'team-1' },
    });
    assert.equal(r.expiresAt, (nowSec() + 300) * 1000);
    assert.deepEqual(r.audiences, [AUD]);
    assert.equal(r.issuerAudience, false);
    assert.equal(as.lastTypeHint, 'access_token');
  });

  test('inactive, and a wrong client secret at the endpoint', async () => {
    const v = verifier([issuer(as.url)]);
    await rejects(v.verify('tok-unknown'), 'inactive');
    as.answers.set('tok-weird', { active: 'true' });
    await rejects(v.verify('tok-weird'), 'inactive');
    secrets.INTRO_SECRET = 'wrong';
    try {
      as.answers.set('tok-active', active());
      await rejects(v.verify('tok-active'), 'introspection-unavailable', 'ERR_AUTH_UNAVAILABLE');
    } finally {
      secrets.INTRO_SECRET = CLIENT_SECRET;
    }
  });

  test('active but for another audience, from another issuer, expired, not yet valid, or a refresh token: 401', async () => {
    const v = verifier([issuer(as.url)]);
    as.answers.set('t-aud', active({ aud: ['https://elsewhere.test'] }));
    as.answers.set('t-iss', active({ iss: `${ISS}/` }));
    as.answers.set('t-exp', active({ exp: nowSec() - 60 }));
    as.answers.set('t-nbf', active({ nbf: nowSec() + 3600 }));
    as.answers.set('t-rt', active({ token_type: 'refresh_token' }));
    as.answers.set('t-sub', active({ sub: 42 }));
    await rejects(v.verify('t-aud'), 'audience');
    await rejects(v.verify('t-iss'), 'issuer');
    await rejects(v.verify('t-exp'), 'expired');
    await rejects(v.verify('t-nbf'), 'not-yet-valid');
    await rejects(v.verify('t-rt'), 'type');
    await rejects(v.verify('t-sub'), 'claims');
    // aud and iss are optional in RFC 7662: their absence is accepted
    as.answers.set('t-bare', { active: true, sub: 'dave', exp: nowSec() + 60 });
    const bare = await v.verify('t-bare');
    assert.equal(bare.principal.subject, 'dave');
    assert.deepEqual(bare.audiences, [], 'no aud in the answer: none reported');
  });

  test('endpoint down, failing, too slow, oversized or not JSON: 503 ERR_AUTH_UNAVAILABLE', async () => {
    await rejects(verifier([issuer(await deadUrl())]).verify('tok'), 'introspection-unavailable', 'ERR_AUTH_UNAVAILABLE');
    for (const mode of ['error', 'hang', 'huge', 'not-json'] as const) {
      as.mode = mode;
      as.answers.set('tok', active());
      const started = Date.now();
      await rejects(verifier([issuer(as.url)]).verify('tok'), 'introspection-unavailable', 'ERR_AUTH_UNAVAILABLE');
      assert.ok(Date.now() - started < 5_000, `${mode}: bounded in time`);
    }
  });

  test('an unresolvable client secret is a 503, not a pass', async () => {
    const v = verifier([{ ...issuer(as.url), introspection: { url: as.url, clientId: CLIENT_ID, clientSecret: { env: 'MISSING' } } }]);
    as.answers.set('tok', active());
    const before = as.requests;
    await rejects(v.verify('tok'), 'introspection-unavailable', 'ERR_AUTH_UNAVAILABLE');
    assert.equal(as.requests, before, 'nothing is sent without credentials');
  });

  test('answers are cached until min(exp, cacheTtl); concurrent verifications share one request', async () => {
    const v = verifier([issuer(as.url)]);
    as.answers.set('tok-long', active({ exp: nowSec() + 3600 }));
    const start = as.requests;
    await Promise.all(Array.from({ length: 10 }, () => v.verify('tok-long')));
    assert.equal(as.requests - start, 1, 'single flight');
    await v.verify('tok-long');
    assert.equal(as.requests - start, 1, 'cached');
    clock += 61_000; // past cacheTtl
    await v.verify('tok-long');
    assert.equal(as.requests - start, 2, 'asked again after cacheTtl');

    as.answers.set('tok-noexp', { active: true, sub: 'erin' });
    const r = await v.verify('tok-noexp');
    assert.equal(r.expiresAt, clock + 60_000, 'without exp, the answer is trusted for cacheTtl');
    as.answers.set('tok-noexp', { active: false }); // revoked at the AS
    clock += 61_000;
    await rejects(v.verify('tok-noexp'), 'inactive');
  });

  // Two introspecting issuers: each needs its own prefix, and a token is only ever sent to the
  // issuer its prefix names (no token passthrough). The partner is listed first on purpose: the
  // old code asked issuers in config order until one said "active".
  const partner = (url: string, tokenPrefix = 'b_at_'): TrustedIssuerInput => ({
    ...issuer(url),
    name: 'as2',
    issuer: 'https://as2.test',
    introspection: { url, clientId: CLIENT_ID, clientSecret: { env: 'INTRO_SECRET' }, tokenPrefix },
  });
  // null: no prefix
  const own = (url: string, tokenPrefix: string | null = 'a_at_'): TrustedIssuerInput =>
    issuer(url, { introspection: { url, clientId: CLIENT_ID, clientSecret: { env: 'INTRO_SECRET' }, ...(tokenPrefix === null ? {} : { tokenPrefix }) } });

  test("several issuers: a token with A's prefix reaches only A's endpoint, whatever A answers", async () => {
    const v = verifier([partner(other.url), own(as.url)]);
    const counts = (): [number, number] => [as.requests, other.requests];
    const [a0, b0] = counts();
    as.answers.set('a_at_live', active({ sub: 'alice' }));
    other.answers.set('a_at_live', active({ iss: 'https://as2.test', sub: 'mallory' })); // B would claim it
    const r = await v.verify('a_at_live');
    assert.equal(r.principal.issuer, 'as');
    assert.equal(r.principal.subject, 'alice');
    assert.deepEqual(counts(), [a0 + 1, b0], "A asked once, B's endpoint never saw the token");

    // inactive at A: refused, not tried at B
    other.answers.set('a_at_revoked', active({ iss: 'https://as2.test' }));
    await rejects(v.verify('a_at_revoked'), 'inactive');
    assert.deepEqual(counts(), [a0 + 2, b0]);

    // B's own tokens go to B only
    other.answers.set('b_at_tok', active({ iss: 'https://as2.test', sub: 'frank' }));
    assert.equal((await v.verify('b_at_tok')).principal.issuer, 'as2');
    assert.deepEqual(counts(), [a0 + 2, b0 + 1]);

    // an active answer is authoritative even when it fails our checks
    as.answers.set('a_at_aud', active({ aud: 'https://elsewhere.test' }));
    await rejects(v.verify('a_at_aud'), 'audience');
    assert.deepEqual(counts(), [a0 + 3, b0 + 1]);
  });

  test("several issuers: A unreachable is a 503 for A's tokens, and B is not asked instead", async () => {
    const v = verifier([partner(other.url), own(await deadUrl())]);
    other.answers.set('a_at_tok', active({ iss: 'https://as2.test' }));
    const b0 = other.requests;
    await rejects(v.verify('a_at_tok'), 'introspection-unavailable', 'ERR_AUTH_UNAVAILABLE');
    assert.equal(other.requests, b0);
  });

  test('an opaque token no prefix matches, with no unprefixed introspecting issuer, is refused without any request', async () => {
    const v = verifier([partner(other.url), own(as.url)]);
    as.answers.set('zz-tok', active());
    other.answers.set('zz-tok', active({ iss: 'https://as2.test' }));
    const before = [as.requests, other.requests];
    await rejects(v.verify('zz-tok'), 'issuer');
    await rejects(v.verify('a_at'), 'issuer'); // a prefix of the prefix is no match
    assert.deepEqual([as.requests, other.requests], before, 'no introspection request at all');
  });

  test('one introspecting issuer without a prefix gets the tokens no prefix matches, and only those', async () => {
    const v = verifier([partner(other.url), own(as.url, null)]);
    as.answers.set('plain-tok', active({ sub: 'carol' }));
    as.answers.set('b_at_tok', active()); // A would claim B's token: it never sees it
    const before = [as.requests, other.requests];
    assert.equal((await v.verify('plain-tok')).principal.issuer, 'as');
    await rejects(v.verify('b_at_tok'), 'inactive');
    assert.deepEqual([as.requests, other.requests], [before[0]! + 1, before[1]! + 1]);
  });

  test('several introspecting issuers without prefixes, or with overlapping prefixes, do not start', () => {
    const bare = { ...issuer(other.url), name: 'as2', issuer: 'https://as2.test' };
    assert.throws(() => verifier([issuer(as.url), bare]), /several issuers introspect opaque tokens: \[0\]\.introspection \("as"\), \[1\]\.introspection \("as2"\)/);
    assert.throws(() => verifier([partner(other.url, 'ory_'), own(as.url, 'ory_at_')]), /overlap/);
    assert.throws(() => verifier([partner(other.url, 'ory_at_'), own(as.url, 'ory_at_')]), /overlap/);
  });

  test('a JWT whose iss names an introspection-only issuer is introspected there', async () => {
    const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const jwt = `${enc({ alg: 'RS256', typ: 'at+jwt' })}.${enc({ iss: ISS, sub: 'gina' })}.c2ln`;
    as.answers.set(jwt, active({ sub: 'gina' }));
    const v = verifier([issuer(as.url)]);
    assert.equal((await v.verify(jwt)).principal.subject, 'gina');
    as.answers.delete(jwt);
    await rejects(verifier([issuer(as.url)]).verify(jwt), 'inactive');
  });
});
