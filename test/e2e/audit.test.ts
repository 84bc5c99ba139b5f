/**
 * The audit log at the wire (security-checklist I1, I5, I7, I10; docs/audit.md): tenant
 * separation of logs, the system log's config and admin events, fail-closed with 503 +
 * Retry-After and zero upstream calls when the audit directory cannot be written, and no secret
 * or PII from the corpora ever reaching an audit file while the payload HMACs are there.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { issueApiKey, startGateway, type TestGateway } from '../helpers/gateway.js';
import { gatewayYaml, upstreamYaml } from './helpers-wire.js';
import { modernCall } from './rate-limits-load.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { corporaDir } from '../helpers/corpora.js';
import { parseVerifierKey } from '../../src/audit/checkpoint.js';
import { verifyLog } from '../../src/audit/verify.js';

interface Rec {
  seq: number;
  type: string;
  call?: string;
  actor?: { tenant?: string; sub?: string };
  args?: { keys: string[]; hmac_sha256: string; bytes: number };
  result?: { hmac_sha256: string };
  decision?: { result: string; code?: string; rules: string[] };
  [k: string]: unknown;
}

const auditDir = (gw: TestGateway): string => join(gw.dir, '.portcullis', 'audit');

/** Every file under a directory, recursively (bounded). */
function filesUnder(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) filesUnder(p, out);
    else if (out.length < 10_000) out.push(p);
  }
  return out;
}

function recordsOf(gw: TestGateway, logId: string): Rec[] {
  const dir = join(auditDir(gw), 'logs', logId);
  if (!existsSync(dir)) return [];
  const out: Rec[] = [];
  for (const f of readdirSync(dir).filter((n) => n.startsWith('seg-')).sort()) {
    for (const l of readFileSync(join(dir, f), 'utf8').split('\n')) if (l) out.push(JSON.parse(l) as Rec);
  }
  return out;
}

const toolCalls = (m: MockHttp): number => m.record.messages.filter((x) => (x.msg as { method?: string }).method === 'tools/call').length;

let mock: MockHttp;
let gw: TestGateway;
const keys: Record<string, string> = {};
const auth = (tenant: string): Record<string, string> => ({ authorization: `Bearer ${keys[tenant]}` });

before(async () => {
  mock = await startMockHttp({ mode: 'modern' });
  gw = await startGateway(gatewayYaml([upstreamYaml('mock', 'streamable-http', mock.url, ', shareWith: ["*"]')], 'auth: { apiKeys: { enabled: true } }'));
  await gw.waitHealthy(['mock']);
  for (const tenant of ['acme', 'beta']) keys[tenant] = await issueApiKey(gw, `k-${tenant}`, tenant);
});
after(async () => {
  await gw?.close();
  await mock?.close();
});

