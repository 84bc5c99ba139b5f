/** LinkSupervisor with in-memory fake links: start sharing, restarts, crash windows, idle, lifetime, stop. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { LinkSupervisor, backoffDelay, type SupervisorPolicy, type SupervisorState } from '../../src/upstreams/supervisor.js';
import { GatewayError } from '../../src/pipeline/errors.js';
import type { CallOutcome } from '../../src/mcp/jsonrpc.js';
import type { LinkEvent, UpstreamLink } from '../../src/upstreams/types.js';

class FakeLink implements UpstreamLink {
  readonly era = 'legacy' as const;
  readonly info = { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 'fake', version: '1' } };
  inFlight = 0;
  closed = false;
  closeCalls = 0;
  private readonly handlers: ((e: LinkEvent) => void)[] = [];
  constructor(readonly n: number) {}
  call(): Promise<CallOutcome> {
    return Promise.resolve({ result: { n: this.n } });
  }
  notify(): void {}
  onEvent(h: (e: LinkEvent) => void): void {
    this.handlers.push(h);
  }
  crash(reason = 'boom'): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.handlers) h({ type: 'closed', reason });
  }
  close(): Promise<void> {
    this.closeCalls++;
    this.crash('closed by gateway');
    return Promise.resolve();
  }
}

const policy = (p: Partial<SupervisorPolicy> = {}): SupervisorPolicy => ({
  initialDelayMs: 10,
  maxDelayMs: 50,
  maxRestarts: 3,
  windowMs: 60_000,
  idleTimeoutMs: 0,
  maxLifetimeMs: 0,
  ...p,
});

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sups: LinkSupervisor[] = [];
after(async () => {
  await Promise.all(sups.map((s) => s.stop()));
});

function make(p: Partial<SupervisorPolicy> = {}, failFirst = 0) {
  const links: FakeLink[] = [];
  let calls = 0;
  const states: SupervisorState[] = [];
  const sup = new LinkSupervisor(
    async () => {
      calls++;
      if (calls <= failFirst) throw new Error(`start ${calls} failed`);
      const l = new FakeLink(links.length + 1);
      links.push(l);
      return l;
    },
    policy(p),
    { random: () => 0.5, drainPollMs: 5 },
  );
  sup.onStateChange((s) => states.push(s));
  sups.push(sup);
  return { sup, links, states, calls: () => calls };
}

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    const p = { initialDelayMs: 100, maxDelayMs: 1000 };
    const top = () => 0.999999;
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, p, top)),
      [99, 199, 399, 799, 999, 999],
    );
    assert.equal(backoffDelay(3, p, () => 0), 1);
    assert.equal(backoffDelay(3, p, () => 0.5), 200);
    assert.equal(backoffDelay(1000, p, top), 999, 'no overflow for large n');
  });
});

describe('LinkSupervisor', () => {
  it('starts on first use and shares one start among concurrent callers', async () => {
    const { sup, links, states, calls } = make();
    assert.equal(sup.state, 'idle');
    const got = await Promise.all([sup.get(), sup.get(), sup.get()]);
    assert.equal(calls(), 1);
    assert.ok(got.every((l) => l === links[0]));
    assert.deepEqual(states, ['starting', 'healthy']);
    assert.equal(await sup.get(), links[0]);
  });

  it('restarts after a crash with backoff and serves again', async () => {
    const { sup, links, states } = make();
    await sup.get();
    links[0]?.crash('exited code=1 signal=null');
    assert.equal(sup.state, 'restarting');
    assert.equal(sup.stateReason, 'exited code=1 signal=null');
    const next = await sup.get(); // waits for the scheduled restart
    assert.equal(next, links[1]);
    assert.equal(sup.state, 'healthy');
    assert.deepEqual(states, ['starting', 'healthy', 'restarting', 'healthy']);
    assert.equal(sup.recentCrashes, 1);
  });

  it('restarts in the background without any caller', async () => {
    const { sup, links } = make();
    await sup.get();
    links[0]?.crash();
    await waitFor(() => sup.state === 'healthy', 'background restart');
    assert.equal(links.length, 2);
  });

  it('stays unhealthy after maxRestarts crashes within the window, until reset()', async () => {
    const { sup, links, calls } = make({ maxRestarts: 2 });
    await sup.get();
    for (let i = 0; i < 3; i++) {
      links[i]?.crash();
      if (i < 2) await waitFor(() => sup.state === 'healthy', `restart ${i + 1}`);
    }
    assert.equal(sup.state, 'unhealthy');
    assert.equal(calls(), 3);
    await assert.rejects(sup.get(), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_UNAVAILABLE');
    assert.equal(calls(), 3, 'no start while unhealthy');
    sup.reset();
    assert.equal(sup.state, 'idle');
    assert.equal(await sup.get(), links[3]);
  });

  it('recovers on get() once the crash window has passed', async () => {
    const { sup, links } = make({ maxRestarts: 0, windowMs: 100 });
    await sup.get();
    links[0]?.crash();
    assert.equal(sup.state, 'unhealthy');
    await assert.rejects(sup.get());
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(await sup.get(), links[1]);
  });

  it('counts failed starts as crashes and rejects the waiting caller', async () => {
    const { sup, calls } = make({ maxRestarts: 1 }, 10);
    await assert.rejects(sup.get(), /start 1 failed/);
    await waitFor(() => sup.state === 'unhealthy', 'unhealthy after failed restarts');
    assert.equal(calls(), 2);
    await assert.rejects(sup.get(), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_UNAVAILABLE');
  });

  it('closes an idle link, but not while calls are in flight', async () => {
    const { sup, links, states } = make({ idleTimeoutMs: 30 });
    const l = (await sup.get()) as FakeLink;
    l.inFlight = 1;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(l.closed, false, 'busy link stays open');
    l.inFlight = 0;
    await waitFor(() => l.closed, 'idle close');
    assert.equal(sup.state, 'idle');
    assert.equal(sup.recentCrashes, 0, 'an idle close is not a crash');
    assert.ok(states.includes('idle'));
    assert.equal(await sup.get(), links[1], 'next get() starts a new link');
  });

  it('recycles after maxLifetime: new calls get the replacement, the old link drains first', async () => {
    const { sup, links } = make({ maxLifetimeMs: 30 });
    const old = (await sup.get()) as FakeLink;
    old.inFlight = 2;
    await waitFor(() => links.length >= 2 && sup.current === links[1], 'replacement');
    assert.equal(await sup.get(), links[1]);
    assert.equal(old.closed, false, 'old link still has calls in flight');
    old.inFlight = 0;
    await waitFor(() => old.closed, 'drained old link closed');
    assert.equal(sup.recentCrashes, 0);
    assert.equal(sup.state, 'healthy');
  });

  it('a replacement that keeps failing to start is retried with backoff; the old link keeps serving', async () => {
    let starts = 0;
    const failures: number[] = [];
    const first = new FakeLink(1);
    const sup = new LinkSupervisor(
      async () => {
        starts++;
        if (starts === 1) return first;
        throw new Error('port busy');
      },
      policy({ maxLifetimeMs: 20, initialDelayMs: 20, maxDelayMs: 400 }),
      { random: () => 0.5, onRecycleFailed: (_e, attempt) => failures.push(attempt) },
    );
    sups.push(sup);
    assert.equal(await sup.get(), first);
    await waitFor(() => failures.length >= 1, 'first failed replacement');
    await new Promise((r) => setTimeout(r, 1000));
    // Backoff 10, 20, 40, 80, 160, 200, 200, … ms (jitter 0.5): about 8 in a second. Retrying
    // every initialDelay (20 ms), as before, made about 50.
    assert.ok(failures.length >= 4 && failures.length <= 12, `replacement attempts in 1 s: ${failures.length}`);
    assert.deepEqual(failures, failures.map((_, i) => i + 1), 'attempts counted in a row');
    assert.equal(await sup.get(), first, 'the old link still serves');
    assert.equal(sup.state, 'healthy');
    assert.equal(sup.recentCrashes, 0);
  });

  it('stop() closes the link, cancels a pending backoff and rejects later calls', async () => {
    const { sup, links } = make({ initialDelayMs: 60_000, maxDelayMs: 60_000 });
    await sup.get();
    links[0]?.crash();
    assert.equal(sup.state, 'restarting');
    const waiting = sup.get();
    await sup.stop();
    await assert.rejects(waiting);
    assert.equal(sup.state, 'stopped');
    assert.equal(links.length, 1, 'no restart after stop');
    await assert.rejects(sup.get(), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_UNAVAILABLE');
  });

  it('stop() during a start closes the link that start produces', async () => {
    let release: (l: FakeLink) => void = () => undefined;
    const late = new FakeLink(1);
    const sup = new LinkSupervisor(() => new Promise<UpstreamLink>((r) => (release = r)), policy());
    sups.push(sup);
    const pending = sup.get();
    await new Promise((r) => setImmediate(r));
    const stopping = sup.stop();
    release(late);
    await stopping;
    await assert.rejects(pending);
    assert.equal(late.closed, true);
  });
});

describe('LinkSupervisor.updatePolicy (config reload)', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('a maxLifetime lowered below the live link\'s age recycles it promptly; the old link drains first', async () => {
    const { sup, links } = make({ maxLifetimeMs: 60_000 });
    const old = (await sup.get()) as FakeLink;
    old.inFlight = 1;
    await sleep(40);
    sup.updatePolicy(policy({ maxLifetimeMs: 20 }));
    await waitFor(() => links.length >= 2 && sup.current === links[1], 'replacement after the lowered lifetime', 300);
    assert.equal(await sup.get(), links[1]);
    assert.equal(old.closed, false, 'the old link still has a call in flight');
    old.inFlight = 0;
    await waitFor(() => old.closed, 'drained old link closed', 300);
    assert.equal(links.length, 2);
    assert.equal(sup.recentCrashes, 0);
    assert.equal(sup.state, 'healthy');
  });

  it('maxLifetime 0 cancels a pending recycle: the link stays past the old lifetime', async () => {
    const { sup, links } = make({ maxLifetimeMs: 40 });
    const link = (await sup.get()) as FakeLink;
    sup.updatePolicy(policy({ maxLifetimeMs: 0 }));
    await sleep(150);
    assert.equal(links.length, 1, 'no replacement was started');
    assert.equal(link.closed, false);
    assert.equal(sup.current, link);
    assert.equal(sup.state, 'healthy');
  });

  it('a new idleTimeout re-arms the idle timer: the link closes after the new, shorter idle time', async () => {
    const { sup } = make({ idleTimeoutMs: 60_000 });
    const link = (await sup.get()) as FakeLink;
    const updated = Date.now();
    sup.updatePolicy(policy({ idleTimeoutMs: 30 }));
    await waitFor(() => link.closed, 'idle close under the new timeout', 300);
    assert.ok(Date.now() - updated >= 25, 'not before the new idle time');
    assert.equal(sup.state, 'idle');
    assert.equal(sup.stateReason, 'idle timeout');
    assert.equal(sup.recentCrashes, 0);
  });
});
