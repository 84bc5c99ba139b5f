/** The SecretRef resolver: env, file and secret-store references, and every way they can be missing. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createKeyring, keyFromBytes } from '../../../src/auth/secrets/keyring.js';
import { createSecretResolver } from '../../../src/auth/secrets/resolver.js';
import { EncryptedSecrets } from '../../../src/auth/secrets/secret-store.js';
import type { SecretRef } from '../../../src/auth/secrets/ref.js';
import { GatewayError } from '../../../src/pipeline/errors.js';
import { openMemoryStore } from '../../../src/storage/memory/store.js';

const dir = mkdtempSync(join(tmpdir(), 'pcl-resolver-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Asserts ERR_UPSTREAM_CREDENTIALS naming `ref` and not containing `secretText`. */
async function rejectsNaming(p: Promise<unknown>, ref: string, secretText?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof GatewayError, String(e));
    assert.equal(e.code, 'ERR_UPSTREAM_CREDENTIALS');
    assert.ok(e.message.includes(ref), `${e.message} should name ${ref}`);
    if (secretText) assert.ok(!e.message.includes(secretText) && !JSON.stringify(e.detail).includes(secretText));
    return true;
  });
}

describe('createSecretResolver', () => {
  it('env: reads the variable; unset or empty is an error naming it', async () => {
    const r = createSecretResolver({ configDir: dir, env: { TOKEN: 'tok-123', EMPTY: '' } });
    assert.equal(await r({ env: 'TOKEN' }), 'tok-123');
    await rejectsNaming(r({ env: 'MISSING' }), 'env:MISSING');
    await rejectsNaming(r({ env: 'EMPTY' }), 'env:EMPTY');
  });

  it('file: relative to the config dir, one trailing newline trimmed, absolute paths too', async () => {
    writeFileSync(join(dir, 'tok'), 'file-secret\n');
    writeFileSync(join(dir, 'crlf'), 'crlf-secret\r\n');
    writeFileSync(join(dir, 'inner'), 'line1\nline2\n\n');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'x'), 'nested');
    const r = createSecretResolver({ configDir: dir, env: {} });
    assert.equal(await r({ file: 'tok' }), 'file-secret');
    assert.equal(await r({ file: 'crlf' }), 'crlf-secret');
    assert.equal(await r({ file: 'inner' }), 'line1\nline2\n');
    assert.equal(await r({ file: './sub/x' }), 'nested');
    assert.equal(await r({ file: join(dir, 'tok') }), 'file-secret');
    // Mounted secrets are symlinks (Kubernetes): they are followed.
    symlinkSync(join(dir, 'tok'), join(dir, 'link'));
    assert.equal(await r({ file: 'link' }), 'file-secret');
  });

  it('file: re-read on every resolution, so a rotated file is picked up', async () => {
    const r = createSecretResolver({ configDir: dir, env: {} });
    writeFileSync(join(dir, 'rot'), 'v1\n');
    assert.equal(await r({ file: 'rot' }), 'v1');
    writeFileSync(join(dir, 'rot'), 'v2\n');
    assert.equal(await r({ file: 'rot' }), 'v2');
  });

  it('file: missing, empty, a directory, a FIFO or over 64 KB is an error naming the file', async () => {
    const r = createSecretResolver({ configDir: dir, env: {} });
    await rejectsNaming(r({ file: 'nope' }), 'file:nope');
    writeFileSync(join(dir, 'empty'), '\n');
    await rejectsNaming(r({ file: 'empty' }), 'file:empty');
    await rejectsNaming(r({ file: 'sub' }), 'file:sub');
    const big = 'S'.repeat(64 * 1024 + 1);
    writeFileSync(join(dir, 'big'), big);
    await rejectsNaming(r({ file: 'big' }), 'file:big', big.slice(0, 100));
    writeFileSync(join(dir, 'max'), 'm'.repeat(64 * 1024));
    assert.equal((await r({ file: 'max' })).length, 64 * 1024);
    if (process.platform !== 'win32') {
      execFileSync('mkfifo', [join(dir, 'fifo')]);
      // Must fail at once rather than wait for a writer (the test would time out otherwise).
      await rejectsNaming(r({ file: 'fifo' }), 'file:fifo');
    }
  });

  it('secret: reads the encrypted store under secret/<name>; missing or no store is an error', async () => {
    const store = openMemoryStore();
    const secrets = new EncryptedSecrets(store.secrets, createKeyring(keyFromBytes(randomBytes(32))));
    await secrets.set('secret/github', 'ghp_value');
    await secrets.set('other/github', 'not-this');
    const r = createSecretResolver({ configDir: dir, secrets, env: {} });
    assert.equal(await r({ secret: 'github' }), 'ghp_value');
    await rejectsNaming(r({ secret: 'gitlab' }), 'secret:gitlab');
    await rejectsNaming(createSecretResolver({ configDir: dir, env: {} })({ secret: 'github' }), 'secret:github');
    // A record that cannot be decrypted is reported, not its content.
    const rec = (await store.secrets.get('secret/github'))!;
    await store.secrets.put({ ...rec, name: 'secret/moved' });
    await rejectsNaming(r({ secret: 'moved' }), 'secret:moved', 'ghp_value');
  });

  it('never puts the value into an error', async () => {
    const big = `SECRETMARK${'x'.repeat(70 * 1024)}`;
    const r = createSecretResolver({ configDir: dir, env: { BIG: big } });
    await rejectsNaming(r({ env: 'BIG' } as SecretRef), 'env:BIG', 'SECRETMARK');
  });
});
