/** `portcullis secrets` against a real config file and SQLite store; and the secretStore config reader. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { readSecretStoreConfig, SecretStoreConfig } from '../../../src/auth/secrets/config.js';
import { setupSecrets } from '../../../src/auth/secrets/setup.js';
import { secretsCommand } from '../../../src/cli/secrets.js';
import { openSqliteStore } from '../../../src/storage/sqlite/open.js';

const dir = mkdtempSync(join(tmpdir(), 'pcl-secrets-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const dataDir = join(dir, 'data');

function writeConfig(name: string, extra = ''): string {
  const p = join(dir, name);
  writeFileSync(p, `gateway:\n  dataDir: ./data\n${extra}`);
  return p;
}

interface Result {
  code: number;
  out: string[];
  err: string[];
}

async function cli(args: string[], stdin = ''): Promise<Result> {
  const r: Result = { code: -1, out: [], err: [] };
  const cmd = secretsCommand({
    stdin: Readable.from([Buffer.from(stdin)]),
    out: (l) => r.out.push(l),
    err: (l) => r.err.push(l),
    setExitCode: (c) => (r.code = c),
  });
  await cmd.parseAsync(args, { from: 'user' });
  return r;
}

/** Reads a `{secret: name}` reference the way the gateway does. */
async function resolveStored(name: string, env: NodeJS.ProcessEnv = {}, secretStore?: unknown): Promise<string> {
  const store = await openSqliteStore({ dataDir });
  try {
    const { resolveSecret } = await setupSecrets({ store: store.secrets, storage: 'sqlite', dataDir, configDir: dir, env, config: readSecretStoreConfig({ secretStore }) });
    return await resolveSecret({ secret: name });
  } finally {
    await store.close();
  }
}

describe('portcullis secrets', () => {
  const config = writeConfig('portcullis.yaml');

  it('set reads stdin or a file (never argv), list shows names only, delete removes', async () => {
    let r = await cli(['set', 'github', '--config', config, '--from-stdin'], 'ghp_fromstdin\n');
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.match(r.out[0]!, /^stored secret github \(key [0-9a-f]{8}\)$/);
    assert.equal(await resolveStored('github'), 'ghp_fromstdin');
    if (process.platform !== 'win32') assert.equal(statSync(join(dataDir, 'secret-store.key')).mode & 0o777, 0o600);

    writeFileSync(join(dir, 'val.txt'), 'from-file-value\n');
    r = await cli(['set', 'team/slack', '-c', config, '--from-file', join(dir, 'val.txt')]);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.equal(await resolveStored('team/slack'), 'from-file-value');

    r = await cli(['list', '-c', config]);
    assert.equal(r.code, 0);
    assert.deepEqual(r.out.map((l) => l.split('\t')[0]), ['github', 'team/slack']);
    assert.ok(!r.out.join('\n').includes('ghp_') && !r.out.join('\n').includes('from-file'));

    r = await cli(['delete', 'github', '-c', config]);
    assert.equal(r.code, 0);
    await assert.rejects(resolveStored('github'), /secret:github/);
    r = await cli(['delete', 'github', '-c', config]);
    assert.equal(r.code, 1);
    assert.match(r.err[0]!, /no secret named github/);
  });

  it('refuses a missing source, both sources, bad names, oversize and empty values', async () => {
    for (const [args, stdin, why] of [
      [['set', 'x', '-c', config], '', /exactly one of --from-stdin or --from-file/],
      [['set', 'x', '-c', config, '--from-stdin', '--from-file', 'f'], 'v', /exactly one/],
      [['set', '../x', '-c', config, '--from-stdin'], 'v', /invalid secret name/],
      [['set', 'x', '-c', config, '--from-stdin'], 'A'.repeat(64 * 1024 + 1), /exceeds 65536 bytes/],
      [['set', 'x', '-c', config, '--from-stdin'], '\n', /empty/],
      [['set', 'x', '-c', config, '--from-file', join(dir, 'nope')], '', /not found/],
    ] as const) {
      const r = await cli([...args], stdin);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.err.join('\n'), why);
    }
    const r = await cli(['list', '-c', config]);
    assert.ok(!r.out.some((l) => l.startsWith('x\t')));
  });

  it('refuses the memory store and reports config problems', async () => {
    const mem = writeConfig('mem.yaml', '  storage: memory\n');
    let r = await cli(['list', '-c', mem]);
    assert.equal(r.code, 1);
    assert.match(r.err[0]!, /memory/);
    r = await cli(['list', '-c', join(dir, 'absent.yaml')]);
    assert.equal(r.code, 1);
  });

  it('rotate re-seals under a configured key; the old key file is then no longer needed', async () => {
    const r0 = await cli(['set', 'rot', '-c', config, '--from-stdin'], 'rotating-value');
    assert.equal(r0.code, 0);
    const oldId = /key ([0-9a-f]{8})/.exec(r0.out[0]!)![1]!;
    const newKey = randomBytes(32).toString('base64');
    const keyFile = join(dir, 'new.key');
    writeFileSync(keyFile, `${newKey}\n`);
    const moving = writeConfig('moving.yaml', 'secretStore:\n  key: {file: ./new.key}\n  previousKeys:\n    - {file: ./data/secret-store.key}\n');
    let r = await cli(['rotate', '-c', moving]);
    assert.equal(r.code, 0, r.err.join('\n'));
    const rotated = Number(/re-sealed (\d+)/.exec(r.out[0]!)![1]);
    assert.ok(rotated >= 2, r.out[0]);
    assert.ok(!r.out[0]!.includes(oldId));
    r = await cli(['rotate', '-c', moving]);
    assert.match(r.out[0]!, /re-sealed 0 records/);
    // Only the new key now: everything still opens.
    assert.equal(await resolveStored('rot', {}, { key: { file: './new.key' } }), 'rotating-value');
    assert.equal(await resolveStored('team/slack', {}, { key: { file: './new.key' } }), 'from-file-value');
    // The old key alone opens nothing any more.
    await assert.rejects(resolveStored('rot'), /secret:rot/);
    assert.ok(readFileSync(keyFile, 'utf8').includes(newKey));
  });
});

describe('secretStore config', () => {
  it('reads top-level secretStore or auth.secretStore, defaulting when absent', () => {
    assert.deepEqual(readSecretStoreConfig({}), { previousKeys: [] });
    assert.deepEqual(readSecretStoreConfig({ auth: 'none' }), { previousKeys: [] });
    assert.deepEqual(readSecretStoreConfig({ secretStore: { key: { env: 'K' } } }), { key: { env: 'K' }, previousKeys: [] });
    assert.deepEqual(readSecretStoreConfig({ auth: { secretStore: { previousKeys: [{ file: 'k' }] } } }), { previousKeys: [{ file: 'k' }] });
    assert.throws(() => readSecretStoreConfig({ secretStore: { key: { secret: 'k' } } }), /env\} or \{file\}/);
    assert.throws(() => readSecretStoreConfig({ secretStore: { key: 'inline-key' } }));
  });

  it('describes every field', () => {
    for (const [k, v] of Object.entries(SecretStoreConfig.shape)) assert.ok(v.description, k);
  });
});