describe('audit log at the wire', () => {
  it('tenant separation: each tenant log holds only its own calls; seq contiguous; prev chained (I10, I2)', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await modernCall(gw.mcp, 'mock__echo', { text: `acme-${i}` }, auth('acme'))).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await modernCall(gw.mcp, 'mock__echo', { text: `beta-${i}` }, auth('beta'))).status, 200);
    await gw.gateway.audit.drain();
    for (const [tenant, n] of [['acme', 3], ['beta', 2]] as const) {
      const recs = recordsOf(gw, `t-${tenant}`);
      recs.forEach((r, i) => assert.equal(r.seq, i));
      for (const r of recs) if (r.actor) assert.equal(r.actor.tenant, tenant, `${r.type} in t-${tenant}`);
      const decisions = recs.filter((r) => r.type === 'tool.call.decision');
      assert.equal(decisions.length, n);
      for (const d of decisions) {
        assert.equal(d.decision?.result, 'allow');
        assert.deepEqual(d.args?.keys, ['text']);
        // Exactly one outcome per decision.
        assert.equal(recs.filter((r) => r.type === 'tool.call.result' && r.call === d.call).length, 1);
      }
      assert.ok(recs.some((r) => r.type === 'authn.success'), 'authn.success recorded');
    }
    // The system log holds no call of either tenant.
    assert.ok(recordsOf(gw, 'system').every((r) => r.type !== 'tool.call.decision'));
  });

  it('refused calls get a deny decision and an outcome; unauthenticated requests an authn.failure', async () => {
    const r = await modernCall(gw.mcp, 'mock__nope', { text: 'x' }, auth('acme'));
    assert.equal(r.body.error?.data?.portcullis, 'ERR_UNKNOWN_TOOL');
    const bad = await modernCall(gw.mcp, 'mock__echo', { text: 'x' }, { authorization: 'Bearer pcl_nope_nope' });
    assert.equal(bad.status, 401);
    await gw.gateway.audit.drain();
    const recs = recordsOf(gw, 't-acme');
    const d = recs.filter((x) => x.type === 'tool.call.decision').pop()!;
    assert.equal(d.decision?.result, 'deny');
    assert.equal(d.decision?.code, 'ERR_UNKNOWN_TOOL');
    assert.ok(recs.some((x) => x.type === 'tool.call.error' && x.call === d.call));
    assert.ok(recordsOf(gw, 'system').some((x) => x.type === 'authn.failure'));
  });

  it('tools/list is recorded with the SHA-256 of the visible names', async () => {
    const res = await fetch(gw.mcp, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list', ...auth('beta') },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
    });
    assert.equal(res.status, 200);
    await gw.gateway.audit.drain();
    const list = recordsOf(gw, 't-beta').find((r) => r.type === 'tool.list');
    assert.ok(list && typeof list.names_sha256 === 'string' && (list.count as number) > 0);
  });

  it('admin actions and upstream health land in the system log', async () => {
    const admin = await issueApiKey(gw, 'k-admin', 'acme', ['admin']);
    const res = await fetch(`${gw.url}/admin/api/keys`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'made-by-admin' }) });
    assert.equal(res.status, 201);
    const made = (await res.json()) as { id: string; key: string };
    await gw.gateway.audit.drain();
    const sys = recordsOf(gw, 'system');
    const created = sys.find((r) => r.type === 'admin.key.created');
    assert.ok(created, 'admin.key.created recorded');
    assert.equal((created.target as { key: string }).key, made.id);
    assert.ok(!JSON.stringify(sys).includes(made.key), 'the new key itself is never recorded');
    assert.ok(sys.some((r) => r.type === 'upstream.health' && r.upstream === 'mock' && r.health === 'healthy'));
  });

  it("an admin rotates its tenant log's signing key on the running gateway; verify follows it from the new key alone", async () => {
    const url = `${gw.url}/admin/api/audit/rotate-key`;
    const user = await fetch(url, { method: 'POST', headers: auth('beta') });
    assert.equal(user.status, 403, 'a tenant user without the admin role is refused');
    const admin = await issueApiKey(gw, 'k-rotate-admin', 'beta', ['admin']);
    const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { log: string; oldKey: string; newKey: string };
    assert.equal(body.log, 't-beta');
    assert.notEqual(body.oldKey, body.newKey);
    const keyFile = join(auditDir(gw), 'keys', 't-beta.pub');
    assert.equal(readFileSync(keyFile, 'utf8').trim(), body.newKey);
    assert.equal((await modernCall(gw.mcp, 'mock__echo', { text: 'after rotation' }, auth('beta'))).status, 200);
    await gw.gateway.audit.drain();
    const recs = recordsOf(gw, 't-beta');
    const rotated = recs.find((r) => r.type === 'audit.key_rotated');
    assert.ok(rotated, 'audit.key_rotated in the tenant log');
    assert.deepEqual([rotated.old_key, rotated.new_key], [body.oldKey, body.newKey]);
    const sys = recordsOf(gw, 'system').find((r) => r.type === 'admin.audit.key_rotated');
    assert.deepEqual(sys?.target, { log: 't-beta' });
    // The once-a-second checkpoint covers the rotation record (bounded wait).
    const logDir = join(auditDir(gw), 'logs', 't-beta');
    const deadline = Date.now() + 5000;
    let report = verifyLog({ logDir, keys: [parseVerifierKey(body.newKey)] });
    while ((!report.ok || (report.latestCheckpoint?.size ?? 0) <= rotated.seq) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      report = verifyLog({ logDir, keys: [parseVerifierKey(body.newKey)] });
    }
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.ok((report.latestCheckpoint?.size ?? 0) > rotated.seq, 'a checkpoint signed after the rotation covers it');
  });

  it('config reloads land in the system log', async () => {
    gw.reload(gatewayYaml([upstreamYaml('mock', 'streamable-http', mock.url, ', shareWith: ["*"]')], 'auth: { apiKeys: { enabled: true } }\npolicy: { rules: [ { id: allow-all, effect: allow } ] }'));
    await gw.gateway.audit.drain();
    const sys = recordsOf(gw, 'system');
    const changed = sys.find((r) => r.type === 'config.changed');
    assert.ok(changed && (changed.sections as string[]).includes('policy'));
    assert.ok(sys.some((r) => r.type === 'policy.changed' && r.source === 'config'));
  });

  it('no secret or PII from the corpora reaches an audit file; the HMACs do (I7)', async () => {
    const corpora = corporaDir();
    const casesPath = join(corpora, 'secrets', 'cases.jsonl');
    const piiPath = join(corpora, 'pii', 'dev.json');
    assert.ok(existsSync(casesPath), `corpus missing: ${casesPath}`);
    assert.ok(existsSync(piiPath), `corpus missing: ${piiPath}`);
    const secrets: string[] = [];
    for (const line of readFileSync(casesPath, 'utf8').split('\n')) {
      if (!line || secrets.length >= 12) continue;
      const c = JSON.parse(line) as { label: string; input_file: string; expected_file: string };
      if (c.label !== 'ng') continue;
      const input = readFileSync(join(corpora, 'secrets', c.input_file), 'utf8');
      const out = JSON.parse(readFileSync(join(corpora, 'secrets', c.expected_file), 'utf8')) as { messages: { range: [number, number] }[] };
      for (const m of out.messages) if (m.range[1] - m.range[0] >= 12) secrets.push(input.slice(m.range[0], m.range[1]));
    }
    const pii = (JSON.parse(readFileSync(piiPath, 'utf8')) as { spans: { entity_value: string }[] }[])
      .flatMap((s) => s.spans.map((x) => x.entity_value))
      .filter((v) => v.length >= 8)
      .slice(0, 12);
    assert.ok(secrets.length >= 8 && pii.length >= 8);
    const sent: Record<string, unknown>[] = [];
    for (const v of [...secrets, ...pii]) {
      const args = { text: v };
      sent.push(args);
      const r = await modernCall(gw.mcp, 'mock__echo', args, auth('acme'));
      assert.equal(r.status, 200);
      assert.ok(JSON.stringify(r.body).includes(JSON.stringify(v).slice(1, -1)), 'the echo returned the value');
    }
    await gw.gateway.audit.drain();
    const blob = filesUnder(auditDir(gw))
      .filter((p) => !p.endsWith('.key') && !p.endsWith('.hmac'))
      .map((p) => readFileSync(p, 'utf8'))
      .join('\n');
    for (const v of [...secrets, ...pii]) {
      for (const form of [v, JSON.stringify(v).slice(1, -1)]) assert.ok(!blob.includes(form), `a corpus value reached the audit log: ${form.slice(0, 12)}…`);
    }
    const key = readFileSync(join(auditDir(gw), 'keys', 't-acme.hmac'));
    const hmacs = new Set(recordsOf(gw, 't-acme').map((r) => r.args?.hmac_sha256));
    for (const args of sent) assert.ok(hmacs.has(createHmac('sha256', key).update(JSON.stringify(args)).digest('hex')), 'HMAC of the arguments recorded');
  });
});

