/**
 * The gateway as an OAuth resource server, at the wire (security-checklist A1–A5): a real JWKS
 * endpoint on loopback, tokens signed with jose, a real mock upstream that records every request,
 * and real SDK clients. Every refused request must leave the upstream untouched.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type CryptoKey } from 'jose';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { legacyClient, LEGACY } from './helpers-wire.js';
import { routeInventory } from '../../src/http/server.js';
import { createApiKey } from '../../src/auth/keys/api-key.js';
import { loadKeyHashKey } from '../../src/auth/keys/hash-key.js';

interface Jwks {
  url: string;
  issuer: string;
  server: Server;
  hits: number;
  keys: JWK[];
  down: boolean;
}

async function startJwks(): Promise<Jwks> {
  const j: Jwks = { url: '', issuer: '', server: createServer(), hits: 0, keys: [], down: false };
  j.server.on('request', (req, res) => {
    j.hits++;
    if (j.down || req.url !== '/jwks') {
      res.writeHead(j.down ? 503 : 404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: j.keys }));
  });
  await new Promise<void>((r) => j.server.listen(0, '127.0.0.1', r));
  const port = (j.server.address() as AddressInfo).port;
  j.issuer = `http://127.0.0.1:${port}`;
  j.url = `${j.issuer}/jwks`;
  return j;
}

let jwks: Jwks;
let mock: MockHttp;
let gw: TestGateway;
let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
let other: { privateKey: CryptoKey; publicKey: CryptoKey };

/** Calls the mock upstream saw (tools/call only: probes and list refreshes are the gateway's own). */
const upstreamCalls = (): number => mock.record.messages.filter((m) => (m.msg as { method?: string }).method === 'tools/call').length;

async function token(claims: Record<string, unknown>, opts: { key?: CryptoKey; kid?: string; alg?: string; exp?: number | string; nbf?: number | string; iss?: string; aud?: string | string[]; sub?: string } = {}): Promise<string> {
  let jwt = new SignJWT({ scope: 'mcp:tools', tenant: 'acme', roles: ['dev'], ...claims })
    .setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: opts.kid ?? 'k1', typ: 'at+jwt' })
    .setIssuer(opts.iss ?? jwks.issuer)
    .setAudience(opts.aud ?? `${gw.url}/mcp`)
    .setSubject(opts.sub ?? 'alice')
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m');
  if (opts.nbf !== undefined) jwt = jwt.setNotBefore(opts.nbf);
  return jwt.sign(opts.key ?? rsa.privateKey);
}

const CALL = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'mock__echo', arguments: { text: 'hi' } } });

async function post(path: string, headers: Record<string, string>, body = CALL): Promise<Response> {
  return fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': LEGACY, ...headers },
    body,
  });
}

before(async () => {
  jwks = await startJwks();
  rsa = await generateKeyPair('RS256', { extractable: true });
  other = await generateKeyPair('RS256', { extractable: true });
  jwks.keys = [{ ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }];
  mock = await startMockHttp({ mode: 'legacy' });
  gw = await startGateway(
    [
      'gateway: { storage: memory }',
      'log: { level: silent }',
      'auth:',
      '  scopes:',
      '    - { name: "mcp:tools" }',
      '    - { name: "team:read", servers: [team] }',
      '    - { name: "echo:only", tools: ["mock__echo*"] }',
      '  issuers:',
      `    - { name: ext, issuer: "${jwks.issuer}", jwksUri: "${jwks.url}", claims: { tenant: tenant, roles: roles } }`,
      'upstreams:',
      // The callers of this suite belong to tenant acme, which owns the upstream and the endpoint.
      `  - { name: mock, kind: streamable-http, url: "${mock.url}", tenant: acme }`,
      'virtualServers:',
      '  - { name: team, tenant: acme, include: [{ upstream: mock }] }',
    ].join('\n'),
  );
  await gw.waitHealthy(['mock']);
});

after(async () => {
  await gw?.close();
  await mock?.close();
  await new Promise((r) => jwks?.server.close(r));
});

