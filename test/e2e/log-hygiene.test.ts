/**
 * No secret in any log line (security-checklist: "no secret in logs"). A representative flow
 * runs at `trace` level with every log line captured: OAuth bearer tokens from a test JWKS
 * issuer, API keys, an upstream with a static bearer credential, tool arguments and results
 * carrying secret-looking strings from the secretlint corpus, refused calls and failed tokens.
 * Then every secret used, whole and by its distinctive halves, must be absent from the log,
 * while the log must be non-empty and name calls by call id, trace id, tenant and subject.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { issueApiKey, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { MODERN, legacyClient, readReply, upstreamYaml } from './helpers-wire.js';
import { corporaDir } from '../helpers/corpora.js';

const CORPUS = corporaDir('secrets');

/** Matched tokens of the corpus's positive ("ng") cases: real-looking secrets of many providers. */
function corpusSecrets(max: number): string[] {
  const out = new Set<string>();
  const lines = readFileSync(join(CORPUS, 'cases.jsonl'), 'utf8').split('\n').filter(Boolean);
  for (const line of lines) {
    if (out.size >= max) break;
    const c = JSON.parse(line) as { label: string; expected_file: string };
    if (c.label !== 'ng' || !existsSync(join(CORPUS, c.expected_file))) continue;
    const snap = JSON.parse(readFileSync(join(CORPUS, c.expected_file), 'utf8')) as { sourceContent: string; messages: { range: [number, number] }[] };
    for (const m of snap.messages) {
      const s = snap.sourceContent.slice(m.range[0], m.range[1]);
      if (s.length >= 16 && s.length <= 300 && !/\s/.test(s)) out.add(s);
    }
  }
  return [...out].slice(0, max);
}

/** The value and its halves (each at least 8 characters), the forms a leak could take. */
function forms(secret: string): string[] {
  const h = Math.floor(secret.length / 2);
  return [secret, ...(h >= 8 ? [secret.slice(0, h), secret.slice(h)] : [])];
}

let jwks: Server;
let issuer = '';
let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
let web: MockHttp;
let gw: TestGateway;
const log = { text: '' };
const secrets: { what: string; value: string }[] = [];
const UPSTREAM_TOKEN = 'up-static-bearer-7f3c9a1d5e2b4f60a8c1d3e5f7092b4d';
const COOKIE = 'sid=cookie-secret-91ab27cd38ef4a5b6c7d8e9f0a1b2c3d';

async function token(o: { sub?: string; aud?: string; exp?: string | number; scope?: string } = {}): Promise<string> {
  return new SignJWT({ scope: o.scope ?? 'mcp:tools', tenant: 'acme', roles: ['dev'] })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'at+jwt' })
    .setIssuer(issuer)
    .setAudience(o.aud ?? `${gw.url}/mcp`)
    .setSubject(o.sub ?? 'alice')
    .setIssuedAt()
    .setExpirationTime(o.exp ?? '5m')
    .sign(rsa.privateKey);
}

async function modernCall(headers: Record<string, string>, tool: string, args: Record<string, unknown>): Promise<{ status: number; body: string }> {
  const res = await fetch(`${gw.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': tool, ...headers },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: tool, arguments: args, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} } },
    }),
  });
  const r = await readReply(res, 10_000);
  return { status: r.status, body: JSON.stringify(r.messages) };
}

before(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}`;
  web = await startMockHttp({ mode: 'legacy' });
  // Upstream credentials resolve from the gateway's own environment when a link opens.
  process.env.PORTCULLIS_TEST_LOG_UP_TOKEN = UPSTREAM_TOKEN;
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => (log.text += c.toString('utf8')));
  gw = await startGateway(
    [
      'gateway: { storage: memory }',
      'auth:',
      '  adminRoles: [ops]',
      '  issuers:',
      `    - { name: ext, issuer: "${issuer}", jwksUri: "${issuer}/jwks", claims: { tenant: tenant, roles: roles } }`,
      'upstreams:',
      `  - { name: web, kind: streamable-http, url: "${web.url}", tenant: acme, auth: { type: bearer, token: { env: PORTCULLIS_TEST_LOG_UP_TOKEN } } }`,
      upstreamYaml('local', 'stdio', undefined, ', tenant: acme'),
      'rateLimits:',
      '  rules:',
      '    - { name: one-big, by: [principal], match: { tools: ["local__big"] }, rate: 1/1h, burst: 1 }',
    ].join('\n'),
    process.env,
    { logTo: sink, logLevel: 'trace' },
  );
  await gw.waitHealthy(['web', 'local']);
});

after(async () => {
  await web?.close();
  await new Promise((r) => jwks?.close(r));
});

