/**
 * The resilience building blocks with injected clocks and readings: breaker transitions,
 * bulkhead admission, retry classification and backoff, the read cache's scope/TTL/bounds, and
 * the overload monitor's hysteresis.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker, type BreakerState } from '../../../src/upstreams/resilience/breaker.js';
import { Bulkhead } from '../../../src/upstreams/resilience/bulkhead.js';
import { compileOverload, compileResilience } from '../../../src/upstreams/resilience/compile.js';
import { OverloadConfig, ResilienceConfig } from '../../../src/upstreams/resilience/config.js';
import { ReadCache } from '../../../src/upstreams/resilience/read-cache.js';
import { backoffMs, isSafe, isTransient, verdictOf } from '../../../src/upstreams/resilience/retry.js';
import { GatewayError } from '../../../src/pipeline/errors.js';
import { OverloadMonitor, type LoadReading } from '../../../src/runtime/overload.js';
import { createLogger } from '../../../src/observability/logger.js';
import { UpstreamGuard } from '../../../src/upstreams/resilience/guard.js';
import { CallCancel } from '../../../src/pipeline/context.js';

const compiled = (over: Record<string, unknown> = {}) => compileResilience(ResilienceConfig.parse(over));
const fail = (code: ConstructorParameters<typeof GatewayError>[0]) => ({ error: new GatewayError(code).toRpcError() });

describe('circuit breaker', () => {
  it('defaults: opens after 5 consecutive failures, half-opens after openFor, one probe, closes on success', () => {
    let t = 1_000;
    const moves: string[] = [];
    const b = new CircuitBreaker(compiled().breaker, (f, to) => moves.push(`${f}>${to}`), () => t);
    for (let i = 0; i < 4; i++) b.record(b.tryAcquire()!, 'failure');
    assert.equal(b.state, 'closed');
    b.record(b.tryAcquire()!, 'failure');
    assert.equal(b.state, 'open');
    assert.equal(b.tryAcquire(), undefined);
    t += 10_000;
    assert.equal(b.state, 'half-open');
    const probe = b.tryAcquire();
    assert.equal(probe, 'probe');
    assert.equal(b.tryAcquire(), undefined, 'one probe at a time');
    b.record(probe!, 'success');
    assert.equal(b.state, 'closed');
    assert.deepEqual(moves, ['closed>open', 'open>half-open', 'half-open>closed']);
  });

  it('a failed probe re-opens; neutral outcomes and deliberate errors never open it', () => {
    let t = 0;
    const b = new CircuitBreaker(compiled({ breaker: { consecutiveFailures: 2, openFor: 100 } }).breaker, () => {}, () => t);
    for (let i = 0; i < 50; i++) b.record(b.tryAcquire()!, i % 2 ? 'neutral' : 'success');
    assert.equal(b.state, 'closed');
    b.record(b.tryAcquire()!, 'failure');
    b.record(b.tryAcquire()!, 'failure');
    assert.equal(b.state, 'open');
    t += 100;
    b.record(b.tryAcquire()!, 'failure');
    assert.equal(b.state, 'open');
    t += 50;
    assert.equal(b.state, 'open', 'the open period restarts from the failed probe');
  });

  it('failure rate: 50 % of at least 20 calls in the window opens it; old buckets slide out', () => {
    let t = 0;
    const b = new CircuitBreaker(compiled({ breaker: { consecutiveFailures: 0 } }).breaker, () => {}, () => t);
    for (let i = 0; i < 18; i++) b.record(b.tryAcquire()!, i % 2 ? 'failure' : 'success');
    assert.equal(b.state, 'closed', 'fewer than minimumCalls');
    t += 31_000; // the window has slid past all of them
    for (let i = 0; i < 18; i++) b.record(b.tryAcquire()!, i % 2 ? 'failure' : 'success');
    assert.equal(b.state, 'closed');
    b.record(b.tryAcquire()!, 'success');
    b.record(b.tryAcquire()!, 'failure');
    assert.equal(b.state, 'open');
  });

  it('reset (the upstream reconnected and re-read its catalogue) closes an open circuit', () => {
    const moves: string[] = [];
    const b = new CircuitBreaker(compiled({ breaker: { consecutiveFailures: 1 } }).breaker, (f, to) => moves.push(`${f}>${to}`));
    b.record(b.tryAcquire()!, 'failure');
    assert.equal(b.state, 'open');
    b.reset();
    assert.equal(b.state, 'closed');
    assert.deepEqual(moves, ['closed>open', 'open>closed']);
  });

  it('disabled: always admits', () => {
    const b = new CircuitBreaker(compiled({ breaker: { enabled: false } }).breaker, () => assert.fail('no transition'));
    for (let i = 0; i < 20; i++) b.record(b.tryAcquire()!, 'failure');
    assert.equal(b.state satisfies BreakerState, 'closed');
  });

  it('update (config reload): disabling an open breaker closes it and lets calls through', () => {
    const t = 0;
    const moves: string[] = [];
    const b = new CircuitBreaker(compiled({ breaker: { consecutiveFailures: 1 } }).breaker, (f, to) => moves.push(`${f}>${to}`), () => t);
    b.record(b.tryAcquire()!, 'failure');
    assert.equal(b.state, 'open');
    assert.equal(b.tryAcquire(), undefined);
    b.update(compiled({ breaker: { enabled: false } }).breaker);
    assert.equal(b.state, 'closed');
    assert.equal(b.tryAcquire(), 'call');
    assert.deepEqual(moves, ['closed>open', 'open>closed']);
  });

  it('update with the same window and new thresholds keeps an open breaker open, under the new openFor', () => {
    let t = 1_000;
    const b = new CircuitBreaker(compiled({ breaker: { consecutiveFailures: 1, openFor: '10s' } }).breaker, () => {}, () => t);
    b.record(b.tryAcquire()!, 'failure');
    assert.equal(b.state, 'open');
    b.update(compiled({ breaker: { consecutiveFailures: 3, failureRate: 80, minimumCalls: 5, openFor: '1s', halfOpenProbes: 2 } }).breaker);
    assert.equal(b.state, 'open', 'the state survives the update');
    assert.equal(b.tryAcquire(), undefined);
    t += 999;
    assert.equal(b.state, 'open');
    t += 1;
    assert.equal(b.state, 'half-open', 'the new openFor counts from when the circuit opened');
    assert.equal(b.tryAcquire(), 'probe');
    assert.equal(b.tryAcquire(), 'probe', 'the new halfOpenProbes applies');
  });

  it('update with a new window starts the failure-rate count afresh; the same window keeps it', () => {
    const t = 0;
    const rate = (window: string) => compiled({ breaker: { consecutiveFailures: 0, failureRate: 50, minimumCalls: 4, window } }).breaker;
    // Three calls, two failed: one more failure reaches minimumCalls at over 50 % and opens.
    const oneShort = (): CircuitBreaker => {
      const b = new CircuitBreaker(rate('30s'), () => {}, () => t);
      b.record(b.tryAcquire()!, 'success');
      b.record(b.tryAcquire()!, 'failure');
      b.record(b.tryAcquire()!, 'failure');
      assert.equal(b.state, 'closed');
      return b;
    };
    const same = oneShort();
    same.update(rate('30s'));
    same.record(same.tryAcquire()!, 'failure');
    assert.equal(same.state, 'open', 'an unchanged window keeps its counts');

    const changed = oneShort();
    changed.update(rate('60s'));
    for (let i = 0; i < 3; i++) {
      changed.record(changed.tryAcquire()!, 'failure');
      assert.equal(changed.state, 'closed', `failure ${i + 1} after the window change is below minimumCalls`);
    }
    changed.record(changed.tryAcquire()!, 'failure');
    assert.equal(changed.state, 'open', 'the full count (minimumCalls) opens it again');
  });
});

describe('bulkhead', () => {
  it('admits maxInFlight at once, queues up to queue, refuses the rest with ERR_UPSTREAM_BUSY', async () => {
    const h = new Bulkhead(compiled({ bulkhead: { maxInFlight: 2, queue: 1, queueTimeout: '5s' } }).bulkhead);
    const s = new AbortController().signal;
    assert.equal(h.acquire(s), true);
    assert.equal(h.acquire(s), true);
    const waiting = h.acquire(s);
    assert.ok(waiting instanceof Promise);
    assert.throws(() => h.acquire(s), (e: GatewayError) => e.code === 'ERR_UPSTREAM_BUSY');
    h.release();
    await waiting;
    assert.equal(h.inFlight, 2);
    assert.equal(h.queued, 0);
  });

  it('a queued call gives up at queueTimeout (ERR_UPSTREAM_BUSY) or when its caller aborts', async () => {
    const h = new Bulkhead(compiled({ bulkhead: { maxInFlight: 1, queue: 2, queueTimeout: 20 } }).bulkhead);
    const ac = new AbortController();
    assert.equal(h.acquire(ac.signal), true);
    const timedOut = h.acquire(new AbortController().signal) as Promise<void>;
    const aborted = h.acquire(ac.signal) as Promise<void>;
    ac.abort();
    await assert.rejects(aborted, (e: GatewayError) => e.code === 'ERR_CANCELLED');
    await assert.rejects(timedOut, (e: GatewayError) => e.code === 'ERR_UPSTREAM_BUSY');
    assert.equal(h.queued, 0);
  });

  it('update raising maxInFlight grants queued waiters at once', async () => {
    const h = new Bulkhead(compiled({ bulkhead: { maxInFlight: 1, queue: 2, queueTimeout: 200 } }).bulkhead);
    const s = new AbortController().signal;
    assert.equal(h.acquire(s), true);
    const w1 = h.acquire(s);
    const w2 = h.acquire(s);
    assert.ok(w1 instanceof Promise && w2 instanceof Promise);
    // Settled either way within queueTimeout: nothing hangs or rejects unhandled if the update fails to grant.
    const settled = Promise.allSettled([w1, w2]);
    assert.equal(h.queued, 2);
    h.update(compiled({ bulkhead: { maxInFlight: 3, queue: 2, queueTimeout: 200 } }).bulkhead);
    assert.equal(h.inFlight, 3);
    assert.equal(h.queued, 0);
    assert.deepEqual((await settled).map((r) => r.status), ['fulfilled', 'fulfilled']);
  });

  it('update lowering maxInFlight keeps the slots held and refuses new acquires beyond the new limit', () => {
    const h = new Bulkhead(compiled({ bulkhead: { maxInFlight: 3, queue: 0 } }).bulkhead);
    const s = new AbortController().signal;
    for (let i = 0; i < 3; i++) assert.equal(h.acquire(s), true);
    h.update(compiled({ bulkhead: { maxInFlight: 1, queue: 0 } }).bulkhead);
    assert.equal(h.inFlight, 3, 'calls holding a slot keep it');
    assert.throws(() => h.acquire(s), (e: GatewayError) => e.code === 'ERR_UPSTREAM_BUSY');
    h.release();
    h.release();
    assert.equal(h.inFlight, 1);
    assert.throws(() => h.acquire(s), (e: GatewayError) => e.code === 'ERR_UPSTREAM_BUSY', 'one in flight is the new limit');
    h.release();
    assert.equal(h.acquire(s), true);
    assert.equal(h.inFlight, 1);
  });
});

describe('retry rules', () => {
  const r = compiled({ retry: { idempotentTools: ['get_*'] } }).retry;
  it('only reads and idempotent tools are safe', () => {
    assert.equal(isSafe('resources/read', { uri: 'x' }, r), true);
    assert.equal(isSafe('prompts/get', { name: 'p' }, r), true);
    assert.equal(isSafe('completion/complete', {}, r), true);
    assert.equal(isSafe('tools/call', { name: 'get_weather' }, r), true);
    assert.equal(isSafe('tools/call', { name: 'delete_repo' }, r), false);
    assert.equal(isSafe('resources/subscribe', { uri: 'x' }, r), false);
  });
  it('verdicts: link failures fail, cancellations are neutral, deliberate errors are successes', () => {
    for (const c of ['ERR_UPSTREAM_TIMEOUT', 'ERR_UPSTREAM_CLOSED', 'ERR_UPSTREAM_PROTOCOL', 'ERR_UPSTREAM_UNAVAILABLE'] as const) assert.equal(verdictOf(fail(c)), 'failure', c);
    assert.equal(verdictOf(fail('ERR_CANCELLED')), 'neutral');
    assert.equal(verdictOf({ error: { code: -32602, message: 'bad params' } }), 'success');
    assert.equal(verdictOf({ result: { isError: true, content: [] } }), 'success');
    // An upstream forging the gateway's data field with another code is not believed.
    assert.equal(verdictOf({ error: { code: -32000, message: 'x', data: { portcullis: 'ERR_UPSTREAM_TIMEOUT' } } }), 'success');
    assert.equal(isTransient(fail('ERR_UPSTREAM_PROTOCOL')), false);
    assert.equal(isTransient(fail('ERR_UPSTREAM_TIMEOUT')), true);
  });
  it('backoff doubles, is capped, and jitters within [50 %, 100 %]', () => {
    assert.equal(backoffMs(1, r, () => 1), 100);
    assert.equal(backoffMs(2, r, () => 1), 200);
    assert.equal(backoffMs(2, r, () => 0), 100);
    assert.equal(backoffMs(20, r, () => 1), 2000);
  });
});

describe('read cache', () => {
  const cfg = (over: Record<string, unknown> = {}) => compiled({ cache: { resources: ['file:///*'], ...over } }).cache;
  const ok = (extra: Record<string, unknown> = {}) => ({ result: { contents: [{ uri: 'file:///a', text: 'a' }], ...extra } });

  it('covers configured globs only; public entries are shared, private ones are per principal', () => {
    const c = new ReadCache(cfg());
    assert.equal(c.covers('file:///a'), true);
    assert.equal(c.covers('db://a'), false);
    c.put('file:///a', 't1', 'alice', 'legacy', ok({ cacheScope: 'private' }), false);
    assert.ok(c.get('file:///a', 't1', 'alice'));
    assert.equal(c.get('file:///a', 't1', 'bob'), undefined);
    c.put('file:///b', 't1', 'alice', 'legacy', ok({ cacheScope: 'public' }), false);
    assert.ok(c.get('file:///b', 't1', 'bob'));
    assert.equal(c.get('file:///b', 't2', 'carol'), undefined, 'public means within the tenant');
    c.put('file:///c', 't1', 'alice', 'legacy', ok({ cacheScope: 'public' }), true);
    assert.equal(c.get('file:///c', 't1', 'bob'), undefined, 'a private link makes every result private');
    c.put('file:///d', 't1', 'alice', 'legacy', ok(), false);
    assert.equal(c.get('file:///d', 't1', 'bob'), undefined, 'no hint: the configured scope (private)');
  });

  it('TTL is the smaller of config and ttlMs; ttlMs 0, errors and input_required are never stored', () => {
    let t = 0;
    const c = new ReadCache(cfg({ ttl: '60s' }), () => t);
    c.put('file:///a', 't1', 'p', 'modern', ok({ ttlMs: 1000 }), false);
    c.put('file:///z', 't1', 'p', 'modern', ok({ ttlMs: 0 }), false);
    c.put('file:///e', 't1', 'p', 'modern', fail('ERR_UPSTREAM_TIMEOUT'), false);
    c.put('file:///i', 't1', 'p', 'modern', { result: { resultType: 'input_required', inputRequests: {} } }, false);
    assert.equal(c.size, 1);
    t = 999;
    assert.ok(c.get('file:///a', 't1', 'p'));
    t = 1000;
    assert.equal(c.get('file:///a', 't1', 'p'), undefined);
  });

  it('bounded by entries and bytes, least recently used first', () => {
    const c = new ReadCache(cfg({ maxEntries: 2, maxBytes: 10_000, maxEntryBytes: 5_000 }));
    c.put('file:///1', 't1', 'p', 'legacy', ok(), false);
    c.put('file:///2', 't1', 'p', 'legacy', ok(), false);
    c.get('file:///1', 't1', 'p');
    c.put('file:///3', 't1', 'p', 'legacy', ok(), false);
    assert.ok(c.get('file:///1', 't1', 'p'));
    assert.equal(c.get('file:///2', 't1', 'p'), undefined);
    c.put('file:///big', 't1', 'p', 'legacy', ok({ pad: 'x'.repeat(6_000) }), false);
    assert.equal(c.get('file:///big', 't1', 'p'), undefined, 'over maxEntryBytes');
    const d = new ReadCache(cfg({ maxEntries: 100, maxBytes: 1_000 }));
    for (let i = 0; i < 20; i++) d.put(`file:///${i}`, 't1', 'p', 'legacy', ok({ pad: 'x'.repeat(200) }), false);
    assert.ok(d.totalBytes <= 1_000);
    assert.ok(d.size < 20 && d.size > 0);
  });

  it('update empties the cache and applies the new settings', () => {
    const c = new ReadCache(cfg({ scope: 'public' }));
    c.put('file:///a', 't1', 'alice', 'legacy', ok(), false);
    c.put('file:///b', 't1', 'alice', 'legacy', ok({ cacheScope: 'private' }), false);
    assert.equal(c.size, 2);
    assert.ok(c.get('file:///a', 't1', 'bob'));
    c.update(compiled({ cache: { resources: ['db://*'] } }).cache);
    assert.equal(c.size, 0);
    assert.equal(c.totalBytes, 0);
    assert.equal(c.get('file:///a', 't1', 'bob'), undefined);
    assert.equal(c.get('file:///b', 't1', 'alice'), undefined);
    assert.equal(c.covers('file:///a'), false);
    assert.equal(c.covers('db://x'), true);
  });
});

describe('overload monitor', () => {
  it('sheds above a threshold and recovers only below recoverAt of it (hysteresis); 0 disables', () => {
    let reading: LoadReading = { lagMs: 10, heapFraction: 0.5 };
    const m = new OverloadMonitor(createLogger('silent'), () => reading);
    m.configure(compileOverload(OverloadConfig.parse({ eventLoopLag: '500ms', heapUsedPercent: 90, recoverAt: 80, sampleInterval: '1h' })));
    assert.equal(m.shedding, false);
    reading = { lagMs: 600, heapFraction: 0.5 };
    m.sample();
    m.sample();
    assert.equal(m.shedding, false, 'lag must last three samples: one long task is not overload');
    reading = { lagMs: 20, heapFraction: 0.5 };
    m.sample();
    reading = { lagMs: 600, heapFraction: 0.5 };
    m.sample();
    m.sample();
    assert.equal(m.shedding, false, 'an interrupted run starts counting again');
    m.sample();
    assert.equal(m.shedding, true);
    reading = { lagMs: 450, heapFraction: 0.5 };
    m.sample();
    assert.equal(m.shedding, true, 'below the threshold but above 80 % of it');
    reading = { lagMs: 390, heapFraction: 0.5 };
    m.sample();
    assert.equal(m.shedding, false);
    reading = { lagMs: 0, heapFraction: 0.95 };
    m.sample();
    assert.equal(m.shedding, true, 'heap rule');
    m.configure(compileOverload(OverloadConfig.parse({ eventLoopLag: 0, heapUsedPercent: 0 })));
    assert.equal(m.shedding, false, 'both rules off');
    m.stop();
  });

  it('measures real readings when no reader is injected', () => {
    const m = new OverloadMonitor(createLogger('silent'));
    m.configure(compileOverload(OverloadConfig.parse({})));
    assert.ok(m.reading.heapFraction > 0 && m.reading.heapFraction < 1);
    assert.equal(m.shedding, false);
    m.stop();
  });
});

describe('upstream guard', () => {
  const guardOf = (over: Record<string, unknown> = {}) => new UpstreamGuard('u', compiled(over), createLogger('silent'));
  const signal = new AbortController().signal;

  it('retries a safe call after transient failures, within attempts; never an unsafe one', async () => {
    const g = guardOf({ retry: { attempts: 2, initialDelay: 1 } });
    let n = 0;
    const flaky = async () => (++n < 3 ? fail('ERR_UPSTREAM_CLOSED') : { result: { ok: true } });
    assert.deepEqual(await g.run(true, signal, flaky), { result: { ok: true } });
    assert.equal(n, 3);
    n = 0;
    assert.ok('error' in (await g.run(false, signal, flaky)));
    assert.equal(n, 1, 'unsafe: one attempt');
    n = 0;
    const always = async () => (n++, fail('ERR_UPSTREAM_TIMEOUT'));
    assert.ok('error' in (await g.run(true, signal, always)));
    assert.equal(n, 3, 'first attempt + 2 retries');
    n = 0;
    const protocol = async () => (n++, fail('ERR_UPSTREAM_PROTOCOL'));
    await g.run(true, signal, protocol);
    assert.equal(n, 1, 'a protocol error would only repeat');
  });

  it('stops retrying when the call is aborted, or when maxElapsed leaves no room', async () => {
    const g = guardOf({ retry: { attempts: 5, initialDelay: 50 }, breaker: { enabled: false } });
    const ac = new AbortController();
    let n = 0;
    const p = g.run(true, ac.signal, async () => (n++, fail('ERR_UPSTREAM_TIMEOUT')));
    setTimeout(() => ac.abort(), 10);
    await p;
    assert.equal(n, 1);
    // The pipeline's own cancellation (no AbortSignal built) stops a backoff the same way.
    const cancel = new CallCancel();
    n = 0;
    const started = Date.now();
    const q = g.run(true, cancel, async () => (n++, fail('ERR_UPSTREAM_TIMEOUT')));
    setTimeout(() => cancel.abort(), 10);
    await q;
    assert.equal(n, 1);
    assert.ok(Date.now() - started < 2000, 'the wait ended with the cancellation, not after the backoff');
    const h = guardOf({ retry: { attempts: 5, initialDelay: '5s', maxElapsed: '1s' } });
    n = 0;
    await h.run(true, signal, async () => (n++, fail('ERR_UPSTREAM_TIMEOUT')));
    assert.equal(n, 1, 'the first backoff already exceeds maxElapsed');
  });

  it('an open circuit refuses with ERR_CIRCUIT_OPEN without calling; a full bulkhead with ERR_UPSTREAM_BUSY', async () => {
    const g = guardOf({ retry: { attempts: 0 }, breaker: { consecutiveFailures: 1 }, bulkhead: { maxInFlight: 1 } });
    await g.run(false, signal, async () => fail('ERR_UPSTREAM_CLOSED'));
    assert.equal(g.breakerState, 'open');
    let called = false;
    await assert.rejects(
      g.run(false, signal, async () => ((called = true), { result: {} })),
      (e: GatewayError) => e.code === 'ERR_CIRCUIT_OPEN',
    );
    assert.throws(() => g.refuseIfOpen(), (e: GatewayError) => e.code === 'ERR_CIRCUIT_OPEN');
    assert.equal(called, false);

    const h = guardOf({ bulkhead: { maxInFlight: 1, queue: 0 } });
    let release!: () => void;
    const first = h.run(false, signal, () => new Promise((r) => (release = () => r({ result: {} }))));
    await assert.rejects(h.run(false, signal, async () => ({ result: {} })), (e: GatewayError) => e.code === 'ERR_UPSTREAM_BUSY');
    release();
    await first;
    assert.equal(h.bulkhead.inFlight, 0);
    assert.deepEqual(await h.run(false, signal, async () => ({ result: { again: 1 } })), { result: { again: 1 } });
  });

  it('logs each breaker transition once as upstream.breaker with from and to', async () => {
    const lines: string[] = [];
    const { Writable } = await import('node:stream');
    const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
    const g = new UpstreamGuard('u', compiled({ breaker: { consecutiveFailures: 2 } }), createLogger('info', sink, { envOverride: false }));
    for (let i = 0; i < 5; i++) await g.run(false, signal, async () => fail('ERR_UPSTREAM_CLOSED')).catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; upstream: string; from: string; to: string }).filter((l) => l.msg === 'upstream.breaker');
    assert.deepEqual(logged.map((l) => [l.upstream, l.from, l.to]), [['u', 'closed', 'open']]);
  });

  it('update hands the new settings to the breaker (disabling closes an open circuit) and empties the cache', async () => {
    const g = guardOf({ retry: { attempts: 0 }, breaker: { consecutiveFailures: 1 }, cache: { resources: ['file:///*'] } });
    await g.run(false, signal, async () => fail('ERR_UPSTREAM_CLOSED'));
    assert.equal(g.breakerState, 'open');
    g.cache.put('file:///a', 't1', 'p', 'legacy', { result: { contents: [] } }, false);
    assert.equal(g.cache.size, 1);
    g.update(compiled({ retry: { attempts: 0 }, breaker: { enabled: false }, cache: { resources: ['file:///*'] } }));
    assert.equal(g.breakerState, 'closed');
    assert.doesNotThrow(() => g.refuseIfOpen());
    assert.deepEqual(await g.run(false, signal, async () => ({ result: { through: 1 } })), { result: { through: 1 } });
    assert.equal(g.cache.size, 0);
  });
});