describe('refusals at the wire (A2): 401 and no upstream call', () => {
  const cases: [string, () => Promise<Record<string, string>>][] = [
    ['no credentials', async () => ({})],
    ['wrong audience', async () => ({ authorization: `Bearer ${await token({}, { aud: 'http://elsewhere.example/mcp' })}` })],
    ['wrong issuer', async () => ({ authorization: `Bearer ${await token({}, { iss: 'http://127.0.0.1:1' })}` })],
    ['expired', async () => ({ authorization: `Bearer ${await token({}, { exp: Math.floor(Date.now() / 1000) - 600 })}` })],
    ['nbf in the future', async () => ({ authorization: `Bearer ${await token({}, { nbf: Math.floor(Date.now() / 1000) + 600 })}` })],
    [
      'alg none',
      async () => {
        const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
        const now = Math.floor(Date.now() / 1000);
        return { authorization: `Bearer ${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ iss: jwks.issuer, aud: `${gw.url}/mcp`, sub: 'alice', exp: now + 300, scope: 'mcp:tools' })}.` };
      },
    ],
    [
      'HS256 signed with the RSA public key',
      async () => {
        const pub = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
        const forged = await new SignJWT({ scope: 'mcp:tools' })
          .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
          .setIssuer(jwks.issuer)
          .setAudience(`${gw.url}/mcp`)
          .setSubject('alice')
          .setExpirationTime('5m')
          .sign(pub);
        return { authorization: `Bearer ${forged}` };
      },
    ],
    ['signed by an unknown key with a known kid', async () => ({ authorization: `Bearer ${await token({}, { key: other.privateKey })}` })],
    ['unknown kid', async () => ({ authorization: `Bearer ${await token({}, { kid: 'nope', key: other.privateKey })}` })],
    ['garbage bearer', async () => ({ authorization: 'Bearer not-a-token' })],
    ['revoked-looking API key (unknown id)', async () => ({ authorization: `Bearer pcl_aaaaaaaaaaaa_${'A'.repeat(43)}` })],
  ];
  for (const [name, headers] of cases) {
    test(name, async () => {
      const before = upstreamCalls();
      const res = await post('/mcp', await headers());
      assert.equal(res.status, 401);
      const challenge = res.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^Bearer /);
      assert.ok(challenge.includes(`resource_metadata="${gw.url}/.well-known/oauth-protected-resource/mcp"`), challenge);
      assert.equal(upstreamCalls(), before);
    });
  }

  test('a token whose key is not cached while the JWKS endpoint is down', async () => {
    jwks.down = true;
    try {
      const before = upstreamCalls();
      const res = await post('/mcp', { authorization: `Bearer ${await token({}, { kid: 'fresh', key: other.privateKey })}` });
      assert.equal(res.status, 401);
      assert.equal(upstreamCalls(), before);
    } finally {
      jwks.down = false;
    }
  });
});

