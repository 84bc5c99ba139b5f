/**
 * StdioLink against real child processes (the fixture servers in test/fixtures/stdio): both era
 * handshakes, routing of progress, logs and server requests, cancellation, deadlines, crashes,
 * hostile output, the environment allowlist and literal argv.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { openStdioLink, type StdioLink, type StdioLinkConfig, type OpenStdioOptions } from '../../src/upstreams/stdio/link.js';
import { GatewayError } from '../../src/pipeline/errors.js';
import { silentLogger, type Logger } from '../../src/observability/logger.js';
import { alive, callOpts, codeOf, fixtureConfig, RecordingSink, textOf } from '../fixtures/stdio/config.js';

const links: StdioLink[] = [];
after(async () => {
  await Promise.all(links.map((l) => l.close()));
});

async function open(cfg: StdioLinkConfig, opts: OpenStdioOptions = {}, log: Logger = silentLogger): Promise<StdioLink> {
  const l = await openStdioLink(cfg, log, opts);
  links.push(l);
  return l;
}

const tool = (l: StdioLink, name: string, args: Record<string, unknown> = {}, opts = callOpts()) =>
  l.call('tools/call', { name, arguments: args }, opts);

/** A pino logger that keeps its records in memory. */
function captureLogger(): { log: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, dest), records };
}