test('a trace-level log of a representative flow names calls but holds no secret', async () => {
  const corpus = corpusSecrets(12);
  assert.ok(corpus.length >= 8, `corpus secrets found: ${corpus.length}`);
  corpus.forEach((v, i) => secrets.push({ what: `corpus#${i}`, value: v }));
  secrets.push({ what: 'upstream bearer', value: UPSTREAM_TOKEN }, { what: 'cookie', value: COOKIE.slice(4) });

  const apiKey = await issueApiKey(gw, 'ci', 'acme', ['ops']);
  secrets.push({ what: 'api key', value: apiKey });
  const good = await token();
  const expired = await token({ exp: Math.floor(Date.now() / 1000) - 600 });
  const wrongAud = await token({ aud: 'http://elsewhere.example/mcp' });
  secrets.push({ what: 'oauth token', value: good }, { what: 'expired token', value: expired }, { what: 'wrong-audience token', value: wrongAud });
  // The signature part alone identifies a token too.
  for (const t of [good, expired, wrongAud]) secrets.push({ what: 'token signature', value: t.split('.')[2]! });
  const garbage = `Bearer ${corpus[0]}`;

  const traceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
  const traceparent = `00-${traceId}-1122334455667788-01`;

  // OAuth, legacy client: arguments and results carry the corpus secrets; a tool error too.
  const c = await legacyClient(`${gw.url}/mcp`, { headers: { authorization: `Bearer ${good}`, cookie: COOKIE, traceparent } });
  try {
    const r = await c.callTool({ name: 'web__echo', arguments: { text: corpus.join(' ') } });
    assert.match(JSON.stringify(r), new RegExp(corpus[1]!.slice(0, 10).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    await c.callTool({ name: 'local__echo', arguments: { text: `password=${corpus[2]} key=${corpus[3]}` } });
    await c.callTool({ name: 'web__fail', arguments: { token: corpus[4], secret: corpus[5] } });
    await c.callTool({ name: 'web__nosuch', arguments: { apiKey: corpus[6] } }).catch(() => undefined);
    // A rate-limit refusal (the second call of a one-call budget), with a secret among its arguments.
    await c.callTool({ name: 'local__big', arguments: { kb: 1, note: corpus[8] } });
    await assert.rejects(c.callTool({ name: 'local__big', arguments: { kb: 1, note: corpus[8] } }));
  } finally {
    await c.close();
  }
  // API key (both header forms), modern era, with secrets in arguments.
  assert.equal((await modernCall({ authorization: `Bearer ${apiKey}` }, 'web__echo', { text: corpus[7] })).status, 200);
  assert.equal((await modernCall({ 'x-api-key': apiKey, traceparent }, 'local__echo', { text: corpus[0] })).status, 200);
  // Refused: failed tokens, a garbage bearer made of a secret, an unknown API key.
  for (const h of [`Bearer ${expired}`, `Bearer ${wrongAud}`, garbage, `Bearer pcl_aaaaaaaaaaaa_${'Q'.repeat(43)}`]) {
    const r = await modernCall({ authorization: h }, 'web__echo', { text: corpus[1] });
    assert.equal(r.status, 401);
  }
  // The metrics scrape with an admin API key.
  assert.equal((await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${apiKey}` } })).status, 200);
  // The upstream really got its static credential (so the test covers a flow that uses it).
  assert.ok(web.record.requests.some((q) => q.headers.authorization === `Bearer ${UPSTREAM_TOKEN}`));

  await gw.close();
  await new Promise((r) => setImmediate(r));

  const lines = log.text.split('\n').filter(Boolean);
  assert.ok(lines.length >= 10, `log lines: ${lines.length}`);
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const calls = parsed.filter((l) => l.msg === 'call');
  assert.ok(calls.length >= 6, 'call lines');
  assert.ok(calls.every((l) => typeof l.call === 'string' && l.tenant === 'acme' && typeof l.subject === 'string'));
  assert.ok(calls.some((l) => l.trace === traceId), 'trace id of the incoming traceparent');
  assert.ok(calls.some((l) => l.subject === 'alice'));
  assert.ok(parsed.some((l) => l.msg === 'auth.refused'), 'refusals are logged');
  const limited = parsed.filter((l) => l.msg === 'ratelimit.refused');
  assert.equal(limited.length, 1);
  assert.deepEqual([limited[0]!.tenant, limited[0]!.subject, limited[0]!.trace, limited[0]!.code], ['acme', 'alice', traceId, 'ERR_RATE_LIMITED']);

  const hits: string[] = [];
  for (const s of secrets) for (const f of forms(s.value)) if (log.text.includes(f)) hits.push(`${s.what}: …${f.slice(0, 6)}…`);
  assert.deepEqual(hits, []);
});
