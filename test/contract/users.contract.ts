/** Contract of UserStore: every backend must pass it unchanged. */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { UserRecord } from '../../src/storage/ports.js';
import { persistentCase, reopenOf, type BackendTraits, type StoreFactory, type StoreHarness } from './harness.js';

const T0 = Date.UTC(2026, 6, 28, 10, 11, 12, 13);

function user(username: string, over: Partial<UserRecord> = {}): UserRecord {
  return { username, tenant: 'default', roles: ['user'], passwordHash: 'scrypt$32768$8$1$c2FsdA$aGFzaA', createdAt: new Date(T0), disabled: false, ...over };
}

/** Registers the UserStore contract for one backend. */
export function userContract(name: string, factory: StoreFactory, traits: BackendTraits = {}): void {
  async function open(t: TestContext): Promise<StoreHarness> {
    const h = await factory();
    t.after(() => h.cleanup());
    return h;
  }

  describe(`UserStore contract: ${name}`, () => {
    it('starts empty', async (t) => {
      const { store } = await open(t);
      assert.equal(await store.users.get('alice'), undefined);
      assert.deepEqual(await store.users.list(), []);
    });

    it('round-trips every field, disabled true and false', async (t) => {
      const { store } = await open(t);
      const a = user('alice@example.com', { tenant: 'acme', roles: ['admin', 'user'], createdAt: new Date(T0 + 1), disabled: true });
      const b = user('bob', { roles: [] });
      await store.users.create(a);
      await store.users.create(b);
      const got = await store.users.get('alice@example.com');
      assert.ok(got?.createdAt instanceof Date);
      assert.deepEqual(got, a);
      assert.deepEqual(await store.users.get('bob'), b);
    });

    it('usernames are case-sensitive and exact', async (t) => {
      const { store } = await open(t);
      await store.users.create(user('Alice'));
      await store.users.create(user('alice', { tenant: 'other' }));
      assert.equal((await store.users.get('Alice'))!.tenant, 'default');
      assert.equal((await store.users.get('alice'))!.tenant, 'other');
      assert.equal(await store.users.get('ALICE'), undefined);
      assert.equal(await store.users.get('alic_'), undefined);
    });

    it('create with an existing username rejects ERR_CONFLICT and keeps the first record', async (t) => {
      const { store } = await open(t);
      await store.users.create(user('alice'));
      await assert.rejects(store.users.create(user('alice', { roles: ['admin'], passwordHash: 'x' })), { name: 'GatewayError', code: 'ERR_CONFLICT' });
      assert.deepEqual(await store.users.get('alice'), user('alice'));
    });

    it('list orders by username in code unit order', async (t) => {
      const { store } = await open(t);
      const names = ['bob', 'Bob', 'alice', 'a.b', 'a_b', 'a-b', '0day', 'Zed'];
      for (const n of names) await store.users.create(user(n));
      const expected = [...names].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      assert.deepEqual((await store.users.list()).map((u) => u.username), expected);
      assert.equal(expected[0], '0day');
    });

    it('update replaces every field except username and createdAt; unknown resolves false', async (t) => {
      const { store } = await open(t);
      await store.users.create(user('alice'));
      const next = user('alice', { tenant: 't2', roles: ['admin'], passwordHash: 'scrypt$new', createdAt: new Date(0), disabled: true });
      assert.equal(await store.users.update(next), true);
      assert.deepEqual(await store.users.get('alice'), { ...next, createdAt: new Date(T0) });
      assert.equal(await store.users.update(user('nobody')), false);
      assert.equal(await store.users.get('nobody'), undefined);
      assert.equal(await store.users.update(user('alice', { disabled: false })), true);
      assert.equal((await store.users.get('alice'))!.disabled, false);
    });

    it('delete removes only that user and resolves whether it existed', async (t) => {
      const { store } = await open(t);
      await store.users.create(user('a'));
      await store.users.create(user('b'));
      assert.equal(await store.users.delete('a'), true);
      assert.equal(await store.users.delete('a'), false);
      assert.equal(await store.users.delete('missing'), false);
      assert.deepEqual((await store.users.list()).map((u) => u.username), ['b']);
      // The name is free again.
      await store.users.create(user('a', { tenant: 'again' }));
      assert.equal((await store.users.get('a'))!.tenant, 'again');
    });

    it('returns copies: mutating a result or the input never changes what is stored', async (t) => {
      const { store } = await open(t);
      const input = user('alice', { roles: ['r'] });
      await store.users.create(input);
      input.roles.push('admin');
      input.createdAt.setTime(0);
      const got = (await store.users.get('alice'))!;
      got.roles.push('admin');
      got.disabled = true;
      (await store.users.list())[0]!.createdAt.setTime(5);
      assert.deepEqual(await store.users.get('alice'), user('alice', { roles: ['r'] }));
      const upd = user('alice', { roles: ['x'] });
      await store.users.update(upd);
      upd.roles.push('admin');
      assert.deepEqual((await store.users.get('alice'))!.roles, ['x']);
    });

    it('rejects an invalid createdAt and stays usable', async (t) => {
      const { store } = await open(t);
      await assert.rejects(store.users.create(user('a', { createdAt: new Date(Number.NaN) })), { name: 'GatewayError', code: 'ERR_INTERNAL' });
      assert.deepEqual(await store.users.list(), []);
      await store.users.create(user('a'));
      assert.equal((await store.users.list()).length, 1);
    });

    it('50 parallel creates of one username: exactly one succeeds', async (t) => {
      const { store } = await open(t);
      const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => store.users.create(user('same', { tenant: `t${i}` }))));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'ERR_CONFLICT');
    });

    it('after close every operation rejects', async (t) => {
      const { store } = await open(t);
      await store.close();
      await assert.rejects(store.users.create(user('a')));
      await assert.rejects(store.users.get('a'));
      await assert.rejects(store.users.list());
      await assert.rejects(store.users.update(user('a')));
      await assert.rejects(store.users.delete('a'));
    });

    const persists = persistentCase(name, 'users and their updates survive close and reopen', traits);
    it(persists.title, { skip: persists.skip }, async (t) => {
      const h = await open(t);
      const reopen = reopenOf(h);
      await h.store.users.create(user('a'));
      await h.store.users.create(user('b'));
      await h.store.users.update(user('a', { disabled: true, roles: ['admin'] }));
      await h.store.users.delete('b');
      await h.store.close();
      const again = await reopen();
      assert.deepEqual(await again.users.list(), [user('a', { disabled: true, roles: ['admin'] })]);
    });
  });
}
