/** EncryptedSecrets over the real storage backends: nothing readable at rest, AAD binding, rotation. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyring, keyFromBytes } from '../../../src/auth/secrets/keyring.js';
import { EncryptedSecrets, MAX_SECRET_BYTES } from '../../../src/auth/secrets/secret-store.js';
import { GatewayError } from '../../../src/pipeline/errors.js';
import { openMemoryStore } from '../../../src/storage/memory/store.js';
import { openSqliteStore } from '../../../src/storage/sqlite/open.js';

const tmp = mkdtempSync(join(tmpdir(), 'pcl-secrets-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const k1 = keyFromBytes(randomBytes(32));
const k2 = keyFromBytes(randomBytes(32));
const code = (c: string) => (e: unknown) => e instanceof GatewayError && e.code === c;

describe('EncryptedSecrets', () => {
  it('stores only sealed values and reads them back', async () => {
    const store = openMemoryStore();
    const s = new EncryptedSecrets(store.secrets, createKeyring(k1));
    await s.set('secret/gh', 'ghp_supersecretvalue');
    const rec = await store.secrets.get('secret/gh');
    assert.ok(rec);
    assert.equal(rec.keyId, k1.id);
    assert.ok(!rec.sealed.includes('supersecret'));
    assert.ok(!Buffer.from(rec.sealed, 'base64url').toString('latin1').includes('supersecret'));
    assert.equal(await s.get('secret/gh'), 'ghp_supersecretvalue');
    assert.equal(await s.get('secret/none'), undefined);
    await s.set('secret/gh', 'second');
    assert.equal(await s.get('secret/gh'), 'second');
    await store.close();
  });

  it('lists names by prefix and deletes', async () => {
    const store = openMemoryStore();
    const s = new EncryptedSecrets(store.secrets, createKeyring(k1));
    await s.set('secret/b', '1');
    await s.set('secret/a', '2');
    await s.set('upstream-oauth/x/p', '3');
    assert.deepEqual(await s.list('secret/'), ['secret/a', 'secret/b']);
    assert.deepEqual(await s.list(), ['secret/a', 'secret/b', 'upstream-oauth/x/p']);
    assert.equal(await s.delete('secret/a'), true);
    assert.equal(await s.delete('secret/a'), false);
    assert.deepEqual(await s.list('secret/'), ['secret/b']);
  });

  it('refuses a record moved to another name, and a tampered record', async () => {
    const store = openMemoryStore();
    const s = new EncryptedSecrets(store.secrets, createKeyring(k1));
    await s.set('secret/admin-token', 'admin');
    const rec = (await store.secrets.get('secret/admin-token'))!;
    await store.secrets.put({ ...rec, name: 'secret/public' });
    await assert.rejects(s.get('secret/public'), code('ERR_UPSTREAM_CREDENTIALS'));
    const raw = Buffer.from(rec.sealed, 'base64url');
    raw[14] = raw[14]! ^ 0x80;
    await store.secrets.put({ ...rec, sealed: raw.toString('base64url') });
    await assert.rejects(s.get('secret/admin-token'), code('ERR_UPSTREAM_CREDENTIALS'));
  });

  it('bounds values: empty and over 64 KB are refused, 64 KB exactly is kept', async () => {
    const store = openMemoryStore();
    const s = new EncryptedSecrets(store.secrets, createKeyring(k1));
    await assert.rejects(s.set('secret/x', ''), code('ERR_BAD_INPUT'));
    await assert.rejects(s.set('secret/x', 'a'.repeat(MAX_SECRET_BYTES + 1)), code('ERR_BAD_INPUT'));
    // multi-byte characters count in bytes
    await assert.rejects(s.set('secret/x', '€'.repeat(Math.floor(MAX_SECRET_BYTES / 3) + 1)), code('ERR_BAD_INPUT'));
    await s.set('secret/x', 'a'.repeat(MAX_SECRET_BYTES));
    assert.equal((await s.get('secret/x'))?.length, MAX_SECRET_BYTES);
    await assert.rejects(s.set('bad\nname', 'v'), code('ERR_BAD_INPUT'));
    assert.deepEqual(await s.list(), ['secret/x']);
  });

  it('rotates every record to the current key, keeping previous keys usable until then (SQLite)', async () => {
    const store = await openSqliteStore({ dataDir: join(tmp, 'rotate') });
    try {
      const old = new EncryptedSecrets(store.secrets, createKeyring(k1));
      await old.set('secret/a', 'alpha');
      await old.set('secret/b', 'beta');
      await old.set('upstream-oauth/u/p', 'gamma');
      const next = new EncryptedSecrets(store.secrets, createKeyring(k2, [k1]));
      // Readable before rotation through the previous key; new writes use the current one.
      assert.equal(await next.get('secret/a'), 'alpha');
      await next.set('secret/c', 'delta');
      assert.equal((await store.secrets.get('secret/c'))?.keyId, k2.id);
      assert.equal(await next.rotate(), 3);
      for (const r of await store.secrets.list()) assert.equal(r.keyId, k2.id, r.name);
      assert.equal(await next.rotate(), 0);
      // After rotation the old key is no longer needed...
      const only = new EncryptedSecrets(store.secrets, createKeyring(k2));
      assert.deepEqual(
        await Promise.all(['secret/a', 'secret/b', 'secret/c', 'upstream-oauth/u/p'].map((n) => only.get(n))),
        ['alpha', 'beta', 'delta', 'gamma'],
      );
      // ...and can no longer read anything.
      await assert.rejects(new EncryptedSecrets(store.secrets, createKeyring(k1)).get('secret/a'), code('ERR_UPSTREAM_CREDENTIALS'));
    } finally {
      await store.close();
    }
  });

  it('rotation without the old key fails before writing anything', async () => {
    const store = openMemoryStore();
    await new EncryptedSecrets(store.secrets, createKeyring(k1)).set('secret/a', 'alpha');
    await new EncryptedSecrets(store.secrets, createKeyring(k2)).set('secret/b', 'beta');
    const k3 = keyFromBytes(randomBytes(32));
    const before = await store.secrets.list();
    await assert.rejects(new EncryptedSecrets(store.secrets, createKeyring(k3, [k2])).rotate(), (e: unknown) => e instanceof GatewayError && e.message.includes(k1.id));
    assert.deepEqual(await store.secrets.list(), before);
  });
});
