/** The key-hash key: configured, generated into the data dir once, or per process for memory. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeHashKey, HASH_KEY_FILE, loadKeyHashKey } from '../../../src/auth/keys/hash-key.js';
import type { ResolveSecret, SecretRef } from '../../../src/auth/secrets/ref.js';

const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});
async function tempRoot(): Promise<string> {
  const r = await mkdtemp(join(tmpdir(), 'portcullis-hashkey-'));
  roots.push(r);
  return r;
}

/** A resolver over a fixed table, as the real one would answer for env refs. */
const fixed = (values: Record<string, string>): ResolveSecret => async (ref: SecretRef) => {
  const name = 'env' in ref ? ref.env : '';
  const v = values[name];
  if (v === undefined) throw new Error(`no ${name}`);
  return v;
};

describe('loadKeyHashKey', () => {
  it('creates <dataDir>/api-key-hash.key once (0600, in a new 0700 dir) and reads the same key afterwards', async () => {
    const dataDir = join(await tempRoot(), 'nested', 'data');
    const k1 = await loadKeyHashKey({ dataDir, storage: 'sqlite' });
    assert.equal(k1.length, 32);
    const file = join(dataDir, HASH_KEY_FILE);
    if (process.platform !== 'win32') {
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
    }
    assert.equal((await readFile(file, 'utf8')).trim(), k1.toString('base64url'));
    assert.deepEqual(await loadKeyHashKey({ dataDir, storage: 'sqlite' }), k1);
    // No temp files are left behind.
    assert.deepEqual(await readdir(dataDir), [HASH_KEY_FILE]);
  });

  it('20 concurrent first loads agree on one key', async () => {
    const dataDir = await tempRoot();
    const keys = await Promise.all(Array.from({ length: 20 }, () => loadKeyHashKey({ dataDir, storage: 'sqlite' })));
    for (const k of keys) assert.deepEqual(k, keys[0]);
    assert.deepEqual(await readdir(dataDir), [HASH_KEY_FILE]);
  });

  it('different data dirs get different keys', async () => {
    const a = await loadKeyHashKey({ dataDir: await tempRoot(), storage: 'sqlite' });
    const b = await loadKeyHashKey({ dataDir: await tempRoot(), storage: 'sqlite' });
    assert.notDeepEqual(a, b);
  });

  it('a corrupt key file fails closed (ERR_BAD_INPUT), it is never replaced', async () => {
    const dataDir = await tempRoot();
    const file = join(dataDir, HASH_KEY_FILE);
    await writeFile(file, 'short\n', { mode: 0o600 });
    await assert.rejects(loadKeyHashKey({ dataDir, storage: 'sqlite' }), { code: 'ERR_BAD_INPUT' });
    assert.equal(await readFile(file, 'utf8'), 'short\n');
  });

  it('an unusable data dir is ERR_INTERNAL', async () => {
    const root = await tempRoot();
    const dataDir = join(root, 'file');
    await writeFile(dataDir, 'x');
    await assert.rejects(loadKeyHashKey({ dataDir, storage: 'sqlite' }), { code: 'ERR_INTERNAL' });
  });

  it('storage memory: one random key per process, no file written', async () => {
    const dataDir = await tempRoot();
    const a = await loadKeyHashKey({ dataDir, storage: 'memory' });
    const b = await loadKeyHashKey({ dataDir: '/nonexistent', storage: 'memory' });
    assert.equal(a.length, 32);
    assert.deepEqual(a, b);
    a.fill(0); // callers get copies
    assert.notDeepEqual(await loadKeyHashKey({ dataDir, storage: 'memory' }), a);
    assert.deepEqual(await readdir(dataDir), []);
  });

  it('a configured reference wins over the key file and accepts hex, base64url and long text', async () => {
    const dataDir = await tempRoot();
    const raw = randomBytes(32);
    const text = 'correct horse battery staple, long enough';
    const resolveSecret = fixed({ HEX: raw.toString('hex'), B64: raw.toString('base64url'), B64STD: `${raw.toString('base64')}\n`, TEXT: text, LONGHEX: randomBytes(48).toString('hex') });
    for (const env of ['HEX', 'B64', 'B64STD']) assert.deepEqual(await loadKeyHashKey({ ref: { env }, resolveSecret, dataDir, storage: 'sqlite' }), raw, env);
    assert.deepEqual(await loadKeyHashKey({ ref: { env: 'TEXT' }, resolveSecret, dataDir, storage: 'memory' }), Buffer.from(text));
    assert.equal((await loadKeyHashKey({ ref: { env: 'LONGHEX' }, resolveSecret, dataDir, storage: 'sqlite' })).length, 48);
    assert.deepEqual(await readdir(dataDir), [], 'a configured key never creates the file');
  });

  it('refuses configured values under 32 bytes, placeholders, and a missing resolver (ERR_BAD_INPUT)', async () => {
    const dataDir = await tempRoot();
    const resolveSecret = fixed({ SHORT: randomBytes(15).toString('hex'), SHORTTEXT: 'x'.repeat(31), ZEROS: '0'.repeat(64), SAME: 'a'.repeat(40), HUGE: 'k'.repeat(5000) });
    for (const env of ['SHORT', 'SHORTTEXT', 'ZEROS', 'SAME', 'HUGE']) {
      await assert.rejects(loadKeyHashKey({ ref: { env }, resolveSecret, dataDir, storage: 'sqlite' }), { code: 'ERR_BAD_INPUT' }, env);
    }
    await assert.rejects(loadKeyHashKey({ ref: { env: 'X' }, dataDir, storage: 'sqlite' }), { code: 'ERR_BAD_INPUT' });
  });

  it('errors name the source, never the value', () => {
    const value = 'tooshort-secret-value';
    try {
      decodeHashKey(value, 'env:HK');
      assert.fail('should refuse');
    } catch (e) {
      assert.match((e as Error).message, /env:HK/);
      assert.ok(!(e as Error).message.includes(value));
    }
  });
});
