/**
 * Payload capture at the wire (docs/audit.md "Payload capture"): a real gateway, a real fixture
 * upstream and API keys of two tenants. A virtual server with capture on leaves one redacted
 * entry per forwarded call (markers, findings, no raw token or email anywhere under the data
 * directory or in the gateway's log); endpoints without capture, and the default endpoint,
 * write nothing; tenants are kept apart; the size bound deletes the oldest files; a disk error
 * in the capture directory never fails the call; a reload turns capture on and off per call.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { issueApiKey, startGateway, type TestGateway } from '../helpers/gateway.js';
import { gatewayYaml, upstreamYaml } from './helpers-wire.js';
import { modernCall } from './rate-limits-load.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';

// Shaped like a GitHub token and an email address; neither is real.
const TOKEN = `ghp_${'Zq7Wx2Vb9N'.repeat(3)}k4Lm3P`;
const EMAIL = 'capture.probe@example.org';

interface Entry {
  v: number;
  ts: string;
  call: string;
  tenant: string;
  sub: string;
  endpoint: string;
  method: string;
  target: { name?: string; upstream: string };
  arguments?: { text?: string };
  result?: { content?: { text?: string }[] };
  findings: { in: string; kind: string; rule: string; path: string; count: number }[];
  truncated: Record<string, boolean>;
  ms: number;
}

const vsYaml = (nocapCapture: boolean): string =>
  [
    'auth: { apiKeys: { enabled: true } }',
    'virtualServers:',
    '  - { name: cap, tenant: acme, include: [{ upstream: mock }], capture: { enabled: true } }',
    `  - { name: nocap, tenant: acme, include: [{ upstream: mock }]${nocapCapture ? ', capture: { enabled: true }' : ''} }`,
    '  - { name: capb, tenant: beta, include: [{ upstream: mock }], capture: { enabled: true } }',
    '  - { name: small, tenant: acme, include: [{ upstream: mock }], capture: { enabled: true, maxBytes: 4kb } }',
    '  - { name: broken, tenant: acme, include: [{ upstream: mock }], capture: { enabled: true } }',
  ].join('\n');

let mock: MockHttp;
let gw: TestGateway;
const logChunks: string[] = [];
const keys: Record<string, string> = {};
const auth = (tenant: string): Record<string, string> => ({ authorization: `Bearer ${keys[tenant]}` });
const yaml = (nocapCapture = false): string => gatewayYaml([upstreamYaml('mock', 'streamable-http', mock.url, ', shareWith: ["*"]')], vsYaml(nocapCapture));
const captureDir = (): string => join(gw.dir, '.portcullis', 'audit', 'capture');
const at = (vs: string): string => `${gw.url}/servers/${vs}/mcp`;

async function settle(): Promise<void> {
  await gw.gateway.core.runtime.capture?.drain();
  await gw.gateway.audit.drain();
}

/** Every file under a directory, recursively (bounded). */
function filesUnder(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) filesUnder(p, out);
    else if (out.length < 10_000) out.push(p);
  }
  return out;
}

/** The entries of one endpoint's capture directory, oldest file first; every line must parse. */
function entries(tenantDir: string, vs: string): Entry[] {
  const out: Entry[] = [];
  for (const f of filesUnder(join(captureDir(), tenantDir, vs)).sort()) {
    const text = readFileSync(f, 'utf8');
    assert.ok(text.endsWith('\n'), `${f} ends with a newline`);
    for (const l of text.split('\n').filter(Boolean)) out.push(JSON.parse(l) as Entry);
  }
  return out;
}

before(async () => {
  mock = await startMockHttp({ mode: 'modern' });
  const logTo = new Writable({
    write(c: Buffer, _e, cb) {
      logChunks.push(c.toString());
      cb();
    },
  });
  gw = await startGateway(yaml(), process.env, { logTo, logLevel: 'trace' });
  await gw.waitHealthy(['mock']);
  for (const tenant of ['acme', 'beta']) keys[tenant] = await issueApiKey(gw, `k-${tenant}`, tenant);
});
after(async () => {
  await gw?.close();
  await mock?.close();
});

