/**
 * The upstream OAuth client's egress guard (src/auth/upstream-oauth/egress.ts), security
 * checklist A6: hostile URLs from protected resource or authorization server metadata are refused
 * before any connection (a canary listener counts connections), exactly one security event is
 * logged per refusal, redirects are never followed, responses are bounded in size and time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { authorizationUrlProblem, classifyAddress, createOAuthEgress, EgressDeniedError, type OAuthLogger } from '../../../src/auth/upstream-oauth/egress.js';

let canary: TcpServer;
let canaryPort = 0;
let canaryConnections = 0;
let web: Server;
let webPort = 0;

before(async () => {
  canary = createTcpServer((s) => {
    canaryConnections++;
    s.destroy();
  });
  await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
  canaryPort = (canary.address() as { port: number }).port;
  web = createServer((req, res) => {
    if (req.url === '/redirect') {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    } else if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('x'.repeat(300 * 1024));
    } else if (req.url === '/slow') {
      // Never answers; the guard's deadline must end the request.
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    }
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  webPort = (web.address() as { port: number }).port;
});

after(async () => {
  web.closeAllConnections();
  await new Promise<void>((r) => web.close(() => r()));
  await new Promise<void>((r) => canary.close(() => r()));
});

function recorder(): { logger: OAuthLogger; events: object[] } {
  const events: object[] = [];
  return { events, logger: { info: () => undefined, warn: (o) => void events.push(o), error: (o) => void events.push(o) } };
}

test('address classes: private only with the flag, metadata and link-local never', () => {
  const table: Record<string, string> = {
    '127.0.0.1': 'private',
    '10.0.0.7': 'private',
    '172.20.1.1': 'private',
    '192.168.1.1': 'private',
    '100.64.0.1': 'private',
    '::1': 'private',
    'fd12:3456::1': 'private',
    '::ffff:10.0.0.1': 'private',
    '169.254.169.254': 'forbidden',
    'fe80::1': 'forbidden',
    'fd00:ec2::254': 'forbidden',
    '::ffff:a9fe:a9fe': 'forbidden',
    '0.0.0.0': 'forbidden',
    '224.0.0.1': 'forbidden',
    '192.0.2.10': 'forbidden',
    'not-an-ip': 'forbidden',
    '8.8.8.8': 'public',
    '2606:4700:4700::1111': 'public',
  };
  for (const [ip, cls] of Object.entries(table)) assert.equal(classifyAddress(ip), cls, ip);
});

test('hostile URLs are refused before connecting, one security event each', async () => {
  const { logger, events } = recorder();
  const egress = createOAuthEgress({ upstream: 'hostile', allowPrivateNetwork: false, logger });
  try {
    const hostile = [
      'javascript:alert(1)',
      'data:application/json,{}',
      'file:///etc/passwd',
      'file://localhost/etc/passwd',
      'vbscript:msgbox(1)',
      'a:$(cmd.exe /c whoami)',
      'https://exa mple.com/',
      'https://user:pass@example.com/token',
      'http://169.254.169.254/latest/meta-data/',
      'https://169.254.169.254/latest/meta-data/',
      'http://[::1]:6379/',
      `http://127.0.0.1:${canaryPort}/`,
      `https://127.0.0.1:${canaryPort}/`,
      `https://localhost:${canaryPort}/`,
      `http://example.com/plain-http`,
    ];
    for (const url of hostile) {
      const before = events.length;
      await assert.rejects(egress.fetch(url), (e: unknown) => e instanceof TypeError, url);
      assert.equal(events.length - before, 1, `one security event for ${url}`);
    }
    assert.equal(canaryConnections, 0, 'the canary saw no connection');
    for (const e of events) assert.equal((e as { event?: string }).event, 'upstream_oauth.egress_denied');
    // The log names the host, never the path or credentials.
    assert.ok(!JSON.stringify(events).includes('pass@'));
    assert.ok(!JSON.stringify(events).includes('/etc/passwd'));
  } finally {
    await egress.close();
  }
});

test('allowPrivateNetwork admits loopback over http, still never link-local or metadata', async () => {
  const { logger, events } = recorder();
  const egress = createOAuthEgress({ upstream: 'dev', allowPrivateNetwork: true, logger });
  try {
    const ok = await egress.fetch(`http://127.0.0.1:${webPort}/ok`);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { ok: true });
    const viaName = await egress.fetch(`http://localhost:${webPort}/ok`).catch((e: unknown) => e);
    // localhost may resolve to ::1 first where nothing listens; either way it was not refused.
    assert.ok(!(viaName instanceof EgressDeniedError));
    await assert.rejects(egress.fetch('http://169.254.169.254/'), TypeError);
    await assert.rejects(egress.fetch('http://[fe80::1]/'), TypeError);
    assert.equal(events.length, 2);
  } finally {
    await egress.close();
  }
});

test('redirects are returned, never followed (the SDK re-checks each same-origin hop here)', async () => {
  const egress = createOAuthEgress({ upstream: 'dev', allowPrivateNetwork: true });
  try {
    const r = await egress.fetch(`http://127.0.0.1:${webPort}/redirect`);
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), 'http://169.254.169.254/latest/meta-data/');
    // Even asked to follow, the guard does not.
    const r2 = await egress.fetch(`http://127.0.0.1:${webPort}/redirect`, { redirect: 'follow' });
    assert.equal(r2.status, 302);
  } finally {
    await egress.close();
  }
});

test('responses are capped in size and time', async () => {
  const egress = createOAuthEgress({ upstream: 'dev', allowPrivateNetwork: true, timeoutMs: 500 });
  try {
    await assert.rejects(async () => {
      const r = await egress.fetch(`http://127.0.0.1:${webPort}/big`);
      await r.text();
    });
    const t0 = Date.now();
    await assert.rejects(egress.fetch(`http://127.0.0.1:${webPort}/slow`));
    assert.ok(Date.now() - t0 < 5_000, 'the deadline ended the request');
  } finally {
    await egress.close();
  }
});

test('authorization URLs: https only (http with the flag), no credentials, no control characters', () => {
  assert.equal(authorizationUrlProblem(new URL('https://as.example/authorize?x=1'), false), undefined);
  assert.equal(authorizationUrlProblem(new URL('http://127.0.0.1:9/authorize'), true), undefined);
  for (const raw of ['http://as.example/authorize', 'javascript:alert(1)', 'data:text/html,x', 'file:///x', 'vbscript:x', 'a:$(cmd.exe /c whoami)', 'https://u:p@as.example/a']) {
    assert.ok(authorizationUrlProblem(new URL(raw), false), raw);
  }
  assert.ok(authorizationUrlProblem(new URL(`https://as.example/${'a'.repeat(9000)}`), false));
});