describe('accepted tokens', () => {
  test('a valid token reaches the upstream through a real SDK client, and the bearer is not passed through (A5)', async () => {
    const t = await token({});
    const client = await legacyClient(`${gw.url}/mcp`, { headers: { authorization: `Bearer ${t}` } });
    try {
      const r = (await client.callTool({ name: 'mock__echo', arguments: { text: 'through' } })) as { content: { text: string }[] };
      assert.equal(r.content[0]?.text, 'through');
    } finally {
      await client.close();
    }
    for (const r of mock.record.requests) {
      assert.equal(r.headers.authorization, undefined);
      assert.ok(!JSON.stringify(r.headers).includes(t.slice(-20)));
    }
  });

  test('the scope of another endpoint is not enough: 403 insufficient_scope naming the needed scopes', async () => {
    const t = await token({ scope: 'team:read' });
    const res = await post('/mcp', { authorization: `Bearer ${t}` });
    assert.equal(res.status, 403);
    const challenge = res.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /error="insufficient_scope"/);
    assert.match(challenge, /scope="mcp:tools echo:only"/);
    // The same token on the endpoint its scope opens, with that endpoint as audience, works.
    const t2 = await token({ scope: 'team:read' }, { aud: `${gw.url}/servers/team/mcp` });
    const ok = await post('/servers/team/mcp', { authorization: `Bearer ${t2}` }, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 't', version: '1' } } }));
    assert.equal(ok.status, 200);
  });

  test('a token minted for /mcp is not accepted on another endpoint (RFC 8707 audience)', async () => {
    const t = await token({ scope: 'mcp:tools team:read' });
    const res = await post('/servers/team/mcp', { authorization: `Bearer ${t}` });
    assert.equal(res.status, 401);
  });

  test('a legacy session is bound to its principal: another subject gets 404 (B7)', async () => {
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    const res = await post('/mcp', { authorization: `Bearer ${await token({})}` }, init);
    assert.equal(res.status, 200);
    const sid = res.headers.get('mcp-session-id');
    assert.ok(sid);
    await res.body?.cancel();
    const mallory = await token({}, { sub: 'mallory' });
    const before = upstreamCalls();
    const stolen = await post('/mcp', { authorization: `Bearer ${mallory}`, 'mcp-session-id': sid }, CALL);
    assert.equal(stolen.status, 404);
    assert.equal(upstreamCalls(), before);
  });
});

describe('API keys at the wire', () => {
  test('a valid key works as a bearer and as X-API-Key; revoked and expired keys get 401 with no upstream call', async () => {
    const hashKey = await loadKeyHashKey({ dataDir: gw.dir, storage: 'memory' });
    const valid = await createApiKey(gw.store.apiKeys, hashKey, { name: 'ci', tenant: 'acme', roles: ['deployer'], virtualServers: [] });
    const revoked = await createApiKey(gw.store.apiKeys, hashKey, { name: 'old', tenant: 'acme', roles: [], virtualServers: [] });
    await gw.store.apiKeys.revoke(revoked.record.id, new Date());
    const hourAgo = Date.now() - 3_600_000;
    const expired = await createApiKey(gw.store.apiKeys, hashKey, { name: 'gone', tenant: 'acme', roles: [], virtualServers: [], now: new Date(hourAgo - 60_000), expiresAt: new Date(hourAgo) });
    const teamOnly = await createApiKey(gw.store.apiKeys, hashKey, { name: 'team', tenant: 'acme', roles: [], virtualServers: ['team'] });

    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    for (const h of [{ authorization: `Bearer ${valid.key}` }, { 'x-api-key': valid.key }] as Record<string, string>[]) {
      const res = await post('/mcp', h, init);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    const before = upstreamCalls();
    for (const k of [revoked.key, expired.key, `${valid.key.slice(0, -1)}${valid.key.endsWith('A') ? 'B' : 'A'}`]) {
      const res = await post('/mcp', { authorization: `Bearer ${k}` });
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    }
    // A key limited to one virtual server is refused elsewhere.
    assert.equal((await post('/mcp', { authorization: `Bearer ${teamOnly.key}` })).status, 403);
    const ok = await post('/servers/team/mcp', { authorization: `Bearer ${teamOnly.key}` }, init);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    assert.equal(upstreamCalls(), before);
  });
});

describe('admin API for keys', () => {
  test('an admin creates, lists and revokes a key in its own tenant; others get 403', async () => {
    const admin = { authorization: `Bearer ${await token({ roles: ['admin'] })}` };
    const created = await fetch(`${gw.url}/admin/api/keys`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'agent-1', roles: ['agent'], virtualServers: ['team'] }),
    });
    assert.equal(created.status, 201);
    const k = (await created.json()) as { key: string; id: string; tenant: string; hash?: string };
    assert.match(k.key, /^pcl_/);
    assert.equal(k.tenant, 'acme');
    assert.equal(k.hash, undefined);
    const listed = (await (await fetch(`${gw.url}/admin/api/keys`, { headers: admin })).json()) as { keys: { id: string; hash?: string; status?: string }[] };
    assert.equal(listed.keys.find((x) => x.id === k.id)?.status, 'active');
    assert.ok(listed.keys.every((x) => x.hash === undefined));
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    const use = await post('/servers/team/mcp', { authorization: `Bearer ${k.key}` }, init);
    assert.equal(use.status, 200);
    await use.body?.cancel();
    // Another tenant's admin cannot see or revoke it.
    const otherAdmin = { authorization: `Bearer ${await token({ roles: ['admin'], tenant: 'other' })}` };
    assert.equal((await fetch(`${gw.url}/admin/api/keys/${k.id}`, { method: 'DELETE', headers: otherAdmin })).status, 404);
    // A non-admin is refused.
    assert.equal((await fetch(`${gw.url}/admin/api/keys`, { headers: { authorization: `Bearer ${await token({})}` } })).status, 403);
    assert.equal((await fetch(`${gw.url}/admin/api/keys/${k.id}`, { method: 'DELETE', headers: admin })).status, 204);
    const after = (await (await fetch(`${gw.url}/admin/api/keys`, { headers: admin })).json()) as { keys: { id: string; status?: string }[] };
    assert.equal(after.keys.find((x) => x.id === k.id)?.status, 'revoked');
    assert.equal((await post('/servers/team/mcp', { authorization: `Bearer ${k.key}` }, init)).status, 401);
    const bad = await fetch(`${gw.url}/admin/api/keys`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: '{"name":""}' });
    assert.equal(bad.status, 400);
  });
});

