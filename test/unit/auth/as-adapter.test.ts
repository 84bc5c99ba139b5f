/** The bounded in-memory oidc-provider adapter: expiry, consumption, grant revocation, caps. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryAdapterStore } from '../../../src/auth/server/adapter-memory.js';

function setup(limits = { maxEntriesPerModel: 5, maxClients: 2 }) {
  let now = 1_000_000;
  const evicted: string[] = [];
  const store = new MemoryAdapterStore(limits, (model) => void evicted.push(model), () => now);
  const f = store.factory();
  return { store, f, evicted, tick: (ms: number) => (now += ms) };
}

test('find returns a copy; entries expire', async () => {
  const { f, tick } = setup();
  const a = f('AccessToken');
  await a.upsert('t1', { grantId: 'g1', scope: 'x' }, 10);
  const got = await a.find('t1');
  assert.equal(got?.scope, 'x');
  got!.scope = 'changed';
  assert.equal((await a.find('t1'))?.scope, 'x');
  tick(9_999);
  assert.ok(await a.find('t1'));
  tick(1);
  assert.equal(await a.find('t1'), undefined);
});

test('consume marks, destroy removes, models are separate', async () => {
  const { f } = setup();
  const code = f('AuthorizationCode');
  const token = f('AccessToken');
  await code.upsert('same', { grantId: 'g' }, 60);
  await token.upsert('same', { grantId: 'g' }, 60);
  await code.consume('same');
  assert.equal(typeof (await code.find('same'))?.consumed, 'number');
  assert.equal((await token.find('same'))?.consumed, undefined);
  await code.destroy('same');
  assert.equal(await code.find('same'), undefined);
  assert.ok(await token.find('same'));
});

test('revokeByGrantId removes every entry of the grant in that model only', async () => {
  const { f } = setup();
  const rt = f('RefreshToken');
  const at = f('AccessToken');
  await rt.upsert('r1', { grantId: 'g1' }, 60);
  await rt.upsert('r2', { grantId: 'g1' }, 60);
  await rt.upsert('r3', { grantId: 'g2' }, 60);
  await at.upsert('a1', { grantId: 'g1' }, 60);
  await rt.revokeByGrantId('g1');
  assert.equal(await rt.find('r1'), undefined);
  assert.equal(await rt.find('r2'), undefined);
  assert.ok(await rt.find('r3'));
  assert.ok(await at.find('a1'));
  // A re-upsert under a new grant id is indexed under the new one only.
  await rt.upsert('r3', { grantId: 'g3' }, 60);
  await rt.revokeByGrantId('g2');
  assert.ok(await rt.find('r3'));
});

test('findByUid and findByUserCode follow the latest write', async () => {
  const { f } = setup();
  const s = f('Session');
  await s.upsert('s1', { uid: 'u1', accountId: 'alice' }, 60);
  assert.equal((await s.findByUid('u1'))?.accountId, 'alice');
  await s.destroy('s1');
  assert.equal(await s.findByUid('u1'), undefined);
  const d = f('DeviceCode');
  await d.upsert('d1', { userCode: 'ABCD' }, 60);
  assert.ok(await d.findByUserCode('ABCD'));
});

test('caps each model: expired entries go first, then the least recently written', async () => {
  const { store, f, evicted, tick } = setup();
  const g = f('Grant');
  await g.upsert('short', {}, 1);
  for (let i = 0; i < 4; i++) await g.upsert(`g${i}`, {}, 600);
  tick(2_000);
  await g.upsert('g4', {}, 600);
  assert.equal(store.size('Grant'), 5);
  assert.deepEqual(evicted, [], 'the expired entry made room');
  await g.upsert('g0', { accountId: 'rewritten' }, 600); // rewriting moves g0 to the young end
  await g.upsert('g5', {}, 600);
  assert.equal(store.size('Grant'), 5);
  assert.equal(await g.find('g1'), undefined, 'oldest written entry evicted');
  assert.ok(await g.find('g0'));
  assert.deepEqual(evicted, ['Grant']);
});

test('registered clients have their own, smaller cap', async () => {
  const { store, f } = setup();
  const c = f('Client');
  for (let i = 0; i < 5; i++) await c.upsert(`c${i}`, { client_id: `c${i}` });
  assert.equal(store.size('Client'), 2);
  assert.ok(await c.find('c4'));
  assert.equal(await c.find('c0'), undefined);
});