describe('payload capture at the wire', () => {
  it('a captured call leaves one redacted entry; the raw token and email are nowhere under the data directory or in the log', async () => {
    const text = `deploy with ${TOKEN} then tell ${EMAIL}`;
    const r = await modernCall(at('cap'), 'mock__echo', { text }, auth('acme'));
    assert.equal(r.status, 200);
    const content = (r.body.result as { content: { text: string }[] }).content;
    assert.equal(content[0]?.text, text, 'capture never changes what the client receives');
    await settle();
    const got = entries('t-acme', 'cap');
    assert.equal(got.length, 1);
    const e = got[0]!;
    assert.equal(e.v, 1);
    assert.equal(e.tenant, 'acme');
    assert.equal(e.endpoint, 'cap');
    assert.equal(e.method, 'tools/call');
    assert.deepEqual(e.target, { name: 'mock__echo', upstream: 'mock' });
    assert.equal(e.arguments?.text, 'deploy with [REDACTED:github-token] then tell [REDACTED:email]');
    assert.ok(e.result?.content?.[0]?.text?.includes('[REDACTED:github-token]') && e.result.content[0].text.includes('[REDACTED:email]'));
    assert.deepEqual(e.truncated, { arguments: false, result: false });
    assert.ok(typeof e.ms === 'number' && e.ms >= 0);
    assert.ok(!Number.isNaN(Date.parse(e.ts)));
    const rules = new Set(e.findings.map((f) => `${f.in}:${f.rule}`));
    for (const want of ['arguments:github-token', 'arguments:email', 'result:github-token', 'result:email']) assert.ok(rules.has(want), want);
    // The entry's call id is the one the audit log's decision carries (same call, two stores).
    const seg = filesUnder(join(gw.dir, '.portcullis', 'audit', 'logs', 't-acme')).filter((f) => f.includes('seg-'));
    const decisions = seg.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; call?: string }));
    assert.ok(decisions.some((d) => d.type === 'tool.call.decision' && d.call === e.call));
    // Directory and file modes.
    assert.equal(statSync(join(captureDir(), 't-acme', 'cap')).mode & 0o777, 0o700);
    for (const f of filesUnder(join(captureDir(), 't-acme', 'cap'))) assert.equal(statSync(f).mode & 0o777, 0o600);
    // Nothing raw anywhere: every file of the gateway's data directory (audit log, keys, capture), and its log.
    const all = filesUnder(gw.dir);
    assert.ok(all.length > 5);
    for (const f of all) {
      const body = readFileSync(f, 'latin1');
      assert.ok(!body.includes(TOKEN), `token in ${f}`);
      assert.ok(!body.includes(EMAIL), `email in ${f}`);
    }
    const log = logChunks.join('');
    assert.ok(log.length > 0 && log.includes(e.call), 'the log was collected (it names the call)');
    assert.ok(!log.includes(TOKEN) && !log.includes(EMAIL), 'no payload in the gateway log');
  });

  it('endpoints without capture, the default endpoint /mcp and refused calls write nothing', async () => {
    const before = entries('t-acme', 'cap').length;
    assert.equal((await modernCall(at('nocap'), 'mock__echo', { text: `nocap ${EMAIL}` }, auth('acme'))).status, 200);
    assert.equal((await modernCall(gw.mcp, 'mock__echo', { text: `default ${EMAIL}` }, auth('acme'))).status, 200);
    const unknown = await modernCall(at('cap'), 'mock__nope', { text: 'x' }, auth('acme'));
    assert.equal(unknown.body.error?.data?.portcullis, 'ERR_UNKNOWN_TOOL');
    // A known tool refused before forwarding (its arguments fail the schema) is routed upstream but never sent.
    const invalid = await modernCall(at('cap'), 'mock__echo', { text: 42 }, auth('acme'));
    assert.equal(invalid.body.error?.data?.portcullis, 'ERR_ARGUMENT_INVALID');
    await settle();
    const dirs = readdirSync(join(captureDir(), 't-acme'));
    assert.ok(!dirs.includes('nocap'), dirs.join(','));
    assert.ok(!dirs.includes('default'), dirs.join(','));
    assert.equal(entries('t-acme', 'cap').length, before, 'neither the unknown tool nor the refused call reached an upstream');
  });

  it("two tenants' captures are in separate directories", async () => {
    assert.equal((await modernCall(at('capb'), 'mock__echo', { text: 'beta-only-marker' }, auth('beta'))).status, 200);
    assert.equal((await modernCall(at('cap'), 'mock__echo', { text: 'acme-only-marker' }, auth('acme'))).status, 200);
    await settle();
    const beta = entries('t-beta', 'capb');
    assert.equal(beta.length, 1);
    assert.equal(beta[0]?.tenant, 'beta');
    assert.ok(readdirSync(join(captureDir(), 't-beta')).every((d) => d === 'capb'));
    for (const f of filesUnder(join(captureDir(), 't-acme'))) assert.ok(!readFileSync(f, 'utf8').includes('beta-only-marker'), f);
    for (const f of filesUnder(join(captureDir(), 't-beta'))) assert.ok(!readFileSync(f, 'utf8').includes('acme-only-marker'), f);
    assert.ok(entries('t-acme', 'cap').every((e) => e.tenant === 'acme'));
  });

  it('the size bound (maxBytes: 4kb) deletes the oldest files', async () => {
    for (let i = 0; i < 24; i++) {
      assert.equal((await modernCall(at('small'), 'mock__echo', { text: `call-${i} ${'p'.repeat(300)}` }, auth('acme'))).status, 200);
      if (i % 4 === 3) await settle();
    }
    await settle();
    const dir = join(captureDir(), 't-acme', 'small');
    const names = readdirSync(dir);
    const today = new Date().toISOString().slice(0, 10);
    assert.ok(!names.includes(`${today}.jsonl`), `the first file was deleted: ${names.join(',')}`);
    const total = names.reduce((s, n) => s + statSync(join(dir, n)).size, 0);
    assert.ok(total <= 4096, `total ${total} bytes`);
    const kept = entries('t-acme', 'small').map((e) => e.arguments?.text?.split(' ')[0]);
    assert.ok(kept.length > 0 && kept.length < 24);
    assert.ok(kept.includes('call-23'), 'the newest entry is kept');
    assert.ok(!kept.includes('call-0'), 'the oldest entry is gone');
  });

  it('a disk error in the capture directory does not fail the call (counted and logged without the payload)', async () => {
    mkdirSync(join(captureDir(), 't-acme'), { recursive: true });
    writeFileSync(join(captureDir(), 't-acme', 'broken'), 'a file where the endpoint directory should be');
    const failedBefore = gw.gateway.core.runtime.capture!.stats().failed;
    const r = await modernCall(at('broken'), 'mock__echo', { text: `disk-error-call ${EMAIL}` }, auth('acme'));
    assert.equal(r.status, 200);
    assert.equal((r.body.result as { content: { text: string }[] }).content[0]?.text, `disk-error-call ${EMAIL}`);
    await settle();
    assert.equal(gw.gateway.core.runtime.capture!.stats().failed, failedBefore + 1);
    const log = logChunks.join('');
    assert.ok(log.includes('capture.write_failed'));
    assert.ok(!log.includes(EMAIL));
  });

  it('a reload turns capture on, then off, for the next call', async () => {
    gw.reload(yaml(true));
    await gw.waitHealthy(['mock']);
    assert.equal((await modernCall(at('nocap'), 'mock__echo', { text: 'now-captured' }, auth('acme'))).status, 200);
    await settle();
    assert.deepEqual(entries('t-acme', 'nocap').map((e) => e.arguments?.text), ['now-captured']);
    gw.reload(yaml(false));
    await gw.waitHealthy(['mock']);
    assert.equal((await modernCall(at('nocap'), 'mock__echo', { text: 'off-again' }, auth('acme'))).status, 200);
    await settle();
    assert.deepEqual(entries('t-acme', 'nocap').map((e) => e.arguments?.text), ['now-captured']);
  });
});
