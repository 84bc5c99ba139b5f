/**
 * Crash recovery of the audit log (security-checklist I2, docs/audit.md): a torn final line is
 * truncated and reported in `audit.recovery`; decisions without an outcome get
 * `tool.call.outcome_unknown`; seq continues contiguously across reopenings; a log shorter than
 * a checkpoint it signed raises an alarm and refuses side-effecting calls.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { AuditService } from '../../../src/audit/service.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { auditCfg, records, segmentLines, tempDir } from './writer-helpers.js';

const dirs: string[] = [];
const newDir = (): string => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function segOf(dir: string, logId: string): string {
  const d = join(dir, 'logs', logId);
  return join(d, readdirSync(d).filter((n) => n.startsWith('seg-')).sort().pop()!);
}

describe('audit recovery', () => {
  it('truncates a torn tail, records audit.recovery and outcome_unknown, continues seq', async () => {
    const dir = newDir();
    const a = new AuditService(auditCfg(dir, { groupCommit: '1ms' }), silentLogger);
    a.open();
    const w = a.tenantLog('acme')!;
    await w.append('tool.call.decision', { call: 'done' }, true);
    w.append('tool.call.result', { call: 'done' }, false);
    await w.append('tool.call.decision', { call: 'crashed' }, true);
    await a.drain();
    // Simulated crash: no close (no final checkpoint); a half-written record at the end.
    const before = segmentLines(dir, 't-acme').length;
    const torn = '{"v":1,"log":"portcullis/acme","seq":';
    appendFileSync(segOf(dir, 't-acme'), torn);

    const b = new AuditService(auditCfg(dir, { groupCommit: '1ms' }), silentLogger);
    b.open();
    await b.drain();
    const recs = records(dir, 't-acme');
    recs.forEach((r, i) => assert.equal(r.seq, i, 'seq is contiguous across the restart'));
    const rec = recs.find((r) => r.type === 'audit.recovery');
    assert.ok(rec, 'audit.recovery written');
    assert.equal(rec.bytes_truncated, Buffer.byteLength(torn));
    assert.equal(rec.last_good_seq, before - 1);
    const unknown = recs.filter((r) => r.type === 'tool.call.outcome_unknown');
    assert.deepEqual(unknown.map((r) => r.call), ['crashed'], 'only the decision without an outcome');
    assert.equal(b.unavailable('acme'), undefined);
    await b.close();

    // A clean reopen: another audit.recovery (nothing truncated), no new outcome_unknown.
    const c = new AuditService(auditCfg(dir), silentLogger);
    c.open();
    await c.drain();
    await c.close();
    const again = records(dir, 't-acme');
    again.forEach((r, i) => assert.equal(r.seq, i));
    assert.equal(again.filter((r) => r.type === 'tool.call.outcome_unknown').length, 1);
    assert.equal(again.filter((r) => r.type === 'audit.recovery').pop()?.bytes_truncated, 0);
  });

  it('a log shorter than a checkpoint it signed is truncation: alarm, side-effecting calls refused', async () => {
    const dir = newDir();
    const a = new AuditService(auditCfg(dir, { groupCommit: '1ms', checkpointRecords: 10 }), silentLogger);
    a.open();
    const w = a.tenantLog('acme')!;
    for (let i = 0; i < 25; i++) await w.append('tool.call.decision', { call: `c${i}` }, true);
    await a.close();
    // Cut the log to 5 records, below the signed checkpoints.
    const seg = segOf(dir, 't-acme');
    const lines = readFileSync(seg, 'utf8').split('\n').slice(0, 5);
    truncateSync(seg, Buffer.byteLength(lines.join('\n') + '\n'));

    const b = new AuditService(auditCfg(dir), silentLogger);
    b.open();
    assert.match(b.unavailable('acme') ?? '', /truncated/);
    assert.equal(b.health().status, 'degraded');
    await assert.rejects(b.tenantLog('acme')!.append('tool.call.decision', { call: 'x' }, true));
    await b.close();
    assert.equal(segmentLines(dir, 't-acme').length, 5, 'nothing is appended to (or signed over) a truncated log');
    // Another tenant is unaffected.
    const c = new AuditService(auditCfg(dir), silentLogger);
    c.open();
    assert.equal(c.unavailable('beta'), undefined);
    await c.close();
  });

  it('an audit dir that cannot be created: degraded, side-effecting calls refused, recovers when it can', async () => {
    const dir = newDir();
    const file = join(dir, 'a-file');
    appendFileSync(file, 'not a directory');
    const svc = new AuditService(auditCfg(join(file, 'audit')), silentLogger);
    svc.open();
    assert.equal(svc.health().status, 'degraded');
    assert.ok(svc.unavailable('acme'));
    await svc.close();
  });
});

describe('one writer per audit directory', () => {
  it('a directory locked by another live process is refused; a dead owner\'s lock is taken over', async () => {
    const dir = newDir();
    const { mkdirSync: mk, writeFileSync: wf } = await import('node:fs');
    mk(dir, { recursive: true });
    // pid 1 is always alive (and never this test).
    wf(join(dir, 'writer.lock'), '1');
    const busy = new AuditService(auditCfg(dir), silentLogger);
    busy.open();
    assert.match(busy.unavailable('acme') ?? '', /ELOCKED|in use/);
    assert.equal(busy.health().status, 'degraded');
    await busy.close();
    // A crashed owner: a pid that does not exist.
    wf(join(dir, 'writer.lock'), '2147483646');
    const svc = new AuditService(auditCfg(dir), silentLogger);
    svc.open();
    assert.equal(svc.unavailable('acme'), undefined);
    assert.equal(readFileSync(join(dir, 'writer.lock'), 'utf8'), String(process.pid));
    await svc.close();
  });
});
