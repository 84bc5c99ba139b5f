/**
 * Credentials toward upstreams at the wire: the upstream sees the gateway's own credential (from
 * a secret reference, or a client-credentials token from a real token endpoint on loopback), and
 * never the client's (security-checklist A5).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { legacyClient } from './helpers-wire.js';

let mockA: MockHttp;
let mockB: MockHttp;
let tokenServer: Server;
let tokenUrl = '';
let issued = 0;
let gw: TestGateway;

before(async () => {
  process.env.PORTCULLIS_TEST_UP_TOKEN = 'static-upstream-secret';
  mockA = await startMockHttp({ mode: 'legacy' });
  mockB = await startMockHttp({ mode: 'modern' });
  tokenServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const basic = Buffer.from(`gw-client:gw-secret`).toString('base64');
      if (req.url !== '/token' || form.get('grant_type') !== 'client_credentials' || req.headers.authorization !== `Basic ${basic}`) {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
        return;
      }
      issued++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `cc-token-${issued}`, token_type: 'Bearer', expires_in: 3600 }));
    });
  });
  await new Promise<void>((r) => tokenServer.listen(0, '127.0.0.1', r));
  tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
  process.env.PORTCULLIS_TEST_CC_SECRET = 'gw-secret';
  gw = await startGateway(
    [
      'gateway: { storage: memory }',
      'log: { level: silent }',
      'upstreams:',
      `  - { name: a, kind: streamable-http, url: "${mockA.url}", auth: { type: bearer, token: { env: PORTCULLIS_TEST_UP_TOKEN } } }`,
      `  - { name: b, kind: streamable-http, url: "${mockB.url}", auth: { type: client-credentials, tokenUrl: "${tokenUrl}", clientId: gw-client, clientSecret: { env: PORTCULLIS_TEST_CC_SECRET } } }`,
    ].join('\n'),
  );
  await gw.waitHealthy(['a', 'b']);
});

after(async () => {
  await gw?.close();
  await mockA?.close();
  await mockB?.close();
  await new Promise((r) => tokenServer?.close(r));
});

test('a bearer from an env reference reaches the upstream; the client\'s own Authorization does not', async () => {
  const client = await legacyClient(gw.mcp, { headers: { authorization: 'Bearer client-token-must-not-pass', cookie: 'sid=client-cookie' } });
  try {
    const r = (await client.callTool({ name: 'a__echo', arguments: { text: 'x' } })) as { content: { text: string }[] };
    assert.equal(r.content[0]?.text, 'x');
  } finally {
    await client.close();
  }
  assert.ok(mockA.record.requests.length > 0);
  for (const r of mockA.record.requests) {
    assert.equal(r.headers.authorization, 'Bearer static-upstream-secret');
    assert.equal(r.headers.cookie, undefined);
  }
});

test('client credentials: one token from the token endpoint, sent on every upstream request', async () => {
  const client = await legacyClient(gw.mcp);
  try {
    for (let i = 0; i < 3; i++) {
      const r = (await client.callTool({ name: 'b__echo', arguments: { text: `y${i}` } })) as { content: { text: string }[] };
      assert.equal(r.content[0]?.text, `y${i}`);
    }
  } finally {
    await client.close();
  }
  assert.equal(issued, 1);
  assert.ok(mockB.record.requests.length >= 4);
  for (const r of mockB.record.requests) assert.equal(r.headers.authorization, 'Bearer cc-token-1');
});
