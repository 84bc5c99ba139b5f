// Remote sinks fed from the local log (docs/audit.md "Remote sinks"), each against a real local
// peer: an HTTP server (webhook), a TCP and a TLS syslog listener, a file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditConfig, compileAudit } from '../../../src/audit/config.js';
import { LogWriter } from '../../../src/audit/writer.js';
import { nodeIo, segmentName } from '../../../src/audit/segment.js';
import { createLogger, silentLogger } from '../../../src/observability/logger.js';
import { logSinkError } from '../../../src/audit/remotes.js';
import { Writable } from 'node:stream';
import { SinkRunner, type SinkRunnerOptions } from '../../../src/audit/sinks/runner.js';
import { webhookSink } from '../../../src/audit/sinks/webhook.js';
import { syslogSink } from '../../../src/audit/sinks/syslog.js';
import { readCursor } from '../../../src/audit/sinks/cursor.js';
import { AuditSinksConfig, compileSinks } from '../../../src/audit/sinks/config.js';
import { SinkManager } from '../../../src/audit/sinks/manager.js';
import type { Sink } from '../../../src/audit/sinks/sink.js';
import { readBatch } from '../../../src/audit/sinks/tail.js';
import { fileSink } from '../../../src/audit/sinks/file.js';

const SECRET = 'whsec-test-0123456789';

function openWriter(auditDir: string, logId: string, segmentBytes = '2kb'): LogWriter {
  const cfg = compileAudit(AuditConfig.parse({ checkpointInterval: '1h', groupCommit: '1ms', segmentBytes }), auditDir, auditDir);
  return LogWriter.open({ auditDir, logId, origin: `test/${logId}`, cfg, io: nodeIo, log: silentLogger, witnesses: [], onDurable: () => {} });
}

function storedLines(logDir: string): string[] {
  return readdirSync(logDir)
    .filter((n) => n.startsWith('seg-'))
    .sort()
    .flatMap((n) => readFileSync(join(logDir, n), 'utf8').split('\n').filter(Boolean));
}

async function waitFor(what: string, pred: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function runner(logDir: string, logId: string, sink: Sink, over: Partial<SinkRunnerOptions> = {}): SinkRunner {
  return new SinkRunner({
    logDir,
    logId,
    sink,
    batch: { records: 7, bytes: 64 * 1024 },
    pollMs: 20,
    timeoutMs: 2000,
    retry: { initialMs: 20, maxMs: 100 },
    highWater: { bytes: 1 << 30, ageMs: 15 * 60_000 },
    onSinkFailure: 'spool',
    ...over,
  });
}

const body = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });

/** Parses octet-counted frames (RFC 6587 §3.4.1) from a byte stream. */
function frameReader(onMessage: (m: string) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const sp = buf.indexOf(0x20);
      if (sp < 0) return;
      const len = Number(buf.subarray(0, sp).toString('ascii'));
      assert.ok(Number.isInteger(len) && len > 0, 'frame length');
      if (buf.length < sp + 1 + len) return;
      onMessage(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
      buf = buf.subarray(sp + 1 + len);
    }
  };
}

const listen = (s: Server | ReturnType<typeof createTcpServer>): Promise<number> =>
  new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));