describe('audit fail-closed', () => {
  it('an audit dir that cannot be written: tools/call gets 503 + Retry-After, the upstream sees 0 calls, /readyz degraded (I5)', async () => {
    const m = await startMockHttp({ mode: 'modern' });
    const blocker = join(gw.dir, 'not-a-dir');
    writeFileSync(blocker, 'a regular file');
    const g = await startGateway(gatewayYaml([upstreamYaml('mock', 'streamable-http', m.url)], `audit: { dir: ${JSON.stringify(join(blocker, 'audit'))} }`));
    try {
      await g.waitHealthy(['mock']);
      const before = toolCalls(m);
      for (let i = 0; i < 3; i++) {
        const r = await modernCall(g.mcp, 'mock__echo', { text: 'x' });
        assert.equal(r.status, 503);
        assert.equal(r.retryAfter, '1');
        assert.equal(r.body.error?.code, -31216);
        assert.equal(r.body.error?.data?.portcullis, 'ERR_AUDIT_UNAVAILABLE');
      }
      assert.equal(toolCalls(m) - before, 0, 'no call reached the upstream');
      const ready = (await (await fetch(`${g.url}/readyz`)).json()) as { status: string; audit: { status: string; reason?: string } };
      assert.equal(ready.status, 'degraded');
      assert.equal(ready.audit.status, 'degraded');
    } finally {
      await g.close();
      await m.close();
    }
  });

  it('a key rotation on a log that cannot be written is refused with 503 and writes nothing', async () => {
    const m = await startMockHttp({ mode: 'modern' });
    const blocker = join(gw.dir, 'not-a-dir-either');
    writeFileSync(blocker, 'a regular file');
    const g = await startGateway(gatewayYaml([upstreamYaml('mock', 'streamable-http', m.url)], `auth: { apiKeys: { enabled: true } }\naudit: { dir: ${JSON.stringify(join(blocker, 'audit'))} }`));
    try {
      const admin = await issueApiKey(g, 'k-admin', 'acme', ['admin']);
      const r = await fetch(`${g.url}/admin/api/audit/rotate-key`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
      assert.equal(r.status, 503);
      const body = (await r.json()) as { error?: { data?: { portcullis?: string } } };
      assert.equal(body.error?.data?.portcullis, 'ERR_AUDIT_UNAVAILABLE');
      assert.ok(!existsSync(join(blocker, 'audit')), 'nothing was written');
    } finally {
      await g.close();
      await m.close();
    }
  });
});
