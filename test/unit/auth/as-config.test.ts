/** `auth.authorizationServer` schema: defaults, bounds, and a description on every field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { AuthorizationServerConfig } from '../../../src/auth/server/config.js';

test('defaults', () => {
  const c = AuthorizationServerConfig.parse({});
  assert.deepEqual(c, {
    enabled: false,
    accessTokenTtl: '10m',
    refreshTokenTtl: '30d',
    registration: { enabled: true },
    clientIdMetadataDocuments: { enabled: false, allowLoopback: false },
    staticClients: [],
    signingKeyRotation: '30d',
  });
});

test('access tokens live at least 2 minutes (mcp-remote refreshes before every request below 60 s)', () => {
  for (const bad of ['60s', '119s', 119_999, '2d', 'soon']) assert.equal(AuthorizationServerConfig.safeParse({ accessTokenTtl: bad }).success, false, String(bad));
  for (const ok of ['2m', '120s', 120_000, '1h', '1d']) assert.equal(AuthorizationServerConfig.safeParse({ accessTokenTtl: ok }).success, true, String(ok));
  assert.equal(AuthorizationServerConfig.safeParse({ refreshTokenTtl: '30m' }).success, false);
  assert.equal(AuthorizationServerConfig.safeParse({ signingKeyRotation: '10m' }).success, false);
});

test('static clients are validated and unknown keys refused', () => {
  const ok = AuthorizationServerConfig.safeParse({ staticClients: [{ clientId: 'portcullis-ci', redirectUris: ['http://127.0.0.1:47001/oauth/callback'], name: 'CI' }] });
  assert.equal(ok.success, true);
  for (const bad of [
    { staticClients: [{ clientId: 'has space', redirectUris: ['http://127.0.0.1:1/cb'], name: 'x' }] },
    { staticClients: [{ clientId: 'a', redirectUris: [], name: 'x' }] },
    { staticClients: [{ clientId: 'a', redirectUris: ['not a url'], name: 'x' }] },
    { staticClients: [{ clientId: 'a', redirectUris: ['http://127.0.0.1:1/cb'], name: 'x', secret: 's' }] },
    { registration: { enabled: true, open: true } },
    { issuer: 'http://x' },
  ]) {
    assert.equal(AuthorizationServerConfig.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test('every field carries a description (the config docs are generated from them)', () => {
  const missing: string[] = [];
  const walk = (schema: z.ZodType, path: string): void => {
    const desc = schema.description;
    if (!desc) missing.push(path || '(root)');
    let inner: z.ZodType = schema;
    // Unwrap defaults/prefaults/optionals to reach objects and arrays.
    for (let i = 0; i < 8; i++) {
      const def = (inner as unknown as { def: { type: string; innerType?: z.ZodType; element?: z.ZodType } }).def;
      if (def.innerType) inner = def.innerType;
      else break;
    }
    const def = (inner as unknown as { def: { type: string; element?: z.ZodType } }).def;
    if (def.type === 'object') {
      for (const [k, v] of Object.entries((inner as z.ZodObject).shape)) walk(v as z.ZodType, path ? `${path}.${k}` : k);
    } else if (def.type === 'array' && def.element) {
      const el = def.element;
      const elDef = (el as unknown as { def: { type: string } }).def;
      if (elDef.type === 'object') for (const [k, v] of Object.entries((el as z.ZodObject).shape)) walk(v as z.ZodType, `${path}[].${k}`);
    }
  };
  walk(AuthorizationServerConfig, '');
  assert.deepEqual(missing, []);
});
