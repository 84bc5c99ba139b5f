/** Contract of SecretStore: every backend must pass it unchanged. */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { SecretRecord } from '../../src/storage/ports.js';
import { persistentCase, reopenOf, type BackendTraits, type StoreFactory, type StoreHarness } from './harness.js';

const T0 = Date.UTC(2026, 6, 28, 8, 0, 0, 1);

function secret(name: string, over: Partial<SecretRecord> = {}): SecretRecord {
  return { name, keyId: 'k1', sealed: 'c2VhbGVkLWJ5dGVz', updatedAt: new Date(T0), ...over };
}

/** Registers the SecretStore contract for one backend. */
export function secretContract(name: string, factory: StoreFactory, traits: BackendTraits = {}): void {
  async function open(t: TestContext): Promise<StoreHarness> {
    const h = await factory();
    t.after(() => h.cleanup());
    return h;
  }

  const names = (rs: SecretRecord[]) => rs.map((r) => r.name);

  describe(`SecretStore contract: ${name}`, () => {
    it('starts empty', async (t) => {
      const { store } = await open(t);
      assert.equal(await store.secrets.get('secret/a'), undefined);
      assert.deepEqual(await store.secrets.list(), []);
      assert.deepEqual(await store.secrets.list('secret/'), []);
    });

    it('round-trips every field', async (t) => {
      const { store } = await open(t);
      const s = secret('upstream-oauth/github/alice@example.com', { keyId: '2026-07', sealed: 'A'.repeat(4000), updatedAt: new Date(T0 + 999) });
      await store.secrets.put(s);
      const got = await store.secrets.get(s.name);
      assert.ok(got?.updatedAt instanceof Date);
      assert.deepEqual(got, s);
    });

    it('put upserts: a second put replaces every field', async (t) => {
      const { store } = await open(t);
      await store.secrets.put(secret('secret/a'));
      const next = secret('secret/a', { keyId: 'k2', sealed: 'bmV3', updatedAt: new Date(T0 + 1) });
      await store.secrets.put(next);
      assert.deepEqual(await store.secrets.get('secret/a'), next);
      assert.deepEqual(await store.secrets.list(), [next]);
    });

    it('list with a prefix is an exact, case-sensitive prefix match, ordered by name', async (t) => {
      const { store } = await open(t);
      const all = ['secret/b', 'secret/a', 'Secret/c', 'secretx', 'secret_', 'secret%/z', 'upstream-oauth/u/p', 'secret/', 'secre'];
      for (const n of all) await store.secrets.put(secret(n));
      const sorted = [...all].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      assert.deepEqual(names(await store.secrets.list()), sorted);
      assert.deepEqual(names(await store.secrets.list('')), sorted);
      assert.deepEqual(names(await store.secrets.list('secret/')), ['secret/', 'secret/a', 'secret/b']);
      // `%` and `_` are literal characters, not wildcards.
      assert.deepEqual(names(await store.secrets.list('secret_')), ['secret_']);
      assert.deepEqual(names(await store.secrets.list('secret%')), ['secret%/z']);
      assert.deepEqual(names(await store.secrets.list('SECRET')), []);
      assert.deepEqual(names(await store.secrets.list('Secret/')), ['Secret/c']);
      assert.deepEqual(names(await store.secrets.list('secret/a/longer')), []);
    });

    it('prefix matching counts non-ASCII characters correctly', async (t) => {
      const { store } = await open(t);
      for (const n of ['é/1', 'é/2', 'e/3', '😀x/4', '😀y/5']) await store.secrets.put(secret(n));
      assert.deepEqual(names(await store.secrets.list('é/')), ['é/1', 'é/2']);
      assert.deepEqual(names(await store.secrets.list('😀x')), ['😀x/4']);
    });

    it('delete removes only that name and resolves whether it existed', async (t) => {
      const { store } = await open(t);
      await store.secrets.put(secret('a'));
      await store.secrets.put(secret('ab'));
      assert.equal(await store.secrets.delete('a'), true);
      assert.equal(await store.secrets.delete('a'), false);
      assert.equal(await store.secrets.delete('zzz'), false);
      assert.deepEqual(names(await store.secrets.list()), ['ab']);
    });

    it('returns copies: mutating a result or the input never changes what is stored', async (t) => {
      const { store } = await open(t);
      const input = secret('s');
      await store.secrets.put(input);
      input.updatedAt.setTime(0);
      input.sealed = 'changed';
      const got = (await store.secrets.get('s'))!;
      got.updatedAt.setTime(1);
      (await store.secrets.list())[0]!.keyId = 'changed';
      assert.deepEqual(await store.secrets.get('s'), secret('s'));
    });

    it('rejects an invalid updatedAt and stays usable', async (t) => {
      const { store } = await open(t);
      await assert.rejects(store.secrets.put(secret('s', { updatedAt: new Date(Number.NaN) })), { name: 'GatewayError', code: 'ERR_INTERNAL' });
      assert.deepEqual(await store.secrets.list(), []);
      await store.secrets.put(secret('s'));
      assert.equal((await store.secrets.list()).length, 1);
    });

    it('100 parallel puts of one name leave exactly one of the written records', async (t) => {
      const { store } = await open(t);
      const written = Array.from({ length: 100 }, (_, i) => secret('s', { sealed: `v${i}`, updatedAt: new Date(T0 + i) }));
      await Promise.all(written.map((s) => store.secrets.put(s)));
      const all = await store.secrets.list();
      assert.equal(all.length, 1);
      assert.deepEqual(all[0], written.find((s) => s.sealed === all[0]!.sealed));
    });

    it('after close every operation rejects', async (t) => {
      const { store } = await open(t);
      await store.close();
      await assert.rejects(store.secrets.put(secret('a')));
      await assert.rejects(store.secrets.get('a'));
      await assert.rejects(store.secrets.list());
      await assert.rejects(store.secrets.delete('a'));
    });

    const persists = persistentCase(name, 'sealed secrets survive close and reopen', traits);
    it(persists.title, { skip: persists.skip }, async (t) => {
      const h = await open(t);
      const reopen = reopenOf(h);
      await h.store.secrets.put(secret('a'));
      await h.store.secrets.put(secret('b'));
      await h.store.secrets.put(secret('a', { keyId: 'k2' }));
      await h.store.secrets.delete('b');
      await h.store.close();
      const again = await reopen();
      assert.deepEqual(await again.secrets.list(), [secret('a', { keyId: 'k2' })]);
    });
  });
}
