/** Upstream auth config (schema rules) and the static credentials: bearer and custom header. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecretResolver } from '../../../src/auth/secrets/resolver.js';
import type { ResolveSecret } from '../../../src/auth/secrets/ref.js';
import { UpstreamAuth } from '../../../src/auth/upstream/config.js';
import { authContextOf, createUpstreamCredentials, STATIC_TTL_MS } from '../../../src/auth/upstream/credentials.js';
import { GatewayError } from '../../../src/pipeline/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'pcl-upcred-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ctx = { principalKey: 'default/alice' };

function issues(v: unknown): string[] {
  const r = UpstreamAuth.safeParse(v);
  return r.success ? [] : r.error.issues.map((i) => i.message);
}

describe('UpstreamAuth schema', () => {
  const cc = { type: 'client-credentials', clientId: 'gw', clientSecret: { env: 'S' } };

  it('accepts https token endpoints, and plain http only on loopback hosts', () => {
    for (const tokenUrl of ['https://idp.example/token', 'http://127.0.0.1:9000/token', 'http://[::1]:9000/token', 'http://localhost/token', 'http://LOCALHOST/t']) {
      assert.deepEqual(issues({ ...cc, tokenUrl }), [], tokenUrl);
    }
    for (const [tokenUrl, why] of [
      ['http://idp.example/token', /must use https/],
      ['http://10.0.0.1/token', /must use https/],
      ['http://127.0.0.2/token', /must use https/],
      ['ftp://idp.example/token', /https/],
      ['https://user:pw@idp.example/token', /credentials/],
      ['https://idp.example/token#frag', /fragment/],
      ['not a url', /valid URL/],
    ] as const) {
      const found = issues({ ...cc, tokenUrl });
      assert.ok(found.some((m) => why.test(m) && m.startsWith('token endpoint')), `${tokenUrl}: ${found.join('; ')}`);
    }
  });

  it('fills defaults: client_secret_basic, access_token subject type', () => {
    const a = UpstreamAuth.parse({ ...cc, tokenUrl: 'https://idp.example/token' });
    assert.equal(a.type === 'client-credentials' && a.authMethod, 'client_secret_basic');
    const x = UpstreamAuth.parse({ type: 'token-exchange', tokenUrl: 'https://idp.example/token', clientId: 'gw', clientSecret: { file: 's' } });
    assert.equal(x.type === 'token-exchange' && x.subjectTokenType, 'urn:ietf:params:oauth:token-type:access_token');
  });

  it('refuses reserved or malformed header names and inline secret values', () => {
    for (const name of ['Host', 'content-length', 'Connection', 'transfer-encoding', 'Cookie', 'Mcp-Session-Id', 'MCP-Protocol-Version', 'mcp-param-x', 'Content-Type']) {
      assert.ok(issues({ type: 'header', name, value: { env: 'K' } }).some((m) => m.includes('reserved')), name);
    }
    for (const name of ['X Bad', 'X:Bad', '', 'é', 'a'.repeat(65)]) assert.notDeepEqual(issues({ type: 'header', name, value: { env: 'K' } }), [], name);
    assert.deepEqual(issues({ type: 'header', name: 'X-API-Key', value: { env: 'K' } }), []);
    assert.notDeepEqual(issues({ type: 'bearer', token: 'ghp_inline' }), []);
    assert.notDeepEqual(issues({ type: 'bearer', token: { value: 'x' } }), []);
    assert.notDeepEqual(issues({ type: 'bearer', token: { env: 'T' }, extra: 1 }), []);
    assert.notDeepEqual(issues({ ...cc, tokenUrl: 'https://idp.example/t', resource: 'https://api.example/#x' }), []);
    assert.notDeepEqual(issues({ ...cc, tokenUrl: 'https://idp.example/t', scope: 'a  b' }), []);
    assert.deepEqual(issues({ ...cc, tokenUrl: 'https://idp.example/t', scope: 'read:repo write', resource: 'https://api.example/mcp', audience: 'api' }), []);
  });

  it('describes every field (the docs are generated from the schema)', () => {
    const json = JSON.stringify(UpstreamAuth.toJSONSchema?.() ?? {});
    for (const field of ['token', 'tokenUrl', 'clientId', 'clientSecret', 'scope', 'resource', 'audience', 'authMethod', 'subjectTokenType', 'name', 'value']) {
      assert.ok(json.includes(`"${field}"`), field);
    }
    for (const o of (UpstreamAuth as unknown as { options: { shape: Record<string, { description?: string }> }[] }).options) {
      for (const [k, v] of Object.entries(o.shape)) assert.ok(v.description, `${k} has no description`);
    }
  });
});

describe('static credentials', () => {
  it('no auth: no headers and an empty auth context', async () => {
    const c = createUpstreamCredentials(undefined, { resolveSecret: async () => assert.fail('not called') });
    assert.deepEqual(await c.headers(ctx), {});
    assert.equal(c.authContext, '');
  });

  it('bearer: Authorization header; context names the ref, never the value', async () => {
    const c = createUpstreamCredentials({ type: 'bearer', token: { env: 'GH_TOKEN' } }, { resolveSecret: createSecretResolver({ configDir: dir, env: { GH_TOKEN: 'ghp_abc' } }) });
    assert.deepEqual(await c.headers(ctx), { authorization: 'Bearer ghp_abc' });
    assert.equal(c.authContext, 'bearer:env:GH_TOKEN');
    assert.equal(authContextOf({ type: 'header', name: 'X-API-Key', value: { secret: 'k' } }), 'header:x-api-key:secret:k');
  });

  it('header: the configured header name, lowercased', async () => {
    const c = createUpstreamCredentials({ type: 'header', name: 'X-API-Key', value: { env: 'K' } }, { resolveSecret: createSecretResolver({ configDir: dir, env: { K: 'key 123' } }) });
    assert.deepEqual(await c.headers(ctx), { 'x-api-key': 'key 123' });
  });

  it('re-reads a rotated file after 60 s or after invalidate, not before', async () => {
    let t = 1_000_000;
    const file = join(dir, 'tok');
    writeFileSync(file, 'v1\n');
    let reads = 0;
    const base = createSecretResolver({ configDir: dir, env: {} });
    const resolveSecret: ResolveSecret = (r) => {
      reads++;
      return base(r);
    };
    const c = createUpstreamCredentials({ type: 'bearer', token: { file: 'tok' } }, { resolveSecret, now: () => t });
    const first = await Promise.all(Array.from({ length: 10 }, () => c.headers(ctx)));
    assert.ok(first.every((h) => h.authorization === 'Bearer v1'));
    assert.equal(reads, 1);
    writeFileSync(file, 'v2\n');
    t += STATIC_TTL_MS - 1;
    assert.equal((await c.headers(ctx)).authorization, 'Bearer v1');
    t += 1;
    assert.equal((await c.headers(ctx)).authorization, 'Bearer v2');
    assert.equal(reads, 2);
    writeFileSync(file, 'v3\n');
    // A rejection of an older credential does not drop the current one...
    c.invalidate(ctx, { Authorization: 'Bearer v1' });
    assert.equal((await c.headers(ctx)).authorization, 'Bearer v2');
    // ...a rejection of the current one (or a plain invalidate) does.
    c.invalidate(ctx, { Authorization: 'Bearer v2' });
    assert.equal((await c.headers(ctx)).authorization, 'Bearer v3');
    assert.equal(reads, 3);
  });

  it('a missing secret fails the call, is not cached, and recovers once set', async () => {
    const env: NodeJS.ProcessEnv = {};
    const c = createUpstreamCredentials({ type: 'bearer', token: { env: 'LATE' } }, { resolveSecret: createSecretResolver({ configDir: dir, env }) });
    await assert.rejects(c.headers(ctx), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_CREDENTIALS' && e.message.includes('env:LATE'));
    env.LATE = 'now';
    assert.deepEqual(await c.headers(ctx), { authorization: 'Bearer now' });
  });

  it('refuses values that cannot be a header (header injection)', async () => {
    for (const [type, v] of [
      ['bearer', 'a\r\nX-Evil: 1'],
      ['bearer', 'has space'],
      ['header', 'a\nb'],
      ['header', ' padded'],
      ['header', 'nul\0'],
    ] as const) {
      const cfg = type === 'bearer' ? ({ type, token: { env: 'V' } } as const) : ({ type, name: 'X-Key', value: { env: 'V' } } as const);
      const c = createUpstreamCredentials(cfg, { resolveSecret: async () => v });
      await assert.rejects(
        c.headers(ctx),
        (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_CREDENTIALS' && !e.message.includes(v),
        JSON.stringify(v),
      );
    }
  });

  it('refuses a non-loopback http token endpoint even when the schema was bypassed', () => {
    assert.throws(
      () =>
        createUpstreamCredentials(
          { type: 'client-credentials', tokenUrl: 'http://idp.example/token', clientId: 'gw', clientSecret: { env: 'S' }, authMethod: 'client_secret_basic' },
          { resolveSecret: async () => 's' },
        ),
      (e: unknown) => e instanceof GatewayError && /https/.test(e.message),
    );
  });
});
