/** Contract of OAuthStateStore: every backend must pass it unchanged. */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { OAUTH_STATE_KEY_MAX, OAUTH_STATE_PAYLOAD_MAX_BYTES, type OAuthStateStore } from '../../src/storage/ports.js';
import { persistentCase, reopenOf, type BackendTraits, type StoreFactory, type StoreHarness } from './harness.js';

/** Long past: records expiring then are expired for every read. */
const PAST = new Date(Date.UTC(2020, 0, 1, 0, 0, 0, 7));
/** An hour ahead, millisecond-exact, so expiry round-trips are checked to the millisecond. */
const soon = (): Date => new Date(Date.now() + 3_600_000 + 123);

const json = (o: unknown): string => JSON.stringify(o);

/** Registers the OAuthStateStore contract for one backend. */
export function oauthStateContract(name: string, factory: StoreFactory, traits: BackendTraits = {}): void {
  async function open(t: TestContext): Promise<StoreHarness> {
    const h = await factory();
    t.after(() => h.cleanup());
    return h;
  }
  async function state(t: TestContext): Promise<OAuthStateStore> {
    return (await open(t)).store.oauthState;
  }

  describe(`OAuthStateStore contract: ${name}`, () => {
    it('starts empty', async (t) => {
      const s = await state(t);
      assert.equal(await s.find('Client', 'c'), undefined);
      assert.equal(await s.findBy('Session', 'uid', 'u'), undefined);
      assert.equal(await s.count('Client'), 0);
      assert.deepEqual(await s.list('Client', 10), []);
    });

    it('round-trips the payload byte for byte and the expiry to the millisecond; absent fields stay absent', async (t) => {
      const s = await state(t);
      const payload = json({ accountId: 'alice', note: 'déjà vu — 東京 🚀', nested: { a: [1, 2, { b: null }] } });
      const exp = soon();
      await s.upsert('Grant', 'g1', payload, exp, {});
      const got = await s.find('Grant', 'g1');
      assert.ok(got?.expiresAt instanceof Date, 'expiresAt is a Date');
      assert.deepEqual(got, { payload, expiresAt: exp });
      await s.upsert('Client', 'c1', '{}', undefined, {});
      const client = (await s.find('Client', 'c1'))!;
      assert.deepEqual(client, { payload: '{}' });
      assert.equal('expiresAt' in client, false);
      assert.equal('consumedAt' in client, false);
    });

    it('keys are exact (model, id) pairs: models are separate and case and neighbours never match', async (t) => {
      const s = await state(t);
      await s.upsert('AccessToken', 'abc', json({ m: 'at' }), undefined, {});
      await s.upsert('RefreshToken', 'abc', json({ m: 'rt' }), undefined, {});
      assert.equal((await s.find('AccessToken', 'abc'))?.payload, json({ m: 'at' }));
      assert.equal((await s.find('RefreshToken', 'abc'))?.payload, json({ m: 'rt' }));
      for (const [m, id] of [['AccessToken', 'ABC'], ['AccessToken', 'ab'], ['AccessToken', 'abc '], ['accesstoken', 'abc'], ['AccessToken', 'a%'], ['Access', 'Tokenabc']]) {
        assert.equal(await s.find(m!, id!), undefined, `${m}/${id}`);
      }
    });

    it('upsert replaces payload, expiry and index of an existing record', async (t) => {
      const s = await state(t);
      await s.upsert('Session', 's1', json({ v: 1 }), soon(), { uid: 'u-old', grantId: 'g-old' });
      await s.upsert('Session', 's1', json({ v: 2 }), undefined, { uid: 'u-new' });
      assert.deepEqual(await s.find('Session', 's1'), { payload: json({ v: 2 }) });
      assert.equal(await s.findBy('Session', 'uid', 'u-old'), undefined);
      assert.deepEqual(await s.findBy('Session', 'uid', 'u-new'), { payload: json({ v: 2 }) });
      await s.revokeByGrantId('g-old');
      assert.ok(await s.find('Session', 's1'), 'the replaced grant id no longer reaches the record');
      assert.equal(await s.count('Session'), 1);
    });

    it('an expired record is gone for find, findBy, list and count, and prune deletes it', async (t) => {
      const s = await state(t);
      await s.upsert('AuthorizationCode', 'old', json({ x: 1 }), PAST, { grantId: 'g', uid: 'u1', userCode: 'UC1' });
      await s.upsert('AuthorizationCode', 'new', json({ x: 2 }), soon(), { uid: 'u2' });
      await s.upsert('AuthorizationCode', 'just-gone', json({ x: 3 }), new Date(Date.now() - 1), {});
      assert.equal(await s.find('AuthorizationCode', 'old'), undefined);
      assert.equal(await s.find('AuthorizationCode', 'just-gone'), undefined);
      assert.equal(await s.findBy('AuthorizationCode', 'uid', 'u1'), undefined);
      assert.equal(await s.findBy('AuthorizationCode', 'userCode', 'UC1'), undefined);
      assert.equal(await s.count('AuthorizationCode'), 1);
      assert.deepEqual((await s.list('AuthorizationCode', 10)).map((r) => r.id), ['new']);
      assert.ok(await s.find('AuthorizationCode', 'new'), 'the live record stays');
    });

    it('re-upserting an expired record with a future expiry brings it back', async (t) => {
      const s = await state(t);
      await s.upsert('Interaction', 'i', json({ a: 1 }), PAST, {});
      assert.equal(await s.find('Interaction', 'i'), undefined);
      const exp = soon();
      await s.upsert('Interaction', 'i', json({ a: 2 }), exp, {});
      assert.deepEqual(await s.find('Interaction', 'i'), { payload: json({ a: 2 }), expiresAt: exp });
    });

    it('consume sets consumedAt, find shows it, a second consume keeps the first time, and upsert keeps it', async (t) => {
      const s = await state(t);
      const exp = soon();
      await s.upsert('RefreshToken', 'rt', json({ r: 1 }), exp, { grantId: 'g' });
      const at = new Date(Date.UTC(2026, 6, 28, 9, 0, 0, 321));
      await s.consume('RefreshToken', 'rt', at);
      assert.deepEqual(await s.find('RefreshToken', 'rt'), { payload: json({ r: 1 }), expiresAt: exp, consumedAt: at });
      await s.consume('RefreshToken', 'rt', new Date(at.getTime() + 1000));
      await s.consume('RefreshToken', 'rt', new Date(at.getTime() - 1000));
      assert.equal((await s.find('RefreshToken', 'rt'))?.consumedAt?.getTime(), at.getTime());
      // Consumption is one-way: rewriting the record cannot make a used token fresh again.
      await s.upsert('RefreshToken', 'rt', json({ r: 2 }), exp, { grantId: 'g' });
      assert.deepEqual(await s.find('RefreshToken', 'rt'), { payload: json({ r: 2 }), expiresAt: exp, consumedAt: at });
    });

    it('consume of an unknown id, or of the same id in another model, creates and changes nothing', async (t) => {
      const s = await state(t);
      await s.upsert('AuthorizationCode', 'c', json({}), soon(), {});
      await s.consume('AuthorizationCode', 'missing', new Date());
      await s.consume('RefreshToken', 'c', new Date());
      assert.equal(await s.find('AuthorizationCode', 'missing'), undefined);
      assert.equal(await s.find('RefreshToken', 'c'), undefined);
      assert.equal('consumedAt' in (await s.find('AuthorizationCode', 'c'))!, false);
    });

    it('findBy looks up uid and userCode within one model only', async (t) => {
      const s = await state(t);
      await s.upsert('Session', 'sess', json({ kind: 'Session' }), soon(), { uid: 'U1' });
      await s.upsert('DeviceCode', 'dc', json({ kind: 'DeviceCode' }), soon(), { userCode: 'ABCD-EFGH', grantId: 'g' });
      assert.deepEqual(await s.findBy('Session', 'uid', 'U1'), (await s.find('Session', 'sess'))!);
      assert.equal((await s.findBy('DeviceCode', 'userCode', 'ABCD-EFGH'))?.payload, json({ kind: 'DeviceCode' }));
      assert.equal(await s.findBy('Interaction', 'uid', 'U1'), undefined);
      assert.equal(await s.findBy('Session', 'userCode', 'U1'), undefined);
      assert.equal(await s.findBy('Session', 'uid', 'u1'), undefined);
      assert.equal(await s.findBy('DeviceCode', 'uid', 'ABCD-EFGH'), undefined);
      assert.equal(await s.findBy('DeviceCode', 'userCode', 'abcd-efgh'), undefined);
    });

    it('revokeByGrantId deletes every record of every model with that grant id, and nothing else', async (t) => {
      const s = await state(t);
      await s.upsert('AccessToken', 'a1', '{}', soon(), { grantId: 'G1' });
      await s.upsert('RefreshToken', 'r1', '{}', soon(), { grantId: 'G1' });
      await s.upsert('AuthorizationCode', 'c1', '{}', soon(), { grantId: 'G1' });
      await s.upsert('RefreshToken', 'r2', '{}', soon(), { grantId: 'G2' });
      await s.upsert('Grant', 'G1', '{}', soon(), {});
      await s.upsert('RefreshToken', 'r3', '{}', soon(), { grantId: 'g1' });
      await s.revokeByGrantId('G1');
      for (const [m, id] of [['AccessToken', 'a1'], ['RefreshToken', 'r1'], ['AuthorizationCode', 'c1']]) assert.equal(await s.find(m!, id!), undefined, id);
      // The grant itself is keyed by id, not indexed by grant id: destroy removes it.
      for (const [m, id] of [['RefreshToken', 'r2'], ['Grant', 'G1'], ['RefreshToken', 'r3']]) assert.ok(await s.find(m!, id!), `${id} stays`);
      await s.revokeByGrantId('unknown');
      assert.equal(await s.count('RefreshToken'), 2);
    });

    it('destroy deletes one record; an unknown id is a no-op', async (t) => {
      const s = await state(t);
      await s.upsert('Client', 'c1', '{}', undefined, {});
      await s.upsert('Client', 'c2', '{}', undefined, {});
      await s.upsert('Session', 's', '{}', soon(), { uid: 'u' });
      await s.destroy('Client', 'c1');
      await s.destroy('Client', 'nope');
      await s.destroy('Session', 'c2');
      assert.equal(await s.find('Client', 'c1'), undefined);
      assert.ok(await s.find('Client', 'c2'), 'c2 stays');
      await s.destroy('Session', 's');
      assert.equal(await s.findBy('Session', 'uid', 'u'), undefined);
      assert.equal(await s.count('Client'), 1);
    });

    it('prune deletes records expired at `now`, keeps the rest and says how many went', async (t) => {
      const s = await state(t);
      const base = Date.UTC(2030, 0, 1);
      await s.upsert('AccessToken', 'a', '{}', new Date(base - 1), { grantId: 'g' });
      await s.upsert('AccessToken', 'b', '{}', new Date(base), {});
      await s.upsert('AccessToken', 'c', '{}', new Date(base + 1), {});
      await s.upsert('Client', 'forever', '{}', undefined, {});
      assert.equal(await s.prune(new Date(base - 10)), 0);
      assert.equal(await s.count('AccessToken'), 3);
      assert.equal(await s.prune(new Date(base)), 2);
      assert.equal(await s.count('AccessToken'), 1);
      assert.ok(await s.find('AccessToken', 'c'), 'not yet expired: kept');
      assert.ok(await s.find('Client', 'forever'), 'no expiry: kept');
      assert.equal(await s.prune(new Date(base)), 0);
      // Writing the pruned ids again starts fresh records.
      await s.upsert('AccessToken', 'a', '{"again":true}', undefined, {});
      assert.deepEqual(await s.find('AccessToken', 'a'), { payload: '{"again":true}' });
    });

    it('list returns live records of one model with ids, bounded by limit', async (t) => {
      const s = await state(t);
      for (let i = 0; i < 5; i++) await s.upsert('Consent', `k${i}`, json({ i }), soon(), {});
      await s.upsert('Consent', 'dead', '{}', PAST, {});
      await s.upsert('Grant', 'k9', '{}', soon(), {});
      const all = await s.list('Consent', 100);
      assert.deepEqual(all.map((r) => r.id).sort(), ['k0', 'k1', 'k2', 'k3', 'k4']);
      for (const r of all) assert.equal(r.payload, json({ i: Number(r.id.slice(1)) }));
      assert.equal((await s.list('Consent', 2)).length, 2);
      assert.equal((await s.list('Consent', 2.9)).length, 2);
      assert.deepEqual(await s.list('Consent', 0), []);
      assert.deepEqual(await s.list('Consent', -3), []);
      assert.deepEqual(await s.list('Consent', Number.NaN), []);
    });

    it(`accepts a payload of exactly ${OAUTH_STATE_PAYLOAD_MAX_BYTES} bytes and rejects one byte more with ERR_BAD_INPUT`, async (t) => {
      const s = await state(t);
      const max = 'x'.repeat(OAUTH_STATE_PAYLOAD_MAX_BYTES);
      await s.upsert('Client', 'big', max, undefined, {});
      assert.equal((await s.find('Client', 'big'))?.payload.length, OAUTH_STATE_PAYLOAD_MAX_BYTES);
      await assert.rejects(s.upsert('Client', 'big', `${max}x`, undefined, {}), { name: 'GatewayError', code: 'ERR_BAD_INPUT' });
      // Counted in UTF-8 bytes: half as many two-byte characters plus one is too much.
      const wide = 'é'.repeat(OAUTH_STATE_PAYLOAD_MAX_BYTES / 2 + 1);
      await assert.rejects(s.upsert('Client', 'wide', wide, undefined, {}), { name: 'GatewayError', code: 'ERR_BAD_INPUT' });
      // A refused write leaves what was there.
      assert.equal((await s.find('Client', 'big'))?.payload, max);
      assert.equal(await s.find('Client', 'wide'), undefined);
    });

    it(`rejects keys and index values over ${OAUTH_STATE_KEY_MAX} characters; reads with them find nothing`, async (t) => {
      const s = await state(t);
      const long = 'k'.repeat(OAUTH_STATE_KEY_MAX + 1);
      const ok = 'k'.repeat(OAUTH_STATE_KEY_MAX);
      await s.upsert('Client', ok, '{}', undefined, { uid: ok });
      assert.ok(await s.find('Client', ok), 'a key of exactly the maximum length is fine');
      for (const write of [
        () => s.upsert('Client', long, '{}', undefined, {}),
        () => s.upsert(long, 'id', '{}', undefined, {}),
        () => s.upsert('Session', 'id', '{}', undefined, { uid: long }),
        () => s.upsert('Session', 'id', '{}', undefined, { grantId: long }),
        () => s.upsert('DeviceCode', 'id', '{}', undefined, { userCode: long }),
      ]) {
        await assert.rejects(write(), { name: 'GatewayError', code: 'ERR_BAD_INPUT' });
      }
      assert.equal(await s.find('Client', long), undefined);
      assert.equal(await s.findBy('Client', 'uid', long), undefined);
      await s.destroy('Client', long);
      await s.consume('Client', long, new Date());
      await s.revokeByGrantId(long);
      assert.equal(await s.count('Session'), 0);
    });

    it('rejects invalid dates with ERR_INTERNAL and stays usable', async (t) => {
      const s = await state(t);
      await assert.rejects(s.upsert('Grant', 'g', '{}', new Date(Number.NaN), {}), { name: 'GatewayError', code: 'ERR_INTERNAL' });
      assert.equal(await s.find('Grant', 'g'), undefined);
      await s.upsert('Grant', 'g', '{}', soon(), {});
      await assert.rejects(s.consume('Grant', 'g', new Date('nope')), { name: 'GatewayError', code: 'ERR_INTERNAL' });
      await assert.rejects(s.prune(new Date(Number.NaN)), { name: 'GatewayError', code: 'ERR_INTERNAL' });
      assert.equal('consumedAt' in (await s.find('Grant', 'g'))!, false);
    });

    it('50 parallel upserts of one id leave exactly one record holding one of the payloads', async (t) => {
      const s = await state(t);
      const payloads = Array.from({ length: 50 }, (_, i) => json({ i }));
      await Promise.all(payloads.map((p) => s.upsert('Session', 'same', p, soon(), { uid: 'u' })));
      assert.equal(await s.count('Session'), 1);
      assert.ok(payloads.includes((await s.find('Session', 'same'))!.payload), 'one of the written payloads');
      assert.ok(await s.findBy('Session', 'uid', 'u'), 'found by uid');
    });

    it('after close every operation rejects', async (t) => {
      const { store } = await open(t);
      const s = store.oauthState;
      await store.close();
      await assert.rejects(s.upsert('Client', 'c', '{}', undefined, {}));
      await assert.rejects(s.find('Client', 'c'));
      await assert.rejects(s.findBy('Session', 'uid', 'u'));
      await assert.rejects(s.list('Client', 1));
      await assert.rejects(s.count('Client'));
      await assert.rejects(s.consume('Client', 'c', new Date()));
      await assert.rejects(s.destroy('Client', 'c'));
      await assert.rejects(s.revokeByGrantId('g'));
      await assert.rejects(s.prune(new Date()));
    });

    const persists = persistentCase(name, 'records, consumption and indexes survive close and reopen', traits);
    it(persists.title, { skip: persists.skip }, async (t) => {
      const h = await open(t);
      const reopen = reopenOf(h);
      const exp = soon();
      const at = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6));
      await h.store.oauthState.upsert('Client', 'c', json({ client_id: 'c' }), undefined, {});
      await h.store.oauthState.upsert('RefreshToken', 'rt', json({ r: 1 }), exp, { grantId: 'G' });
      await h.store.oauthState.upsert('Session', 's', json({ s: 1 }), exp, { uid: 'U' });
      await h.store.oauthState.consume('RefreshToken', 'rt', at);
      await h.store.close();
      const again = (await reopen()).oauthState;
      assert.deepEqual(await again.find('Client', 'c'), { payload: json({ client_id: 'c' }) });
      assert.deepEqual(await again.find('RefreshToken', 'rt'), { payload: json({ r: 1 }), expiresAt: exp, consumedAt: at });
      assert.deepEqual(await again.findBy('Session', 'uid', 'U'), { payload: json({ s: 1 }), expiresAt: exp });
      await again.revokeByGrantId('G');
      assert.equal(await again.find('RefreshToken', 'rt'), undefined);
    });
  });
}
