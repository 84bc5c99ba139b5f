/**
 * `portcullis audit rotate-key` end to end (the CLI as a child process): it rotates a tenant's or
 * the system log's signing key while no gateway holds the audit directory, the log then verifies
 * from the new key alone, and it refuses while the directory is held, for an unknown tenant and
 * on bad usage (exit 2).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditService } from '../../src/audit/service.js';
import { silentLogger } from '../../src/observability/logger.js';
import { auditCfg, records } from '../unit/audit/writer-helpers.js';
import { runCli } from '../helpers/cli.js';

let dir = '';
let auditDir = '';
let cfgFile = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-rotate-cli-'));
  auditDir = join(dir, 'audit');
  cfgFile = join(dir, 'gw.yaml');
  writeFileSync(cfgFile, `upstreams: []\naudit:\n  dir: ${JSON.stringify(auditDir)}\n`);
  const svc = new AuditService(auditCfg(auditDir), silentLogger);
  svc.open();
  for (let i = 0; i < 5; i++) svc.appendTenant('acme', 'policy.changed', { source: 'store', tenant: 'acme', n: i }, false);
  await svc.close();
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('portcullis audit rotate-key', () => {
  it("rotates a tenant's key; the log records it and verifies from the new key alone", async () => {
    const oldPub = readFileSync(join(auditDir, 'keys', 't-acme.pub'), 'utf8').trim();
    const r = await runCli(['audit', 'rotate-key', '--config', cfgFile, '--tenant', 'acme']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const out = JSON.parse(r.stdout) as { log: string; oldKey: string; newKey: string };
    assert.deepEqual([out.log, out.oldKey], ['t-acme', oldPub]);
    assert.equal(readFileSync(join(auditDir, 'keys', 't-acme.pub'), 'utf8').trim(), out.newKey);
    const rotated = records(auditDir, 't-acme').find((x) => x.type === 'audit.key_rotated');
    assert.deepEqual([rotated?.old_key, rotated?.new_key], [out.oldKey, out.newKey]);
    assert.ok(records(auditDir, 'system').some((x) => x.type === 'admin.audit.key_rotated' && (x.target as { log?: string }).log === 't-acme'));
    const v = await runCli(['audit', 'verify', '--log', join(auditDir, 'logs', 't-acme'), '--key', out.newKey]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    // The checkpoint written on close is signed by both keys (the one that covers the rotation record).
    const cpDir = join(auditDir, 'logs', 't-acme', 'checkpoints');
    const signatures = readdirSync(cpDir).map((n) => readFileSync(join(cpDir, n), 'utf8').split('\n').filter((l) => l.startsWith('— ')).length);
    assert.ok(signatures.includes(2), `a dual-signed checkpoint: ${signatures.join(',')}`);
  });

  it('rotates the system log', async () => {
    const r = await runCli(['audit', 'rotate-key', '--config', cfgFile, '--system']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { log: string; newKey: string };
    assert.equal(out.log, 'system');
    const v = await runCli(['audit', 'verify', '--log', join(auditDir, 'logs', 'system'), '--key', out.newKey]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  it('refuses while a gateway holds the audit directory, for a tenant without a log, and on bad usage', async () => {
    const live = new AuditService(auditCfg(auditDir), silentLogger);
    live.open();
    try {
      const r = await runCli(['audit', 'rotate-key', '--config', cfgFile, '--tenant', 'acme']);
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stderr, /ELOCKED.*stop it, or use POST \/admin\/api\/audit\/rotate-key/);
    } finally {
      await live.close();
    }
    const none = await runCli(['audit', 'rotate-key', '--config', cfgFile, '--tenant', 'nobody']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no audit log for tenant nobody/);
    for (const args of [['--tenant', 'acme', '--system'], []]) {
      const u = await runCli(['audit', 'rotate-key', '--config', cfgFile, ...args]);
      assert.equal(u.code, 2, u.stdout);
      assert.match(u.stderr, /give --tenant ID or --system/);
    }
    // Commander's own usage errors exit 2 as well (they exited 1).
    for (const [args, re] of [
      [['--tenant', 'acme'], /required option '--config <file>' not specified/],
      [['--config', cfgFile, '--tenant', 'acme', '--bogus'], /unknown option '--bogus'/],
      [['--config'], /argument missing/],
    ] as [string[], RegExp][]) {
      const u = await runCli(['audit', 'rotate-key', ...args]);
      assert.equal(u.code, 2, `${args.join(' ')}: ${u.stdout}${u.stderr}`);
      assert.match(u.stderr, re);
    }
  });
});
