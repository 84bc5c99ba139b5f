/** Contract of UpstreamEventStore: every backend must pass it unchanged. */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { RECENT_EVENTS_MAX, type UpstreamEvent, type UpstreamState } from '../../src/storage/ports.js';
import { persistentCase, reopenOf, type BackendTraits, type StoreFactory, type StoreHarness } from './harness.js';

const T0 = Date.UTC(2026, 6, 28, 0, 0, 0, 1);

function ev(upstream: string, offsetMs: number, state: UpstreamState = 'healthy', reason?: string): UpstreamEvent {
  const e: UpstreamEvent = { upstream, at: new Date(T0 + offsetMs), state };
  if (reason !== undefined) e.reason = reason;
  return e;
}

/** Registers the UpstreamEventStore contract for one backend. */
export function upstreamEventContract(name: string, factory: StoreFactory, traits: BackendTraits = {}): void {
  async function open(t: TestContext): Promise<StoreHarness> {
    const h = await factory();
    t.after(() => h.cleanup());
    return h;
  }

  describe(`UpstreamEventStore contract: ${name}`, () => {
    it('recent of an unknown upstream is []', async (t) => {
      const { store } = await open(t);
      assert.deepEqual(await store.upstreamEvents.recent('nope', 10), []);
    });

    it('recent is newest first by `at`, whatever the append order, with fields intact', async (t) => {
      const { store } = await open(t);
      const es = [ev('a', 20, 'unhealthy', 'connect ECONNREFUSED'), ev('a', 0, 'starting'), ev('a', 30, 'stopped', ''), ev('a', 10, 'healthy')];
      for (const e of es) await store.upstreamEvents.append(e);
      const got = await store.upstreamEvents.recent('a', 10);
      assert.deepEqual(got, [es[2], es[0], es[3], es[1]]);
      assert.ok(got.every((e) => e.at instanceof Date));
      assert.equal('reason' in got[3]!, false, 'an absent reason stays absent');
    });

    it('events with the same `at` come back latest-appended first', async (t) => {
      const { store } = await open(t);
      for (const s of ['starting', 'healthy', 'unhealthy'] as const) await store.upstreamEvents.append(ev('a', 5, s));
      assert.deepEqual((await store.upstreamEvents.recent('a', 10)).map((e) => e.state), ['unhealthy', 'healthy', 'starting']);
    });

    it('keeps upstreams apart', async (t) => {
      const { store } = await open(t);
      await store.upstreamEvents.append(ev('a', 1));
      await store.upstreamEvents.append(ev('b', 2, 'stopped'));
      await store.upstreamEvents.append(ev('a', 3, 'unhealthy'));
      assert.deepEqual((await store.upstreamEvents.recent('a', 10)).map((e) => e.state), ['unhealthy', 'healthy']);
      assert.deepEqual(await store.upstreamEvents.recent('b', 10), [ev('b', 2, 'stopped')]);
    });

    it('round-trips `at` with millisecond precision', async (t) => {
      const { store } = await open(t);
      const at = new Date(Date.UTC(2031, 11, 31, 23, 59, 59, 999));
      await store.upstreamEvents.append({ upstream: 'a', at, state: 'healthy' });
      assert.equal((await store.upstreamEvents.recent('a', 1))[0]!.at.getTime(), at.getTime());
    });

    it('limit returns the newest n; 0, negative and NaN give []; fractions are floored', async (t) => {
      const { store } = await open(t);
      for (let i = 0; i < 5; i++) await store.upstreamEvents.append(ev('a', i));
      assert.deepEqual((await store.upstreamEvents.recent('a', 2)).map((e) => e.at.getTime() - T0), [4, 3]);
      assert.equal((await store.upstreamEvents.recent('a', 2.9)).length, 2);
      assert.deepEqual(await store.upstreamEvents.recent('a', 0), []);
      assert.deepEqual(await store.upstreamEvents.recent('a', -3), []);
      assert.deepEqual(await store.upstreamEvents.recent('a', Number.NaN), []);
    });

    it(`limit is capped at ${RECENT_EVENTS_MAX}`, async (t) => {
      const { store } = await open(t);
      const total = RECENT_EVENTS_MAX + 50;
      for (let i = 0; i < total; i++) await store.upstreamEvents.append(ev('a', i));
      for (const limit of [RECENT_EVENTS_MAX + 1, 1_000_000, Number.POSITIVE_INFINITY]) {
        const got = await store.upstreamEvents.recent('a', limit);
        assert.equal(got.length, RECENT_EVENTS_MAX);
        assert.equal(got[0]!.at.getTime(), T0 + total - 1);
      }
    });

    it('prune deletes events strictly older than the cutoff across upstreams and returns the count', async (t) => {
      const { store } = await open(t);
      for (let i = 0; i < 6; i++) await store.upstreamEvents.append(ev(i % 2 ? 'a' : 'b', i * 10));
      // Events at 0..50; cutoff 30 removes 0, 10, 20 and keeps the one exactly at 30.
      assert.equal(await store.upstreamEvents.prune(new Date(T0 + 30)), 3);
      assert.deepEqual((await store.upstreamEvents.recent('a', 10)).map((e) => e.at.getTime() - T0), [50, 30]);
      assert.deepEqual((await store.upstreamEvents.recent('b', 10)).map((e) => e.at.getTime() - T0), [40]);
      assert.equal(await store.upstreamEvents.prune(new Date(T0 + 30)), 0);
      assert.equal(await store.upstreamEvents.prune(new Date(T0 + 1_000_000)), 3);
      assert.deepEqual(await store.upstreamEvents.recent('a', 10), []);
    });

    it('rejects invalid dates and stays usable', async (t) => {
      const { store } = await open(t);
      await assert.rejects(store.upstreamEvents.append({ upstream: 'a', at: new Date('nope'), state: 'healthy' }), { name: 'GatewayError' });
      await assert.rejects(store.upstreamEvents.prune(new Date(Number.NaN)), { name: 'GatewayError' });
      await store.upstreamEvents.append(ev('a', 0));
      assert.equal((await store.upstreamEvents.recent('a', 10)).length, 1);
    });

    it('100 parallel appends all land', async (t) => {
      const { store } = await open(t);
      await Promise.all(Array.from({ length: 100 }, (_, i) => store.upstreamEvents.append(ev('a', i, 'healthy', `r${i}`))));
      const got = await store.upstreamEvents.recent('a', RECENT_EVENTS_MAX);
      assert.equal(got.length, 100);
      assert.equal(new Set(got.map((e) => e.reason)).size, 100);
    });

    it('after close every operation rejects', async (t) => {
      const { store } = await open(t);
      await store.close();
      await assert.rejects(store.upstreamEvents.append(ev('a', 0)));
      await assert.rejects(store.upstreamEvents.recent('a', 1));
      await assert.rejects(store.upstreamEvents.prune(new Date(T0)));
    });

    const persists = persistentCase(name, 'events survive close and reopen, and ordering continues after it', traits);
    it(persists.title, { skip: persists.skip }, async (t) => {
      const h = await open(t);
      const reopen = reopenOf(h);
      await h.store.upstreamEvents.append(ev('a', 7, 'starting'));
      await h.store.upstreamEvents.append(ev('a', 7, 'healthy', 'probe ok'));
      await h.store.close();
      const again = await reopen();
      await again.upstreamEvents.append(ev('a', 7, 'unhealthy'));
      assert.deepEqual(await again.upstreamEvents.recent('a', 10), [ev('a', 7, 'unhealthy'), ev('a', 7, 'healthy', 'probe ok'), ev('a', 7, 'starting')]);
    });
  });
}
