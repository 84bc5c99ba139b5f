/** SQLite-specific storage behaviour the contract suites cannot see: files, pragmas, migrations. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { openStore } from '../../src/storage/index.js';
import { createMigrationProvider, migrateToLatest } from '../../src/storage/migrations/index.js';
import { SQLITE_FILE } from '../../src/storage/sqlite/open.js';

const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});
async function tempRoot(): Promise<string> {
  const r = await mkdtemp(join(tmpdir(), 'portcullis-sqlite-'));
  roots.push(r);
  return r;
}

function migrationNames(file: string): string[] {
  const raw = new Database(file, { readonly: true });
  try {
    return (raw.prepare('select name from kysely_migration order by name').all() as { name: string }[]).map((r) => r.name);
  } finally {
    raw.close();
  }
}

describe('sqlite store files and pragmas', () => {
  it('creates a missing nested dataDir 0700 holding portcullis.db 0600, in WAL mode', async () => {
    const dataDir = join(await tempRoot(), 'a', 'b');
    const store = await openStore({ kind: 'sqlite', dataDir });
    await store.eraVerdicts.put({ upstream: 'u', authContext: '', transport: 'sse', era: 'legacy', protocolVersion: '2024-11-05', probedAt: new Date(0) });
    assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
    const file = join(dataDir, SQLITE_FILE);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await store.close();
    const raw = new Database(file, { readonly: true });
    try {
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      raw.close();
    }
  });

  it('a second connection to the same file sees committed writes', async () => {
    const dataDir = await tempRoot();
    const a = await openStore({ kind: 'sqlite', dataDir });
    const b = await openStore({ kind: 'sqlite', dataDir });
    try {
      await a.upstreamEvents.append({ upstream: 'u', at: new Date(1), state: 'healthy' });
      assert.equal((await b.upstreamEvents.recent('u', 10)).length, 1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('rejects a file that is not a database with ERR_INTERNAL', async () => {
    const dataDir = await tempRoot();
    await writeFile(join(dataDir, SQLITE_FILE), 'this is not an sqlite database, just text padded out '.repeat(40));
    await assert.rejects(openStore({ kind: 'sqlite', dataDir }), { name: 'GatewayError', code: 'ERR_INTERNAL' });
  });

  it('rejects a dataDir that is a regular file with ERR_INTERNAL', async () => {
    const dataDir = join(await tempRoot(), 'plain-file');
    await writeFile(dataDir, 'x');
    await assert.rejects(openStore({ kind: 'sqlite', dataDir }), { name: 'GatewayError', code: 'ERR_INTERNAL' });
  });
});

describe('sqlite migrations', () => {
  it('records each migration once in kysely_migration, however often the store is opened', async () => {
    const dataDir = await tempRoot();
    for (let i = 0; i < 3; i++) await (await openStore({ kind: 'sqlite', dataDir })).close();
    assert.deepEqual(migrationNames(join(dataDir, SQLITE_FILE)), ['001_initial', '002_identity', '003_oauth_state', '004_policy_rules']);
  });

  it('migrateToLatest applies every migration in order, nothing the second time, and down undoes them one by one', async () => {
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new Database(':memory:') }) });
    try {
      assert.deepEqual(await migrateToLatest(db, 'sqlite'), ['001_initial', '002_identity', '003_oauth_state', '004_policy_rules']);
      assert.deepEqual(await migrateToLatest(db, 'sqlite'), []);
      const tables = async () => (await db.introspection.getTables()).map((t) => t.name).sort();
      assert.deepEqual(await tables(), ['api_keys', 'era_verdicts', 'oauth_state', 'policy_rules', 'secrets', 'upstream_events', 'users']);
      const indexes = (await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'oauth_state' and name not like 'sqlite_%' order by name`.execute(db)).rows;
      assert.deepEqual(
        indexes.map((r) => r.name),
        ['oauth_state_by_expiry', 'oauth_state_by_grant', 'oauth_state_by_uid', 'oauth_state_by_user_code'],
      );
      const migrator = new Migrator({ db, provider: createMigrationProvider('sqlite') });
      assert.equal((await migrator.migrateDown()).error, undefined);
      assert.deepEqual(await tables(), ['api_keys', 'era_verdicts', 'oauth_state', 'secrets', 'upstream_events', 'users']);
      assert.equal((await migrator.migrateDown()).error, undefined);
      assert.deepEqual(await tables(), ['api_keys', 'era_verdicts', 'secrets', 'upstream_events', 'users']);
      assert.equal((await migrator.migrateDown()).error, undefined);
      assert.deepEqual(await tables(), ['era_verdicts', 'upstream_events']);
      assert.equal((await migrator.migrateDown()).error, undefined);
      assert.deepEqual(await tables(), []);
    } finally {
      await db.destroy();
    }
  });
});
