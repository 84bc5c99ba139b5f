/**
 * RFC 8693 token exchange toward an upstream, at the wire: the caller's verified access token goes
 * only to the configured token endpoint (as `subject_token`), the upstream sees the exchanged token
 * for that caller, and the catalogue is read with the gateway's own client-credentials token.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { legacyClient } from './helpers-wire.js';

let mock: MockHttp;
let idp: Server;
let issuer = '';
let key: CryptoKey;
let gw: TestGateway;
/** What the token endpoint was asked: grant type and subject token per request. */
const asked: { grant: string | null; subject: string | null }[] = [];

before(async () => {
  process.env.PORTCULLIS_TEST_TX_SECRET = 'tx-secret';
  const pair = await generateKeyPair('RS256', { extractable: true });
  key = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' };
  idp = createServer((req, res) => {
    if (req.url === '/jwks') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const f = new URLSearchParams(body);
      asked.push({ grant: f.get('grant_type'), subject: f.get('subject_token') });
      if (req.headers.authorization !== `Basic ${Buffer.from('gw:tx-secret').toString('base64')}`) {
        return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
      }
      const sub = f.get('subject_token') ? JSON.parse(Buffer.from(f.get('subject_token')!.split('.')[1] ?? '', 'base64url').toString()).sub : 'gateway';
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `upstream-token-for-${sub}`, token_type: 'Bearer', expires_in: 3600, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' }));
    });
  });
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  mock = await startMockHttp({ mode: 'legacy' });
  gw = await startGateway(
    [
      'gateway: { storage: memory }',
      'log: { level: silent }',
      'auth:',
      `  issuers: [{ name: idp, issuer: "${issuer}", jwksUri: "${issuer}/jwks", audiences: [portcullis] }]`,
      'upstreams:',
      `  - { name: tx, kind: streamable-http, url: "${mock.url}", sharing: per-principal, auth: { type: token-exchange, tokenUrl: "${issuer}/token", clientId: gw, clientSecret: { env: PORTCULLIS_TEST_TX_SECRET }, audience: upstream } }`,
    ].join('\n'),
  );
  await gw.waitHealthy(['tx']);
});

after(async () => {
  await gw?.close();
  await mock?.close();
  await new Promise((r) => idp?.close(r));
});

const tokenFor = (sub: string): Promise<string> =>
  new SignJWT({ scope: 'mcp:tools' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(issuer).setAudience('portcullis').setSubject(sub).setExpirationTime('5m').sign(key);

test("each caller's token is exchanged at the token endpoint; the upstream sees only the exchanged tokens", async () => {
  const alice = await tokenFor('alice');
  const bob = await tokenFor('bob');
  for (const [t, text] of [[alice, 'from alice'], [bob, 'from bob']] as const) {
    const client = await legacyClient(gw.mcp, { headers: { authorization: `Bearer ${t}` } });
    try {
      const r = (await client.callTool({ name: 'tx__echo', arguments: { text } })) as { content: { text: string }[] };
      assert.equal(r.content[0]?.text, text);
    } finally {
      await client.close();
    }
  }
  const seen = new Set(mock.record.requests.map((r) => String(r.headers.authorization)));
  assert.ok(seen.has('Bearer upstream-token-for-alice'), [...seen].join(', '));
  assert.ok(seen.has('Bearer upstream-token-for-bob'));
  // The catalogue link used the gateway's own client-credentials token.
  assert.ok(seen.has('Bearer upstream-token-for-gateway'));
  assert.ok(![...seen].some((h) => h.includes(alice) || h.includes(bob)), 'a caller token reached the upstream');
  const exchanges = asked.filter((a) => a.grant === 'urn:ietf:params:oauth:grant-type:token-exchange');
  assert.deepEqual(new Set(exchanges.map((a) => a.subject)), new Set([alice, bob]));
  assert.ok(asked.some((a) => a.grant === 'client_credentials'));
});
