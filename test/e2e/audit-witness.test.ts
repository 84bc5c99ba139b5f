/**
 * One gateway as another's checkpoint witness (docs/audit.md "A gateway as witness"): gateway A
 * publishes its checkpoints with an `http` witness to gateway B's POST /audit/witness; B keeps
 * the newest, refuses smaller, forked, unsigned and inconsistent ones, and a restarted A (which
 * forgot what B acknowledged) catches up through the size B names in its 409. A's log verifies
 * offline against B's copy.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { loadOrCreateSigner } from '../../src/audit/keys.js';
import { parseCheckpoint, parseVerifierKey, signCheckpoint, verifierKey } from '../../src/audit/checkpoint.js';
import { verifyLog } from '../../src/audit/verify.js';
import { witnessFileId } from '../../src/audit/witness-service.js';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

const ORIGIN = 'gw-a/system';
/** A gateway without upstreams: only its audit section matters here. */
const gatewayYaml = (more = ''): string => ['gateway: { storage: memory }', 'log: { level: silent }', 'upstreams: []', more].join('\n');
let root = '';
let auditA = '';
let pubA = '';
let b: TestGateway;
let a: TestGateway | undefined;

const heldNote = (): string => join(b.dir, '.portcullis', 'witness', `${witnessFileId(ORIGIN)}.note`);
const heldSize = (): number => (existsSync(heldNote()) ? parseCheckpoint(readFileSync(heldNote(), 'utf8')).size : 0);

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const yamlA = (n: number): string =>
  gatewayYaml([`# revision ${n}`, 'audit:', `  dir: ${JSON.stringify(auditA)}`, '  origin: gw-a', '  checkpointInterval: 20ms', '  witnesses:', `    - { kind: http, name: gw-b, url: "${b.url}/audit/witness", timeout: 2s }`].join('\n'));