describe('tool groups by scope', () => {
  test('a token with a tool-limited scope lists and calls only those tools', async () => {
    const t = await token({ scope: 'echo:only' });
    const client = await legacyClient(`${gw.url}/mcp`, { headers: { authorization: `Bearer ${t}` } });
    try {
      const names = (await client.listTools()).tools.map((x) => x.name).sort();
      assert.deepEqual(names, ['mock__echo', 'mock__echo_nonce']);
      const ok = (await client.callTool({ name: 'mock__echo', arguments: { text: 'allowed' } })) as { content: { text: string }[] };
      assert.equal(ok.content[0]?.text, 'allowed');
      const before = upstreamCalls();
      await assert.rejects(client.callTool({ name: 'mock__fail', arguments: {} }), (e: { code?: number; data?: { portcullis?: string; requiredScopes?: string[] } }) => {
        assert.equal(e.code, -31207);
        assert.equal(e.data?.portcullis, 'ERR_INSUFFICIENT_SCOPE');
        assert.deepEqual(e.data?.requiredScopes, ['mcp:tools']);
        return true;
      });
      assert.equal(upstreamCalls(), before);
    } finally {
      await client.close();
    }
    // A full scope sees everything.
    const all = await legacyClient(`${gw.url}/mcp`, { headers: { authorization: `Bearer ${await token({})}` } });
    try {
      assert.ok((await all.listTools()).tools.some((x) => x.name === 'mock__fail'));
    } finally {
      await all.close();
    }
  });
});

