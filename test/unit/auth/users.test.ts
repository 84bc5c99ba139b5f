/** Local users: creation rules and password login without user enumeration. */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { addUser, authenticateUser, isValidUsername, setUserDisabled, setUserPassword } from '../../../src/auth/users/users.js';
import { openMemoryStore } from '../../../src/storage/memory/store.js';

const T0 = new Date(Date.UTC(2026, 6, 28, 12, 0, 0, 0));
const base = { tenant: 'acme', roles: ['admin', 'user'], password: 'open sesame 123', now: T0 };

describe('addUser', () => {
  it('stores the user with a scrypt hash, never the password', async () => {
    const store = openMemoryStore().users;
    const u = await addUser(store, { ...base, username: 'alice@example.com' });
    assert.deepEqual({ ...u, passwordHash: '-' }, { username: 'alice@example.com', tenant: 'acme', roles: ['admin', 'user'], passwordHash: '-', createdAt: T0, disabled: false });
    assert.match(u.passwordHash, /^scrypt\$32768\$8\$1\$/);
    assert.deepEqual(await store.get('alice@example.com'), u);
    assert.ok(!JSON.stringify(await store.list()).includes(base.password));
  });

  it('applies the username rule', async () => {
    const store = openMemoryStore().users;
    for (const ok of ['a', 'A1', 'alice.smith', 'a_b-c@d.e', '9lives', 'x'.repeat(64)]) assert.ok(isValidUsername(ok), ok);
    for (const bad of ['', '.alice', '-a', '@a', '_a', 'a b', 'a/b', 'a:b', 'x'.repeat(65), 'ålice', 'a\n', 'a\u0000b']) {
      assert.equal(isValidUsername(bad), false, JSON.stringify(bad));
      await assert.rejects(addUser(store, { ...base, username: bad }), { code: 'ERR_BAD_INPUT' }, JSON.stringify(bad));
    }
    assert.deepEqual(await store.list(), []);
  });

  it('rejects bad tenants, roles and passwords (ERR_BAD_INPUT) and taken names (ERR_CONFLICT)', async () => {
    const store = openMemoryStore().users;
    await assert.rejects(addUser(store, { ...base, username: 'u', tenant: 'a b' }), { code: 'ERR_BAD_INPUT' });
    await assert.rejects(addUser(store, { ...base, username: 'u', roles: ['a b'] }), { code: 'ERR_BAD_INPUT' });
    await assert.rejects(addUser(store, { ...base, username: 'u', password: 'short' }), { code: 'ERR_BAD_INPUT' });
    assert.equal(await store.get('u'), undefined);
    await addUser(store, { ...base, username: 'u' });
    await assert.rejects(addUser(store, { ...base, username: 'u', tenant: 'other' }), { code: 'ERR_CONFLICT' });
    assert.equal((await store.get('u'))!.tenant, 'acme');
  });
});

describe('authenticateUser', () => {
  it('returns the user for the right password and undefined for a wrong one', async () => {
    const store = openMemoryStore().users;
    const u = await addUser(store, { ...base, username: 'alice' });
    assert.deepEqual(await authenticateUser(store, 'alice', base.password), u);
    assert.equal(await authenticateUser(store, 'alice', 'open sesame 124'), undefined);
    assert.equal(await authenticateUser(store, 'Alice', base.password), undefined, 'usernames are case-sensitive');
    assert.equal(await authenticateUser(store, 'alice', ''), undefined);
  });

  it('an unknown or invalid username returns undefined after spending a comparable scrypt time', async () => {
    const store = openMemoryStore().users;
    await addUser(store, { ...base, username: 'alice' });
    await authenticateUser(store, 'nobody', 'warm-up-password'); // the dummy hash is made once, lazily
    const time = async (fn: () => Promise<unknown>) => {
      let best = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        assert.equal(await fn(), undefined);
        best = Math.min(best, performance.now() - t);
      }
      return best;
    };
    const wrong = await time(() => authenticateUser(store, 'alice', 'wrong password'));
    const unknown = await time(() => authenticateUser(store, 'nobody', 'wrong password'));
    const invalid = await time(() => authenticateUser(store, '../../etc/passwd', 'wrong password'));
    // Without the dummy hash these paths would take microseconds against scrypt's tens of
    // milliseconds; the generous ratio only catches that, not scheduling noise.
    assert.ok(unknown > wrong / 4, `unknown user took ${unknown.toFixed(1)} ms vs ${wrong.toFixed(1)} ms for a wrong password`);
    assert.ok(invalid > wrong / 4, `invalid username took ${invalid.toFixed(1)} ms vs ${wrong.toFixed(1)} ms`);
  });

  it('a disabled user cannot log in, even with the right password, until enabled again', async () => {
    const store = openMemoryStore().users;
    await addUser(store, { ...base, username: 'bob' });
    assert.equal(await setUserDisabled(store, 'bob', true), true);
    assert.equal((await store.get('bob'))!.disabled, true);
    assert.equal(await authenticateUser(store, 'bob', base.password), undefined);
    assert.equal(await setUserDisabled(store, 'bob', false), true);
    assert.equal((await authenticateUser(store, 'bob', base.password))?.username, 'bob');
    assert.equal(await setUserDisabled(store, 'ghost', true), false);
  });

  it('setUserPassword replaces the password', async () => {
    const store = openMemoryStore().users;
    await addUser(store, { ...base, username: 'carol' });
    assert.equal(await setUserPassword(store, 'carol', 'a brand new one'), true);
    assert.equal(await authenticateUser(store, 'carol', base.password), undefined);
    assert.equal((await authenticateUser(store, 'carol', 'a brand new one'))?.username, 'carol');
    await assert.rejects(setUserPassword(store, 'carol', 'short'), { code: 'ERR_BAD_INPUT' });
    assert.equal(await setUserPassword(store, 'ghost', 'long enough pw'), false);
  });
});
