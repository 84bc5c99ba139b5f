/** Contract of EraVerdictStore: every backend must pass it unchanged. */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { EraVerdict } from '../../src/storage/ports.js';
import { persistentCase, reopenOf, type BackendTraits, type StoreFactory, type StoreHarness } from './harness.js';

const T0 = Date.UTC(2026, 6, 28, 12, 34, 56, 789);

function verdict(upstream: string, authContext: string, over: Partial<EraVerdict> = {}): EraVerdict {
  return { upstream, authContext, transport: 'streamable-http', era: 'modern', protocolVersion: '2026-07-28', probedAt: new Date(T0), ...over };
}

/** Registers the EraVerdictStore contract for one backend. */
export function eraVerdictContract(name: string, factory: StoreFactory, traits: BackendTraits = {}): void {
  async function open(t: TestContext): Promise<StoreHarness> {
    const h = await factory();
    t.after(() => h.cleanup());
    return h;
  }

  describe(`EraVerdictStore contract: ${name}`, () => {
    it('starts empty: get is undefined and list is []', async (t) => {
      const { store } = await open(t);
      assert.equal(await store.eraVerdicts.get('a', ''), undefined);
      assert.deepEqual(await store.eraVerdicts.list(), []);
    });

    it('round-trips every field, probedAt as a Date with millisecond precision', async (t) => {
      const { store } = await open(t);
      const v = verdict('files', 'tenant-1', { transport: 'sse', era: 'legacy', protocolVersion: '2024-11-05', probedAt: new Date(T0 + 1) });
      await store.eraVerdicts.put(v);
      const got = await store.eraVerdicts.get('files', 'tenant-1');
      assert.ok(got?.probedAt instanceof Date);
      assert.equal(got.probedAt.getTime(), T0 + 1);
      assert.deepEqual(got, v);
    });

    it('put upserts: a second put with the same key replaces every field', async (t) => {
      const { store } = await open(t);
      await store.eraVerdicts.put(verdict('a', 'x'));
      const next = verdict('a', 'x', { transport: 'sse', era: 'legacy', protocolVersion: '2025-06-18', probedAt: new Date(T0 + 5000) });
      await store.eraVerdicts.put(next);
      assert.deepEqual(await store.eraVerdicts.get('a', 'x'), next);
      assert.deepEqual(await store.eraVerdicts.list(), [next]);
    });

    it('keys by (upstream, authContext): neighbours never leak into each other', async (t) => {
      const { store } = await open(t);
      // Pairs that a naive joined-string key would confuse.
      const vs = [
        verdict('a:b', 'c', { protocolVersion: 'v1' }),
        verdict('a', 'b:c', { protocolVersion: 'v2' }),
        verdict('a', '', { protocolVersion: 'v3' }),
        verdict('', 'a', { protocolVersion: 'v4' }),
      ];
      for (const v of vs) await store.eraVerdicts.put(v);
      for (const v of vs) assert.deepEqual(await store.eraVerdicts.get(v.upstream, v.authContext), v);
      assert.equal(await store.eraVerdicts.get('a', 'c'), undefined);
      assert.equal(await store.eraVerdicts.get('a:b', ''), undefined);
    });

    it('delete with an authContext removes only that verdict', async (t) => {
      const { store } = await open(t);
      for (const [u, c] of [['a', 'x'], ['a', 'y'], ['b', 'x']] as const) await store.eraVerdicts.put(verdict(u, c));
      await store.eraVerdicts.delete('a', 'x');
      assert.deepEqual((await store.eraVerdicts.list()).map((v) => [v.upstream, v.authContext]), [['a', 'y'], ['b', 'x']]);
    });

    it('delete without an authContext removes every context of that upstream only', async (t) => {
      const { store } = await open(t);
      for (const [u, c] of [['a', ''], ['a', 'x'], ['a', 'y'], ['b', 'x']] as const) await store.eraVerdicts.put(verdict(u, c));
      await store.eraVerdicts.delete('a');
      assert.deepEqual((await store.eraVerdicts.list()).map((v) => [v.upstream, v.authContext]), [['b', 'x']]);
      await store.eraVerdicts.delete('missing');
      await store.eraVerdicts.delete('b', 'missing');
      assert.equal((await store.eraVerdicts.list()).length, 1);
    });

    it('list orders by upstream, then authContext, in code unit order', async (t) => {
      const { store } = await open(t);
      const keys: [string, string][] = [['b', 'z'], ['a', 'y'], ['B', 'a'], ['b', ''], ['a', 'Y'], ['a-b', 'x'], ['ab', 'x']];
      for (const [u, c] of keys) await store.eraVerdicts.put(verdict(u, c));
      const expected = [...keys].sort(([u1, c1], [u2, c2]) => (u1 !== u2 ? (u1 < u2 ? -1 : 1) : c1 < c2 ? -1 : c1 > c2 ? 1 : 0));
      assert.deepEqual((await store.eraVerdicts.list()).map((v) => [v.upstream, v.authContext]), expected);
      assert.deepEqual(expected[0], ['B', 'a']);
    });

    it('returns copies: mutating a result or the input never changes what is stored', async (t) => {
      const { store } = await open(t);
      const input = verdict('a', 'x');
      await store.eraVerdicts.put(input);
      input.probedAt.setTime(0);
      input.protocolVersion = 'changed';
      const got = (await store.eraVerdicts.get('a', 'x'))!;
      got.probedAt.setTime(1);
      (await store.eraVerdicts.list())[0]!.era = 'legacy';
      assert.deepEqual(await store.eraVerdicts.get('a', 'x'), verdict('a', 'x'));
    });

    it('rejects an invalid probedAt and stays usable', async (t) => {
      const { store } = await open(t);
      await assert.rejects(store.eraVerdicts.put(verdict('a', 'x', { probedAt: new Date(Number.NaN) })), { name: 'GatewayError', code: 'ERR_INTERNAL' });
      assert.deepEqual(await store.eraVerdicts.list(), []);
      await store.eraVerdicts.put(verdict('a', 'x'));
      assert.equal((await store.eraVerdicts.list()).length, 1);
    });

    it('100 parallel puts of distinct keys all land', async (t) => {
      const { store } = await open(t);
      await Promise.all(Array.from({ length: 100 }, (_, i) => store.eraVerdicts.put(verdict(`u${i % 10}`, `c${i}`))));
      assert.equal((await store.eraVerdicts.list()).length, 100);
    });

    it('100 parallel puts of one key leave exactly one of the written verdicts', async (t) => {
      const { store } = await open(t);
      const written = Array.from({ length: 100 }, (_, i) => verdict('a', 'x', { protocolVersion: `v${i}`, probedAt: new Date(T0 + i) }));
      await Promise.all(written.map((v) => store.eraVerdicts.put(v)));
      const all = await store.eraVerdicts.list();
      assert.equal(all.length, 1);
      const i = written.findIndex((v) => v.protocolVersion === all[0]!.protocolVersion);
      assert.deepEqual(all[0], written[i]);
    });

    it('after close every operation rejects, and close is idempotent', async (t) => {
      const { store } = await open(t);
      await store.close();
      await store.close();
      await assert.rejects(store.eraVerdicts.get('a', ''));
      await assert.rejects(store.eraVerdicts.put(verdict('a', '')));
      await assert.rejects(store.eraVerdicts.delete('a'));
      await assert.rejects(store.eraVerdicts.list());
    });

    const persists = persistentCase(name, 'verdicts survive close and reopen', traits);
    it(persists.title, { skip: persists.skip }, async (t) => {
      const h = await open(t);
      const reopen = reopenOf(h);
      const v = verdict('a', 'x', { probedAt: new Date(T0 + 999) });
      await h.store.eraVerdicts.put(v);
      await h.store.eraVerdicts.put(verdict('b', ''));
      await h.store.eraVerdicts.delete('b');
      await h.store.close();
      const again = await reopen();
      assert.deepEqual(await again.eraVerdicts.list(), [v]);
    });

    const reruns = persistentCase(name, 'reopening an up-to-date store again and again is a no-op that keeps data', traits);
    it(reruns.title, { skip: reruns.skip }, async (t) => {
      const h = await open(t);
      const reopen = reopenOf(h);
      await h.store.eraVerdicts.put(verdict('a', 'x'));
      await h.store.close();
      for (let i = 0; i < 3; i++) {
        const s = await reopen();
        await s.eraVerdicts.put(verdict('a', `n${i}`));
        await s.close();
      }
      const last = await reopen();
      assert.deepEqual((await last.eraVerdicts.list()).map((v) => v.authContext), ['n0', 'n1', 'n2', 'x']);
    });
  });
}
