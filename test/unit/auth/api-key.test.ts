/** API keys: format, verification, refusals and last-use throttling (security-checklist A2, A9). */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  API_KEY_LENGTH,
  TOUCH_INTERVAL_MS,
  createApiKey,
  hashApiKeySecret,
  parseApiKey,
  verifyApiKey,
  type ApiKeyFailure,
} from '../../../src/auth/keys/api-key.js';
import { GatewayError } from '../../../src/pipeline/errors.js';
import { openMemoryStore } from '../../../src/storage/memory/store.js';
import type { ApiKeyRecord, ApiKeyStore } from '../../../src/storage/ports.js';

const T0 = new Date(Date.UTC(2026, 6, 28, 12, 0, 0, 0));
const HASH_KEY = randomBytes(32);
const KEY_RE = /^pcl_[a-z2-7]{12}_[A-Za-z0-9_-]{43}$/;

const opts = { name: 'ci', tenant: 'default', roles: ['reader'], virtualServers: ['files'], now: T0 };

/** Asserts ERR_INVALID_TOKEN with the shared message and the given reason; returns the message. */
async function refused(p: Promise<unknown>, reason: ApiKeyFailure): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof GatewayError, `expected GatewayError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_INVALID_TOKEN');
    assert.equal(e.detail?.reason, reason);
    return e.message;
  }
  assert.fail(`expected a refusal (${reason})`);
}

/** Lets fire-and-forget work (the touch) settle. */
const settle = () => new Promise((r) => setImmediate(r));

/** Counts touches reaching a real store. */
function counting(inner: ApiKeyStore): ApiKeyStore & { touches: Date[] } {
  const touches: Date[] = [];
  return {
    touches,
    create: (k) => inner.create(k),
    get: (id) => inner.get(id),
    list: (t) => inner.list(t),
    revoke: (id, at) => inner.revoke(id, at),
    touch: (id, at) => {
      touches.push(at);
      return inner.touch(id, at);
    },
  };
}

describe('createApiKey / verifyApiKey', () => {
  it('A2: round trip: the key has the documented shape and verifies to its record', async () => {
    const store = openMemoryStore().apiKeys;
    const { key, record } = await createApiKey(store, HASH_KEY, opts);
    assert.match(key, KEY_RE);
    assert.equal(key.length, API_KEY_LENGTH);
    assert.equal(key.slice(4, 16), record.id);
    assert.deepEqual(await store.get(record.id), record);
    const got = await verifyApiKey(store, HASH_KEY, key, T0);
    assert.deepEqual(got, record);
    assert.deepEqual([got.name, got.tenant, got.roles, got.virtualServers], ['ci', 'default', ['reader'], ['files']]);
  });

  it('stores HMAC-SHA256(hashKey, secret) in hex, which never equals or contains the secret', async () => {
    const store = openMemoryStore().apiKeys;
    for (let i = 0; i < 20; i++) {
      const { key, record } = await createApiKey(store, HASH_KEY, opts);
      const secret = parseApiKey(key)!.secret;
      assert.equal(record.hash, createHmac('sha256', HASH_KEY).update(secret).digest('hex'));
      assert.equal(record.hash, hashApiKeySecret(HASH_KEY, secret));
      assert.match(record.hash, /^[0-9a-f]{64}$/);
      const stored = JSON.stringify(await store.get(record.id));
      assert.ok(!stored.includes(secret), 'stored record contains the secret');
      assert.ok(!stored.includes(Buffer.from(secret, 'base64url').toString('hex')), 'stored record contains the secret bytes');
      assert.ok(!stored.includes(key));
    }
  });

  it('ids are 12 lowercase base32 characters and distinct', async () => {
    const store = openMemoryStore().apiKeys;
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) ids.add((await createApiKey(store, HASH_KEY, opts)).record.id);
    assert.equal(ids.size, 200);
    for (const id of ids) assert.match(id, /^[a-z2-7]{12}$/);
  });

  it('A2: a wrong secret for a real id is refused (bad_secret)', async () => {
    const store = openMemoryStore().apiKeys;
    const { key } = await createApiKey(store, HASH_KEY, opts);
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    await refused(verifyApiKey(store, HASH_KEY, key.slice(0, -1) + last, T0), 'bad_secret');
    const other = (await createApiKey(store, HASH_KEY, opts)).key;
    // A valid secret of another key under this key's id.
    await refused(verifyApiKey(store, HASH_KEY, key.slice(0, 17) + other.slice(17), T0), 'bad_secret');
  });

  it('A2: a key made under another key-hash key is refused', async () => {
    const store = openMemoryStore().apiKeys;
    const { key } = await createApiKey(store, HASH_KEY, opts);
    await refused(verifyApiKey(store, randomBytes(32), key, T0), 'bad_secret');
  });

  it('A2: an unknown id is refused (unknown_key)', async () => {
    const store = openMemoryStore().apiKeys;
    const { key } = await createApiKey(store, HASH_KEY, opts);
    const id = key.slice(4, 16);
    const otherId = (id[0] === 'a' ? 'b' : 'a') + id.slice(1);
    await refused(verifyApiKey(store, HASH_KEY, `pcl_${otherId}${key.slice(16)}`, T0), 'unknown_key');
  });

  it('A2: malformed keys of every shape are refused before any lookup (malformed)', async () => {
    const inner = openMemoryStore().apiKeys;
    let gets = 0;
    const store: ApiKeyStore = { ...counting(inner), get: (id) => (gets++, inner.get(id)) };
    const { key } = await createApiKey(inner, HASH_KEY, opts);
    const secret = key.slice(17);
    const id = key.slice(4, 16);
    const shapes = [
      '',
      'pcl_',
      'pcl__',
      key.slice(0, -1),
      `${key}A`,
      `${key}\n`,
      ` ${key}`,
      `Bearer ${key}`,
      key.toUpperCase(),
      `PCL_${key.slice(4)}`,
      `pck_${key.slice(4)}`,
      `pcl-${id}_${secret}`,
      `pcl_${id}-${secret}`,
      `pcl_${id.toUpperCase()}_${secret}`,
      `pcl_${id.slice(0, 11)}1_${secret}`, // '1' is not base32
      `pcl_${id.slice(0, 11)}_${secret}A`, // id one short, shape shifted
      `pcl_${id}_${secret.slice(0, 42)}=`,
      `pcl_${id}_${secret.slice(0, 42)}+`,
      `pcl_${id}_${secret.slice(0, 42)}é`,
      `pcl_${id}_${secret.slice(0, 21)} ${secret.slice(22)}`,
      `pcl_${id}_${secret.slice(0, 21)}\u0000${secret.slice(22)}`,
      'pcl_' + 'a'.repeat(1_000_000),
      key.repeat(20_000),
      'x'.repeat(10 * 1024 * 1024),
    ];
    const messages = new Set<string>();
    for (const s of shapes) messages.add(await refused(verifyApiKey(store, HASH_KEY, s, T0), 'malformed'));
    for (const v of [undefined, null, 42, {}, [key]]) messages.add(await refused(verifyApiKey(store, HASH_KEY, v as unknown as string, T0), 'malformed'));
    assert.equal(gets, 0, 'malformed input must not reach the store');
    assert.equal(messages.size, 1);
    assert.equal(parseApiKey(`${key}\n`), undefined);
    assert.deepEqual(parseApiKey(key), { id, secret });
  });

  it('A2: revocation takes effect on the very next verify (no cache)', async () => {
    const store = openMemoryStore().apiKeys;
    const { key, record } = await createApiKey(store, HASH_KEY, opts);
    await verifyApiKey(store, HASH_KEY, key, T0);
    assert.equal(await store.revoke(record.id, T0), true);
    await refused(verifyApiKey(store, HASH_KEY, key, T0), 'revoked');
    // Revoked "in the future" still counts: revocation is never deferred.
    const second = await createApiKey(store, HASH_KEY, opts);
    await store.revoke(second.record.id, new Date(T0.getTime() + 3_600_000));
    await refused(verifyApiKey(store, HASH_KEY, second.key, T0), 'revoked');
  });

  it('A2: an expired key is refused from its expiry instant on', async () => {
    const store = openMemoryStore().apiKeys;
    const expiresAt = new Date(T0.getTime() + 1000);
    const { key } = await createApiKey(store, HASH_KEY, { ...opts, expiresAt });
    await verifyApiKey(store, HASH_KEY, key, new Date(T0.getTime() + 999));
    await refused(verifyApiKey(store, HASH_KEY, key, expiresAt), 'expired');
    await refused(verifyApiKey(store, HASH_KEY, key, new Date(T0.getTime() + 86_400_000)), 'expired');
  });

  it('every refusal reason carries the same message and status', async () => {
    const store = openMemoryStore().apiKeys;
    const live = await createApiKey(store, HASH_KEY, opts);
    const revoked = await createApiKey(store, HASH_KEY, opts);
    await store.revoke(revoked.record.id, T0);
    const expired = await createApiKey(store, HASH_KEY, { ...opts, expiresAt: new Date(T0.getTime() + 1) });
    const errors: GatewayError[] = [];
    const attempts = [
      verifyApiKey(store, HASH_KEY, 'nonsense', T0),
      verifyApiKey(store, HASH_KEY, `pcl_${'a'.repeat(12)}${live.key.slice(16)}`, T0),
      verifyApiKey(store, HASH_KEY, live.key.slice(0, 17) + revoked.key.slice(17), T0),
      verifyApiKey(store, HASH_KEY, revoked.key, T0),
      verifyApiKey(store, HASH_KEY, expired.key, new Date(T0.getTime() + 5)),
    ];
    for (const p of attempts) await p.catch((e: GatewayError) => errors.push(e));
    assert.equal(errors.length, 5);
    assert.deepEqual(new Set(errors.map((e) => e.detail?.reason)), new Set(['malformed', 'unknown_key', 'bad_secret', 'revoked', 'expired']));
    assert.equal(new Set(errors.map((e) => e.message)).size, 1);
    assert.ok(errors.every((e) => e.httpStatus === 401));
    // The detail names the key id at most, never the secret.
    for (const e of errors) assert.ok(!JSON.stringify(e.detail).includes(live.key.slice(17, 30)));
  });

  it('A9: a stored hash of another length or not hex is a mismatch, not a crash', async () => {
    const store = openMemoryStore().apiKeys;
    const { key, record } = await createApiKey(store, HASH_KEY, opts);
    const secretPart = key.slice(16);
    const variants = ['', 'abcd', record.hash.slice(0, 63), record.hash + '00', record.hash.repeat(2), 'zz'.repeat(32), record.hash.toUpperCase().replace(/[0-9]/g, 'G')];
    for (const [i, hash] of variants.entries()) {
      const id = `${'bcdefghijk'}${'ab'[i % 2]}${'234567a'[i]}`;
      const fake: ApiKeyRecord = { ...record, id, hash };
      await store.create(fake);
      await refused(verifyApiKey(store, HASH_KEY, `pcl_${id}${secretPart}`, T0), 'bad_secret');
    }
    // Upper-case hex is still the same bytes: decoding, not string comparison, decides.
    const upperId = 'zzzzzzzzzzzz';
    await store.create({ ...record, id: upperId, hash: record.hash.toUpperCase() });
    assert.equal((await verifyApiKey(store, HASH_KEY, `pcl_${upperId}${secretPart}`, T0)).id, upperId);
  });

  it('records last use at most once per minute per key, without waiting for it', async () => {
    const store = counting(openMemoryStore().apiKeys);
    const a = await createApiKey(store, HASH_KEY, opts);
    const b = await createApiKey(store, HASH_KEY, opts);
    const at = (ms: number) => new Date(T0.getTime() + ms);
    await verifyApiKey(store, HASH_KEY, a.key, at(0));
    await verifyApiKey(store, HASH_KEY, a.key, at(1));
    await verifyApiKey(store, HASH_KEY, a.key, at(TOUCH_INTERVAL_MS - 1));
    await verifyApiKey(store, HASH_KEY, b.key, at(5)); // another key has its own throttle
    await settle();
    assert.deepEqual(store.touches.map((d) => d.getTime() - T0.getTime()), [0, 5]);
    assert.equal((await store.get(a.record.id))!.lastUsedAt?.getTime(), T0.getTime());
    await verifyApiKey(store, HASH_KEY, a.key, at(TOUCH_INTERVAL_MS));
    await settle();
    assert.deepEqual(store.touches.map((d) => d.getTime() - T0.getTime()), [0, 5, TOUCH_INTERVAL_MS]);
    assert.equal((await store.get(a.record.id))!.lastUsedAt?.getTime(), T0.getTime() + TOUCH_INTERVAL_MS);
    // Refused attempts never count as use.
    await verifyApiKey(store, HASH_KEY, a.key.slice(0, -1) + (a.key.endsWith('A') ? 'B' : 'A'), at(10 * TOUCH_INTERVAL_MS)).catch(() => undefined);
    await settle();
    assert.equal(store.touches.length, 3);
  });

  it('a failing touch never fails the verify; the error goes to onTouchError', async () => {
    const inner = openMemoryStore().apiKeys;
    const { key, record } = await createApiKey(inner, HASH_KEY, opts);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store: ApiKeyStore = { ...counting(inner), touch: () => gate.then(() => Promise.reject(new Error('disk full'))) };
    const seen: [unknown, string][] = [];
    // Resolves while the touch is still pending: the caller does not wait for it.
    const got = await verifyApiKey(store, HASH_KEY, key, T0, { onTouchError: (e, id) => seen.push([e, id]) });
    assert.equal(got.id, record.id);
    assert.equal(seen.length, 0);
    release();
    await settle();
    assert.equal(seen.length, 1);
    assert.equal((seen[0]![0] as Error).message, 'disk full');
    assert.equal(seen[0]![1], record.id);
    // Without a handler the rejection is swallowed (an unhandled rejection would fail this run).
    await verifyApiKey(store, HASH_KEY, key, new Date(T0.getTime() + TOUCH_INTERVAL_MS));
    await settle();
  });

  it('createApiKey validates its input (ERR_BAD_INPUT) and the hash key (ERR_INTERNAL)', async () => {
    const store = openMemoryStore().apiKeys;
    const bad: Partial<typeof opts & { expiresAt: Date }>[] = [
      { name: '' },
      { name: 'x'.repeat(129) },
      { name: 'line\nbreak' },
      { tenant: '' },
      { tenant: 'has space' },
      { tenant: 'a'.repeat(33) },
      { roles: ['ok', 'not ok'] },
      { roles: Array.from({ length: 33 }, (_, i) => `r${i}`) },
      { virtualServers: ['../etc'] },
      { expiresAt: T0 },
      { expiresAt: new Date(T0.getTime() - 1) },
      { expiresAt: new Date(Number.NaN) },
    ];
    for (const over of bad) await assert.rejects(createApiKey(store, HASH_KEY, { ...opts, ...over }), { code: 'ERR_BAD_INPUT' }, JSON.stringify(over));
    await assert.rejects(createApiKey(store, randomBytes(31), opts), { code: 'ERR_INTERNAL' });
    await assert.rejects(verifyApiKey(store, Buffer.alloc(0), 'x', T0), { code: 'ERR_INTERNAL' });
    assert.deepEqual(await store.list(), []);
    const { record } = await createApiKey(store, HASH_KEY, { ...opts, roles: ['a', 'b', 'a'], virtualServers: ['v', 'v'] });
    assert.deepEqual([record.roles, record.virtualServers], [['a', 'b'], ['v']]);
  });
});
