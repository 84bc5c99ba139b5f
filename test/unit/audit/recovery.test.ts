/**
 * Crash recovery of the audit log (security-checklist I2, docs/audit.md): a torn final line is
 * truncated and reported in `audit.recovery`; decisions without an outcome get
 * `tool.call.outcome_unknown`; seq continues contiguously across reopenings; a log shorter than
 * a checkpoint it signed raises an alarm and refuses side-effecting calls.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditService, type AuditHealth } from '../../../src/audit/service.js';
import { segmentName } from '../../../src/audit/segment.js';
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

/** What a child process saw when it opened the audit service on a directory (`hung`: killed after 15 s). */
type ChildOpen = { hung: true } | { hung: false; unavailable: string | null; health: AuditHealth; logs: { msg: string; log?: string; alarm?: string; err?: string }[] };

/**
 * Opens an AuditService on `dir` in a child process, as the gateway does at start. Recovery reads
 * synchronously, so a read that blocks (a FIFO) would also block this process's timers: the child
 * is the timeout guard.
 */
function openInChild(dir: string): ChildOpen {
  const src = (p: string): string => JSON.stringify(fileURLToPath(new URL(p, import.meta.url)));
  const code = `
    const { Writable } = await import('node:stream');
    const { AuditService } = await import(${src('../../../src/audit/service.ts')});
    const { createLogger } = await import(${src('../../../src/observability/logger.ts')});
    const { auditCfg } = await import(${src('./writer-helpers.ts')});
    const logs = [];
    const sink = new Writable({ write(c, _e, cb) { logs.push(JSON.parse(String(c))); cb(); } });
    const svc = new AuditService(auditCfg(process.env.PROBE_DIR), createLogger('info', sink, { envOverride: false }));
    svc.open();
    const out = { hung: false, unavailable: svc.unavailable('acme') ?? null, health: svc.health() };
    await svc.close();
    out.logs = logs.map((l) => ({ msg: l.msg, log: l.log, alarm: l.alarm, err: l.err }));
    process.stdout.write(JSON.stringify(out));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, PROBE_DIR: dir },
    encoding: 'utf8',
    timeout: 15_000,
    killSignal: 'SIGKILL',
  });
  if (r.signal === 'SIGKILL') return { hung: true };
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ChildOpen;
}

describe('audit recovery: a segment that is not a regular file', () => {
  for (const kind of ['FIFO', 'directory'] as const) {
    it(`a ${kind} named like the next segment: the open does not block, the log is alarmed naming it, calls refused`, async () => {
      const dir = newDir();
      const a = new AuditService(auditCfg(dir, { groupCommit: '1ms' }), silentLogger);
      a.open();
      await a.tenantLog('acme')!.append('tool.call.decision', { call: 'c' }, true);
      await a.close();
      const good = segOf(dir, 't-acme');
      const content = readFileSync(good, 'utf8');
      const bad = join(dir, 'logs', 't-acme', segmentName(segmentLines(dir, 't-acme').length));
      if (kind === 'FIFO') assert.equal(spawnSync('mkfifo', [bad]).status, 0, 'mkfifo');
      else mkdirSync(bad);

      const r = openInChild(dir);
      assert.equal(r.hung, false, `opening a log with a ${kind} segment hung`);
      if (r.hung) return;
      assert.match(r.unavailable ?? '', /not a regular file/, 'side-effecting calls refused, saying why');
      assert.ok(r.unavailable?.includes(bad), `names the file: ${r.unavailable}`);
      assert.equal(r.health.status, 'degraded');
      const alarm = r.logs.find((l) => l.msg === 'audit.alarm' && l.log === 't-acme');
      assert.ok(alarm?.alarm?.includes(bad) && /not a regular file/.test(alarm.alarm), `audit.alarm logged: ${JSON.stringify(r.logs)}`);
      assert.equal(readFileSync(good, 'utf8'), content, 'nothing appended to (or signed over) the alarmed log');
    });
  }
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
