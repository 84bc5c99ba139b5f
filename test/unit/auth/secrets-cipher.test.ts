/** AES-256-GCM sealing and the keyring: key decoding, key ids, the generated key file. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, seal } from '../../../src/auth/secrets/cipher.js';
import { createKeyring, decodeKey, keyFromBytes, loadKeyring, openKeyring, DEFAULT_KEY_FILE } from '../../../src/auth/secrets/keyring.js';
import { createSecretResolver } from '../../../src/auth/secrets/resolver.js';
import { GatewayError } from '../../../src/pipeline/errors.js';

const tmp = mkdtempSync(join(tmpdir(), 'pcl-cipher-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const k1 = keyFromBytes(randomBytes(32));
const k2 = keyFromBytes(randomBytes(32));

function isCode(code: string) {
  return (e: unknown): boolean => e instanceof GatewayError && e.code === code;
}

describe('seal / open', () => {
  it('round-trips UTF-8 values, with a fresh IV each time', () => {
    const ring = createKeyring(k1);
    const v = 'tök€n 🔑 ' + 'x'.repeat(1000);
    const a = seal(k1, v, 'secret/a');
    const b = seal(k1, v, 'secret/a');
    assert.notEqual(a, b);
    assert.match(a, /^[A-Za-z0-9_-]+$/);
    // iv (12) + ciphertext (same length as the plaintext bytes) + tag (16)
    assert.equal(Buffer.from(a, 'base64url').length, 12 + Buffer.byteLength(v) + 16);
    assert.equal(open(ring, k1.id, a, 'secret/a'), v);
    assert.equal(open(ring, k1.id, b, 'secret/a'), v);
  });

  it('fails when any single byte is flipped (iv, ciphertext or tag)', () => {
    const ring = createKeyring(k1);
    const sealed = seal(k1, 'hunter2-value', 'secret/a');
    const raw = Buffer.from(sealed, 'base64url');
    for (const i of [0, 11, 12, 20, raw.length - 16, raw.length - 1]) {
      const t = Buffer.from(raw);
      t[i] = t[i]! ^ 0x01;
      assert.throws(() => open(ring, k1.id, t.toString('base64url'), 'secret/a'), isCode('ERR_UPSTREAM_CREDENTIALS'), `byte ${i}`);
    }
    assert.throws(() => open(ring, k1.id, raw.subarray(0, 20).toString('base64url'), 'secret/a'), isCode('ERR_UPSTREAM_CREDENTIALS'));
    assert.throws(() => open(ring, k1.id, 'not base64!', 'secret/a'), isCode('ERR_UPSTREAM_CREDENTIALS'));
  });

  it('binds the value to its name (AAD): another name cannot open it', () => {
    const ring = createKeyring(k1);
    const sealed = seal(k1, 'v', 'secret/a');
    assert.throws(() => open(ring, k1.id, sealed, 'secret/b'), (e: unknown) => {
      assert.ok(e instanceof GatewayError && e.code === 'ERR_UPSTREAM_CREDENTIALS');
      assert.match(e.message, /secret\/b/);
      return true;
    });
  });

  it('needs the right key, and names a missing key id', () => {
    const sealed = seal(k1, 'v', 'n');
    assert.throws(() => open(createKeyring(k2), k2.id, sealed, 'n'), isCode('ERR_UPSTREAM_CREDENTIALS'));
    assert.throws(() => open(createKeyring(k2), k1.id, sealed, 'n'), (e: unknown) => e instanceof GatewayError && e.message.includes(k1.id) && e.message.includes('previousKeys'));
    assert.equal(open(createKeyring(k2, [k1]), k1.id, sealed, 'n'), 'v');
  });
});

describe('keys', () => {
  const bytes = randomBytes(32);
  const id = createHash('sha256').update(bytes).digest('hex').slice(0, 8);

  it('decodes hex, base64 (padded or not) and base64url of exactly 32 bytes; the id is the SHA-256 prefix', () => {
    for (const text of [bytes.toString('hex'), bytes.toString('hex').toUpperCase(), bytes.toString('base64'), bytes.toString('base64').replace(/=$/, ''), bytes.toString('base64url'), `${bytes.toString('base64url')}\n`]) {
      const k = decodeKey(text, 'test');
      assert.equal(k.id, id);
      assert.deepEqual(k.bytes, bytes);
    }
  });

  it('rejects anything else, naming the source but never the value', () => {
    const bad = [
      randomBytes(31).toString('hex'),
      randomBytes(33).toString('base64'),
      randomBytes(16).toString('base64url'),
      'correct horse battery staple correct horse battery staple 1234',
      '',
      `${bytes.toString('hex')}00`,
    ];
    for (const text of bad) {
      assert.throws(
        () => decodeKey(text, 'env:PCL_KEY'),
        (e: unknown) => {
          assert.ok(e instanceof GatewayError && e.code === 'ERR_BAD_INPUT');
          assert.match(e.message, /env:PCL_KEY/);
          if (text.trim() !== '') assert.ok(!e.message.includes(text.trim()), 'value leaked');
          return true;
        },
        JSON.stringify(text),
      );
    }
  });

  it('loads configured keys through the resolver and refuses keys kept in the secret store', async () => {
    const cur = randomBytes(32);
    const prev = randomBytes(32);
    writeFileSync(join(tmp, 'prev.key'), `${prev.toString('hex')}\n`);
    const resolve = createSecretResolver({ configDir: tmp, env: { PCL_KEY: cur.toString('base64') } });
    const ring = await loadKeyring({ current: { env: 'PCL_KEY' }, previous: [{ file: 'prev.key' }, { env: 'PCL_KEY' }] }, resolve);
    assert.equal(ring.current.id, keyFromBytes(cur).id);
    assert.deepEqual(ring.ids, [keyFromBytes(cur).id, keyFromBytes(prev).id]);
    assert.ok(ring.key(keyFromBytes(prev).id));
    await assert.rejects(loadKeyring({ current: { secret: 'k' } }, resolve), isCode('ERR_BAD_INPUT'));
    const wrong = createSecretResolver({ configDir: tmp, env: { PCL_KEY: 'too-short-key-value' } });
    await assert.rejects(loadKeyring({ current: { env: 'PCL_KEY' } }, wrong), (e: unknown) => e instanceof GatewayError && e.message.includes('env:PCL_KEY') && !e.message.includes('too-short-key-value'));
  });

  it('creates <dataDir>/secret-store.key once (0600) and reuses it', async () => {
    const dataDir = join(tmp, 'data');
    const resolveSecret = createSecretResolver({ configDir: tmp, env: {} });
    const a = await openKeyring({ storage: 'sqlite', dataDir, resolveSecret });
    const path = join(dataDir, DEFAULT_KEY_FILE);
    if (process.platform !== 'win32') assert.equal(statSync(path).mode & 0o777, 0o600);
    const b = await openKeyring({ storage: 'sqlite', dataDir, resolveSecret });
    assert.equal(a.current.id, b.current.id);
    // The file is key text, so it can be named later as a previous key.
    assert.equal(decodeKey(readFileSync(path, 'utf8'), 'file').id, a.current.id);
    // A configured key takes over; the file can be kept as a previous key.
    const next = randomBytes(32).toString('hex');
    const withEnv = createSecretResolver({ configDir: tmp, env: { NEXT: next } });
    const c = await openKeyring({ storage: 'sqlite', dataDir, resolveSecret: withEnv, config: { key: { env: 'NEXT' }, previousKeys: [{ file: path }] } });
    assert.equal(c.current.id, decodeKey(next, 't').id);
    assert.ok(c.key(a.current.id));
  });

  it('uses a random per-process key for the memory store, touching no file', async () => {
    const dataDir = join(tmp, 'memory-data');
    const resolveSecret = createSecretResolver({ configDir: tmp, env: {} });
    const a = await openKeyring({ storage: 'memory', dataDir, resolveSecret });
    const b = await openKeyring({ storage: 'memory', dataDir, resolveSecret });
    assert.notEqual(a.current.id, b.current.id);
    assert.throws(() => statSync(dataDir));
  });
});
