/** scrypt password hashing for local users. */
import assert from 'node:assert/strict';
import { scryptSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { hashPassword, MAX_PASSWORD_BYTES, SCRYPT_PARAMS, verifyPassword } from '../../../src/auth/users/password.js';

const FORMAT = /^scrypt\$32768\$8\$1\$([A-Za-z0-9_-]{22})\$([A-Za-z0-9_-]{43})$/;

describe('hashPassword / verifyPassword', () => {
  it('hashes to scrypt$N$r$p$salt$hash with N=2^15, r=8, p=1, a 16-byte salt and a 32-byte key', async () => {
    assert.deepEqual(SCRYPT_PARAMS, { N: 32768, r: 8, p: 1 });
    const pw = 'correct horse battery staple';
    const h = await hashPassword(pw);
    const m = FORMAT.exec(h);
    assert.ok(m, h);
    // Independently recomputed: the format is what it says it is.
    const salt = Buffer.from(m[1]!, 'base64url');
    const expected = scryptSync(pw, salt, 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    assert.equal(m[2], expected.toString('base64url'));
    assert.ok(!h.includes(pw));
  });

  it('verifies the right password and refuses wrong ones', async () => {
    const h = await hashPassword('s3cret-passphrase');
    assert.equal(await verifyPassword('s3cret-passphrase', h), true);
    for (const wrong of ['s3cret-passphras', 's3cret-passphrase ', 'S3cret-passphrase', '', 's3cret-passphrase\n']) {
      assert.equal(await verifyPassword(wrong, h), false, JSON.stringify(wrong));
    }
  });

  it('salts every hash: the same password hashes differently each time', async () => {
    const [a, b] = await Promise.all([hashPassword('same-password'), hashPassword('same-password')]);
    assert.notEqual(a, b);
    assert.equal(await verifyPassword('same-password', a), true);
    assert.equal(await verifyPassword('same-password', b), true);
  });

  it('refuses to hash passwords under 8 characters or over 1024 bytes (ERR_BAD_INPUT)', async () => {
    for (const pw of ['', 'short', '1234567', 'éééé' + 'abc']) await assert.rejects(hashPassword(pw), { code: 'ERR_BAD_INPUT' }, pw);
    await assert.rejects(hashPassword('a'.repeat(MAX_PASSWORD_BYTES + 1)), { code: 'ERR_BAD_INPUT' });
    // 1024 bytes exactly is fine; multi-byte characters count by bytes for the upper bound.
    await assert.rejects(hashPassword('€'.repeat(342)), { code: 'ERR_BAD_INPUT' }); // 1026 bytes
    assert.equal(await verifyPassword('a'.repeat(1024), await hashPassword('a'.repeat(1024))), true);
    // ...and by characters for the lower bound: 8 accented letters are 8 characters.
    assert.equal(await verifyPassword('éééééééé', await hashPassword('éééééééé')), true);
  });

  it('verify refuses passwords over 1024 bytes without throwing', async () => {
    const h = await hashPassword('a'.repeat(1024));
    assert.equal(await verifyPassword('a'.repeat(1025), h), false);
    assert.equal(await verifyPassword('a'.repeat(1_000_000), h), false);
  });

  it('composed and decomposed forms of the same password match (NFC)', async () => {
    const composed = 'caf\u00e9-au-lait';
    const decomposed = 'cafe\u0301-au-lait';
    assert.notEqual(composed, decomposed);
    assert.equal(await verifyPassword(decomposed, await hashPassword(composed)), true);
  });

  it('a malformed or out-of-bounds stored hash verifies false, never throws or runs forever', async () => {
    const good = await hashPassword('password-123');
    const [, , , , salt, hash] = good.split('$') as [string, string, string, string, string, string];
    const bad = [
      '',
      'password-123',
      'scrypt',
      good.replace('scrypt$', 'bcrypt$'),
      `scrypt$32768$8$1$${salt}`,
      `scrypt$32768$8$1$${salt}$${hash}$extra`,
      `scrypt$32767$8$1$${salt}$${hash}`, // N not a power of two
      `scrypt$1073741824$8$1$${salt}$${hash}`, // 2^30: far too much memory
      `scrypt$1048576$32$16$${salt}$${hash}`, // within each bound, not their product
      `scrypt$32768$0$1$${salt}$${hash}`,
      `scrypt$032768$8$1$${salt}$${hash}`,
      `scrypt$32768$8$1$${salt}$${hash}=`,
      `scrypt$32768$8$1$$${hash}`,
      `scrypt$32768$8$1$${salt}$${hash.slice(0, 10)}`, // hash too short to mean anything
      `scrypt$32768$8$1$${salt}$${hash.slice(0, 42)}`, // a different key length: a mismatch, not a RangeError
      `scrypt$32768$8$1$${salt}$${hash}${'A'.repeat(600)}`,
    ];
    for (const s of bad) assert.equal(await verifyPassword('password-123', s), false, s.slice(0, 60));
    assert.equal(await verifyPassword('password-123', good), true);
    assert.equal(await verifyPassword(undefined as unknown as string, good), false);
  });

  it('older hashes with other (bounded) parameters still verify', async () => {
    const salt = Buffer.from('0123456789abcdef');
    const key = scryptSync('legacy-password', salt, 32, { N: 16384, r: 8, p: 1 });
    const stored = `scrypt$16384$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`;
    assert.equal(await verifyPassword('legacy-password', stored), true);
    assert.equal(await verifyPassword('legacy-passwore', stored), false);
  });
});
