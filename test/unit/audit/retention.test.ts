// Retention (docs/audit.md "Retention"): only old, sealed, signed, delivered segments go, as a
// prefix; `retention.json` lets `audit verify` check the remainder.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditConfig, compileAudit } from '../../../src/audit/config.js';
import { LogWriter } from '../../../src/audit/writer.js';
import { nodeIo } from '../../../src/audit/segment.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { applyRetention, readRetentionState, AuditRetentionConfig, compileRetention, scheduleRetention } from '../../../src/audit/retention.js';
import { readRecords } from '../../../src/audit/export/segments.js';
import { writeCursor } from '../../../src/audit/sinks/cursor.js';
import { verifyLog } from '../../../src/audit/verify.js';
import { parseVerifierKey } from '../../../src/audit/checkpoint.js';
import { exportLog } from '../../../src/audit/export/export.js';

const DAY = 86_400_000;

function segs(logDir: string): string[] {
  return readdirSync(logDir).filter((n) => n.startsWith('seg-')).sort();
}

async function lastTs(logDir: string, name: string): Promise<number> {
  const lines = readFileSync(join(logDir, name), 'utf8').split('\n').filter(Boolean);
  return Math.max(...lines.map((l) => Date.parse((JSON.parse(l) as { ts: string }).ts)));
}

