// I6 (bounded): the remote sink is down while ~200 records/s are appended, then recovers. After
// recovery the sink holds every seq exactly once after dedupe on (log, seq), none missing, lag
// back to 0. Past the high-water mark the fail-closed predicate flips (the audit service then
// refuses side-effecting calls), and still nothing is dropped.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditConfig, compileAudit } from '../../../src/audit/config.js';
import { AuditService } from '../../../src/audit/service.js';
import { LogWriter } from '../../../src/audit/writer.js';
import { nodeIo } from '../../../src/audit/segment.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { AuditSinksConfig, compileSinks } from '../../../src/audit/sinks/config.js';
import { SinkManager, attachSinks } from '../../../src/audit/sinks/manager.js';

/** A webhook receiver that can be "down" (503) and dedupes on (log, seq). */
class Receiver {
  down = false;
  posts = 0;
  refused = 0;
  readonly seen = new Map<string, Set<number>>();
  duplicates = 0;
  readonly server: Server;
  constructor() {
    this.server = createServer((req: IncomingMessage, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        if (this.down) {
          this.refused++;
          return void res.writeHead(503).end();
        }
        this.posts++;
        for (const line of Buffer.concat(parts).toString('utf8').split('\n')) {
          if (!line) continue;
          const { log, seq } = JSON.parse(line) as { log: string; seq: number };
          const s = this.seen.get(log) ?? new Set<number>();
          if (s.has(seq)) this.duplicates++;
          s.add(seq);
          this.seen.set(log, s);
        }
        res.writeHead(200).end('ok');
      });
    });
  }
  listen(): Promise<string> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`)));
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, pred: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

function openWriter(auditDir: string, logId: string): LogWriter {
  const cfg = compileAudit(AuditConfig.parse({ checkpointInterval: '200ms', groupCommit: '2ms', segmentBytes: '16kb' }), auditDir, auditDir);
  return LogWriter.open({ auditDir, logId, origin: `i6/${logId}`, cfg, io: nodeIo, log: silentLogger, witnesses: [], onDurable: () => {} });
}

function manager(dir: string, url: string, highWater: { bytes: string; age: string }): SinkManager {
  const sinks = compileSinks(
    AuditSinksConfig.parse([{ name: 'siem', kind: 'webhook', url, secret: { env: 'UNUSED' }, poll: '20ms', timeout: '2s', retry: { initial: '20ms', max: '200ms' }, batch: { records: 100 }, highWater }]),
    dir,
  );
  return new SinkManager({ auditDir: dir, sinks, resolveSecret: async () => 'k', productVersion: '1', rescanMs: 50 });
}

describe('I6: the local log is the spool', () => {
  let dir: string;
  let rx: Receiver;
  let url: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-i6-'));
    rx = new Receiver();
    url = await rx.listen();
  });
  after(async () => {
    await rx.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('I6: sink down while ~200 records/s are appended, then up: every seq exactly once after dedupe, lag back to 0', async () => {
    const w = openWriter(dir, 't-acme');
    const m = manager(dir, url, { bytes: '1gb', age: '15m' });
    await m.start();
    let maxLag = 0;
    try {
      // 3 s at ~200/s (2 records every 10 ms); the sink is down from 0.5 s to 2.0 s.
      const start = Date.now();
      let appended = 0;
      while (Date.now() - start < 3000 && appended < 1000) {
        const t = Date.now() - start;
        rx.down = t >= 500 && t < 2000;
        w.append('tool.call.decision', { call: `c${appended}`, target: { tool: 'x' }, decision: { result: 'deny' } }, false);
        w.append('tool.call.decision', { call: `c${appended + 1}`, target: { tool: 'x' }, decision: { result: 'deny' } }, false);
        appended += 2;
        for (const l of m.lag()) maxLag = Math.max(maxLag, l.records);
        await sleep(10);
      }
      rx.down = false;
      await w.drain();
      const total = w.nextSeq;
      assert.ok(rx.refused > 0, 'the sink really was down');
      assert.ok(maxLag > 0, 'lag grew during the outage');
      assert.equal(m.backpressure(), undefined, 'below the high-water mark the gateway keeps serving (spool)');
      await waitFor('every record delivered', () => (rx.seen.get('i6/t-acme')?.size ?? 0) >= total);
      await w.close(); // its final checkpoint record is delivered too
      await waitFor('lag 0', () => m.lag().length === 1 && m.lag()[0]!.records === 0 && m.lag()[0]!.bytes === 0 && m.lag()[0]!.seconds === 0 && (rx.seen.get('i6/t-acme')?.size ?? 0) === w.nextSeq);
      const seqs = [...rx.seen.get('i6/t-acme')!].sort((a, b) => a - b);
      assert.equal(seqs.length, w.nextSeq);
      assert.deepEqual(seqs, [...Array(w.nextSeq).keys()], 'no seq missing');
      assert.deepEqual([...rx.seen.keys()], ['i6/t-acme']);
    } finally {
      await m.stop();
    }
  });

  it('I6: past the high-water mark (bytes) the service fails closed; nothing is dropped; recovery reopens', async () => {
    const cfg = compileAudit(AuditConfig.parse({ dir: join(dir, 'svc'), checkpointInterval: '200ms', groupCommit: '1ms', origin: 'hw' }), dir, dir);
    const svc = new AuditService(cfg, silentLogger);
    svc.open();
    const sinks = compileSinks(
      AuditSinksConfig.parse([{ name: 'siem', kind: 'webhook', url, secret: { env: 'UNUSED' }, poll: '1s', timeout: '2s', retry: { initial: '20ms', max: '200ms' }, batch: { records: 100 }, highWater: { bytes: '8kb', age: '15m' } }]),
      dir,
    );
    // The wiring the gateway uses: durable records only, woken after each sync (poll is 1 s here).
    const m = await attachSinks(svc, { auditDir: cfg.dir, sinks, resolveSecret: async () => 'k', productVersion: '1', rescanMs: 50 });
    try {
      // A second tenant with a log (and so a runner) of its own, below its mark throughout.
      await svc.tenantLog('globex')!.append('authn.failure', { actor: { sub: 'g' } }, true);
      await waitFor('runners', () => m.lag().length >= 2);
      assert.equal(svc.unavailable('acme'), undefined);
      rx.down = true;
      const log = svc.tenantLog('acme')!;
      let n = 0;
      while (svc.unavailable('acme') === undefined && n < 5000) {
        log.append('tool.call.decision', { call: `h${n}`, target: { tool: 'x' }, decision: { result: 'deny' } }, false);
        n++;
        if (n % 20 === 0) await sleep(5);
      }
      const why = svc.unavailable('acme');
      assert.match(String(why), /audit sink siem\/t-acme is \d+ bytes behind \(high-water 8192\)/);
      assert.equal(svc.unavailable('globex'), undefined, "acme's lagging sink does not refuse globex's calls");
      assert.equal(svc.health().status, 'degraded');
      await svc.tenantLog('acme')!.drain();
      const total = svc.tenantLog('acme')!.nextSeq;
      rx.down = false;
      await waitFor('caught up', () => (rx.seen.get('hw/acme')?.size ?? 0) >= total && m.backpressure() === undefined);
      assert.equal(svc.unavailable('acme'), undefined, 'open again once below the mark');
      const seqs = [...rx.seen.get('hw/acme')!].sort((a, b) => a - b);
      assert.deepEqual(seqs.slice(0, total), [...Array(total).keys()], 'no record dropped');
    } finally {
      m.detach();
      await m.stop();
      await svc.close();
    }
  });

  it('I6: during a long retry backoff the lag stays fresh: past the mark within about a second, with no delivery attempt meanwhile', async () => {
    const cfg = compileAudit(AuditConfig.parse({ dir: join(dir, 'svc-backoff'), checkpointInterval: '200ms', groupCommit: '1ms', origin: 'bo' }), dir, dir);
    const svc = new AuditService(cfg, silentLogger);
    svc.open();
    const sinks = compileSinks(
      AuditSinksConfig.parse([{ name: 'siem', kind: 'webhook', url, secret: { env: 'UNUSED' }, poll: '250ms', timeout: '2s', retry: { initial: '8s', max: '8s' }, highWater: { bytes: '8kb', age: '15m' } }]),
      dir,
    );
    const attempts: number[] = [];
    rx.down = true;
    await svc.tenantLog('acme')!.append('authn.failure', { actor: { sub: 'a' } }, true);
    const m = await attachSinks(svc, { auditDir: cfg.dir, sinks, resolveSecret: async () => 'k', productVersion: '1', rescanMs: 50, onError: (_s, logId, _e, attempt) => void (logId === 't-acme' && attempts.push(attempt)) });
    try {
      // The first delivery is refused: the runner now backs off for 4 to 8 s.
      await waitFor('the first attempt refused', () => attempts.length > 0, 5000);
      assert.equal(m.backpressure('t-acme'), undefined);
      const log = svc.tenantLog('acme')!;
      for (let i = 0; i < 2000; i++) log.append('tool.call.decision', { call: `b${i}`, target: { tool: 'x' }, decision: { result: 'deny' } }, false);
      await log.drain();
      const t0 = Date.now();
      await waitFor('past the mark', () => svc.unavailable('acme') !== undefined, 1500);
      assert.ok(Date.now() - t0 < 1500);
      assert.match(String(svc.unavailable('acme')), /audit sink siem\/t-acme is \d+ bytes behind \(high-water 8192\)/);
      assert.deepEqual(attempts, [1], 'the lag is re-measured, nothing is delivered before the backoff ends');
      const s0 = Date.now();
      await m.stop(100);
      assert.ok(Date.now() - s0 < 2000, 'stop() ends the backoff and its lag timer');
    } finally {
      rx.down = false;
      m.detach();
      await m.stop(100);
      await svc.close();
    }
  });

  it('a runner that cannot be created (secret unreadable) is reported, fails its log closed, does not stop the other sinks, and is retried', async () => {
    const cfg = compileAudit(AuditConfig.parse({ dir: join(dir, 'svc-rescan'), checkpointInterval: '200ms', groupCommit: '1ms', origin: 'rs' }), dir, dir);
    const svc = new AuditService(cfg, silentLogger);
    svc.open();
    const archive = join(dir, 'rs-archive.jsonl');
    const sinks = compileSinks(
      AuditSinksConfig.parse([
        { name: 'siem', kind: 'webhook', url, secret: { env: 'SIEM_KEY' }, poll: '50ms', timeout: '2s', retry: { initial: '20ms', max: '200ms' }, highWater: { bytes: '1gb', age: '15m' } },
        { name: 'archive', kind: 'file', path: archive, poll: '50ms' },
      ]),
      dir,
    );
    let failing = false;
    const errors: { sink: string; logId: string; msg: string; attempt: number }[] = [];
    const m = await attachSinks(svc, {
      auditDir: cfg.dir,
      sinks,
      productVersion: '1',
      rescanMs: 50,
      resolveSecret: async () => {
        if (failing) throw new Error('secret SIEM_KEY unreadable');
        return 'k';
      },
      onError: (sink, logId, e, attempt) => void errors.push({ sink, logId, msg: (e as Error).message, attempt }),
    });
    try {
      failing = true;
      // A tenant log created now: its webhook runner cannot be created while the secret fails.
      const log = svc.tenantLog('acme')!;
      await log.append('authn.failure', { actor: { sub: 'a' } }, true);
      const acme = (): typeof errors => errors.filter((e) => e.sink === 'siem' && e.logId === 't-acme');
      await waitFor('the failure reported, and retried', () => acme().length >= 2, 5000);
      assert.deepEqual(acme().slice(0, 2), [1, 2].map((attempt) => ({ sink: 'siem', logId: 't-acme', msg: 'secret SIEM_KEY unreadable', attempt })));
      assert.match(String(svc.unavailable('acme')), /audit sink siem\/t-acme cannot start: secret SIEM_KEY unreadable/);
      assert.match(String(m.backpressure('t-acme')), /cannot start/);
      // The other sink of the same log got its runner all the same.
      await waitFor('archive delivers acme', () => existsSync(archive) && readFileSync(archive, 'utf8').includes('"log":"rs/acme"'), 5000);
      failing = false;
      await waitFor('siem delivers acme once its runner exists', () => (rx.seen.get('rs/acme')?.size ?? 0) >= 1, 5000);
      await waitFor('acme open again', () => svc.unavailable('acme') === undefined, 5000);
      assert.equal(m.backpressure('t-acme'), undefined);
    } finally {
      m.detach();
      await m.stop(100);
      await svc.close();
    }
  });

  it('I6: past the high-water mark (age) the predicate flips too', async () => {
    const d2 = mkdtempSync(join(tmpdir(), 'pc-i6age-'));
    const w = openWriter(d2, 't-zeta');
    const m = manager(d2, url, { bytes: '1gb', age: '300ms' });
    await m.start();
    try {
      rx.down = true;
      await w.append('authn.failure', { actor: { sub: 'z' } }, true);
      await waitFor('age past the mark', () => /s behind \(high-water 0\.3 s\)/.test(m.backpressure() ?? ''));
      rx.down = false;
      await waitFor('cleared', () => m.backpressure() === undefined && (rx.seen.get('i6/t-zeta')?.size ?? 0) >= 1);
    } finally {
      rx.down = false;
      await m.stop();
      await w.close();
      rmSync(d2, { recursive: true, force: true });
    }
  });
});
