/**
 * `portcullis keys` and `portcullis users` end to end: the CLI runs as a child process from
 * source, and what it writes is checked with the gateway's own verification code against the same
 * SQLite store and key-hash key (security-checklist A2: revoked and expired keys are refused).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { verifyApiKey } from '../../src/auth/keys/api-key.js';
import { decodeHashKey, HASH_KEY_FILE, loadKeyHashKey } from '../../src/auth/keys/hash-key.js';
import { authenticateUser } from '../../src/auth/users/users.js';
import { GatewayError } from '../../src/pipeline/errors.js';
import { openStore } from '../../src/storage/index.js';
import type { Store } from '../../src/storage/ports.js';
import { runCli } from '../helpers/cli.js';

const KEY_RE = /^pcl_([a-z2-7]{12})_[A-Za-z0-9_-]{43}$/;

/** Runs the CLI from source with an argv array, optional stdin, and a bounded time. */
const cli = runCli;

/** A temp dir holding a config whose data dir is `./data` next to it. */
function setup(t: TestContext, extra = ''): { config: string; dataDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-id-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'portcullis.yaml');
  writeFileSync(config, `gateway:\n  dataDir: ./data\n${extra}`);
  return { config, dataDir: join(dir, 'data') };
}

/** Opens the store the CLI wrote, as the gateway would, for the duration of `fn`. */
async function withStore<T>(dataDir: string, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ kind: 'sqlite', dataDir });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function refusedWith(p: Promise<unknown>, reason: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof GatewayError && e.code === 'ERR_INVALID_TOKEN' && e.detail?.reason === reason);
}

