/** `auth.authorizationServer.federation[]` schema: defaults, issuer rules, names, scopes, secrets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthorizationServerConfig } from '../../../src/auth/server/config.js';
import { FederationEntry, isLoopbackHostname } from '../../../src/auth/server/federation-config.js';

const base = { name: 'corp', displayName: 'Corp SSO', issuer: 'https://login.example.com/realms/corp', clientId: 'portcullis' };

const issues = (input: unknown): string => {
  const r = AuthorizationServerConfig.safeParse({ federation: input });
  assert.equal(r.success, false, `expected a refusal of ${JSON.stringify(input)}`);
  return JSON.stringify(r.error?.issues);
};

test('defaults: openid email profile, sub, tenant "default", no loopback, public client', () => {
  const e = FederationEntry.parse(base);
  assert.deepEqual(e, { ...base, scopes: ['openid', 'email', 'profile'], claims: { subject: 'sub', tenantDefault: 'default' }, allowInsecureLoopback: false });
  assert.equal(e.clientSecret, undefined);
  // Absent federation leaves the existing defaults unchanged.
  assert.equal(AuthorizationServerConfig.parse({}).federation, undefined);
});

test('the issuer is kept exactly as written (paths and a trailing slash are part of it)', () => {
  for (const issuer of ['https://login.example.com/realms/corp', 'https://tenant.auth0.example/', 'https://idp.example.com:8443']) {
    assert.equal(FederationEntry.parse({ ...base, issuer }).issuer, issuer);
  }
});

test('refuses plain http except on loopback with allowInsecureLoopback, and loopback without it', () => {
  assert.match(issues([{ ...base, issuer: 'http://login.example.com' }]), /plain http: only https is allowed/);
  assert.match(issues([{ ...base, issuer: 'http://10.0.0.5:8080', allowInsecureLoopback: true }]), /plain http/);
  assert.match(issues([{ ...base, issuer: 'http://127.0.0.1:4000' }]), /loopback address: set allowInsecureLoopback: true/);
  assert.match(issues([{ ...base, issuer: 'https://localhost:4000' }]), /allowInsecureLoopback/);
  for (const issuer of ['http://127.0.0.1:4000', 'http://localhost:4000/realm', 'http://[::1]:4000', 'https://127.0.0.2']) {
    assert.equal(FederationEntry.safeParse({ ...base, issuer, allowInsecureLoopback: true }).success, true, issuer);
  }
});

test('refuses other schemes, credentials, queries, fragments and non-URLs', () => {
  for (const issuer of ['ftp://idp.example.com', 'javascript:alert(1)', 'https://user:pw@idp.example.com', 'https://idp.example.com/?x=1', 'https://idp.example.com/#f', 'https://idp.example.com?', 'not a url', '']) {
    assert.equal(FederationEntry.safeParse({ ...base, issuer }).success, false, issuer);
  }
});

test('names: lower-case ids, unique, at most 8 entries', () => {
  for (const name of ['Corp', 'a:b', 'a b', '-x', 'x'.repeat(33), '']) assert.equal(FederationEntry.safeParse({ ...base, name }).success, false, name);
  for (const name of ['corp', 'azure-ad', 'kc_1', '0']) assert.equal(FederationEntry.safeParse({ ...base, name }).success, true, name);
  assert.match(issues([base, { ...base, displayName: 'Again' }]), /used twice/);
  const nine = Array.from({ length: 9 }, (_, i) => ({ ...base, name: `p${i}` }));
  assert.equal(AuthorizationServerConfig.safeParse({ federation: nine }).success, false);
  assert.equal(AuthorizationServerConfig.safeParse({ federation: nine.slice(0, 8) }).success, true);
});

test('scopes must include openid; display names are printable; unknown keys refused', () => {
  assert.match(issues([{ ...base, scopes: ['email'] }]), /must include \\"openid\\"/);
  assert.equal(FederationEntry.safeParse({ ...base, scopes: ['openid', 'has space'] }).success, false);
  assert.equal(FederationEntry.safeParse({ ...base, displayName: 'line\nbreak' }).success, false);
  assert.equal(FederationEntry.safeParse({ ...base, displayName: '   ' }).success, false);
  assert.equal(FederationEntry.safeParse({ ...base, secret: 'plain' }).success, false);
  assert.equal(FederationEntry.safeParse({ ...base, claims: { group: 'x' } }).success, false);
  assert.equal(FederationEntry.safeParse({ ...base, claims: { tenantDefault: 'bad tenant' } }).success, false);
});

test('the client secret is a SecretRef, never a value', () => {
  assert.equal(FederationEntry.safeParse({ ...base, clientSecret: 'hunter2' }).success, false);
  assert.deepEqual(FederationEntry.parse({ ...base, clientSecret: { env: 'CORP_SECRET' } }).clientSecret, { env: 'CORP_SECRET' });
});

test('isLoopbackHostname', () => {
  for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '127.255.0.9', '[::1]']) assert.equal(isLoopbackHostname(h), true, h);
  for (const h of ['localhost.example.com', '127.0.0.1.nip.io', '10.0.0.1', '[::2]', '128.0.0.1', '127.0.0.256']) assert.equal(isLoopbackHostname(h), false, h);
});