async function post(body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; body: { error?: { data?: { portcullis?: string; size?: number }; message?: string }; size?: number } }> {
  const r = await fetch(`${b.url}/audit/witness`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as never };
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'portcullis-witness-'));
  auditA = join(root, 'audit-a');
  // A's system-log key exists before either gateway starts, so B can be told to trust it.
  pubA = verifierKey(ORIGIN, loadOrCreateSigner(auditA, 'system', ORIGIN).publicKey);
  b = await startGateway(gatewayYaml(['audit:', '  witnessService:', '    enabled: true', `    trustedKeys: [${JSON.stringify(pubA)}]`].join('\n')));
});
after(async () => {
  await a?.close();
  await b?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('a gateway as witness', () => {
  it("witnesses A's checkpoints as its log grows, and A's log verifies against B's copy", async () => {
    a = await startGateway(yamlA(0));
    a.reload(yamlA(1)); // config.changed in A's system log
    await until('a first witnessed checkpoint', () => heldSize() > 0);
    const first = heldSize();
    a.reload(yamlA(2));
    a.reload(yamlA(3));
    await until('a larger witnessed checkpoint (consistency proof)', () => heldSize() > first);
    await a.close();
    a = undefined;
    const report = verifyLog({ logDir: join(auditA, 'logs', 'system'), keys: [parseVerifierKey(pubA)], external: [{ source: 'gateway B', text: readFileSync(heldNote()) }] });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.ok(report.size >= heldSize());
  });

  it('catches up after A restarts and no longer knows what B acknowledged (409 names the size held)', async () => {
    const before = heldSize();
    assert.ok(before > 0);
    a = await startGateway(yamlA(4));
    a.reload(yamlA(5));
    await until('B to move past the size it held before the restart', () => heldSize() > before);
    await a.close();
    a = undefined;
  });

  it('refuses smaller, forked, untrusted and malformed submissions and keeps what it holds', async () => {
    const held = readFileSync(heldNote(), 'utf8');
    const cp = parseCheckpoint(held);
    const signer = loadOrCreateSigner(auditA, 'system', ORIGIN);

    const smaller = signCheckpoint({ origin: ORIGIN, size: cp.size - 1, root: randomBytes(32) }, [signer]);
    const r1 = await post({ log: 'system', checkpoint: smaller, from: cp.size, proof: [] });
    assert.equal(r1.status, 409);
    assert.equal(r1.body.error?.data?.portcullis, 'ERR_WITNESS_REFUSED');
    assert.equal(r1.body.error?.data?.size, cp.size);

    const fork = signCheckpoint({ origin: ORIGIN, size: cp.size, root: randomBytes(32) }, [signer]);
    const r2 = await post({ checkpoint: fork, from: cp.size, proof: [] });
    assert.equal(r2.status, 409);
    assert.match(r2.body.error?.message ?? '', /fork/);

    const larger = signCheckpoint({ origin: ORIGIN, size: cp.size + 5, root: randomBytes(32) }, [signer]);
    const r3 = await post({ checkpoint: larger, from: cp.size, proof: [randomBytes(32).toString('base64')] });
    assert.equal(r3.status, 409, 'a proof that does not connect the two roots');
    assert.match(r3.body.error?.message ?? '', /inconsistent/);

    const stranger = { name: ORIGIN, ...generateKeyPairSync('ed25519') };
    const r4 = await post({ checkpoint: signCheckpoint({ origin: ORIGIN, size: cp.size + 5, root: randomBytes(32) }, [stranger]), from: cp.size, proof: [] });
    assert.equal(r4.status, 403);
    assert.equal(r4.body.error?.data?.portcullis, 'ERR_WITNESS_UNTRUSTED');
    const other = signCheckpoint({ origin: 'gw-z/system', size: 3, root: randomBytes(32) }, [{ name: 'gw-z/system', ...generateKeyPairSync('ed25519') }]);
    assert.equal((await post({ checkpoint: other, from: 0, proof: [] })).status, 403, 'a log nobody configured');

    for (const bad of ['{', { checkpoint: held }, { checkpoint: held, from: -1, proof: [] }, { checkpoint: held, from: 0, proof: ['x'] }, { checkpoint: 'no checkpoint', from: 0, proof: [] }, { checkpoint: held, from: 0, proof: [], extra: 1 }]) {
      const r = await post(bad);
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.equal(r.body.error?.data?.portcullis, 'ERR_BAD_INPUT');
    }
    assert.equal((await post({ checkpoint: held, from: cp.size, proof: [] }, { 'content-type': 'text/plain' })).status, 415);
    const big = await fetch(`${b.url}/audit/witness`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ checkpoint: 'x'.repeat(70_000), from: 0, proof: [] }) });
    assert.equal(big.status, 413);
    await big.body?.cancel();

    const same = await post({ checkpoint: held, from: cp.size, proof: [] });
    assert.deepEqual([same.status, same.body.size], [200, cp.size], 'the checkpoint it holds is accepted again (idempotent)');
    assert.equal(readFileSync(heldNote(), 'utf8'), held, 'refusals changed nothing');
  });

  it('is off unless configured, and needs credentials where the gateway requires them', async () => {
    const c = await startGateway(gatewayYaml());
    try {
      const r = await fetch(`${c.url}/audit/witness`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(r.status, 404);
      await r.body?.cancel();
    } finally {
      await c.close();
    }
    const d = await startGateway(gatewayYaml(['auth: { apiKeys: { enabled: true } }', 'audit:', '  witnessService:', '    enabled: true', `    trustedKeys: [${JSON.stringify(pubA)}]`].join('\n')));
    try {
      const held = readFileSync(heldNote(), 'utf8');
      const r = await fetch(`${d.url}/audit/witness`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ checkpoint: held, from: 0, proof: [] }) });
      assert.equal(r.status, 401);
      await r.body?.cancel();
      assert.equal(existsSync(join(d.dir, '.portcullis', 'witness')), false, 'nothing was written');
    } finally {
      await d.close();
    }
  });
});
