/**
 * The egress guard of federation providers (security checklist A6) and the parts of `Federation`
 * that need no provider: unknown state, unreachable provider, CSP sources, pages.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { createFederationFetch, MAX_FEDERATION_RESPONSE_BYTES } from '../../../src/auth/server/federation-fetch.js';
import { FederationEntry } from '../../../src/auth/server/federation-config.js';
import { Federation, FederationUnavailableError } from '../../../src/auth/server/federation.js';
import { errorPage, loginPage } from '../../../src/auth/server/pages.js';

const GET = { method: 'GET', headers: {}, body: undefined, redirect: 'manual' as const };

describe('federation egress guard', () => {
  let server: Server;
  let canary: TcpServer;
  let port = 0;
  let canaryPort = 0;
  let canaryConnections = 0;

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`"${'x'.repeat(MAX_FEDERATION_RESPONSE_BYTES + 10)}"`);
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' });
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    canary = createTcpServer((s) => {
      canaryConnections += 1;
      s.destroy();
    });
    await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
    canaryPort = (canary.address() as { port: number }).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => canary.close(() => r()));
  });

  it('reaches a loopback provider over http only when loopback is allowed', async () => {
    const f = createFederationFetch({ allowLoopback: true });
    try {
      const r = await f.fetch(`http://127.0.0.1:${port}/ok`, GET);
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { ok: true });
    } finally {
      await f.close();
    }
  });

  it('refuses loopback, private and metadata addresses, plain http and credentials before connecting', async () => {
    const f = createFederationFetch({ allowLoopback: false });
    try {
      for (const url of [
        `http://127.0.0.1:${canaryPort}/x`,
        `https://127.0.0.1:${canaryPort}/x`,
        `https://localhost:${canaryPort}/x`,
        `https://[::1]:${canaryPort}/x`,
        `https://[::ffff:127.0.0.1]:${canaryPort}/x`,
        'https://10.0.0.1/x',
        'https://169.254.169.254/latest/meta-data',
        'http://idp.example.com/x',
        'https://user:pw@idp.example.com/x',
        'file:///etc/passwd',
      ]) {
        await assert.rejects(f.fetch(url, GET), url);
      }
    } finally {
      await f.close();
    }
    const loop = createFederationFetch({ allowLoopback: true });
    try {
      // Loopback allowed still means https for anything that is not a loopback host, and no private ranges.
      for (const url of ['http://idp.example.com/x', 'https://10.0.0.1/x', 'https://192.168.1.1/x']) await assert.rejects(loop.fetch(url, GET), url);
    } finally {
      await loop.close();
    }
    assert.equal(canaryConnections, 0);
  });

  it('does not follow redirects and caps the response size', async () => {
    const f = createFederationFetch({ allowLoopback: true });
    try {
      const r = await f.fetch(`http://127.0.0.1:${port}/redirect`, GET);
      assert.equal(r.status, 302, 'handed back, not followed');
      await assert.rejects(async () => {
        const big = await f.fetch(`http://127.0.0.1:${port}/big`, GET);
        await big.text();
      });
    } finally {
      await f.close();
    }
  });
});

describe('Federation without a reachable provider', () => {
  let closedPort = 0;
  let fed: Federation;
  const logs: string[] = [];

  before(async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    closedPort = (s.address() as { port: number }).port;
    await new Promise<void>((r) => s.close(() => r()));
    const entry = FederationEntry.parse({ name: 'down', displayName: 'Down <IdP>', issuer: `http://127.0.0.1:${closedPort}`, clientId: 'c', allowInsecureLoopback: true });
    const log = (o: object) => void logs.push(JSON.stringify(o));
    fed = new Federation({ issuer: 'http://127.0.0.1:9', entries: [entry], logger: { info: log, warn: log } });
  });

  after(async () => {
    await fed.close();
  });

  it('lists buttons and the issuer origin as form-action source before any discovery', () => {
    assert.deepEqual(fed.buttons(), [{ name: 'down', displayName: 'Down <IdP>' }]);
    assert.equal(fed.displayName('down'), 'Down <IdP>');
    assert.equal(fed.displayName('nope'), undefined);
    assert.deepEqual(fed.formActionSources(), [`http://127.0.0.1:${closedPort}`]);
    assert.equal(fed.redirectUri, 'http://127.0.0.1:9/interaction/callback/federated');
  });

  it('answers an unknown, missing or oversized state with 400 and touches no provider', async () => {
    for (const q of ['?state=unknown&code=x', '?code=x', '', `?state=${'s'.repeat(300)}`]) {
      const r = await fed.complete(q);
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.status, 400);
      assert.equal(!r.ok && r.uid, undefined, 'no interaction is revealed');
    }
  });

  it('rejects begin() with FederationUnavailableError and logs the failed discovery once per back-off', async () => {
    await assert.rejects(fed.begin('uid-1', 'down'), FederationUnavailableError);
    await assert.rejects(fed.begin('uid-1', 'down'), FederationUnavailableError);
    await assert.rejects(fed.begin('uid-1', 'nope'), FederationUnavailableError);
    assert.equal(logs.filter((l) => l.includes('as.federation_discovery_failed')).length, 1, 'the second attempt is within the retry back-off');
  });
});

test('login page: one escaped federated form per provider, posting the CSRF token', () => {
  const evil = `"><script>alert(1)</script>`;
  const html = loginPage({ uid: 'u1', csrf: 'tok', clientName: 'App', federated: [{ name: 'corp', displayName: evil }, { name: 'kc', displayName: 'Keycloak' }] });
  assert.ok(!html.includes('<script'), html);
  assert.ok(
    html.includes('<form method="post" action="/interaction/u1/federated/corp"><input type="hidden" name="csrf" value="tok"><button id="federated-corp" type="submit">Sign in with &#34;&#62;&#60;script&#62;'),
    html,
  );
  assert.match(html, /id="federated-kc"/);
  assert.match(html, /id="login"/);
  assert.ok(!loginPage({ uid: 'u1', csrf: 'tok', clientName: 'App' }).includes('federated-'));
});

test('error page back link: same-origin paths only, escaped', () => {
  assert.match(errorPage('T', 'm', { href: '/interaction/abc', label: 'Back <now>' }), /<a id="back" href="&#47;interaction&#47;abc">Back &#60;now&#62;<\/a>/);
  for (const href of ['//evil.example/x', 'https://evil.example', 'javascript:alert(1)']) assert.ok(!errorPage('T', 'm', { href, label: 'x' }).includes('id="back"'), href);
});