// Each case has its own data dir, so they run side by side; CLI start-up dominates the time.
describe('identity CLI', { concurrency: true }, () => {
  describe('portcullis keys', { concurrency: true }, () => {
    it('A2: create prints a key once that the gateway verifies; list never shows secrets; revoke takes effect', async (t) => {
      const { config, dataDir } = setup(t);
      const made = await cli(['keys', 'create', '--config', config, '--name', 'ci bot', '--role', 'reader', '--role', 'writer', '--server', 'files', '--expires', '30d']);
      assert.equal(made.code, 0, made.stderr);
      const key = made.stdout.trim();
      assert.match(key, KEY_RE);
      assert.equal(made.stdout, `${key}\n`, 'stdout holds the key and nothing else');
      const id = KEY_RE.exec(key)![1]!;
      assert.match(made.stderr, new RegExp(`created API key ${id}`));
      assert.match(made.stderr, /cannot be shown again/);
      assert.ok(!made.stderr.includes(key.slice(17)), 'the secret is not repeated on stderr');

      if (process.platform !== 'win32') assert.equal(statSync(join(dataDir, HASH_KEY_FILE)).mode & 0o777, 0o600);
      const hashKey = await loadKeyHashKey({ dataDir, storage: 'sqlite' });
      const record = await withStore(dataDir, (s) => verifyApiKey(s.apiKeys, hashKey, key, new Date()));
      assert.deepEqual([record.id, record.name, record.tenant, record.roles, record.virtualServers], [id, 'ci bot', 'default', ['reader', 'writer'], ['files']]);
      const days = (record.expiresAt!.getTime() - record.createdAt.getTime()) / 86_400_000;
      assert.equal(days, 30);

      const other = await cli(['keys', 'create', '-c', config, '--name', 'acme-key', '--tenant', 'acme', '--json']);
      assert.equal(other.code, 0, other.stderr);
      const otherJson = JSON.parse(other.stdout) as { id: string; key: string; tenant: string; hash?: unknown };
      assert.match(otherJson.key, KEY_RE);
      assert.equal(otherJson.tenant, 'acme');
      assert.equal('hash' in otherJson, false);

      const listed = await cli(['keys', 'list', '-c', config, '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      const rows = JSON.parse(listed.stdout) as Record<string, unknown>[];
      assert.deepEqual(rows.map((r) => [r.id, r.tenant, r.status]), [[id, 'default', 'active'], [otherJson.id, 'acme', 'active']]);
      const table = await cli(['keys', 'list', '-c', config]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, new RegExp(`^${id}\\s+active\\s+default\\s+reader,writer\\s+files\\s`, 'm'));
      const storedHash = record.hash;
      for (const out of [listed.stdout, table.stdout]) {
        assert.ok(!out.includes(key.slice(17)) && !out.includes(otherJson.key.slice(17)), 'no secret in list output');
        assert.ok(!out.includes(storedHash) && !/"hash"/.test(out), 'no hash in list output');
      }
      const acmeOnly = JSON.parse((await cli(['keys', 'list', '-c', config, '--tenant', 'acme', '--json'])).stdout) as { id: string }[];
      assert.deepEqual(acmeOnly.map((r) => r.id), [otherJson.id]);

      const revoked = await cli(['keys', 'revoke', '-c', config, id]);
      assert.equal(revoked.code, 0, revoked.stderr);
      await withStore(dataDir, (s) => refusedWith(verifyApiKey(s.apiKeys, hashKey, key, new Date()), 'revoked'));
      // The other key is untouched.
      await withStore(dataDir, (s) => verifyApiKey(s.apiKeys, hashKey, otherJson.key, new Date()));
      const status = JSON.parse((await cli(['keys', 'list', '-c', config, '--json'])).stdout) as { id: string; status: string }[];
      assert.deepEqual(status.map((r) => r.status), ['revoked', 'active']);
    });

    it('revoke of an unknown id exits 1 with a clear message; a pasted whole key revokes that key without echoing it', async (t) => {
      const { config, dataDir } = setup(t);
      const missing = await cli(['keys', 'revoke', '-c', config, 'abcdefghijkl']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no API key with id abcdefghijkl/);

      const key = (await cli(['keys', 'create', '-c', config, '--name', 'leaked'])).stdout.trim();
      const r = await cli(['keys', 'revoke', '-c', config, key]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!(r.stdout + r.stderr).includes(key.slice(17)));
      const hashKey = await loadKeyHashKey({ dataDir, storage: 'sqlite' });
      await withStore(dataDir, (s) => refusedWith(verifyApiKey(s.apiKeys, hashKey, key, new Date()), 'revoked'));
    });

    it('A2: a key created with a past expiry is refused at creation; a short expiry is enforced by verify', async (t) => {
      const { config, dataDir } = setup(t);
      const past = await cli(['keys', 'create', '-c', config, '--name', 'old', '--expires', '2020-01-01']);
      assert.equal(past.code, 1);
      assert.match(past.stderr, /--expires/);
      const bad = await cli(['keys', 'create', '-c', config, '--name', 'x', '--expires', 'tomorrow']);
      assert.equal(bad.code, 1);
      const key = (await cli(['keys', 'create', '-c', config, '--name', 'short', '--expires', '1h'])).stdout.trim();
      const hashKey = await loadKeyHashKey({ dataDir, storage: 'sqlite' });
      await withStore(dataDir, async (s) => {
        await verifyApiKey(s.apiKeys, hashKey, key, new Date());
        await refusedWith(verifyApiKey(s.apiKeys, hashKey, key, new Date(Date.now() + 2 * 3_600_000)), 'expired');
      });
    });

    it('bad input exits 1 and stores nothing', async (t) => {
      const { config, dataDir } = setup(t);
      for (const args of [['--tenant', 'has space'], ['--role', 'a b'], ['--server', '../x']]) {
        const r = await cli(['keys', 'create', '-c', config, '--name', 'n', ...args]);
        assert.equal(r.code, 1, args.join(' '));
        assert.match(r.stderr, /^error: /);
        assert.equal(r.stdout, '');
      }
      assert.equal((await cli(['keys', 'create', '-c', config])).code, 1, '--name is required');
      await withStore(dataDir, async (s) => assert.deepEqual(await s.apiKeys.list(), []));
    });

    it('uses auth.apiKeys.hashKey when configured, exactly as the gateway would', async (t) => {
      const hk = randomBytes(32).toString('base64url');
      const { config, dataDir } = setup(t, 'auth:\n  apiKeys:\n    hashKey: {env: PCL_TEST_HASH_KEY}\n');
      const made = await cli(['keys', 'create', '-c', config, '--name', 'env'], { env: { PCL_TEST_HASH_KEY: hk } });
      assert.equal(made.code, 0, made.stderr);
      const key = made.stdout.trim();
      assert.equal(existsSync(join(dataDir, HASH_KEY_FILE)), false, 'no key file when a key is configured');
      await withStore(dataDir, async (s) => {
        await verifyApiKey(s.apiKeys, decodeHashKey(hk, 'test'), key, new Date());
        await refusedWith(verifyApiKey(s.apiKeys, randomBytes(32), key, new Date()), 'bad_secret');
      });
      const unset = await cli(['keys', 'create', '-c', config, '--name', 'env'], { env: { PCL_TEST_HASH_KEY: '' } });
      assert.equal(unset.code, 1);
      assert.match(unset.stderr, /PCL_TEST_HASH_KEY/);
    });

    it('refuses storage: memory with a clear message', async (t) => {
      const { config } = setup(t, '');
      writeFileSync(config, 'gateway:\n  storage: memory\n');
      for (const args of [['keys', 'create', '-c', config, '--name', 'x'], ['keys', 'list', '-c', config], ['users', 'list', '-c', config]]) {
        const r = await cli(args);
        assert.equal(r.code, 1, args.join(' '));
        assert.match(r.stderr, /storage is "memory"/);
        assert.equal(r.stdout, '');
      }
    });
  });

  describe('portcullis users', { concurrency: true }, () => {
    it('add (stdin), list, disable, enable and remove; the gateway authenticates what the CLI wrote', async (t) => {
      const { config, dataDir } = setup(t);
      const a = await cli(['users', 'add', '-c', config, '--username', 'alice@example.com', '--tenant', 'acme', '--role', 'admin', '--password-stdin'], { input: 'correct horse battery\nignored second line\n' });
      assert.equal(a.code, 0, a.stderr);
      assert.ok(!(a.stdout + a.stderr).includes('correct horse'), 'the password is never echoed');
      // Without --password-stdin a non-terminal stdin is read the same way; CRLF is tolerated.
      const b = await cli(['users', 'add', '-c', config, '--username', 'bob'], { input: 'bobs password\r\n' });
      assert.equal(b.code, 0, b.stderr);

      await withStore(dataDir, async (s) => {
        const alice = await authenticateUser(s.users, 'alice@example.com', 'correct horse battery');
        assert.deepEqual([alice?.tenant, alice?.roles], ['acme', ['admin']]);
        assert.equal((await authenticateUser(s.users, 'bob', 'bobs password'))?.tenant, 'default');
        assert.equal(await authenticateUser(s.users, 'bob', 'bobs password\r'), undefined);
      });

      const listed = await cli(['users', 'list', '-c', config, '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(
        (JSON.parse(listed.stdout) as { username: string; disabled: boolean }[]).map((u) => [u.username, u.disabled]),
        [['alice@example.com', false], ['bob', false]],
      );
      const table = await cli(['users', 'list', '-c', config]);
      assert.match(table.stdout, /^bob\s+active\s+default\s/m);
      for (const out of [listed.stdout, table.stdout]) assert.ok(!out.includes('scrypt') && !/passwordHash/.test(out), 'no hashes in list output');

      assert.equal((await cli(['users', 'disable', '-c', config, 'bob'])).code, 0);
      await withStore(dataDir, async (s) => assert.equal(await authenticateUser(s.users, 'bob', 'bobs password'), undefined));
      assert.match((await cli(['users', 'list', '-c', config])).stdout, /^bob\s+disabled\s/m);
      assert.equal((await cli(['users', 'enable', '-c', config, 'bob'])).code, 0);
      await withStore(dataDir, async (s) => assert.equal((await authenticateUser(s.users, 'bob', 'bobs password'))?.username, 'bob'));

      assert.equal((await cli(['users', 'remove', '-c', config, 'bob'])).code, 0);
      const again = await cli(['users', 'remove', '-c', config, 'bob']);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /no user named "bob"/);
      await withStore(dataDir, async (s) => assert.deepEqual((await s.users.list()).map((u) => u.username), ['alice@example.com']));
    });

    it('add refuses a taken name, a short or missing password and a bad username (exit 1)', async (t) => {
      const { config, dataDir } = setup(t);
      assert.equal((await cli(['users', 'add', '-c', config, '--username', 'bob'], { input: 'bobs password\n' })).code, 0);
      const dup = await cli(['users', 'add', '-c', config, '--username', 'bob'], { input: 'another password\n' });
      assert.equal(dup.code, 1);
      assert.match(dup.stderr, /exists/);
      const short = await cli(['users', 'add', '-c', config, '--username', 'carol'], { input: 'short\n' });
      assert.equal(short.code, 1);
      assert.match(short.stderr, /8 characters/);
      const empty = await cli(['users', 'add', '-c', config, '--username', 'dave'], { input: '' });
      assert.equal(empty.code, 1);
      const badName = await cli(['users', 'add', '-c', config, '--username', '../root'], { input: 'long enough password\n' });
      assert.equal(badName.code, 1);
      assert.match(badName.stderr, /username/);

      await withStore(dataDir, async (s) => {
        assert.deepEqual((await s.users.list()).map((u) => u.username), ['bob']);
        assert.equal((await authenticateUser(s.users, 'bob', 'bobs password'))?.username, 'bob', 'the failed re-add left bob as he was');
      });
    });
  });
});
