/** Contract of ApiKeyStore: every backend must pass it unchanged. */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { ApiKeyRecord } from '../../src/storage/ports.js';
import { persistentCase, reopenOf, type BackendTraits, type StoreFactory, type StoreHarness } from './harness.js';

const T0 = Date.UTC(2026, 6, 28, 9, 0, 0, 123);

function key(id: string, over: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id,
    name: `key ${id}`,
    tenant: 'default',
    roles: ['reader'],
    virtualServers: [],
    hash: 'ab'.repeat(32),
    createdAt: new Date(T0),
    ...over,
  };
}

/** Registers the ApiKeyStore contract for one backend. */
export function apiKeyContract(name: string, factory: StoreFactory, traits: BackendTraits = {}): void {
  async function open(t: TestContext): Promise<StoreHarness> {
    const h = await factory();
    t.after(() => h.cleanup());
    return h;
  }

  describe(`ApiKeyStore contract: ${name}`, () => {
    it('starts empty: get is undefined and list is []', async (t) => {
      const { store } = await open(t);
      assert.equal(await store.apiKeys.get('nope'), undefined);
      assert.deepEqual(await store.apiKeys.list(), []);
      assert.deepEqual(await store.apiKeys.list('default'), []);
    });

    it('round-trips every field, dates with millisecond precision, arrays in order', async (t) => {
      const { store } = await open(t);
      const k = key('abc123', {
        name: 'CI bot — déploiement',
        tenant: 'acme',
        roles: ['writer', 'admin', 'reader'],
        virtualServers: ['files', 'git'],
        expiresAt: new Date(T0 + 86_400_001),
        revokedAt: new Date(T0 + 5),
        lastUsedAt: new Date(T0 + 7),
      });
      await store.apiKeys.create(k);
      const got = await store.apiKeys.get('abc123');
      assert.ok(got?.createdAt instanceof Date && got.expiresAt instanceof Date);
      assert.deepEqual(got, k);
    });

    it('absent optional dates stay absent (not null, not undefined-valued keys)', async (t) => {
      const { store } = await open(t);
      await store.apiKeys.create(key('a'));
      const got = (await store.apiKeys.get('a'))!;
      for (const f of ['expiresAt', 'revokedAt', 'lastUsedAt']) assert.equal(f in got, false, f);
      assert.deepEqual(got, key('a'));
    });

    it('create with an existing id rejects ERR_CONFLICT and leaves the first record intact', async (t) => {
      const { store } = await open(t);
      await store.apiKeys.create(key('dup'));
      await assert.rejects(store.apiKeys.create(key('dup', { name: 'other', hash: 'cd'.repeat(32) })), { name: 'GatewayError', code: 'ERR_CONFLICT' });
      assert.deepEqual(await store.apiKeys.get('dup'), key('dup'));
      assert.equal((await store.apiKeys.list()).length, 1);
    });

    it('ids are exact: case and neighbours never match', async (t) => {
      const { store } = await open(t);
      await store.apiKeys.create(key('abc'));
      assert.equal(await store.apiKeys.get('ABC'), undefined);
      assert.equal(await store.apiKeys.get('ab'), undefined);
      assert.equal(await store.apiKeys.get('abc '), undefined);
      assert.equal(await store.apiKeys.get('a%'), undefined);
    });

    it('list orders by createdAt, then id in code unit order, and filters by tenant', async (t) => {
      const { store } = await open(t);
      const ks = [
        key('b', { createdAt: new Date(T0 + 10), tenant: 't1' }),
        key('a', { createdAt: new Date(T0 + 10), tenant: 't2' }),
        key('Z', { createdAt: new Date(T0 + 10), tenant: 't1' }),
        key('z', { createdAt: new Date(T0), tenant: 't1' }),
        key('c', { createdAt: new Date(T0 + 20), tenant: 'T1' }),
      ];
      for (const k of ks) await store.apiKeys.create(k);
      assert.deepEqual((await store.apiKeys.list()).map((k) => k.id), ['z', 'Z', 'a', 'b', 'c']);
      assert.deepEqual((await store.apiKeys.list('t1')).map((k) => k.id), ['z', 'Z', 'b']);
      assert.deepEqual((await store.apiKeys.list('T1')).map((k) => k.id), ['c']);
      assert.deepEqual(await store.apiKeys.list('t3'), []);
    });

    it('revoke marks the key, resolves true, and a second revoke keeps the first time', async (t) => {
      const { store } = await open(t);
      await store.apiKeys.create(key('k'));
      assert.equal(await store.apiKeys.revoke('k', new Date(T0 + 100)), true);
      assert.equal((await store.apiKeys.get('k'))!.revokedAt?.getTime(), T0 + 100);
      assert.equal(await store.apiKeys.revoke('k', new Date(T0 + 200)), true);
      assert.equal((await store.apiKeys.get('k'))!.revokedAt?.getTime(), T0 + 100);
      assert.equal(await store.apiKeys.revoke('k', new Date(T0 + 50)), true);
      assert.equal((await store.apiKeys.get('k'))!.revokedAt?.getTime(), T0 + 100);
    });

    it('revoke of an unknown id resolves false and creates nothing', async (t) => {
      const { store } = await open(t);
      await store.apiKeys.create(key('k'));
      assert.equal(await store.apiKeys.revoke('other', new Date(T0)), false);
      assert.deepEqual(await store.apiKeys.list(), [key('k')]);
    });

    it('revoke touches only its key', async (t) => {
      const { store } = await open(t);
      await store.apiKeys.create(key('a'));
      await store.apiKeys.create(key('b'));
      await store.apiKeys.revoke('a', new Date(T0 + 1));
      assert.equal('revokedAt' in (await store.apiKeys.get('b'))!, false);
    });

    it('touch records use and never moves lastUsedAt backwards; unknown ids are a no-op', async (t) => {
      const { store } = await open(t);
      await store.apiKeys.create(key('k'));
      await store.apiKeys.touch('k', new Date(T0 + 1000));
      assert.equal((await store.apiKeys.get('k'))!.lastUsedAt?.getTime(), T0 + 1000);
      await store.apiKeys.touch('k', new Date(T0 + 500));
      assert.equal((await store.apiKeys.get('k'))!.lastUsedAt?.getTime(), T0 + 1000);
      await store.apiKeys.touch('k', new Date(T0 + 1001));
      assert.equal((await store.apiKeys.get('k'))!.lastUsedAt?.getTime(), T0 + 1001);
      await store.apiKeys.touch('missing', new Date(T0));
      assert.equal(await store.apiKeys.get('missing'), undefined);
      // A touched key is otherwise unchanged.
      assert.deepEqual(await store.apiKeys.get('k'), key('k', { lastUsedAt: new Date(T0 + 1001) }));
    });

    it('touch keeps the latest of many parallel touches', async (t) => {
      const { store } = await open(t);
      await store.apiKeys.create(key('k'));
      const offsets = Array.from({ length: 50 }, (_, i) => (i * 37) % 50);
      await Promise.all(offsets.map((o) => store.apiKeys.touch('k', new Date(T0 + o))));
      assert.equal((await store.apiKeys.get('k'))!.lastUsedAt?.getTime(), T0 + 49);
    });

    it('returns copies: mutating a result or the input never changes what is stored', async (t) => {
      const { store } = await open(t);
      const input = key('k', { roles: ['r1'], virtualServers: ['v1'], expiresAt: new Date(T0 + 9) });
      await store.apiKeys.create(input);
      input.roles.push('admin');
      input.virtualServers.length = 0;
      input.createdAt.setTime(0);
      input.expiresAt!.setTime(0);
      const got = (await store.apiKeys.get('k'))!;
      got.roles.push('admin');
      got.createdAt.setTime(1);
      (await store.apiKeys.list())[0]!.virtualServers.push('x');
      assert.deepEqual(await store.apiKeys.get('k'), key('k', { roles: ['r1'], virtualServers: ['v1'], expiresAt: new Date(T0 + 9) }));
    });

    it('rejects invalid dates and stays usable', async (t) => {
      const { store } = await open(t);
      await assert.rejects(store.apiKeys.create(key('a', { createdAt: new Date(Number.NaN) })), { name: 'GatewayError', code: 'ERR_INTERNAL' });
      await assert.rejects(store.apiKeys.create(key('a', { expiresAt: new Date('nope') })), { name: 'GatewayError', code: 'ERR_INTERNAL' });
      assert.equal(await store.apiKeys.get('a'), undefined);
      await store.apiKeys.create(key('a'));
      await assert.rejects(store.apiKeys.revoke('a', new Date(Number.NaN)), { name: 'GatewayError' });
      await assert.rejects(store.apiKeys.touch('a', new Date(Number.NaN)), { name: 'GatewayError' });
      assert.deepEqual(await store.apiKeys.get('a'), key('a'));
    });

    it('50 parallel creates of one id: exactly one succeeds, the rest are ERR_CONFLICT', async (t) => {
      const { store } = await open(t);
      const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => store.apiKeys.create(key('same', { name: `n${i}` }))));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'ERR_CONFLICT');
      const winner = results.findIndex((r) => r.status === 'fulfilled');
      assert.equal((await store.apiKeys.get('same'))!.name, `n${winner}`);
    });

    it('after close every operation rejects', async (t) => {
      const { store } = await open(t);
      await store.close();
      await assert.rejects(store.apiKeys.create(key('a')));
      await assert.rejects(store.apiKeys.get('a'));
      await assert.rejects(store.apiKeys.list());
      await assert.rejects(store.apiKeys.revoke('a', new Date(T0)));
      await assert.rejects(store.apiKeys.touch('a', new Date(T0)));
    });

    const persists = persistentCase(name, 'keys, revocations and last use survive close and reopen', traits);
    it(persists.title, { skip: persists.skip }, async (t) => {
      const h = await open(t);
      const reopen = reopenOf(h);
      await h.store.apiKeys.create(key('a', { virtualServers: ['v'] }));
      await h.store.apiKeys.create(key('b', { createdAt: new Date(T0 + 1) }));
      await h.store.apiKeys.revoke('a', new Date(T0 + 2));
      await h.store.apiKeys.touch('b', new Date(T0 + 3));
      await h.store.close();
      const again = await reopen();
      assert.deepEqual(await again.apiKeys.list(), [
        key('a', { virtualServers: ['v'], revokedAt: new Date(T0 + 2) }),
        key('b', { createdAt: new Date(T0 + 1), lastUsedAt: new Date(T0 + 3) }),
      ]);
      await assert.rejects(again.apiKeys.create(key('a')), { code: 'ERR_CONFLICT' });
    });
  });
}