describe('audit retention', () => {
  let dir: string;
  let logDir: string;
  let w: LogWriter;
  let cutoff = 0;
  let leftover = { name: '', bytes: Buffer.alloc(0) };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-retention-'));
    const cfg = compileAudit(AuditConfig.parse({ checkpointInterval: '1h', groupCommit: '1ms', segmentBytes: '1kb' }), dir, dir);
    w = LogWriter.open({ auditDir: dir, logId: 't-acme', origin: 'test/acme', cfg, io: nodeIo, log: silentLogger, witnesses: [], onDurable: () => {} });
    logDir = join(dir, 'logs', 't-acme');
    // "Old" records …
    for (let i = 0; i < 30; i++) await w.append('authn.failure', { actor: { sub: `old${i}` }, reason: 'bad token' }, true);
    await new Promise((r) => setTimeout(r, 30));
    cutoff = Date.now();
    await new Promise((r) => setTimeout(r, 30));
    // … then "young" ones.
    for (let i = 0; i < 30; i++) await w.append('authn.failure', { actor: { sub: `young${i}` }, reason: 'bad token' }, true);
    await w.drain();
    assert.ok(segs(logDir).length >= 6);
  });
  after(async () => {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('config: retention period per tenant, off by default', () => {
    const c = compileRetention(AuditRetentionConfig.parse({ maxAge: '90d', tenants: { acme: '7d' } }));
    assert.equal(c.maxAgeMs, 90 * DAY);
    assert.equal(c.forTenant('acme'), 7 * DAY);
    assert.equal(c.forTenant('other'), 90 * DAY);
    assert.equal(compileRetention(AuditRetentionConfig.parse({})).forTenant('x'), undefined);
  });

  it('keeps everything that no checkpoint covers', async () => {
    const r = await applyRetention(logDir, { maxAge: DAY, now: cutoff + DAY });
    assert.deepEqual(r.deleted, []);
    assert.equal(existsSync(join(logDir, 'retention.json')), false);
  });

  it('keeps segments a sink has not delivered', async () => {
    w.checkpoint();
    await w.drain();
    const before = segs(logDir);
    const r = await applyRetention(logDir, { maxAge: DAY, now: cutoff + DAY, sinks: ['siem'] });
    assert.deepEqual(r.deleted, []);
    assert.deepEqual(segs(logDir), before);
  });

  it('deletes old sealed signed delivered segments as a prefix; young ones and the current one stay; verify passes on the rest', async () => {
    await writeCursor(logDir, 'siem', { seq: w.nextSeq, segment: 0, offset: 0 });
    const before = segs(logDir);
    const copies = new Map(before.map((n) => [n, readFileSync(join(logDir, n))]));
    const r = await applyRetention(logDir, { maxAge: DAY, now: cutoff + DAY, sinks: ['siem'] });
    assert.ok(r.deleted.length > 0);
    const after = segs(logDir);
    assert.deepEqual(after, before.slice(r.deleted.length), 'a prefix went');
    leftover = { name: r.deleted.at(-1)!.segment, bytes: copies.get(r.deleted.at(-1)!.segment)! };
    assert.equal(after.at(-1), before.at(-1), 'the current segment stays');
    for (const d of r.deleted) assert.ok(before.includes(d.segment));
    // Everything kept is either current or holds a record at/after the cutoff … except that a
    // segment can stay only because an earlier one had to: the first kept one is young.
    assert.ok((await lastTs(logDir, after[0]!)) >= cutoff);
    const firstKept = Number(after[0]!.slice(4, 24));
    assert.equal(r.first_seq, firstKept);
    for await (const rec of readRecords(logDir, { toSeq: firstKept - 1 })) assert.fail(`record ${rec.seq} should be gone`);
    const state = await readRetentionState(logDir);
    assert.equal(state?.first_seq, firstKept);
    assert.ok(r.checkpoint_size >= firstKept);
    const key = parseVerifierKey(readFileSync(join(dir, 'keys', 't-acme.pub'), 'utf8').trim());
    const rep = verifyLog({ logDir, keys: [key] });
    assert.equal(rep.failure, undefined, JSON.stringify(rep.failure));
    assert.ok(rep.ok);
    assert.equal(rep.firstSeq, firstKept);
    // Export still works on the remainder.
    const lines: string[] = [];
    await exportLog({ logDir, format: 'jsonl', range: {}, productVersion: '1', write: (l) => void lines.push(l) });
    assert.equal((JSON.parse(lines[0]!) as { seq: number }).seq, firstKept);
  });

  it('segments left behind by a pass that crashed after writing retention.json are removed by the next pass', async () => {
    // Unlinks go oldest first, so a crash leaves the newest of the doomed segments behind.
    const state = (await readRetentionState(logDir))!;
    writeFileSync(join(logDir, leftover.name), leftover.bytes);
    // Even with a longer period now: the segment is already below the cut.
    const r = await applyRetention(logDir, { maxAge: 300 * DAY, now: cutoff + DAY, sinks: ['siem'] });
    assert.deepEqual(r.deleted.map((d) => d.segment), [leftover.name]);
    assert.equal(existsSync(join(logDir, leftover.name)), false);
    const after = (await readRetentionState(logDir))!;
    assert.equal(after.first_seq, state.first_seq);
    assert.equal(after.deleted.length, state.deleted.length);
    const key = parseVerifierKey(readFileSync(join(dir, 'keys', 't-acme.pub'), 'utf8').trim());
    assert.equal(verifyLog({ logDir, keys: [key] }).failure, undefined);
  });

  it('a second pass continues the frontier; nothing younger than the period ever goes', async () => {
    // With a longer period nothing more may go.
    const none = await applyRetention(logDir, { maxAge: 30 * DAY, now: cutoff + DAY, sinks: ['siem'] });
    assert.deepEqual(none.deleted, []);
    // Later, everything sealed is old: all but the current segment go, after a checkpoint covers them.
    w.checkpoint();
    await w.drain();
    await writeCursor(logDir, 'siem', { seq: w.nextSeq, segment: 0, offset: 0 });
    const before = segs(logDir);
    const r = await applyRetention(logDir, { maxAge: DAY, now: Date.now() + 2 * DAY, sinks: ['siem'] });
    assert.equal(segs(logDir).length, 1);
    assert.equal(segs(logDir)[0], before.at(-1));
    assert.ok(r.deleted.length === before.length - 1);
    const key = parseVerifierKey(readFileSync(join(dir, 'keys', 't-acme.pub'), 'utf8').trim());
    const rep = verifyLog({ logDir, keys: [key] });
    assert.equal(rep.failure, undefined, JSON.stringify(rep.failure));
    const state = (await readRetentionState(logDir))!;
    let next = 0;
    for (const d of state.deleted) {
      assert.equal(d.first_seq, next, 'deletions are contiguous from seq 0');
      next = d.last_seq + 1;
    }
    assert.equal(next, state.first_seq);
  });

  it('a log cut by retention reopens where it was (no alarm), even with a crashed pass\'s leftover, and keeps a verifiable chain', async () => {
    const cfg = compileAudit(AuditConfig.parse({ checkpointInterval: '1h', groupCommit: '1ms', segmentBytes: '1kb' }), dir, dir);
    const state = (await readRetentionState(logDir))!;
    const size = w.nextSeq;
    await w.close();
    // A leftover of a pass that crashed before its unlink: below the cut, ignored on open.
    writeFileSync(join(logDir, leftover.name), leftover.bytes);
    const errors: string[] = [];
    const log = { ...silentLogger, error: (o: unknown, m?: string) => void errors.push(`${m ?? ''} ${JSON.stringify(o)}`) } as unknown as typeof silentLogger;
    w = LogWriter.open({ auditDir: dir, logId: 't-acme', origin: 'test/acme', cfg, io: nodeIo, log, witnesses: [], onDurable: () => {} });
    assert.deepEqual(errors, [], 'no audit.alarm');
    assert.equal(w.unavailable(), undefined, 'side-effecting calls are served');
    assert.ok(state.first_seq > 0);
    assert.equal(w.nextSeq, size + 1, 'the next seq follows on (after its audit.recovery record)');
    await w.append('authn.failure', { actor: { sub: 'after-reopen' } }, true);
    w.checkpoint();
    await w.drain();
    // The next pass removes the leftover (verify would name it); the chain goes on across the reopen.
    assert.deepEqual((await applyRetention(logDir, { maxAge: 300 * DAY, now: cutoff + DAY, sinks: [] })).deleted.map((d) => d.segment), [leftover.name]);
    const key = parseVerifierKey(readFileSync(join(dir, 'keys', 't-acme.pub'), 'utf8').trim());
    const rep = verifyLog({ logDir, keys: [key] });
    assert.equal(rep.failure, undefined, JSON.stringify(rep.failure));
  });

  it('scheduleRetention runs a pass per log with its own period and reports deletions', async () => {
    const d = mkdtempSync(join(tmpdir(), 'pc-retention-sched-'));
    try {
      const cfg = compileAudit(AuditConfig.parse({ checkpointInterval: '1h', groupCommit: '1ms', segmentBytes: '1kb' }), d, d);
      const logs = ['t-keep', 't-short'].map((id) => LogWriter.open({ auditDir: d, logId: id, origin: `s/${id}`, cfg, io: nodeIo, log: silentLogger, witnesses: [], onDurable: () => {} }));
      for (const lw of logs) {
        for (let i = 0; i < 20; i++) await lw.append('authn.failure', { actor: { sub: `u${i}` } }, true);
        lw.checkpoint();
        await lw.drain();
      }
      await new Promise((r) => setTimeout(r, 20));
      const deleted: string[] = [];
      const s = scheduleRetention({
        auditDir: d,
        retention: compileRetention(AuditRetentionConfig.parse({ maxAge: '400d', tenants: { short: '1ms' } })),
        tenants: ['short'],
        sinksFor: () => [],
        onDeleted: (id, r) => deleted.push(`${id}:${r.deleted.length > 0}`),
      });
      await s.runOnce();
      await s.stop();
      assert.deepEqual(deleted, ['t-short:true']);
      assert.equal(readdirSync(join(d, 'logs', 't-short')).filter((n) => n.startsWith('seg-')).length, 1);
      assert.ok(readdirSync(join(d, 'logs', 't-keep')).filter((n) => n.startsWith('seg-')).length > 1);
      for (const lw of logs) await lw.close();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('refuses a non-positive period', async () => {
    await assert.rejects(applyRetention(logDir, { maxAge: 0 }), RangeError);
  });
});
