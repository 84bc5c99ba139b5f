/** Signing keys of the built-in authorization server: persistence, file mode, rotation, pruning. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, createLocalJWKSet, importJWK, jwtVerify } from 'jose';
import { SIGNING_KEYS_FILE, SigningKeys } from '../../../src/auth/server/keys.js';

const DAY = 86_400_000;
const quiet = { info: () => undefined, warn: () => undefined };

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pcl-as-keys-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('creates one RS256 key with a kid, persisted 0600 without temp leftovers', () =>
  withDir(async (dir) => {
    const keys = await SigningKeys.open({ dataDir: join(dir, 'nested'), persist: true, rotateAfterMs: 30 * DAY, keepRetiredMs: DAY, logger: quiet });
    const pub = keys.publicJwks().keys;
    assert.equal(pub.length, 1);
    assert.equal(pub[0]?.alg, 'RS256');
    assert.equal(pub[0]?.use, 'sig');
    assert.equal(pub[0]?.kid, keys.currentKid());
    for (const p of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal((pub[0] as Record<string, unknown>)[p], undefined, p);
    assert.equal(typeof (keys.privateJwks().keys[0] as Record<string, unknown>).d, 'string');
    const file = join(dir, 'nested', SIGNING_KEYS_FILE);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(join(dir, 'nested')), [SIGNING_KEYS_FILE]);
    const again = await SigningKeys.open({ dataDir: join(dir, 'nested'), persist: true, rotateAfterMs: 30 * DAY, keepRetiredMs: DAY, logger: quiet });
    assert.equal(again.currentKid(), keys.currentKid());
  }));

test('a token signed by the private key verifies with the public set', () =>
  withDir(async (dir) => {
    const keys = await SigningKeys.open({ dataDir: dir, persist: false, rotateAfterMs: 30 * DAY, keepRetiredMs: DAY, logger: quiet });
    const priv = keys.privateJwks().keys[0]!;
    const jwt = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'RS256', kid: priv.kid! }).sign(await importJWK(priv, 'RS256'));
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(keys.publicJwks()));
    assert.equal(payload.sub, 'a');
  }));

test('memory mode writes nothing', () =>
  withDir(async (dir) => {
    await SigningKeys.open({ dataDir: dir, persist: false, rotateAfterMs: 30 * DAY, keepRetiredMs: DAY, logger: quiet });
    assert.deepEqual(await readdir(dir), []);
  }));

test('rotates when the current key is older than the rotation age and prunes after the grace', () =>
  withDir(async (dir) => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const opts = { dataDir: dir, persist: true, rotateAfterMs: 30 * DAY, keepRetiredMs: DAY, logger: quiet, now: () => now };
    const keys = await SigningKeys.open(opts);
    const first = keys.currentKid();
    now += 29 * DAY;
    assert.equal(await keys.rotateIfDue(), false);
    now += DAY;
    assert.equal(await keys.rotateIfDue(), true);
    const second = keys.currentKid();
    assert.notEqual(second, first);
    assert.deepEqual(keys.publicJwks().keys.map((k) => k.kid), [second, first], 'new key first (it signs), old still published');
    assert.deepEqual(keys.privateJwks().keys.map((k) => k.kid), [second, first]);
    // The persisted set says the same after a restart.
    const reopened = await SigningKeys.open(opts);
    assert.deepEqual(reopened.publicJwks().keys.map((k) => k.kid), [second, first]);
    now += DAY - 1;
    assert.equal(await keys.rotateIfDue(), false);
    now += 1;
    assert.equal(await keys.rotateIfDue(), true);
    assert.deepEqual(keys.publicJwks().keys.map((k) => k.kid), [second]);
    const stored = JSON.parse(await readFile(join(dir, SIGNING_KEYS_FILE), 'utf8')) as { keys: unknown[] };
    assert.equal(stored.keys.length, 1);
  }));

test('refuses a corrupt key file instead of silently replacing it, and tightens a loose mode', () =>
  withDir(async (dir) => {
    const file = join(dir, SIGNING_KEYS_FILE);
    await writeFile(file, '{"version":1,"keys":[]}');
    await assert.rejects(SigningKeys.open({ dataDir: dir, persist: true, rotateAfterMs: DAY, keepRetiredMs: DAY, logger: quiet }), /not a signing key set/);
    await writeFile(file, 'not json');
    await assert.rejects(SigningKeys.open({ dataDir: dir, persist: true, rotateAfterMs: DAY, keepRetiredMs: DAY, logger: quiet }), /not valid JSON/);
    await rm(file);
    await SigningKeys.open({ dataDir: dir, persist: true, rotateAfterMs: 30 * DAY, keepRetiredMs: DAY, logger: quiet });
    await chmod(file, 0o644);
    const warnings: string[] = [];
    await SigningKeys.open({ dataDir: dir, persist: true, rotateAfterMs: 30 * DAY, keepRetiredMs: DAY, logger: { info: () => undefined, warn: (_o, m) => void warnings.push(m ?? '') } });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal(warnings.length, 1);
  }));