describe('stdio link: handshake', () => {
  it('detects a legacy server (discover answered with an error) and initializes it', async () => {
    const l = await open(fixtureConfig('legacy'));
    assert.equal(l.era, 'legacy');
    assert.equal(l.info.serverInfo.name, 'legacy-fixture');
    assert.equal(l.info.protocolVersion, '2025-11-25');
    const stats = JSON.parse(textOf(await tool(l, 'stats'))) as { initialized: boolean };
    assert.equal(stats.initialized, true, 'notifications/initialized was sent');
    assert.equal(textOf(await tool(l, 'echo', { text: 'hello' })), 'hello');
  });

  it('falls back to initialize when the server ignores server/discover (probe timeout)', async () => {
    const l = await open(fixtureConfig('legacy', ['--discover=silent'], { timeouts: { connectMs: 1500, firstByteMs: 20_000, totalMs: 30_000 } }));
    assert.equal(l.era, 'legacy');
    assert.equal(textOf(await tool(l, 'echo', { text: 'x' })), 'x');
  });

  it('falls back to initialize when the server answers server/discover with garbage', async () => {
    const l = await open(fixtureConfig('legacy', ['--discover=garbage'], { timeouts: { connectMs: 1500, firstByteMs: 20_000, totalMs: 30_000 } }));
    assert.equal(l.era, 'legacy');
  });

  it('era "legacy" skips the probe', async () => {
    const l = await open(fixtureConfig('legacy', ['--discover=silent']), { era: 'legacy' });
    assert.equal(l.era, 'legacy');
  });

  it('detects a modern server and stamps _meta on every request', async () => {
    const l = await open(fixtureConfig('modern'));
    assert.equal(l.era, 'modern');
    assert.equal(l.info.protocolVersion, '2026-07-28');
    assert.equal(l.info.serverInfo.name, 'modern-fixture');
    const o = await tool(l, 'echo', { text: 'modern hi' });
    assert.ok('result' in o);
    assert.equal(o.result.resultType, 'complete');
    assert.equal(textOf(o), 'modern hi');
  });

  it('a recognised modern error on discover is modern, with no fallback', async () => {
    await assert.rejects(open(fixtureConfig('modern', ['--reject-version'])), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_PROTOCOL');
  });

  it('era "modern" against a legacy server fails instead of falling back', async () => {
    await assert.rejects(open(fixtureConfig('legacy'), { era: 'modern' }), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_PROTOCOL');
  });

  it('a command that cannot be spawned rejects with ERR_UPSTREAM_UNAVAILABLE', async () => {
    await assert.rejects(
      open(fixtureConfig('legacy', [], { command: '/nonexistent/portcullis-no-such-binary', args: [] })),
      (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_UNAVAILABLE',
    );
  });
});

describe('stdio link: routing', () => {
  it('50 concurrent calls with the same progress token each get only their own progress', async () => {
    const l = await open(fixtureConfig('legacy'));
    const sinks = Array.from({ length: 50 }, () => new RecordingSink());
    const outcomes = await Promise.all(
      sinks.map((sink, i) =>
        l.call('tools/call', { name: 'slow', arguments: { tag: `c${i}`, steps: 3, delayMs: 10 }, _meta: { progressToken: 'tok' } }, callOpts(sink)),
      ),
    );
    outcomes.forEach((o, i) => assert.equal(textOf(o), `c${i}`));
    sinks.forEach((sink, i) => {
      const progress = sink.notes.filter((n) => n.method === 'notifications/progress');
      assert.equal(progress.length, 3, `call ${i} got its 3 progress notifications`);
      for (const p of progress) {
        assert.equal(p.params?.progressToken, 'tok', 'the original downstream token is restored');
        assert.equal(p.params?.message, `c${i}`, 'no progress from another call');
      }
    });
  });

  it('routes a log message to the only call in flight', async () => {
    const l = await open(fixtureConfig('legacy'));
    const sink = new RecordingSink();
    assert.equal(textOf(await tool(l, 'slow', { tag: 'solo', steps: 1 }, callOpts(sink))), 'solo');
    const logs = sink.notes.filter((n) => n.method === 'notifications/message');
    assert.equal(logs.length, 1);
    assert.equal(logs[0]?.params?.data, 'log solo');
  });

  it('relays a sampling request to the calling client and returns its answer', async () => {
    const l = await open(fixtureConfig('legacy'));
    const sink = new RecordingSink();
    assert.equal(textOf(await tool(l, 'sample', { prompt: 'p' }, callOpts(sink))), 'sampled:hello from client');
    assert.deepEqual(
      sink.requests.map((r) => r.method),
      ['sampling/createMessage'],
    );
  });
});

describe('stdio link: cancellation and deadlines', () => {
  it('an aborted call sends notifications/cancelled and resolves ERR_CANCELLED', async () => {
    const l = await open(fixtureConfig('legacy'));
    const ac = new AbortController();
    const pending = tool(l, 'hang', {}, callOpts(new RecordingSink(), ac.signal));
    ac.abort();
    assert.equal(codeOf(await pending), 'ERR_CANCELLED');
    const stats = JSON.parse(textOf(await tool(l, 'stats'))) as { cancelled: unknown[] };
    assert.equal(stats.cancelled.length, 1);
    assert.equal(typeof stats.cancelled[0], 'number');
  });

  it('first-byte timeout yields ERR_UPSTREAM_TIMEOUT and cancels upstream', async () => {
    const l = await open(fixtureConfig('legacy', [], { timeouts: { connectMs: 20_000, firstByteMs: 300, totalMs: 20_000 } }));
    assert.equal(codeOf(await tool(l, 'hang')), 'ERR_UPSTREAM_TIMEOUT');
    assert.equal(textOf(await tool(l, 'echo', { text: 'still alive' })), 'still alive');
    const s2 = JSON.parse(textOf(await tool(l, 'stats'))) as { cancelled: unknown[] };
    assert.equal(s2.cancelled.length, 1);
  });

  it('total timeout yields ERR_UPSTREAM_TIMEOUT even while progress keeps coming', async () => {
    const l = await open(fixtureConfig('legacy', [], { timeouts: { connectMs: 20_000, firstByteMs: 300, totalMs: 1200 } }));
    const sink = new RecordingSink();
    const o = await l.call('tools/call', { name: 'drip', arguments: { intervalMs: 50 }, _meta: { progressToken: 7 } }, callOpts(sink));
    assert.equal(codeOf(o), 'ERR_UPSTREAM_TIMEOUT');
    assert.ok(sink.notes.length > 0, 'progress arrived before the deadline');
    assert.ok(sink.notes.every((n) => n.params?.progressToken === 7));
  });
});

describe('stdio link: failures', () => {
  it('a crash mid-call fails every call in flight with ERR_UPSTREAM_CLOSED', async () => {
    const l = await open(fixtureConfig('legacy'));
    const reasons: string[] = [];
    l.onEvent((e) => {
      if (e.type === 'closed') reasons.push(e.reason);
    });
    const hanging = tool(l, 'hang');
    const slow = tool(l, 'slow', { steps: 1000, delayMs: 1000 });
    const crash = tool(l, 'crash');
    const outs = await Promise.all([hanging, slow, crash]);
    for (const o of outs) assert.equal(codeOf(o), 'ERR_UPSTREAM_CLOSED');
    assert.equal(l.closed, true);
    assert.match(reasons[0] ?? '', /^exited code=3 signal=null$/);
    assert.equal(codeOf(await tool(l, 'echo', { text: 'late' })), 'ERR_UPSTREAM_CLOSED');
  });

  it('an over-long stdout line and invalid JSON lines are skipped; the link keeps working', async () => {
    const { log, records } = captureLogger();
    const l = await open(fixtureConfig('legacy', [], { maxLineBytes: 64 * 1024 }), {}, log);
    assert.equal(textOf(await tool(l, 'bigline', { bytes: 300_000 })), 'after bigline');
    assert.equal(textOf(await tool(l, 'garbage')), 'after garbage');
    assert.equal(textOf(await tool(l, 'echo', { text: 'ok' })), 'ok');
    assert.equal(l.closed, false);
    assert.ok(records.some((r) => String(r.msg).includes('over maxLineBytes')));
    assert.ok(records.some((r) => String(r.msg).includes('not JSON')));
  });

  it('stderr is logged, cut and rate-limited', async () => {
    const { log, records } = captureLogger();
    const l = await open(fixtureConfig('legacy'), {}, log);
    assert.equal(textOf(await tool(l, 'stderr', { lines: 500, width: 10 })), 'after stderr');
    assert.equal(textOf(await tool(l, 'stderr', { lines: 1, width: 5000 })), 'after stderr');
    await l.close();
    const lines = records.filter((r) => r.msg === 'upstream stderr');
    const suppressed = records.filter((r) => typeof r.suppressed === 'number').reduce((n, r) => n + (r.suppressed as number), 0);
    assert.equal(lines.length + suppressed, 501, 'every line is either logged or counted');
    assert.ok(lines.length < 501, 'some lines were suppressed');
    for (const r of lines) assert.ok(String(r.stderr).length <= 2048);
    assert.ok(lines.every((r) => r.upstream === 'legacy-fixture' && typeof r.pid === 'number'));
  });
});

describe('stdio link: spawning (security checklist D1)', () => {
  it('passes only allowlisted and explicit environment variables', async () => {
    const l = await open(fixtureConfig('legacy', [], { env: { EXPLICIT_VAR: 'e' }, envAllowlist: ['PATH', 'HOME', 'NOT_SET_ANYWHERE'] }), {
      parentEnv: { PATH: process.env.PATH, HOME: '/tmp', GATEWAY_SECRET: 's3cret', DATABASE_URL: 'postgres://x' },
    });
    assert.deepEqual(JSON.parse(textOf(await tool(l, 'env'))), ['EXPLICIT_VAR', 'HOME', 'PATH']);
  });

  it('passes shell metacharacters literally, one argv entry each', async () => {
    const hostile = ['; echo pwned', '$(id)', '`id`', 'a b', '| cat /etc/passwd', '&& rm -rf /tmp/nothing', "'quoted'"];
    const l = await open(fixtureConfig('legacy', hostile));
    assert.deepEqual(JSON.parse(textOf(await tool(l, 'argv'))), hostile);
  });

  it('logs every spawn with command, argument count and cwd but never env or argument values', async () => {
    const { log, records } = captureLogger();
    await open(fixtureConfig('legacy', ['--token=arg-secret-value'], { env: { API_KEY: 'very-secret-value' } }), {}, log);
    const spawned = records.find((r) => r.msg === 'stdio upstream spawned');
    assert.ok(spawned);
    assert.equal(spawned.command, process.execPath);
    assert.equal(typeof spawned.argc, 'number');
    assert.ok(typeof spawned.cwd === 'string');
    assert.ok(!JSON.stringify(records).includes('very-secret-value'));
    assert.ok(!JSON.stringify(records).includes('arg-secret-value'));
  });

  it('close() escalates to SIGKILL for a child that ignores EOF and SIGTERM', async () => {
    const l = await open(fixtureConfig('legacy', ['--ignore-sigterm']), { graceMs: 300 });
    const pid = l.pid as number;
    assert.ok(alive(pid));
    await l.close();
    assert.equal(alive(pid), false);
    assert.equal(l.proc.exit?.signal, 'SIGKILL');
  });

  it('close() lets a well-behaved child exit on EOF', async () => {
    const l = await open(fixtureConfig('legacy'), { graceMs: 5000 });
    const pid = l.pid as number;
    await l.close();
    assert.equal(alive(pid), false);
    assert.equal(l.proc.exit?.code, 0);
  });
});
