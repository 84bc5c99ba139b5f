/** Page rendering, CSP narrowing, form parsing and the small bounded maps of the authorization server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { consentPage, esc, loginPage } from '../../../src/auth/server/pages.js';
import { formActionSource } from '../../../src/auth/server/interactions.js';
import { FormError, readForm } from '../../../src/auth/server/form.js';
import { AttemptLimiter, TtlMap } from '../../../src/auth/server/ttl-map.js';

test('esc neutralises markup and attribute breaks', () => {
  assert.equal(esc(`<a href="x" onclick='y'>&</a>`), '&#60;a href&#61;&#34;x&#34; onclick&#61;&#39;y&#39;&#62;&#38;&#60;&#47;a&#62;');
  assert.equal(esc('plain text 123'), 'plain text 123');
});

test('pages escape every interpolated value', () => {
  const evil = `"><script>alert(1)</script>`;
  const login = loginPage({ uid: 'u1', csrf: evil, clientName: evil, error: evil, username: evil });
  const consent = consentPage({ uid: 'u1', csrf: evil, clientName: evil, clientId: evil, redirectUri: evil, username: evil, scopes: [{ name: evil, description: evil }], resources: [evil] });
  for (const html of [login, consent]) {
    assert.ok(!html.includes('<script'), html);
    assert.ok(!html.includes(evil), 'no attribute break-out');
    assert.ok(html.includes('&#34;&#62;&#60;script&#62;'), 'shown escaped');
  }
  assert.match(login, /id="username"/);
  assert.match(login, /id="password"/);
  assert.match(login, /id="login"/);
  assert.match(consent, /id="approve"/);
  assert.match(consent, /id="deny"/);
});

test('form-action source for a redirect URI', () => {
  assert.equal(formActionSource('http://127.0.0.1:4711/oauth/callback?x=1'), 'http://127.0.0.1:4711');
  assert.equal(formActionSource('https://app.example.com/cb'), 'https://app.example.com');
  assert.equal(formActionSource('http://[::1]:80/cb'), 'http://[::1]');
  assert.equal(formActionSource('com.example.app:/callback'), 'com.example.app:');
  assert.equal(formActionSource("https://a.example/cb'; script-src *"), 'https://a.example');
  assert.equal(formActionSource('not a url'), undefined);
  assert.equal(formActionSource(undefined), undefined);
});

async function postRaw(body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; fields?: Record<string, string> }> {
  const srv = createServer((req, res) => {
    readForm(req).then(
      (f) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(Object.fromEntries(f)));
      },
      (e: unknown) => {
        res.writeHead(e instanceof FormError ? e.status : 500);
        res.end();
      },
    );
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    return await new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: (srv.address() as { port: number }).port, method: 'POST', path: '/', headers, agent: false, timeout: 5000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, ...(res.statusCode === 200 ? { fields: JSON.parse(text) as Record<string, string> } : {}) });
        });
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end(body);
    });
  } finally {
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  }
}

test('readForm: urlencoded only, first value wins, 16 KB cap with and without content-length', async () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  assert.deepEqual((await postRaw('a=1&a=2&b=%3Cx%3E', form)).fields, { a: '1', b: '<x>' });
  assert.equal((await postRaw('{"a":1}', { 'content-type': 'application/json' })).status, 415);
  assert.equal((await postRaw('a=1', {})).status, 415);
  assert.equal((await postRaw(`a=${'x'.repeat(16 * 1024)}`, form)).status, 413);
  assert.equal((await postRaw(Buffer.from(`a=${'x'.repeat(20 * 1024)}`), { ...form, 'transfer-encoding': 'chunked' })).status, 413);
  assert.equal((await postRaw(`a=${'x'.repeat(16 * 1024 - 3)}`, form)).status, 200);
});

test('TtlMap expires entries and evicts the oldest beyond its size', () => {
  let now = 0;
  const m = new TtlMap<number>(3, 100, () => now);
  m.set('a', 1);
  m.set('b', 2);
  m.set('c', 3);
  m.set('d', 4);
  assert.equal(m.size, 3);
  assert.equal(m.get('a'), undefined);
  assert.equal(m.get('d'), 4);
  now = 100;
  assert.equal(m.get('b'), undefined);
  m.set('e', 5, 1000);
  now = 500;
  assert.equal(m.get('e'), 5);
});

test('AttemptLimiter blocks after the maximum within the window, per key', () => {
  let now = 0;
  const l = new AttemptLimiter(3, 1000, 100, () => now);
  for (let i = 0; i < 3; i++) {
    assert.equal(l.blocked('k'), false);
    l.fail('k');
  }
  assert.equal(l.blocked('k'), true);
  assert.equal(l.blocked('other'), false);
  now = 1000;
  assert.equal(l.blocked('k'), false, 'window over');
  l.fail('k');
  l.reset('k');
  assert.equal(l.blocked('k'), false);
});