describe('metadata and the route inventory (A1, A3, A4)', () => {
  test('Protected Resource Metadata names the issuer and the endpoint resource', async () => {
    for (const [path, resource, scope] of [
      ['/.well-known/oauth-protected-resource', `${gw.url}/mcp`, 'mcp:tools'],
      ['/.well-known/oauth-protected-resource/mcp', `${gw.url}/mcp`, 'mcp:tools'],
      ['/.well-known/oauth-protected-resource/servers/team/mcp', `${gw.url}/servers/team/mcp`, 'team:read'],
    ] as const) {
      const res = await fetch(`${gw.url}${path}`);
      assert.equal(res.status, 200, path);
      const doc = (await res.json()) as { resource: string; authorization_servers: string[]; scopes_supported: string[] };
      assert.equal(doc.resource, resource);
      assert.deepEqual(doc.authorization_servers, [jwks.issuer]);
      assert.ok(doc.scopes_supported.includes(scope));
    }
    assert.equal((await fetch(`${gw.url}/.well-known/oauth-protected-resource/servers/nope/mcp`)).status, 404);
  });

  test('every route outside the public list answers 401 without credentials', async () => {
    const routes = routeInventory(gw.gateway.app);
    const guarded = routes.filter((r) => !r.public);
    assert.ok(guarded.length >= 10, `inventory too small: ${JSON.stringify(routes)}`);
    const publicOnes = routes.filter((r) => r.public).map((r) => r.url);
    for (const p of publicOnes) assert.ok(p === '/healthz' || p === '/readyz' || p.startsWith('/.well-known/oauth-protected-resource'), p);
    const before = upstreamCalls();
    for (const r of guarded) {
      const url = `${gw.url}${r.url.replace(':name', 'team')}`;
      const res = await fetch(url, { method: r.method, headers: { 'content-type': 'application/json' }, body: r.method === 'GET' || r.method === 'DELETE' ? undefined : CALL });
      assert.equal(res.status, 401, `${r.method} ${r.url}`);
      assert.match(res.headers.get('www-authenticate') ?? '', /resource_metadata=/);
      await res.body?.cancel();
    }
    assert.equal(upstreamCalls(), before);
  });

  test('hostile requests without a token get 401, never 200 or 500 (A4)', async () => {
    const before = upstreamCalls();
    const big = 'x'.repeat(10 * 1024 * 1024);
    const bodies: [string, string, string][] = [
      ['POST', '/mcp', '{not json'],
      ['POST', '/mcp', '[{"jsonrpc":"2.0","id":1,"method":"ping"}]'],
      ['POST', '/mcp', big],
      ['POST', '/mcp/extra', CALL],
      ['GET', '/mcp', ''],
      ['DELETE', '/mcp', ''],
      ['POST', '/nope', CALL],
    ];
    for (const [method, path, body] of bodies) {
      const res = await fetch(`${gw.url}${path}`, { method, headers: { 'content-type': path === '/nope' ? 'text/plain' : 'application/json' }, body: method === 'POST' ? body : undefined });
      assert.equal(res.status, 401, `${method} ${path}`);
      await res.body?.cancel();
    }
    assert.equal(upstreamCalls(), before);
  });

  test('a token in the query string is refused (A3)', async () => {
    const t = await token({});
    const before = upstreamCalls();
    const res = await fetch(`${gw.url}/mcp?access_token=${t}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: CALL,
    });
    assert.equal(res.status, 400);
    assert.equal(upstreamCalls(), before);
  });
});

describe('logs (A3)', () => {
  test('a refused query-string token and a refused bearer appear in no log line; the refusal is logged once', async () => {
    const { PassThrough } = await import('node:stream');
    const sink = new PassThrough();
    let logged = '';
    sink.on('data', (c: Buffer) => (logged += c.toString('utf8')));
    const j = await startJwks();
    const local = await startGateway(
      ['gateway: { storage: memory }', 'auth:', '  issuers:', `    - { name: ext, issuer: "${j.issuer}", jwksUri: "${j.url}" }`].join('\n'),
      process.env,
      { logTo: sink, logLevel: 'trace' },
    );
    try {
      const secretish = await token({}, { iss: j.issuer, aud: `${local.url}/mcp` });
      const inQuery = await fetch(`${local.url}/mcp?access_token=${secretish}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: CALL });
      assert.equal(inQuery.status, 400);
      const bad = await fetch(`${local.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secretish}x` }, body: CALL });
      assert.equal(bad.status, 401);
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(logged.length > 0, 'the gateway logged nothing at trace level');
      assert.equal(logged.includes(secretish.split('.')[2]!), false, 'a token signature reached the log');
      assert.equal(logged.includes(secretish.split('.')[1]!), false, 'a token payload reached the log');
      const refusals = logged.split('\n').filter((l) => l.includes('"auth.refused"'));
      assert.equal(refusals.length, 2);
      assert.match(refusals[0]!, /ERR_TOKEN_IN_QUERY/);
    } finally {
      await local.close();
      await new Promise((r) => j.server.close(r));
    }
  });
});
