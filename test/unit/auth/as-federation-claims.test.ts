/** Federated accounts: claim mapping (fail closed), account ids, and the bounded account map. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FederationEntry } from '../../../src/auth/server/federation-config.js';
import { mapFederatedClaims, missingClaims, readClaim } from '../../../src/auth/server/federation-claims.js';
import { FederatedAccounts, federatedAccountId, isFederatedAccountId } from '../../../src/auth/server/federation-accounts.js';
import { isValidUsername } from '../../../src/auth/users/users.js';
import { GatewayError } from '../../../src/pipeline/errors.js';

const entry = (claims: Record<string, unknown> = {}) => FederationEntry.parse({ name: 'corp', displayName: 'Corp', issuer: 'https://idp.example.com', clientId: 'c', claims });

const refused = (fn: () => unknown, re: RegExp): void => {
  assert.throws(fn, (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UNAUTHENTICATED' && re.test(e.message));
};

test('defaults: sub becomes <name>:<sub>, tenant "default", no roles', () => {
  assert.deepEqual(mapFederatedClaims(entry(), { sub: 'u-123', tenant: 'ignored', roles: ['ignored'] }), { accountId: 'corp:u-123', tenant: 'default', roles: [] });
});

test('federated account ids never collide with local usernames', () => {
  assert.equal(isValidUsername('corp:alice'), false, 'a local username cannot contain ":"');
  assert.equal(isFederatedAccountId(federatedAccountId('corp', 'alice')), true);
  assert.equal(isFederatedAccountId('alice'), false);
  // A subject that itself contains ":" still maps under its provider's prefix.
  assert.equal(mapFederatedClaims(entry(), { sub: 'auth0|x:y' }).accountId, 'corp:auth0|x:y');
});

test('tenant and roles from configured claims, by key or dotted path', () => {
  const e = entry({ subject: 'oid', tenant: 'org.tenant', roles: 'realm_access.roles', tenantDefault: 'partners' });
  const claims = { sub: 's', oid: 'o-1', org: { tenant: 'acme' }, realm_access: { roles: ['dev', 'ops', 'dev'] } };
  assert.deepEqual(mapFederatedClaims(e, claims), { accountId: 'corp:o-1', tenant: 'acme', roles: ['dev', 'ops'] });
  // URL-style claim names (which contain dots) are read by exact key first.
  const url = entry({ roles: 'https://example.com/roles' });
  assert.deepEqual(mapFederatedClaims(url, { sub: 's', 'https://example.com/roles': 'a b' }).roles, ['a', 'b']);
  // Missing claims: the default tenant and no roles.
  assert.deepEqual(mapFederatedClaims(e, { oid: 'o-2' }), { accountId: 'corp:o-2', tenant: 'partners', roles: [] });
  assert.equal(readClaim({ a: { b: { c: { d: { e: { f: 1 } } } } } }, 'a.b.c.d.e.f'), undefined, 'paths deeper than 5 are not followed');
  assert.equal(readClaim({ a: [{ b: 1 }] }, 'a.0.b'), undefined, 'arrays are not indexed');
  assert.equal(readClaim({}, '__proto__.constructor'), undefined, 'only own properties');
});

test('numeric subjects are accepted as their decimal string', () => {
  assert.equal(mapFederatedClaims(entry(), { sub: 1234567 }).accountId, 'corp:1234567');
});

test('refuses unusable subjects instead of guessing', () => {
  for (const sub of [undefined, '', 'x'.repeat(256), 'a\nb', 'a\u0000b', { id: 1 }, 1.5, ['a']]) {
    refused(() => mapFederatedClaims(entry(), { sub }), /"sub" is missing or not a usable subject/);
  }
});

test('fails closed on tenants and roles that break the local rules (no silent default, no silent drop)', () => {
  const e = entry({ tenant: 'tid', roles: 'groups' });
  refused(() => mapFederatedClaims(e, { sub: 's', tid: 'has space' }), /"tid" is not a valid tenant name/);
  refused(() => mapFederatedClaims(e, { sub: 's', tid: 42 }), /"tid" is not a string/);
  refused(() => mapFederatedClaims(e, { sub: 's', groups: ['ok', 'not ok'] }), /"groups" holds a role/);
  refused(() => mapFederatedClaims(e, { sub: 's', groups: ['ok', 7] }), /not a list of strings/);
  refused(() => mapFederatedClaims(e, { sub: 's', groups: { admin: true } }), /not a list of strings/);
  refused(() => mapFederatedClaims(e, { sub: 's', groups: Array.from({ length: 33 }, (_, i) => `r${i}`) }), /or more than 32/);
  assert.deepEqual(mapFederatedClaims(e, { sub: 's', tid: null, groups: null }), { accountId: 'corp:s', tenant: 'default', roles: [] });
});

test('missingClaims names the configured claims absent from the ID token', () => {
  const e = entry({ tenant: 'tid', roles: 'groups' });
  assert.deepEqual(missingClaims(e, { sub: 's', tid: 't' }), ['groups']);
  assert.deepEqual(missingClaims(entry(), { sub: 's' }), []);
});

test('FederatedAccounts: expires, is bounded, refreshes on sign-in, and ignores local ids', () => {
  let now = 1_000_000;
  const accounts = new FederatedAccounts(60_000, 2, () => now);
  accounts.set('corp:a', { idp: 'corp', tenant: 't1', roles: ['r'] });
  accounts.set('corp:b', { idp: 'corp', tenant: 't1', roles: [] });
  assert.equal(accounts.get('corp:a')?.tenant, 't1');
  assert.throws(() => accounts.set('alice', { idp: 'corp', tenant: 't', roles: [] }));
  assert.equal(accounts.get('alice'), undefined);
  // A new sign-in refreshes the claims.
  accounts.set('corp:a', { idp: 'corp', tenant: 't2', roles: ['x'] });
  assert.deepEqual(accounts.get('corp:a'), { idp: 'corp', tenant: 't2', roles: ['x'] });
  assert.ok(Object.isFrozen(accounts.get('corp:a')?.roles));
  // Full: the oldest written entry goes first.
  accounts.set('corp:c', { idp: 'corp', tenant: 't1', roles: [] });
  assert.equal(accounts.size, 2);
  assert.equal(accounts.get('corp:b'), undefined);
  now += 60_001;
  assert.equal(accounts.get('corp:a'), undefined, 'expired');
});
