/**
 * Persistence of upstream OAuth state (src/auth/upstream-oauth/store.ts) in the real encrypted
 * secret store (memory and SQLite backends): record names, isolation between principals and
 * upstreams, size bounds, validation on read, sealing at rest. Plus the `auth: {type: oauth}`
 * config schema.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { createKeyring, keyFromBytes } from '../../../src/auth/secrets/keyring.js';
import { EncryptedSecrets } from '../../../src/auth/secrets/secret-store.js';
import { OAuthUpstreamAuth } from '../../../src/auth/upstream-oauth/config.js';
import { principalHash, recordName, RECORD_LIMITS, UpstreamOAuthStore } from '../../../src/auth/upstream-oauth/store.js';
import { GatewayError } from '../../../src/pipeline/errors.js';
import { openStore } from '../../../src/storage/index.js';
import { openMemoryStore } from '../../../src/storage/memory/store.js';

function memorySecrets(): { secrets: EncryptedSecrets; raw: ReturnType<typeof openMemoryStore>['secrets'] } {
  const raw = openMemoryStore().secrets;
  return { secrets: new EncryptedSecrets(raw, createKeyring(keyFromBytes(randomBytes(32)))), raw };
}

const TOKENS = { access_token: 'at-secret-value-123', token_type: 'Bearer', expires_in: 600, refresh_token: 'rt-secret-value-456', scope: 'mcp:read' };

test('record names: upstream-oauth/<upstream>/<first 32 hex of sha256(principal)>/<kind>', () => {
  for (const pk of ['@gateway', 'acme:alice', 'tenant/with/slashes', 'line\nbreak', 'ünïcødé ✓', 'x'.repeat(1024)]) {
    const h = createHash('sha256').update(pk, 'utf8').digest('hex').slice(0, 32);
    assert.equal(principalHash(pk), h);
    for (const kind of ['client', 'tokens', 'verifier', 'discovery', 'challenge'] as const) {
      const name = recordName('github', pk, kind);
      assert.equal(name, `upstream-oauth/github/${h}/${kind}`);
      // Printable ASCII only, whatever the principal key holds.
      assert.match(name, /^[\x21-\x7e]+$/);
    }
  }
  assert.notEqual(recordName('github', 'acme:alice', 'tokens'), recordName('github', 'acme:bob', 'tokens'));
  assert.notEqual(recordName('github', 'acme:alice', 'tokens'), recordName('jira', 'acme:alice', 'tokens'));
});

test('record names refuse bad upstream names and principal keys', () => {
  const bad = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof GatewayError && e.code === 'ERR_BAD_INPUT');
  for (const up of ['', '../x', 'a/b', 'with space', '-lead', 'x'.repeat(65)]) bad(() => recordName(up, 'acme:alice', 'tokens'));
  bad(() => recordName('github', '', 'tokens'));
  bad(() => recordName('github', 'x'.repeat(1025), 'tokens'));
  bad(() => new UpstreamOAuthStore(memorySecrets().secrets, 'a/b'));
});

test('records round-trip sealed, per principal, and deleteAll removes only that principal', async () => {
  const { secrets, raw } = memorySecrets();
  const s = new UpstreamOAuthStore(secrets, 'github');
  const other = new UpstreamOAuthStore(secrets, 'jira');
  await s.setTokens('acme:alice', { tokens: TOKENS, savedAt: 1000, requestedScope: 'mcp:read' });
  await s.setClient('acme:alice', { client_id: 'c-1', redirect_uris: ['http://127.0.0.1:1/cb'], token_endpoint_auth_method: 'none', issuer: 'https://as.example' });
  await s.setVerifier('acme:alice', 'v'.repeat(43));
  await s.setDiscovery('acme:alice', {
    authorizationServerUrl: 'https://as.example',
    resourceMetadataUrl: 'https://mcp.example/.well-known/oauth-protected-resource/mcp',
    resourceMetadata: { resource: 'https://mcp.example/mcp', authorization_servers: ['https://as.example'] },
    authorizationServerMetadata: {
      issuer: 'https://as.example',
      authorization_endpoint: 'https://as.example/authorize',
      token_endpoint: 'https://as.example/token',
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
    },
  });
  await s.setChallenge('acme:alice', { scope: 'mcp:read mcp:write', stepUp: true, stepUps: 1, windowStart: 5 });
  await s.setTokens('acme:bob', { tokens: { ...TOKENS, access_token: 'bob-token' }, savedAt: 2000 });

  assert.deepEqual(await s.getTokens('acme:alice'), { tokens: { ...TOKENS }, savedAt: 1000, requestedScope: 'mcp:read' });
  assert.equal((await s.getClient('acme:alice'))?.client_id, 'c-1');
  assert.equal((await s.getClient('acme:alice'))?.issuer, 'https://as.example');
  assert.equal(await s.getVerifier('acme:alice'), 'v'.repeat(43));
  const d = await s.getDiscovery('acme:alice');
  assert.equal(d?.authorizationServerMetadata?.authorization_response_iss_parameter_supported, true);
  assert.equal(d?.resourceMetadata?.resource, 'https://mcp.example/mcp');
  assert.deepEqual(await s.getChallenge('acme:alice'), { scope: 'mcp:read mcp:write', stepUp: true, stepUps: 1, windowStart: 5 });
  assert.equal((await s.getTokens('acme:bob'))?.tokens.access_token, 'bob-token');
  assert.equal(await other.getTokens('acme:alice'), undefined);

  // Sealed at rest: no record holds a token or the verifier in the clear.
  for (const r of await raw.list()) {
    const text = JSON.stringify(r);
    for (const secret of ['at-secret-value-123', 'rt-secret-value-456', 'bob-token', 'v'.repeat(43)]) assert.ok(!text.includes(secret), `${r.name} leaks a secret`);
  }

  await s.deleteAll('acme:alice');
  assert.equal(await s.getTokens('acme:alice'), undefined);
  assert.equal(await s.getClient('acme:alice'), undefined);
  assert.equal(await s.getDiscovery('acme:alice'), undefined);
  assert.equal(await s.getChallenge('acme:alice'), undefined);
  assert.equal((await s.getTokens('acme:bob'))?.tokens.access_token, 'bob-token');
});

test('records are bounded in size', async () => {
  const s = new UpstreamOAuthStore(memorySecrets().secrets, 'github');
  await assert.rejects(
    s.setTokens('acme:alice', { tokens: { ...TOKENS, access_token: 'x'.repeat(RECORD_LIMITS.tokens) }, savedAt: 1 }),
    (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_CREDENTIALS' && /exceeds/.test(e.message),
  );
  await assert.rejects(s.setVerifier('acme:alice', 'v'.repeat(RECORD_LIMITS.verifier)), /exceeds/);
  assert.equal(await s.getTokens('acme:alice'), undefined);
});

test('a record that is not what it should be reads as absent', async () => {
  const { secrets } = memorySecrets();
  const s = new UpstreamOAuthStore(secrets, 'github');
  await secrets.set(recordName('github', 'acme:alice', 'tokens'), 'not json');
  assert.equal(await s.getTokens('acme:alice'), undefined);
  await secrets.set(recordName('github', 'acme:alice', 'tokens'), JSON.stringify({ tokens: { token_type: 'Bearer' }, savedAt: 1 }));
  assert.equal(await s.getTokens('acme:alice'), undefined);
  await secrets.set(recordName('github', 'acme:alice', 'discovery'), JSON.stringify({ authorizationServerUrl: 'https://as', authorizationServerMetadata: { issuer: 1 } }));
  assert.equal(await s.getDiscovery('acme:alice'), undefined);
  await secrets.set(recordName('github', 'acme:alice', 'client'), JSON.stringify({ nope: true }));
  assert.equal(await s.getClient('acme:alice'), undefined);
});

test('records survive a reopen of the SQLite store (what the CLI writes, the gateway reads)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pcl-uo-store-'));
  const key = keyFromBytes(randomBytes(32));
  try {
    const a = await openStore({ kind: 'sqlite', dataDir: dir });
    await new UpstreamOAuthStore(new EncryptedSecrets(a.secrets, createKeyring(key)), 'github').setTokens('@gateway', { tokens: TOKENS, savedAt: 7 });
    await a.close();
    const b = await openStore({ kind: 'sqlite', dataDir: dir });
    try {
      const rec = await new UpstreamOAuthStore(new EncryptedSecrets(b.secrets, createKeyring(key)), 'github').getTokens('@gateway');
      assert.equal(rec?.tokens.refresh_token, TOKENS.refresh_token);
      // Another keyring cannot open it.
      await assert.rejects(new UpstreamOAuthStore(new EncryptedSecrets(b.secrets, createKeyring(keyFromBytes(randomBytes(32)))), 'github').getTokens('@gateway'));
    } finally {
      await b.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('config: OAuthUpstreamAuth defaults, refusals, and a description on every field', () => {
  assert.deepEqual(OAuthUpstreamAuth.parse({ type: 'oauth' }), { type: 'oauth', clientName: 'Portcullis', identity: 'gateway', allowPrivateNetwork: false });
  const full = OAuthUpstreamAuth.parse({ type: 'oauth', scope: 'repo read:org', clientId: 'abc', clientSecret: { env: 'GH_SECRET' }, clientName: 'Acme gateway', allowPrivateNetwork: true });
  assert.equal(full.clientId, 'abc');
  assert.ok(OAuthUpstreamAuth.safeParse({ type: 'oauth', clientMetadataUrl: 'https://gw.example.com/oauth/client.json' }).success);
  for (const bad of [
    { type: 'oauth', clientSecret: { env: 'X' } },
    { type: 'oauth', clientId: 'a', clientMetadataUrl: 'https://gw.example.com/c.json' },
    { type: 'oauth', clientMetadataUrl: 'http://gw.example.com/c.json' },
    { type: 'oauth', clientMetadataUrl: 'https://gw.example.com/' },
    { type: 'oauth', clientMetadataUrl: 'https://u:p@gw.example.com/c.json' },
    { type: 'oauth', clientMetadataUrl: 'https://gw.example.com/c.json#x' },
    { type: 'oauth', scope: 'two  spaces' },
    { type: 'oauth', scope: 'quote"d' },
    { type: 'oauth', clientSecret: 'plain-text-secret', clientId: 'a' },
    { type: 'oauth', unknown: 1 },
  ]) {
    assert.equal(OAuthUpstreamAuth.safeParse(bad).success, false, JSON.stringify(bad));
  }
  const schema = z.toJSONSchema(OAuthUpstreamAuth, { io: 'input' }) as { description?: string; properties: Record<string, { description?: string }> };
  assert.ok(schema.description);
  for (const [k, v] of Object.entries(schema.properties)) assert.ok(v.description, `${k} has no description`);
});
