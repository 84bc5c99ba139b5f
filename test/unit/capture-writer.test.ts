/**
 * The capture writer (docs/audit.md "Payload capture"): per tenant and endpoint directories
 * (0700) of UTC-dated JSON-line files (0600), batched appends, the size bound (rotation, oldest
 * files deleted), the age bound, a full queue that drops and counts (logged once per interval,
 * never a payload), and disk errors that are counted, never thrown, and healed from.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/observability/logger.js';
import { CaptureWriter, type CaptureLine } from '../../src/audit/capture/writer.js';
import { nodeCaptureIo, type CaptureIo } from '../../src/audit/capture/io.js';
import { CaptureService } from '../../src/audit/capture/service.js';
import type { CaptureJob } from '../../src/audit/capture/record.js';

const dirs: string[] = [];
const newRoot = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'portcullis-capture-'));
  dirs.push(d);
  return join(d, 'capture');
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const DAY = Date.parse('2026-11-24T10:00:00Z');
const line = (tenantDir: string, endpoint: string, n: number, pad = 0, maxBytes = 1024 * 1024, maxAgeMs = 0): CaptureLine => ({
  tenantDir,
  endpoint,
  ts: DAY,
  line: `${JSON.stringify({ n, pad: 'x'.repeat(pad) })}\n`,
  limits: { maxBytes, maxAgeMs },
});

function logSink(): { lines: Record<string, unknown>[]; text: () => string; log: ReturnType<typeof createLogger> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c.toString());
      cb();
    },
  });
  const log = createLogger('trace', stream, { envOverride: false });
  return {
    log,
    text: () => chunks.join(''),
    get lines() {
      return chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
}

const fileSizes = (dir: string): number => readdirSync(dir).reduce((s, n) => s + statSync(join(dir, n)).size, 0);

describe('capture writer', () => {
  it('writes valid JSON lines per tenant and endpoint, in UTC-dated files, dirs 0700 and files 0600', async () => {
    const root = newRoot();
    const w = new CaptureWriter(root, createLogger('silent'), { sweepMs: 0, now: () => DAY });
    for (let i = 0; i < 5; i++) assert.equal(w.enqueue(line('t-acme', 'cap', i)), true);
    assert.equal(w.enqueue(line('t-beta', 'cap', 9)), true);
    await w.flush();
    const acme = join(root, 't-acme', 'cap');
    assert.deepEqual(readdirSync(acme), ['2026-11-24.jsonl']);
    const rows = readFileSync(join(acme, '2026-11-24.jsonl'), 'utf8').split('\n');
    assert.equal(rows.pop(), '', 'the file ends with a newline');
    assert.deepEqual(rows.map((r) => (JSON.parse(r) as { n: number }).n), [0, 1, 2, 3, 4]);
    assert.deepEqual(readFileSync(join(root, 't-beta', 'cap', '2026-11-24.jsonl'), 'utf8'), `${JSON.stringify({ n: 9, pad: '' })}\n`);
    for (const d of [root, join(root, 't-acme'), acme]) assert.equal(statSync(d).mode & 0o777, 0o700, d);
    assert.equal(statSync(join(acme, '2026-11-24.jsonl')).mode & 0o777, 0o600);
    assert.deepEqual({ ...w.stats(), bytes: 0 }, { written: 6, bytes: 0, dropped: 0, failed: 0, deleted: 0, queued: 0 });
    await w.close();
  });

  it('size bound: files rotate at a quarter of maxBytes and the oldest are deleted', async () => {
    const root = newRoot();
    const w = new CaptureWriter(root, createLogger('silent'), { sweepMs: 0, now: () => DAY });
    const maxBytes = 4096;
    for (let i = 0; i < 60; i++) {
      w.enqueue(line('t-acme', 'small', i, 200, maxBytes));
      if (i % 5 === 4) await w.flush(); // several batches, as a live gateway would write them
    }
    await w.flush();
    const dir = join(root, 't-acme', 'small');
    const names = readdirSync(dir).sort((a, b) => (a.length - b.length) || a.localeCompare(b));
    assert.ok(!names.includes('2026-11-24.jsonl'), `the oldest file was deleted: ${names.join(',')}`);
    assert.ok(names.length >= 2, 'rotated');
    assert.ok(fileSizes(dir) <= maxBytes, `total ${fileSizes(dir)} ≤ ${maxBytes}`);
    // What is left is the newest lines, in order, every one valid JSON.
    const ns: number[] = [];
    for (const n of names) for (const l of readFileSync(join(dir, n), 'utf8').split('\n').filter(Boolean)) ns.push((JSON.parse(l) as { n: number }).n);
    assert.equal(ns[ns.length - 1], 59);
    assert.deepEqual(ns, [...ns].sort((a, b) => a - b));
    assert.ok(w.stats().deleted > 0);
    await w.close();
  });

  it('age bound: a sweep deletes files last written before maxAge, and leaves other files alone', async () => {
    const root = newRoot();
    let now = DAY;
    const limits = { maxBytes: 1024 * 1024, maxAgeMs: 3_600_000 };
    const w = new CaptureWriter(root, createLogger('silent'), { sweepMs: 0, now: () => now, limitsOf: (ep) => (ep === 'aged' ? limits : undefined), orphanMaxAgeMs: 86_400_000 });
    w.enqueue({ ...line('t-acme', 'aged', 1), limits });
    w.enqueue({ ...line('t-acme', 'gone', 1), limits });
    await w.flush();
    const aged = join(root, 't-acme', 'aged');
    const gone = join(root, 't-acme', 'gone');
    writeFileSync(join(aged, 'notes.txt'), 'not a capture file');
    const t = (DAY - 2 * 3_600_000) / 1000;
    utimesSync(join(aged, '2026-11-24.jsonl'), t, t);
    utimesSync(join(gone, '2026-11-24.jsonl'), t, t);
    await w.sweep();
    assert.deepEqual(readdirSync(aged), ['notes.txt'], 'past maxAge: deleted; foreign files kept');
    assert.deepEqual(readdirSync(gone), ['2026-11-24.jsonl'], 'an endpoint no longer configured keeps the orphan age (1 day here)');
    now = DAY + 2 * 86_400_000;
    await w.sweep();
    assert.deepEqual(readdirSync(gone), []);
    // Writing again after the sweep starts a fresh file.
    w.enqueue({ ...line('t-acme', 'aged', 2), ts: now, limits });
    await w.flush();
    assert.deepEqual(readdirSync(aged).sort(), ['2026-11-26.jsonl', 'notes.txt']);
    await w.close();
  });

  it('a full queue drops and counts lines, logged once per interval with counts only', async () => {
    const root = newRoot();
    const sink = logSink();
    const w = new CaptureWriter(root, sink.log, { sweepMs: 0, maxQueueLines: 3, flushMs: 60_000, reportMs: 60_000 });
    const secret = 'payload-must-not-be-logged';
    let accepted = 0;
    for (let i = 0; i < 10; i++) if (w.enqueue({ ...line('t-acme', 'q', i), line: `{"s":"${secret}"}\n` })) accepted += 1;
    assert.equal(accepted, 3);
    assert.equal(w.stats().dropped, 7);
    const reports = sink.lines.filter((l) => l.msg === 'capture.dropped');
    assert.equal(reports.length, 1, 'one report per interval');
    assert.equal(reports[0]?.dropped, 1, 'the first drop is reported at once; the rest wait for the next interval');
    await w.close(); // close reports what is left
    const after = sink.lines.filter((l) => l.msg === 'capture.dropped');
    assert.equal(after.length, 2);
    assert.equal(after[1]?.dropped, 6);
    assert.ok(!sink.text().includes(secret));
    assert.equal(w.enqueue(line('t-acme', 'q', 99)), false, 'closed: dropped');
    assert.equal(readFileSync(join(root, 't-acme', 'q', '2026-11-24.jsonl'), 'utf8').split('\n').filter(Boolean).length, 3, 'close wrote the accepted lines');
  });

  it('a disk error is counted and logged (code only), never thrown; the next batch writes again', async () => {
    const root = newRoot();
    const sink = logSink();
    let failing = true;
    const io: CaptureIo = {
      ...nodeCaptureIo,
      append: async (p, d) => {
        if (failing) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
        return nodeCaptureIo.append(p, d);
      },
    };
    const w = new CaptureWriter(root, sink.log, { sweepMs: 0, io, reportMs: 0, now: () => DAY });
    w.enqueue({ ...line('t-acme', 'disk', 1), line: '{"s":"secret-in-payload"}\n' });
    await w.flush();
    assert.equal(w.stats().failed, 1);
    const fail = sink.lines.find((l) => l.msg === 'capture.write_failed');
    assert.equal(fail?.code, 'EIO');
    assert.ok(!sink.text().includes('secret-in-payload'));
    failing = false;
    w.enqueue(line('t-acme', 'disk', 2));
    await w.flush();
    assert.equal(w.stats().written, 1);
    assert.equal(readFileSync(join(root, 't-acme', 'disk', '2026-11-24.jsonl'), 'utf8'), `${JSON.stringify({ n: 2, pad: '' })}\n`);
    // A path that cannot be a directory: the same, counted and not thrown.
    writeFileSync(join(root, 't-acme', 'blocked'), 'a file where a directory should be');
    w.enqueue(line('t-acme', 'blocked', 3));
    await w.flush();
    assert.equal(w.stats().failed, 2);
    assert.ok(!existsSync(join(root, 't-acme', 'blocked', '2026-11-24.jsonl')));
    await w.close();
  });

  it('the service redacts after the call, drains on close, and drops (counted) once closed or past its pending bound', async () => {
    const root = newRoot();
    const auditDir = join(root, '..');
    const svc = new CaptureService(auditDir, createLogger('silent'), { sweepMs: 0, maxPendingJobs: 2 });
    const cfg = { maxPayloadBytes: 4096, maxBytes: 1024 * 1024, maxAgeMs: 0 };
    const job = (text: string): CaptureJob => ({
      ts: DAY,
      call: text,
      trace: undefined,
      tenant: 'acme',
      subject: 'alice',
      endpoint: 'svc',
      method: 'tools/call',
      name: 'up__echo',
      upstream: 'up',
      inputKind: 'arguments',
      input: { text: `${text} a.b@example.com` },
      outputKind: 'result',
      output: { content: [] },
      ms: 1,
    });
    svc.submit(job('one'), cfg);
    svc.submit(job('two'), cfg);
    svc.submit(job('three'), cfg); // past maxPendingJobs (the jobs wait for the next turn)
    assert.equal(svc.stats().dropped, 1);
    assert.equal(svc.stats().queued, 2);
    await svc.close();
    const text = readFileSync(join(auditDir, 'capture', 't-acme', 'svc', '2026-11-24.jsonl'), 'utf8');
    assert.deepEqual(text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { call: string }).call), ['one', 'two']);
    assert.ok(!text.includes('a.b@example.com') && text.includes('[REDACTED:email]'));
    svc.submit(job('late'), cfg);
    assert.equal(svc.stats().dropped, 2, 'after close: dropped and counted');
  });
});