describe('audit sinks', () => {
  let dir: string;
  let logDir: string;
  let writer: LogWriter;
  let total = 0;
  const EVIL = 'x\ny|z=w\u2028\u001b[1m';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-sinks-'));
    writer = openWriter(dir, 't-acme');
    for (let i = 0; i < 40; i++) {
      await writer.append('tool.call.decision', { call: `c${i}`, actor: { sub: 'user:a', tenant: 'acme' }, target: { upstream: 'u', tool: i === 3 ? EVIL : `t${i}` }, decision: { result: 'allow' } }, true);
    }
    await writer.drain();
    logDir = join(dir, 'logs', 't-acme');
    total = writer.nextSeq;
    assert.ok(readdirSync(logDir).filter((n) => n.startsWith('seg-')).length > 2, 'several segments');
  });
  after(async () => {
    await writer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('webhook: signed JSONL batches, every seq exactly once, cursor persisted, resumes after restart', async () => {
    const got = new Map<number, string>();
    let posts = 0;
    let failFirst = 2;
    const server = createHttpServer(async (req, res) => {
      const b = await body(req);
      const sig = String(req.headers['x-portcullis-signature']);
      const want = `sha256=${createHmac('sha256', SECRET).update(b).digest('hex')}`;
      assert.ok(timingSafeEqual(Buffer.from(sig), Buffer.from(want)), 'HMAC over the body');
      assert.equal(req.headers['content-type'], 'application/x-ndjson');
      assert.equal(req.headers['x-custom'], 'yes');
      if (failFirst-- > 0) return void res.writeHead(503).end();
      posts++;
      const lines = b.toString('utf8').split('\n');
      assert.equal(lines.pop(), '');
      const seqs = lines.map((l) => (JSON.parse(l) as { seq: number; log: string }).seq);
      assert.equal(req.headers['x-portcullis-log'], 'test/t-acme');
      assert.equal(Number(req.headers['x-portcullis-first-seq']), seqs[0]);
      assert.equal(Number(req.headers['x-portcullis-last-seq']), seqs.at(-1));
      lines.forEach((l, i) => got.set(seqs[i]!, l));
      res.writeHead(204).end();
    });
    const port = await listen(server);
    try {
      const url = `http://127.0.0.1:${port}/ingest`;
      const r1 = runner(logDir, 't-acme', webhookSink({ name: 'hook', url, secret: SECRET, headers: { 'x-custom': 'yes' }, timeoutMs: 2000 }));
      r1.start();
      await waitFor('first delivery', () => got.size === total);
      await r1.stop();
      assert.deepEqual([...got.keys()].sort((a, b) => a - b), [...Array(total).keys()]);
      assert.deepEqual([...got.values()].sort(), storedLines(logDir).sort(), 'the stored lines, byte for byte');
      assert.ok(r1.stats.failedAttempts >= 2, 'the 503s were retried');
      assert.ok(posts >= Math.ceil(total / 7));
      assert.equal((await readCursor(logDir, 'hook'))?.seq, total);
      // A new runner (a restart) continues from the cursor: nothing re-sent, new records delivered.
      for (let i = 0; i < 5; i++) await writer.append('authn.success', { actor: { sub: `s${i}`, tenant: 'acme' } }, true);
      const before = posts;
      const r2 = runner(logDir, 't-acme', webhookSink({ name: 'hook', url, secret: SECRET, headers: { 'x-custom': 'yes' }, timeoutMs: 2000 }));
      r2.start();
      await waitFor('resumed delivery', () => got.size === writer.nextSeq);
      await waitFor('lag 0', () => r2.lag.records === 0 && r2.lag.bytes === 0 && r2.lag.seconds === 0);
      await r2.stop();
      assert.equal(posts - before, 1, 'only the new batch was posted');
      total = writer.nextSeq;
    } finally {
      server.close();
    }
  });

  it('stop() lets the delivery in flight finish (its cursor is written), and abandons it past the grace period', async () => {
    let release: (() => void) | undefined;
    let arrived = 0;
    const server = createHttpServer((req, res) => {
      arrived++;
      void body(req).then(() => {
        // "slow" answers when the test lets it; "stuck" never does.
        if (req.url === '/slow') release = () => res.writeHead(204).end();
      });
    });
    const port = await listen(server);
    try {
      const slow = runner(logDir, 't-acme', webhookSink({ name: 'slow', url: `http://127.0.0.1:${port}/slow`, secret: SECRET, headers: {}, timeoutMs: 10_000 }), { timeoutMs: 10_000 });
      slow.start();
      await waitFor('the first batch at the receiver', () => release !== undefined);
      const stopping = slow.stop(5_000);
      setTimeout(() => release!(), 100);
      await stopping;
      assert.equal((await readCursor(logDir, 'slow'))?.seq, 7, 'the batch the receiver took is acknowledged, not sent again');
      assert.equal(slow.stats.delivered, 7);

      const before = arrived;
      const stuck = runner(logDir, 't-acme', webhookSink({ name: 'stuck', url: `http://127.0.0.1:${port}/stuck`, secret: SECRET, headers: {}, timeoutMs: 10_000 }), { timeoutMs: 10_000 });
      stuck.start();
      await waitFor('the stuck batch at the receiver', () => arrived > before);
      const t0 = Date.now();
      await stuck.stop(100);
      assert.ok(Date.now() - t0 < 5_000, `stop() returned after ${Date.now() - t0} ms, not after the 10 s delivery timeout`);
      assert.equal(await readCursor(logDir, 'stuck'), undefined, 'an abandoned batch leaves the cursor behind it');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('syslog over TCP: RFC 5424 messages, octet-counting framing, (log, seq) in structured data, one frame per record', async () => {
    for (const format of ['jsonl', 'cef'] as const) {
      const msgs: string[] = [];
      const sockets = new Set<Socket>();
      const server = createTcpServer((s) => {
        sockets.add(s);
        s.on('data', frameReader((m) => msgs.push(m)));
      });
      const port = await listen(server);
      const r = runner(logDir, 't-acme', syslogSink({ name: `sys-${format}`, host: '127.0.0.1', port, format, facility: 13, timeoutMs: 2000, productVersion: '1.2.3' }));
      r.start();
      await waitFor('syslog delivery', () => msgs.length >= total);
      await r.stop();
      for (const s of sockets) s.destroy();
      server.close();
      assert.equal(msgs.length, total);
      const stored = storedLines(logDir);
      msgs.forEach((m, i) => {
        const h = /^<(\d{1,3})>1 (\S+) (\S+) portcullis (\d+) (\S+) \[portcullis@32473 log="test\/t-acme" seq="(\d+)"\] (.*)$/s.exec(m);
        assert.ok(h, m);
        assert.equal(Number(h[6]), i);
        assert.equal(Math.floor(Number(h[1]) / 8), 13);
        if (format === 'jsonl') assert.equal(h[7], stored[i]);
        else {
          assert.ok(h[7]!.startsWith('CEF:0|Portcullis|Portcullis|1.2.3|'));
          assert.ok(!/[\n\r\u2028\u2029\u001b]/.test(h[7]!)); // eslint-disable-line no-control-regex
        }
      });
    }
  });

  it('syslog over TLS (RFC 5425) verifies the server certificate', { skip: !existsSync('/usr/bin/openssl') && 'openssl not installed' }, async () => {
    const key = join(dir, 'tls.key');
    const cert = join(dir, 'tls.crt');
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=syslog.test', '-addext', 'subjectAltName=DNS:syslog.test'], { stdio: 'ignore' });
    assert.equal(gen.status, 0);
    const msgs: string[] = [];
    const server = createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (s) => s.on('data', frameReader((m) => msgs.push(m))));
    const port = await listen(server as unknown as ReturnType<typeof createTcpServer>);
    try {
      // Untrusted CA: never delivered, only retried.
      const bad = runner(logDir, 't-acme', syslogSink({ name: 'tls-bad', host: '127.0.0.1', port, format: 'jsonl', facility: 13, tls: { servername: 'syslog.test' }, timeoutMs: 2000, productVersion: '1' }));
      bad.start();
      await waitFor('failed attempts', () => bad.stats.failedAttempts >= 2);
      await bad.stop();
      assert.equal(msgs.length, 0);
      assert.equal(await readCursor(logDir, 'tls-bad'), undefined);
      const good = runner(logDir, 't-acme', syslogSink({ name: 'tls', host: '127.0.0.1', port, format: 'jsonl', facility: 13, tls: { ca: cert, servername: 'syslog.test' }, timeoutMs: 2000, productVersion: '1' }));
      good.start();
      await waitFor('tls delivery', () => msgs.length >= total);
      await good.stop();
      assert.equal(msgs.length, total);
    } finally {
      server.close();
    }
  });

  it('file sink: appends the stored lines; SinkManager wires config → runners and reports lag', async () => {
    const out = join(dir, 'copy.jsonl');
    const sinks = compileSinks(AuditSinksConfig.parse([{ name: 'copy', kind: 'file', path: out, poll: '20ms', retry: { initial: '20ms', max: '100ms' } }]), dir);
    const m = new SinkManager({ auditDir: dir, sinks, resolveSecret: async () => '', productVersion: '1', rescanMs: 50 });
    await m.start();
    try {
      await waitFor('file delivery', () => existsSync(out) && readFileSync(out, 'utf8').split('\n').length - 1 === total);
      assert.deepEqual(readFileSync(out, 'utf8').split('\n').filter(Boolean), storedLines(logDir));
      await waitFor('lag 0', () => m.lag().length === 1 && m.lag()[0]!.records === 0);
      assert.equal(m.backpressure(), undefined);
      // A tenant log created later is picked up by the rescan.
      const w2 = openWriter(dir, 't-beta');
      await w2.append('authn.success', { actor: { sub: 'b', tenant: 'beta' } }, true);
      await waitFor('new log', () => m.lag().some((l) => l.logId === 't-beta'));
      await waitFor('beta delivered', () => readFileSync(out, 'utf8').includes('"log":"test/t-beta"'));
      await w2.close();
    } finally {
      await m.stop();
    }
  });

  it('OTLP/HTTP JSON logs: one LogRecord per record, (log, seq) attributes, partial success retried', async () => {
    const bodies = new Map<number, string>();
    let partial = 1;
    let auth = '';
    const server = createHttpServer(async (req, res) => {
      const b = JSON.parse((await body(req)).toString('utf8')) as {
        resourceLogs: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeLogs: { logRecords: { body: { stringValue: string }; attributes: { key: string; value: { stringValue?: string; intValue?: string } }[]; timeUnixNano: string; severityNumber: number }[] }[] }[];
      };
      auth = String(req.headers.authorization);
      assert.equal(req.url, '/v1/logs');
      assert.ok(b.resourceLogs[0]!.resource.attributes.some((a) => a.key === 'service.name' && a.value.stringValue === 'portcullis'));
      if (partial-- > 0) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ partialSuccess: { rejectedLogRecords: 1, errorMessage: 'try again' } }));
      for (const lr of b.resourceLogs[0]!.scopeLogs[0]!.logRecords) {
        const seq = Number(lr.attributes.find((a) => a.key === 'portcullis.audit.seq')!.value.intValue);
        assert.equal(lr.attributes.find((a) => a.key === 'portcullis.audit.log')!.value.stringValue, 'test/t-acme');
        assert.match(lr.timeUnixNano, /^\d{19}$/);
        bodies.set(seq, lr.body.stringValue);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    const port = await listen(server);
    const sinks = compileSinks(
      AuditSinksConfig.parse([{ name: 'otel', kind: 'otlp', url: `http://127.0.0.1:${port}/v1/logs`, authorization: { env: 'OTEL_AUTH' }, tenants: ['acme'], system: false, poll: '20ms', retry: { initial: '20ms', max: '100ms' } }]),
      dir,
    );
    const m = new SinkManager({ auditDir: dir, sinks, resolveSecret: async (ref) => ('env' in ref && ref.env === 'OTEL_AUTH' ? 'Bearer otel-token' : ''), productVersion: '1', rescanMs: 50 });
    await m.start();
    try {
      await waitFor('otlp delivery', () => bodies.size === total);
      assert.deepEqual([...bodies.keys()].sort((a, b) => a - b), [...Array(total).keys()]);
      assert.deepEqual([...bodies.values()].sort(), storedLines(logDir).sort());
      assert.equal(auth, 'Bearer otel-token');
      assert.deepEqual(m.lag().map((l) => l.logId), ['t-acme'], 'tenants filter: only acme');
    } finally {
      await m.stop();
      server.close();
    }
  });

  it('an unreadable cursor is retried, counts as full lag (trips the high-water mark), and heals', async () => {
    const out = join(dir, 'healed.jsonl');
    mkdirSync(join(logDir, 'sinks'), { recursive: true });
    writeFileSync(join(logDir, 'sinks', 'heal.cursor'), 'not json');
    const r = runner(logDir, 't-acme', fileSink({ name: 'heal', path: out }), { highWater: { bytes: 1024, ageMs: 15 * 60_000 } });
    r.start();
    try {
      await waitFor('failing', () => r.stats.failedAttempts >= 2);
      assert.equal(existsSync(out), false);
      assert.match(String(r.backpressure()), /bytes behind/);
      rmSync(join(logDir, 'sinks', 'heal.cursor'));
      await waitFor('healed', () => r.cursor.seq === total && r.backpressure() === undefined);
      assert.deepEqual(readFileSync(out, 'utf8').split('\n').filter(Boolean), storedLines(logDir).slice(0, total));
    } finally {
      await r.stop();
    }
  });

  it('only durable records are read for delivery (a crash could still replace the rest)', async () => {
    const limits = { records: 1000, bytes: 1 << 20 };
    const b = await readBatch(logDir, 't-acme', { seq: 0, segment: 0, offset: 0 }, limits, 5);
    assert.deepEqual(b?.records.map((r) => r.seq), [0, 1, 2, 3, 4]);
    assert.equal(await readBatch(logDir, 't-acme', b!.next, limits, 5), undefined);
    const rest = await readBatch(logDir, 't-acme', b!.next, { records: 3, bytes: 1 << 20 });
    assert.deepEqual(rest?.records.map((r) => r.seq), [5, 6, 7]);
  });

  it('config: every field described, defaults, no drop option, names unique', () => {
    const [s] = AuditSinksConfig.parse([{ name: 'siem', kind: 'webhook', url: 'https://siem.example/in', secret: { env: 'SIEM_KEY' } }]);
    assert.equal(s!.onSinkFailure, 'spool');
    assert.equal(s!.onSpoolFull, 'fail_closed');
    const [c] = compileSinks([s!], '/cfg');
    assert.equal(c!.highWater.bytes, 1024 ** 3);
    assert.equal(c!.highWater.ageMs, 15 * 60_000);
    assert.throws(() => AuditSinksConfig.parse([{ name: 'x', kind: 'file', path: 'a', onSpoolFull: 'drop' }]));
    assert.throws(() => AuditSinksConfig.parse([{ name: 'x', kind: 'file', path: 'a', onSinkFailure: 'drop' }]));
    assert.throws(() => AuditSinksConfig.parse([{ name: 'x', kind: 'file', path: 'a' }, { name: 'x', kind: 'file', path: 'b' }]));
    assert.throws(() => AuditSinksConfig.parse([{ name: '../x', kind: 'file', path: 'a' }]));
    // every field has a description (zod 4 JSON Schema output)
    const missing: string[] = [];
    let seen = 0;
    const walk = (n: unknown, path: string): void => {
      if (!n || typeof n !== 'object') return;
      const o = n as Record<string, unknown>;
      if (o.properties) for (const [k, v] of Object.entries(o.properties as Record<string, Record<string, unknown>>)) {
        seen++;
        if (!v.description) missing.push(`${path}.${k}`);
        walk(v, `${path}.${k}`);
      }
      for (const k of ['items', 'anyOf', 'oneOf']) {
        const v = o[k];
        if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
        else walk(v, path);
      }
    };
    walk(AuditSinksConfig.toJSONSchema({ io: 'input' }), 'sinks');
    assert.deepEqual(missing, []);
    assert.ok(seen > 40, `walked ${seen} fields`);
  });
});

describe('audit sinks: a segment that is not a regular file', () => {
  for (const kind of ['FIFO', 'directory'] as const) {
    it(`a ${kind} named like a segment is refused by the tail, naming it; the runner reports it and retries, without hanging`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pc-sinks-seg-'));
      const logDir = join(dir, 'logs', 't-acme');
      const w = openWriter(dir, 't-acme', '1mb');
      for (let i = 0; i < 3; i++) await w.append('tool.call.decision', { call: `c${i}` }, true);
      await w.close();
      const good = storedLines(logDir);
      const bad = join(logDir, segmentName(good.length));
      if (kind === 'FIFO') assert.equal(spawnSync('mkfifo', [bad]).status, 0, 'mkfifo');
      else mkdirSync(bad);
      const guard = <T>(p: Promise<T>, what: string): Promise<T> =>
        Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} hung on a ${kind} segment`)), 5000).unref())]);
      const delivered: string[] = [];
      const errors: unknown[] = [];
      const sink: Sink = {
        name: 'collect',
        deliver: async (b) => void delivered.push(...b.records.map((r) => r.line)),
        close: async () => {},
      };
      const r = runner(logDir, 't-acme', sink, { onError: (e) => errors.push(e) });
      let stopping: Promise<void> | undefined;
      try {
        const limits = { records: 1000, bytes: 1 << 20 };
        const first = await guard(readBatch(logDir, 't-acme', { seq: 0, segment: 0, offset: 0 }, limits), 'readBatch');
        assert.equal(first?.records.length, good.length, 'the records before it are read');
        await assert.rejects(guard(readBatch(logDir, 't-acme', first.next, limits), 'readBatch'), (e: Error) => {
          assert.equal(e.message, `cannot read segment ${bad}: not a regular file (${kind === 'FIFO' ? 'a FIFO' : 'a directory'})`);
          return true;
        });

        r.start();
        await waitFor('the error reported, then retried', () => errors.length >= 2, 5000);
        assert.deepEqual(delivered, good, 'what precedes it is delivered');
        for (const e of errors) assert.match((e as Error).message, /not a regular file/);
        assert.equal(r.stats.failing, true);
        assert.ok(r.stats.lastError?.includes(bad), r.stats.lastError);
        assert.equal(r.cursor.seq, good.length, 'the cursor stops before it: nothing skipped');
        stopping = r.stop();
        await guard(stopping, 'stop()');
      } finally {
        // A reader stuck opening the FIFO (the defect) is released by a writer end opened and closed
        // after the FIFO is unlinked, so the runner does not block on it again.
        stopping ??= r.stop();
        try {
          const fd = openSync(bad, constants.O_WRONLY | constants.O_NONBLOCK);
          rmSync(bad);
          closeSync(fd);
        } catch {
          /* no reader waiting, or not a FIFO */
        }
        await guard(stopping, 'stop()').catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('audit sinks: what the gateway log says about failures', () => {
  it('a stopped runner (attempt -1) is always logged as an error; deliveries on the first and every tenth attempt', () => {
    const lines: { level: number; msg: string; attempt?: number; sink: string; log: string; err: string }[] = [];
    const log = createLogger('info', new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as (typeof lines)[number]), cb()) }), { envOverride: false });
    logSinkError(log, 'siem', 't-acme', new Error('corrupt cursor'), -1);
    for (let attempt = 1; attempt <= 20; attempt += 1) logSinkError(log, 'siem', 't-acme', new Error('503'), attempt);
    assert.deepEqual(
      lines.map((l) => [l.msg, l.level, l.attempt]),
      [
        ['audit.sink_stopped', 50, undefined],
        ['audit.sink_failed', 40, 1],
        ['audit.sink_failed', 40, 10],
        ['audit.sink_failed', 40, 20],
      ],
    );
    assert.equal(lines[0]!.err, 'corrupt cursor');
    assert.equal(lines[0]!.sink, 'siem');
  });
});
