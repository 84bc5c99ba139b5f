/**
 * The pure parts of token verification: claim mapping and its shape checks, the issuer schema,
 * the Authorization header parser and the verified-token cache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapClaims, readClaim } from '../../../src/auth/tokens/claims.js';
import { TrustedIssuer, TrustedIssuers, type TrustedIssuerInput } from '../../../src/auth/tokens/config.js';
import { TokenCache, tokenKey } from '../../../src/auth/tokens/cache.js';
import { bearerFrom, MAX_TOKEN_LENGTH } from '../../../src/auth/tokens/verifier.js';
import type { TokenLogger } from '../../../src/auth/tokens/errors.js';
import { GatewayError } from '../../../src/pipeline/errors.js';
import { silentLogger } from '../../../src/observability/logger.js';

const base: TrustedIssuerInput = { name: 'kc', issuer: 'https://kc.test/realms/a', jwksUri: 'https://kc.test/certs' };
const cfg = (claims: TrustedIssuerInput['claims'] = {}) => TrustedIssuer.parse({ ...base, claims });

function claimsError(fn: () => unknown, claim: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof GatewayError);
    assert.equal(e.code, 'ERR_INVALID_TOKEN');
    assert.equal(e.detail?.reason, 'claims');
    assert.equal(e.detail?.claim, claim);
    return true;
  });
}

test('mapClaims: defaults read sub, client_id (then azp) and scope', () => {
  const { principal, scopes } = mapClaims({ sub: 'u1', client_id: 'c1', azp: 'ignored', scope: 'a b a' }, cfg());
  assert.deepEqual(principal, {
    subject: 'u1',
    tenant: 'default',
    roles: [],
    groups: [],
    clientId: 'c1',
    authMethod: 'oauth',
    issuer: 'kc',
    scopes: ['a', 'b'],
    claims: { sub: 'u1', client_id: 'c1', azp: 'ignored', scope: 'a b a' },
  });
  assert.deepEqual(scopes, ['a', 'b']);
  assert.equal(mapClaims({ sub: 'u1', azp: 'c2' }, cfg()).principal.clientId, 'c2');
  assert.equal('clientId' in mapClaims({ sub: 'u1' }, cfg()).principal, false);
});

test('mapClaims: nested and segment-list paths; a single string becomes a list', () => {
  const c = cfg({ roles: 'realm_access.roles', groups: ['https://example.com/claims', 'groups'], tenant: 'org.id', subject: 'preferred.name' });
  const { principal } = mapClaims(
    { preferred: { name: 'ann' }, realm_access: { roles: 'admin' }, 'https://example.com/claims': { groups: ['g1', 'g2'] }, org: { id: 'acme.eu-1' } },
    c,
  );
  assert.equal(principal.subject, 'ann');
  assert.deepEqual(principal.roles, ['admin']);
  assert.deepEqual(principal.groups, ['g1', 'g2']);
  assert.equal(principal.tenant, 'acme.eu-1');
});

test('mapClaims: shape violations reject the token with reason claims', () => {
  const c = cfg({ roles: 'roles', groups: 'groups', tenant: 'tid' });
  claimsError(() => mapClaims({}, c), 'subject');
  claimsError(() => mapClaims({ sub: '' }, c), 'subject');
  claimsError(() => mapClaims({ sub: 7 }, c), 'subject');
  claimsError(() => mapClaims({ sub: 'x'.repeat(257) }, c), 'subject');
  claimsError(() => mapClaims({ sub: 'a\nb' }, c), 'subject');
  claimsError(() => mapClaims({ sub: 'u', tid: 'has space' }, c), 'tenant');
  claimsError(() => mapClaims({ sub: 'u', tid: 'x'.repeat(65) }, c), 'tenant');
  claimsError(() => mapClaims({ sub: 'u', tid: ['a'] }, c), 'tenant');
  claimsError(() => mapClaims({ sub: 'u', roles: [1] }, c), 'roles');
  claimsError(() => mapClaims({ sub: 'u', roles: ['ok', 'x'.repeat(257)] }, c), 'roles');
  claimsError(() => mapClaims({ sub: 'u', roles: Array.from({ length: 257 }, (_, i) => `r${i}`) }, c), 'roles');
  claimsError(() => mapClaims({ sub: 'u', groups: { a: 1 } }, c), 'groups');
  claimsError(() => mapClaims({ sub: 'u', scope: 5 }, c), 'scope');
  claimsError(() => mapClaims({ sub: 'u', client_id: { id: 'x' } }, c), 'clientId');
  // limits are inclusive
  const ok = mapClaims({ sub: 'x'.repeat(256), tid: `t${'x'.repeat(63)}`, roles: Array.from({ length: 256 }, (_, i) => `r${i}`) }, c);
  assert.equal(ok.principal.roles.length, 256);
});

test('readClaim follows own properties of plain objects only', () => {
  const claims = JSON.parse('{"a":{"__proto__":{"polluted":true}},"arr":["x"]}') as Record<string, unknown>;
  assert.equal(readClaim(claims, 'a.polluted'), undefined);
  assert.equal(readClaim(claims, 'toString'), undefined);
  assert.equal(readClaim(claims, 'arr.0'), undefined);
  assert.equal(readClaim({ a: null }, 'a.b'), undefined);
});

test('TrustedIssuer: defaults, exclusions and path rules', () => {
  const p = TrustedIssuer.parse(base);
  assert.deepEqual(p.algorithms, ['RS256', 'ES256', 'PS256', 'EdDSA']);
  assert.equal(p.clockSkew, '30s');
  assert.deepEqual(p.claims, { subject: 'sub', tenantDefault: 'default', clientId: 'client_id', scope: 'scope' });
  const intro = TrustedIssuer.parse({ name: 'o', issuer: 'x', introspection: { url: 'https://o.test/i', clientId: 'gw', clientSecret: { env: 'S' } } });
  assert.equal(intro.introspection?.cacheTtl, '60s');

  const bad: unknown[] = [
    { name: 'n', issuer: 'x' }, // neither jwksUri nor introspection
    { ...base, jwksUri: 'file:///etc/jwks.json' },
    { ...base, algorithms: ['HS256'] },
    { ...base, algorithms: ['none'] },
    { ...base, algorithms: [] },
    { ...base, claims: { roles: 'a.__proto__' } },
    { ...base, claims: { roles: 'constructor' } },
    { ...base, claims: { groups: ['prototype'] } },
    { ...base, claims: { roles: 'a.b.c.d.e.f.g.h.i' } },
    { ...base, claims: { roles: 'a..b' } },
    { ...base, claims: { tenantDefault: 'no spaces' } },
    { ...base, introspection: { url: 'https://o.test/i', clientId: 'gw', clientSecret: 'plain-secret' } },
    { ...base, extra: true },
  ];
  for (const b of bad) assert.equal(TrustedIssuer.safeParse(b).success, false, JSON.stringify(b));
  assert.equal(TrustedIssuer.safeParse({ ...base, claims: { roles: 'a.b.c.d.e.f.g.h' } }).success, true);
  assert.equal(TrustedIssuers.safeParse([base, { ...base, name: 'kc2' }]).success, false, 'same iss twice');
  assert.equal(TrustedIssuers.safeParse([base, { ...base, issuer: 'https://other' }]).success, false, 'same name twice');
  assert.equal(TrustedIssuers.safeParse([base, { ...base, name: 'kc2', issuer: 'https://other' }]).success, true);

  // opaque tokens must route to one issuer: at most one introspecting issuer without tokenPrefix, no overlapping prefixes
  const io = (name: string, tokenPrefix?: string): TrustedIssuerInput => ({
    name,
    issuer: `https://${name}.test`,
    introspection: { url: `https://${name}.test/i`, clientId: 'gw', clientSecret: { env: 'S' }, ...(tokenPrefix === undefined ? {} : { tokenPrefix }) },
  });
  const two = TrustedIssuers.safeParse([io('b'), base, io('a')]);
  assert.equal(two.success, false, 'two introspecting issuers without prefixes');
  assert.match(two.error?.issues[0]?.message ?? '', /\[0\]\.introspection \("b"\), \[2\]\.introspection \("a"\)/);
  assert.equal(TrustedIssuers.safeParse([io('b', 'b_'), io('a')]).success, true);
  assert.equal(TrustedIssuers.safeParse([io('b', 'b_'), io('a', 'b_x')]).success, false, 'one prefix starts the other');
  assert.equal(TrustedIssuers.safeParse([io('b', 'same'), io('a', 'same')]).success, false, 'same prefix twice');
  for (const bad of ['', 'a b', 'é', 'x'.repeat(65)]) assert.equal(TrustedIssuer.safeParse(io('b', bad)).success, false, JSON.stringify(bad));
});

test('bearerFrom: accepts one token68 credential after a case-insensitive Bearer', () => {
  assert.equal(bearerFrom('Bearer abc.def-ghi_jkl~m+n/o=='), 'abc.def-ghi_jkl~m+n/o==');
  assert.equal(bearerFrom('bearer abc'), 'abc');
  assert.equal(bearerFrom('BEARER  abc'), 'abc');
  const long = 'a'.repeat(MAX_TOKEN_LENGTH);
  assert.equal(bearerFrom(`Bearer ${long}`), long);
});

test('bearerFrom: refuses everything else', () => {
  const cases: (string | undefined)[] = [
    undefined,
    '',
    'Bearer',
    'Bearer ',
    'Bearer  ',
    'Basic dXNlcjpwYXNz',
    'Bearerabc',
    'Bearer abc def',
    'Bearer abc,def',
    'Bearer a=b',
    'Bearer "abc"',
    'Bearer abc\t',
    'Bearer\tabc',
    ' Bearer abc',
    'Bearer abc\r\nX: y',
    'Bearer ä',
    `Bearer ${'a'.repeat(MAX_TOKEN_LENGTH + 1)}`,
    `Bearer ${'a'.repeat(100_000)}`,
  ];
  for (const c of cases) assert.equal(bearerFrom(c), undefined, JSON.stringify(c)?.slice(0, 40));
});

test('bearerFrom is linear on hostile input', () => {
  const started = process.hrtime.bigint();
  for (let i = 0; i < 200; i++) bearerFrom(`Bearer ${'a'.repeat(16_000)}${'='.repeat(50)}!`);
  assert.ok(process.hrtime.bigint() - started < 2_000_000_000n);
});

test('tokenKey is a SHA-256, not the token', () => {
  const k = tokenKey('secret-token');
  assert.equal(k.length, 43);
  assert.ok(!k.includes('secret'));
  assert.notEqual(tokenKey('secret-token2'), k);
});

test('TokenCache: expiry at min(exp, now + maxTtl), LRU eviction, only live entries served', () => {
  const c = new TokenCache<string>({ maxEntries: 3, maxTtlMs: 1_000 });
  c.set('a', 'A', 500, 0);
  assert.equal(c.get('a', 499), 'A');
  assert.equal(c.get('a', 500), undefined, 'expires at the token exp');
  assert.equal(c.size, 0, 'expired entry removed');

  c.set('b', 'B', 10_000, 0);
  assert.equal(c.get('b', 999), 'B');
  assert.equal(c.get('b', 1_000), undefined, 'capped by maxTtl');

  c.set('dead', 'D', 100, 100);
  assert.equal(c.size, 0, 'an already expired result is not stored');

  c.set('1', 'one', 5_000, 0);
  c.set('2', 'two', 5_000, 0);
  c.set('3', 'three', 5_000, 0);
  assert.equal(c.get('1', 1), 'one'); // 1 becomes most recent
  c.set('4', 'four', 5_000, 0); // evicts 2, the least recently used
  assert.equal(c.size, 3);
  assert.equal(c.get('2', 1), undefined);
  assert.equal(c.get('1', 1), 'one');
  assert.equal(c.get('4', 1), 'four');
});

test('TokenCache: stays bounded under many distinct tokens', () => {
  const c = new TokenCache<number>({ maxEntries: 10_000 });
  for (let i = 0; i < 10_000; i++) c.set(tokenKey(`t${i}`), i, 1e15, 0);
  for (let i = 0; i < 20_000; i++) c.set(tokenKey(`u${i}`), i, 1e15, 0);
  assert.equal(c.size, 10_000, 'bounded');
  assert.equal(c.get(tokenKey('t0'), 1), undefined, 'oldest evicted');
  assert.equal(c.get(tokenKey('u19999'), 1), 19_999);
});

test('a pino logger satisfies TokenLogger', () => {
  const l: TokenLogger = silentLogger;
  l.warn({ issuer: 'x' }, 'typed');
});

test('mapClaims: scalar claims and short string lists are kept for policy, bounded; token-only claims are not', () => {
  const claims: Record<string, unknown> = {
    sub: 'u1',
    dept: 'eng',
    level: 3,
    mfa: true,
    amr: ['pwd', 'otp'],
    nested: { a: 1 },
    mixed: ['a', 1],
    long: 'x'.repeat(10_000),
    ctl: 'a\u0000b',
    iss: 'https://kc.test',
    exp: 1,
    jti: 'j',
  };
  for (let i = 0; i < 50; i++) claims[`extra${i}`] = i;
  const { principal } = mapClaims(claims, cfg());
  const c = principal.claims ?? {};
  assert.equal(c.dept, 'eng');
  assert.equal(c.level, 3);
  assert.equal(c.mfa, true);
  assert.deepEqual(c.amr, ['pwd', 'otp']);
  for (const k of ['nested', 'mixed', 'long', 'ctl', 'iss', 'exp', 'jti']) assert.equal(k in c, false, k);
  assert.ok(Object.keys(c).length <= 32, 'at most 32 claims are kept');
  assert.ok(Object.isFrozen(c));
});
